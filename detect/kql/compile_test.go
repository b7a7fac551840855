package kql

import (
	"errors"
	"fmt"
	"reflect"
	"testing"
)

func TestKQLErrorFields(t *testing.T) {
	_, err := Compile("a:b and\n  é:\\x")
	var ke *Error
	if !errors.As(err, &ke) {
		t.Fatalf("error %v (%T) is not *Error", err, err)
	}
	want := Error{Offset: 13, Line: 2, Column: 5, Msg: ke.Msg}
	if *ke != want {
		t.Fatalf("got %+v, want %+v", *ke, want)
	}
	if got := ke.Error(); got != fmt.Sprintf("2:5: %s", ke.Msg) {
		t.Fatalf("Error() = %q", got)
	}
}

func TestFields(t *testing.T) {
	cases := []struct {
		query string
		want  []string
	}{
		{`b:1 and a:2 or not b:3`, []string{"a", "b"}},
		{`x.y:(1 or 2) and z > 3 and w:*`, []string{"w", "x.y", "z"}},
	}
	for _, tc := range cases {
		q := mustCompile(t, tc.query)
		got := q.Fields()
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("Fields(%q) = %v, want %v", tc.query, got, tc.want)
		}
		got[0] = "changed"
		if q.Fields()[0] == "changed" {
			t.Errorf("Fields shares its slice with the Query")
		}
	}
}

func TestPrefilter(t *testing.T) {
	cases := []struct {
		name, query string
		want        []Clause
	}{
		{"single", `a:foo`, []Clause{{{"a", "foo"}}}},
		{"and keeps both sides", `a:foo and b:foobar`, []Clause{{{"a", "foo"}}, {{"b", "foobar"}}}},
		{"and skips sides without terms", `not a:x and b:yy and c > 3`, []Clause{{{"b", "yy"}}}},
		{"or unions", `a:foo or b:bar`, []Clause{{{"a", "foo"}, {"b", "bar"}}}},
		{"or dedups", `a:(foo or foo)`, []Clause{{{"a", "foo"}}}},
		{"or takes each side's most selective clause", `(a:(x1 or x2) and b:yy) or c:z`, []Clause{{{"b", "yy"}, {"c", "z"}}}},
		{"wildcard fragments", `u:*a*longest*`, []Clause{{{"u", "a"}}, {{"u", "longest"}}}},
		{"wildcard prefix", `u:system\:node\:*`, []Clause{{{"u", "system:node:"}}}},
		{"not", `not a:x`, nil},
		{"exists", `a:*`, nil},
		{"pattern without literal", `a:**`, nil},
		{"range", `a > 1`, nil},
		{"number", `a:200`, nil},
		{"boolean", `a:true`, nil},
		{"or with an unusable side", `a:x or not b:y`, nil},
		{"and with no usable side", `a:1 and not b:y`, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := mustCompile(t, tc.query).Prefilter(nil)
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("Prefilter(%q) = %v; want %v", tc.query, got, tc.want)
			}
		})
	}
	q := mustCompile(t, `a:foo and b:bar`)
	if got := q.Prefilter(func(f string) bool { return f != "a" }); !reflect.DeepEqual(got, []Clause{{{"b", "bar"}}}) {
		t.Errorf("keep: %v", got)
	}
}

// TestPrefilterSound checks the Prefilter contract on the match table's
// documents: whenever a query matches, every clause has a term whose
// literal is in a string value of its field.
func TestPrefilterSound(t *testing.T) {
	docs := []string{
		`{"a":"foo","b":"foobar"}`, `{"a":["x","foo"]}`, `{"b":"bar"}`, `{"u":"system:node:1"}`,
		`{"a":{"b":"x"},"a.b":"y"}`, `{"a":200,"b":"200"}`,
	}
	queries := []string{
		`a:foo and b:foobar`, `a:foo or b:bar`, `u:system\:node\:*`, `a.b:(x or y)`, `b:200`, `a:*foo*`, `(a:foo and b:*bar) or u:*node*`,
	}
	for _, qs := range queries {
		q := mustCompile(t, qs)
		for _, ds := range docs {
			doc := doc(t, ds)
			if !q.Match(doc) {
				continue
			}
			for _, clause := range q.Prefilter(nil) {
				found := false
				for _, term := range clause {
					probe := &wildcardNode{path: newPath(term.Field), frags: []string{"", term.Literal, ""}}
					if probe.match(doc) {
						found = true
					}
				}
				if !found {
					t.Errorf("%s matches %s but no term of clause %v is present", qs, ds, clause)
				}
			}
		}
	}
}
