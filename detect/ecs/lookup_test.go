package ecs

import (
	"encoding/json"
	"testing"
)

func TestLookup(t *testing.T) {
	var doc map[string]any
	err := json.Unmarshal([]byte(`{
		"user": {"name": "dana"},
		"azure": {"platformlogs": {"properties": {"log": {
			"annotations": {"authorization.k8s.io/decision": "allow"},
			"objectRef": {"resource": "events"}
		}}}},
		"a.b": {"c": "dotted parent"},
		"x": {"y": null}
	}`), &doc)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		path string
		want any
		ok   bool
	}{
		{"user.name", "dana", true},
		{"azure.platformlogs.properties.log.objectRef.resource", "events", true},
		{"azure.platformlogs.properties.log.annotations.authorization.k8s.io/decision", "allow", true},
		{"a.b.c", "dotted parent", true},
		{"x.y", nil, true},
		{"user.email", nil, false},
		{"user.name.first", nil, false},
		{"", nil, false},
	} {
		got, ok := Lookup(doc, tc.path)
		if got != tc.want || ok != tc.ok {
			t.Errorf("Lookup(%q) = %v, %v; want %v, %v", tc.path, got, ok, tc.want, tc.ok)
		}
	}
}
