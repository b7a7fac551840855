package main

// The cost of stateful rules: the export through the pipeline with
// threshold and new_terms rules loaded beside the built-ins.

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/tripline/tripline/detect"
	"github.com/tripline/tripline/detect/rules"
	"github.com/tripline/tripline/detect/ruleset"
)

// statefulEngine loads the built-ins and the project's threshold and
// new_terms rules in Elastic's format (detect/testdata/stateful), and, when
// BENCH_ELASTIC_RULES names a checkout of Elastic's detection-rules (its
// rules/integrations/azure folder), every rule of it Tripline runs. It
// returns the engine and how many rules are stateful.
func statefulEngine(root string) (*detect.Engine, int, string, error) {
	trees := []ruleset.Tree{{FS: os.DirFS(filepath.Join(root, "detect", "testdata", "stateful")), Name: "detect/testdata/stateful", Origin: "bench"}}
	which := "the built-ins and the project's stateful test rules"
	if dir := os.Getenv("BENCH_ELASTIC_RULES"); dir != "" {
		trees = append(trees, ruleset.Tree{FS: os.DirFS(dir), Name: dir, Origin: "BENCH_ELASTIC_RULES"})
		which = "the built-ins, the project's stateful test rules and the Elastic rules of BENCH_ELASTIC_RULES"
	}
	set, err := ruleset.Load(ruleset.Options{Builtin: rules.FS, Trees: trees})
	if err != nil {
		return nil, 0, "", err
	}
	n := 0
	for _, r := range set.Rules {
		if r.Stateful() {
			n++
		}
	}
	e, err := detect.NewEngine(set.Rules, set.Exceptions)
	return e, n, fmt.Sprintf("%d rules (%d stateful): %s", len(set.Rules), n, which), err
}
