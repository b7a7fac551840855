//go:build ignore

// Command package writes dist/tripline.zip, the Functions deployment package
// (host.json, the handler binary with mode 0755, every <Function>/function.json).
// Run through scripts/package.sh, which builds the binary first:
//
//	go run scripts/package.go [-root .] [-o dist/tripline.zip]
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
	flag.Parse()
	if err := packager.WriteFile(*root, *out); err != nil {
		fmt.Fprintln(os.Stderr, "package:", err)
		os.Exit(1)
	}
	entries, _ := packager.Entries(*root)
	for _, e := range entries {
		fmt.Printf("  %v  %s\n", e.Mode, e.Name)
	}
	fmt.Println("wrote", *out)
}
