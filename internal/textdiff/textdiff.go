// Package textdiff shows where two texts part, for tests that compare
// whole outputs.
package textdiff

import (
	"fmt"
	"strings"
)

// First returns the first line where got and want differ, numbered from 1,
// with both versions (each cut to 300 bytes), or "" when they are equal.
func First(got, want string) string {
	g, w := strings.Split(got, "\n"), strings.Split(want, "\n")
	for i := 0; i < len(g) || i < len(w); i++ {
		var gl, wl string
		if i < len(g) {
			gl = g[i]
		}
		if i < len(w) {
			wl = w[i]
		}
		if gl != wl {
			return fmt.Sprintf("line %d:\n got  %.300s\n want %.300s", i+1, gl, wl)
		}
	}
	return ""
}
