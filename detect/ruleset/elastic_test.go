package ruleset_test

import (
	"os"
	"sort"
	"strings"
	"testing"

	"github.com/tripline/tripline/detect/ruleset"
)

// TestElasticCheckout loads a checkout of Elastic's detection-rules
// (TRIPLINE_ELASTIC_RULES names its rules/ folder, or a part of it such as
// rules/integrations/azure) as TRIPLINE_RULES_DIR would be loaded: nothing
// may be an error, Elastic's rule with the seed rule's id replaces the
// built-in, and the test prints how many rules load and why the others are
// skipped. `make elastic-compat DIR=...` runs it. The project carries no
// copy of that repository (its files are Elastic's), so without the
// variable the test is skipped.
func TestElasticCheckout(t *testing.T) {
	dir := os.Getenv("TRIPLINE_ELASTIC_RULES")
	if dir == "" {
		t.Skip("set TRIPLINE_ELASTIC_RULES to a checkout's rules/ folder (make elastic-compat DIR=...)")
	}
	set, err := load(t, ruleset.Options{Trees: []ruleset.Tree{{FS: os.DirFS(dir), Name: dir, Origin: "TRIPLINE_RULES_DIR"}}})
	if err != nil {
		t.Fatalf("loading %s: %v", dir, err)
	}
	loaded := 0
	byDataset := map[string][]string{}
	for _, v := range set.Files {
		if v.Rule == nil {
			continue
		}
		loaded++
		for _, ds := range []string{"azure.activitylogs", "azure.platformlogs"} {
			if strings.Contains(v.Rule.QueryText, ds) {
				byDataset[ds] = append(byDataset[ds], v.File)
			}
		}
	}
	t.Logf("%s: %d rule file(s), %d loaded, %d skipped", dir, len(set.Files), loaded, len(set.Files)-loaded)
	for _, ds := range []string{"azure.activitylogs", "azure.platformlogs"} {
		sort.Strings(byDataset[ds])
		t.Logf("  loaded on %s: %d", ds, len(byDataset[ds]))
	}
	for _, line := range set.SkipSummary() {
		t.Logf("  %s", line)
	}
	if testing.Verbose() {
		for _, v := range set.Files {
			if v.Rule != nil {
				t.Logf("  ok    %s", v.File)
			}
		}
	}
	replaced := false
	for _, e := range set.Entries {
		if e.Rule.ID == seedID && e.Status == ruleset.Replaced {
			replaced = true
			t.Logf("  built-in %q replaced by %s", e.Rule.Name, e.By)
		}
	}
	for _, v := range set.Files {
		if v.Rule != nil && v.Rule.ID == seedID && !replaced {
			t.Errorf("%s has the seed rule's id but did not replace the built-in", v.File)
		}
	}
	if loaded == 0 {
		t.Errorf("no rule of %s loaded", dir)
	}
}
