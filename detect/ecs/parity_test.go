package ecs_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/tripline/tripline/detect/ecs"
	"github.com/tripline/tripline/detect/kql"
)

// TestElasticParity normalizes records written for this project from the
// behaviour of Elastic's azure integration pipelines (each file's "about"
// names the pipeline step) and checks the ECS fields Elastic would store:
// "fields" maps a dotted path to its expected value (null: absent), "match"
// and "miss" are KQL queries that must and must not match the document, as
// they would in Elastic.
func TestElasticParity(t *testing.T) {
	files, err := filepath.Glob("testdata/parity/*.json")
	if err != nil || len(files) < 4 {
		t.Fatalf("parity files: %v, %v", files, err)
	}
	for _, file := range files {
		var f struct {
			About string `json:"about"`
			Cases []struct {
				Name   string          `json:"name"`
				Record json.RawMessage `json:"record"`
				Fields map[string]any  `json:"fields"`
				Match  []string        `json:"match"`
				Miss   []string        `json:"miss"`
			} `json:"cases"`
		}
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, &f); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		if f.About == "" || len(f.Cases) == 0 {
			t.Fatalf("%s: no about or no cases", file)
		}
		for _, c := range f.Cases {
			t.Run(filepath.Base(file)+"/"+c.Name, func(t *testing.T) {
				ev, err := ecs.Normalize(c.Record)
				if err != nil {
					t.Fatalf("Normalize: %v", err)
				}
				for path, want := range c.Fields {
					got, ok := ecs.Lookup(ev.Doc, path)
					if want == nil {
						if ok {
							t.Errorf("%s = %#v, want absent", path, got)
						}
						continue
					}
					if !ok || !reflect.DeepEqual(got, want) {
						t.Errorf("%s = %#v (%T, present %v), want %#v (%T)", path, got, got, ok, want, want)
					}
				}
				for _, q := range c.Match {
					if !compile(t, q).Match(ev.Doc) {
						t.Errorf("%s does not match", q)
					}
				}
				for _, q := range c.Miss {
					if compile(t, q).Match(ev.Doc) {
						t.Errorf("%s matches", q)
					}
				}
			})
		}
	}
}

func compile(t *testing.T, q string) *kql.Query {
	t.Helper()
	c, err := kql.Compile(q)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return c
}
