// Package packager writes Tripline's Azure Functions deployment zip: the
// layout `func azure functionapp publish` uploads for a custom handler, and
// nothing else.
//
//	host.json
//	<defaultExecutablePath>          (bin/tripline, mode 0755, linux/amd64 ELF)
//	<Function>/function.json         (one per function folder at the root)
//	config/rules/...                 (Data.RulesDir: the *.toml files of a rule tree)
//	config/exceptions.toml           (Data.ExceptionsFile)
//	config/overrides.toml            (Data.OverridesFile)
//
// The handler finds config/ through FUNCTIONS_APP_ROOT_PATH, which the
// Functions host sets to the app root. The zip is reproducible: entries are
// sorted and carry a fixed time.
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

// Data names the user's files packaged with the app; "" leaves one out.
type Data struct {
	// RulesDir is a directory tree of rule files: its *.toml files go to
	// config/rules/ with their relative paths (directories whose name
	// starts with "." are left out, as the loader leaves them out).
	RulesDir string
	// ExceptionsFile and OverridesFile go to config/exceptions.toml and
	// config/overrides.toml.
	ExceptionsFile, OverridesFile string
}

// Paths of the packaged data inside the app (and the zip).
const (
	RulesPath      = "config/rules"
	ExceptionsPath = "config/exceptions.toml"
	OverridesPath  = "config/overrides.toml"
)

// dataFile is one packaged data file: its name in the zip and its source.
type dataFile struct{ name, src string }

// dataFiles lists the packaged data files, sorted by name in the zip.
func dataFiles(d Data) ([]dataFile, error) {
	var out []dataFile
	if d.RulesDir != "" {
		n := 0
		err := filepath.WalkDir(d.RulesDir, func(p string, e fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if e.IsDir() {
				if p != d.RulesDir && strings.HasPrefix(e.Name(), ".") {
					return filepath.SkipDir
				}
				return nil
			}
			if filepath.Ext(p) != ".toml" {
				return nil
			}
			rel, err := filepath.Rel(d.RulesDir, p)
			if err != nil {
				return err
			}
			out = append(out, dataFile{RulesPath + "/" + filepath.ToSlash(rel), p})
			n++
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("rules %s: %w", d.RulesDir, err)
		}
		if n == 0 {
			return nil, fmt.Errorf("rules %s: no *.toml files", d.RulesDir)
		}
	}
	if d.ExceptionsFile != "" {
		out = append(out, dataFile{ExceptionsPath, d.ExceptionsFile})
	}
	if d.OverridesFile != "" {
		out = append(out, dataFile{OverridesPath, d.OverridesFile})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out, nil
}

// DataEntries lists the packaged data files of d as package entries.
func DataEntries(d Data) ([]Entry, error) {
	files, err := dataFiles(d)
	if err != nil {
		return nil, err
	}
	out := make([]Entry, len(files))
	for i, f := range files {
		out[i] = Entry{Name: f.name, Mode: 0o644}
	}
	return out, nil
}

// Write writes the package of the app at root to w.
func Write(root string, w io.Writer) error { return WriteWith(root, w, Data{}) }

// WriteWith writes the package of the app at root with the user's data
// files to w.
func WriteWith(root string, w io.Writer, d Data) error {
	entries, err := Entries(root)
	if err != nil {
		return err
	}
	data, err := dataFiles(d)
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
	for _, f := range data {
		b, err := os.ReadFile(f.src)
		if err != nil {
			return err
		}
		h := &zip.FileHeader{Name: f.name, Method: zip.Deflate, Modified: modTime}
		h.SetMode(0o644)
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
func WriteFile(root, out string) error { return WriteFileWith(root, out, Data{}) }

// WriteFileWith is WriteFile with the user's data files.
func WriteFileWith(root, out string, d Data) error {
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(out), ".tripline-*.zip")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := WriteWith(root, tmp, d); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), out)
}
