//go:build ignore

// Command package writes dist/tripline.zip, the Functions deployment package
// (host.json, the handler binary with mode 0755, every <Function>/function.json,
// and the user's rules, exceptions and overrides under config/).
// Run through scripts/package.sh, which builds the binary and checks the rules first:
//
//	go run scripts/package.go [-root .] [-o dist/tripline.zip] [-rules DIR] [-exceptions FILE] [-overrides FILE]
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/tripline/tripline/internal/packager"
)

func main() {
	root := flag.String("root", ".", "app root (the directory holding host.json)")
	out := flag.String("o", "dist/tripline.zip", "output zip")
	var d packager.Data
	flag.StringVar(&d.RulesDir, "rules", "", "directory tree of rule files to package (config/rules)")
	flag.StringVar(&d.ExceptionsFile, "exceptions", "", "exceptions file to package (config/exceptions.toml)")
	flag.StringVar(&d.OverridesFile, "overrides", "", "overrides file to package (config/overrides.toml)")
	flag.Parse()
	if err := packager.WriteFileWith(*root, *out, d); err != nil {
		fmt.Fprintln(os.Stderr, "package:", err)
		os.Exit(1)
	}
	entries, _ := packager.Entries(*root)
	data, _ := packager.DataEntries(d)
	entries = append(entries, data...)
	for _, e := range entries {
		fmt.Printf("  %v  %s\n", e.Mode, e.Name)
	}
	fmt.Println("wrote", *out)
}
