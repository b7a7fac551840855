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
		want        []Term
		ok          bool
	}{
		{"single", `a:foo`, []Term{{"a", "foo"}}, true},
		{"and picks the longer literal", `a:foo and b:foobar`, []Term{{"b", "foobar"}}, true},
		{"and picks fewer terms", `a:(x1 or x2) and b:y`, []Term{{"b", "y"}}, true},
		{"and skips sides without terms", `not a:x and b:yy and c > 3`, []Term{{"b", "yy"}}, true},
		{"or unions", `a:foo or b:bar`, []Term{{"a", "foo"}, {"b", "bar"}}, true},
		{"or dedups", `a:(foo or foo)`, []Term{{"a", "foo"}}, true},
		{"wildcard longest fragment", `u:system\:node\:*`, []Term{{"u", "system:node:"}}, true},
		{"wildcard middle fragment", `u:*a*longest*b*`, []Term{{"u", "longest"}}, true},
		{"seed rule", `event.dataset:azure.activitylogs and azure.activitylogs.operation_name:"MICROSOFT.KUBERNETES/CONNECTEDCLUSTERS/EVENTS.K8S.IO/EVENTS/DELETE" and event.outcome:(Success or success)`,
			[]Term{{"azure.activitylogs.operation_name", "MICROSOFT.KUBERNETES/CONNECTEDCLUSTERS/EVENTS.K8S.IO/EVENTS/DELETE"}}, true},
		{"not", `not a:x`, nil, false},
		{"exists", `a:*`, nil, false},
		{"pattern without literal", `a:**`, nil, false},
		{"range", `a > 1`, nil, false},
		{"number", `a:200`, nil, false},
		{"boolean", `a:true`, nil, false},
		{"or with an unusable side", `a:x or not b:y`, nil, false},
		{"and with no usable side", `a:1 and not b:y`, nil, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := mustCompile(t, tc.query).Prefilter()
			if ok != tc.ok || !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("Prefilter(%q) = %v, %v; want %v, %v", tc.query, got, ok, tc.want, tc.ok)
			}
		})
	}
}

// TestPrefilterSound checks the Prefilter contract on the match table's
// documents: whenever a query matches, some term's literal is in a string
// value of its field.
func TestPrefilterSound(t *testing.T) {
	docs := []string{
		`{"a":"foo","b":"foobar"}`, `{"a":["x","foo"]}`, `{"b":"bar"}`, `{"u":"system:node:1"}`,
		`{"a":{"b":"x"},"a.b":"y"}`, `{"a":200,"b":"200"}`,
	}
	queries := []string{
		`a:foo and b:foobar`, `a:foo or b:bar`, `u:system\:node\:*`, `a.b:(x or y)`, `b:200`, `a:*foo*`,
	}
	for _, qs := range queries {
		q := mustCompile(t, qs)
		terms, ok := q.Prefilter()
		if !ok {
			continue
		}
		for _, ds := range docs {
			doc := doc(t, ds)
			if !q.Match(doc) {
				continue
			}
			found := false
			for _, term := range terms {
				probe := &wildcardNode{path: newPath(term.Field), frags: []string{"", term.Literal, ""}}
				if probe.match(doc) {
					found = true
				}
			}
			if !found {
				t.Errorf("%s matches %s but no prefilter term %v is present", qs, ds, terms)
			}
		}
	}
}
