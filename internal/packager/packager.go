// Package packager writes Tripline's Azure Functions deployment zip: the
// layout `func azure functionapp publish` uploads for a custom handler, and
// nothing else.
//
//	host.json
//	<defaultExecutablePath>          (bin/tripline, mode 0755, linux/amd64 ELF)
//	<Function>/function.json         (one per function folder at the root)
//
// The zip is reproducible: entries are sorted and carry a fixed time.
package packager

import (
	"archive/zip"
	"bytes"
	"debug/elf"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// Entry is one file of the package.
type Entry struct {
	Name string      // slash-separated path inside the zip
	Mode fs.FileMode // Unix permission bits stored in the zip
}

// modTime is the fixed timestamp of every entry (reproducible builds).
var modTime = time.Date(2000, time.January, 1, 0, 0, 0, 0, time.UTC)

// ExecutablePath returns customHandler.description.defaultExecutablePath from
// root/host.json, slash-separated and cleaned.
func ExecutablePath(root string) (string, error) {
	b, err := os.ReadFile(filepath.Join(root, "host.json"))
	if err != nil {
		return "", err
	}
	var host struct {
		CustomHandler struct {
			Description struct {
				DefaultExecutablePath string `json:"defaultExecutablePath"`
			} `json:"description"`
		} `json:"customHandler"`
	}
	if err := json.Unmarshal(b, &host); err != nil {
		return "", fmt.Errorf("host.json: %w", err)
	}
	p := host.CustomHandler.Description.DefaultExecutablePath
	if p == "" {
		return "", errors.New("host.json: customHandler.description.defaultExecutablePath is empty")
	}
	p = path.Clean(filepath.ToSlash(p))
	if path.IsAbs(p) || strings.HasPrefix(p, "../") {
		return "", fmt.Errorf("host.json: defaultExecutablePath %q must be relative to the app root", p)
	}
	return p, nil
}

// Entries lists the files of the package, sorted by name.
func Entries(root string) ([]Entry, error) {
	exe, err := ExecutablePath(root)
	if err != nil {
		return nil, err
	}
	entries := []Entry{{Name: "host.json", Mode: 0o644}, {Name: exe, Mode: 0o755}}
	dirs, err := os.ReadDir(root)
	if err != nil {
		return nil, err
	}
	for _, d := range dirs {
		if !d.IsDir() || strings.HasPrefix(d.Name(), ".") {
			continue
		}
		name := d.Name() + "/function.json"
		if _, err := os.Stat(filepath.Join(root, filepath.FromSlash(name))); err == nil {
			entries = append(entries, Entry{Name: name, Mode: 0o644})
		} else if !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
	}
	if len(entries) == 2 {
		return nil, errors.New("no <Function>/function.json folder at the app root")
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].Name < entries[j].Name })
	return entries, nil
}

// checkBinary refuses anything but a linux/amd64 ELF executable: the Flex
// Consumption host runs Linux x64, and a binary built for the developer's own
// OS would only fail at the first invocation.
func checkBinary(b []byte, name string) error {
	f, err := elf.NewFile(bytes.NewReader(b))
	if err != nil {
		return fmt.Errorf("%s is not a Linux ELF binary (build with GOOS=linux GOARCH=amd64 CGO_ENABLED=0): %w", name, err)
	}
	defer f.Close()
	if f.Machine != elf.EM_X86_64 {
		return fmt.Errorf("%s is built for %s, want x86-64 (GOARCH=amd64)", name, f.Machine)
	}
	return nil
}

// Write writes the package of the app at root to w.
func Write(root string, w io.Writer) error {
	entries, err := Entries(root)
	if err != nil {
		return err
	}
	exe, err := ExecutablePath(root)
	if err != nil {
		return err
	}
	zw := zip.NewWriter(w)
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(e.Name)))
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) && e.Name == exe {
				return fmt.Errorf("%s missing: run GOOS=linux GOARCH=amd64 CGO_ENABLED=0 go build -o %s . first", e.Name, e.Name)
			}
			return err
		}
		if e.Name == exe {
			if err := checkBinary(b, e.Name); err != nil {
				return err
			}
		} else if !json.Valid(b) {
			return fmt.Errorf("%s is not valid JSON", e.Name)
		}
		h := &zip.FileHeader{Name: e.Name, Method: zip.Deflate, Modified: modTime}
		h.SetMode(e.Mode)
		fw, err := zw.CreateHeader(h)
		if err != nil {
			return err
		}
		if _, err := fw.Write(b); err != nil {
			return err
		}
	}
	return zw.Close()
}

// WriteFile writes the package to out (creating its directory), replacing any
// previous file only once the new one is complete.
func WriteFile(root, out string) error {
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(out), ".tripline-*.zip")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := Write(root, tmp); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), out)
}
