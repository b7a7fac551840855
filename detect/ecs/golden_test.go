package ecs_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/tripline/tripline/detect/ecs"
	"github.com/tripline/tripline/input"
)

var updateNormalized = flag.Bool("update-normalized", false, "rewrite detect/ecs/testdata/normalized/*.golden.json")

// TestNormalizeGolden normalizes every record of the repository's examples
// and compares the ECS documents with reviewed golden files, so a change to
// the mapping shows up as a diff.
func TestNormalizeGolden(t *testing.T) {
	for _, name := range []string{"activitylog-eventhub.json", "kube-audit-eventhub.json", "eventgrid-delivery.json"} {
		t.Run(name, func(t *testing.T) {
			msg, err := os.ReadFile(filepath.Join("..", "..", "examples", name))
			if err != nil {
				t.Fatal(err)
			}
			type normalized struct {
				Source   string         `json:"source"`
				Time     string         `json:"time"`
				Identity string         `json:"identity"`
				Doc      map[string]any `json:"doc"`
			}
			var got []normalized
			in := input.NewReader(bytes.NewReader(msg))
			for {
				r, err := in.Next()
				if err == io.EOF {
					break
				}
				if err != nil || r.Skip != "" {
					t.Fatalf("record %d: %v %s", r.Index, err, r.Skip)
				}
				ev, err := ecs.Normalize(r.Bytes)
				if err != nil {
					t.Fatalf("record %d: %v", r.Index, err)
				}
				got = append(got, normalized{ev.Source, ev.Time.Format("2006-01-02T15:04:05.999999999Z07:00"), ev.Identity, ev.Doc})
			}
			out, err := json.MarshalIndent(got, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			golden := filepath.Join("testdata", "normalized", name[:len(name)-len(".json")]+".golden.json")
			if *updateNormalized {
				os.MkdirAll(filepath.Dir(golden), 0o755)
				if err := os.WriteFile(golden, append(out, '\n'), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test ./detect/ecs -run TestNormalizeGolden -update-normalized)", err)
			}
			if !bytes.Equal(bytes.TrimSpace(want), bytes.TrimSpace(out)) {
				t.Errorf("normalized documents differ from %s (rerun with -update-normalized and review the diff)", golden)
			}
		})
	}
}
