package kql

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzCompileKQL checks that no input makes the compiler or a compiled query
// panic, that errors are positioned inside the query, and that a compiled
// query's printed tree is stable.
func FuzzCompileKQL(f *testing.F) {
	for _, s := range []string{
		`event.dataset:azure.activitylogs and event.outcome:(Success or success)`,
		`a:(b or (c and not d*)) or not e:* and f >= 10`,
		`u:system\:node\:* and x:"q\"uote\\" and y:\u0041\ud83d\ude00`,
		`a.b.c:1.5e3 and t < "2024-01-01T00:00:00Z"`,
		"a:b\n and \n c:d", `a:{b:c}`, `*:x`, `foo`, `a:"unterminated`, `(((`, `a:\`, "a:\u00a0b",
	} {
		f.Add(s)
	}
	docs := []map[string]any{
		nil,
		{"a": "b", "u": "system:node:x", "f": 11.0},
		{"a": []any{"b", map[string]any{"b": "c"}}, "a.b": map[string]any{"c": "1500"}, "e": nil},
	}
	f.Fuzz(func(t *testing.T, query string) {
		q, err := Compile(query)
		if err != nil {
			var ke *Error
			if !errors.As(err, &ke) {
				t.Fatalf("error %T is not *Error: %v", err, err)
			}
			if ke.Offset < 0 || ke.Offset > len(query) || ke.Line < 1 || ke.Column < 1 || ke.Msg == "" {
				t.Fatalf("bad error position %+v for %q", *ke, query)
			}
			if want := 1 + strings.Count(query[:ke.Offset], "\n"); ke.Line != want {
				t.Fatalf("line %d, want %d", ke.Line, want)
			}
			return
		}
		s := q.String()
		if s != q.String() || !utf8.ValidString(s) {
			t.Fatalf("unstable or invalid String for %q: %q", query, s)
		}
		q.Fields()
		q.Prefilter(nil)
		for _, d := range docs {
			q.Match(d)
		}
	})
}
