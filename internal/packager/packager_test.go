package packager

import (
	"archive/zip"
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// app makes an app root with host.json, one function folder and a
// linux/amd64 binary stand-in (the test binary itself is not one on every
// machine, so an ELF header is written by hand).
func app(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	write(t, filepath.Join(root, "host.json"), `{"customHandler":{"description":{"defaultExecutablePath":"bin/tripline"}}}`)
	write(t, filepath.Join(root, "Fn", "function.json"), `{"bindings":[]}`)
	exe, err := os.ReadFile("/proc/self/exe")
	if err != nil || checkBinary(exe, "self") != nil {
		t.Skip("needs a linux/amd64 test binary to stand in for bin/tripline")
	}
	write(t, filepath.Join(root, "bin", "tripline"), string(exe))
	return root
}

func write(t *testing.T, path, data string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestWriteWithData(t *testing.T) {
	root := app(t)
	rules := t.TempDir()
	write(t, filepath.Join(rules, "a.toml"), "a")
	write(t, filepath.Join(rules, "azure", "b.toml"), "b")
	write(t, filepath.Join(rules, "README.md"), "not packaged")
	write(t, filepath.Join(rules, ".git", "c.toml"), "not packaged")
	ex := filepath.Join(t.TempDir(), "my-exceptions.toml")
	write(t, ex, "x")
	ov := filepath.Join(t.TempDir(), "my-overrides.toml")
	write(t, ov, "o")
	var buf bytes.Buffer
	if err := WriteWith(root, &buf, Data{RulesDir: rules, ExceptionsFile: ex, OverridesFile: ov}); err != nil {
		t.Fatal(err)
	}
	zr, err := zip.NewReader(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range zr.File {
		names = append(names, f.Name+" "+f.Mode().String())
	}
	want := "Fn/function.json -rw-r--r--,bin/tripline -rwxr-xr-x,host.json -rw-r--r--," +
		"config/exceptions.toml -rw-r--r--,config/overrides.toml -rw-r--r--,config/rules/a.toml -rw-r--r--,config/rules/azure/b.toml -rw-r--r--"
	if got := strings.Join(names, ","); got != want {
		t.Fatalf("entries\n got %s\nwant %s", got, want)
	}
	d, err := DataEntries(Data{RulesDir: rules, OverridesFile: ov})
	if err != nil || len(d) != 3 || d[0].Name != OverridesPath {
		t.Fatalf("DataEntries = %v, %v", d, err)
	}
}

func TestWriteWithEmptyRulesDir(t *testing.T) {
	root := app(t)
	err := WriteWith(root, &bytes.Buffer{}, Data{RulesDir: t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), "no *.toml files") {
		t.Fatalf("err = %v", err)
	}
}
