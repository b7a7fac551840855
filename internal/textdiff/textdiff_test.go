package textdiff

import "testing"

func TestFirst(t *testing.T) {
	for _, tc := range []struct{ got, want, diff string }{
		{"a\nb\n", "a\nb\n", ""},
		{"a\nb\nc", "a\nx\nc", "line 2:\n got  b\n want x"},
		{"a\n", "a\nmore", "line 2:\n got  \n want more"},
	} {
		if d := First(tc.got, tc.want); d != tc.diff {
			t.Errorf("First(%q, %q) = %q, want %q", tc.got, tc.want, d, tc.diff)
		}
	}
}
