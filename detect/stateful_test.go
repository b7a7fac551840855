package detect_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tripline/tripline/detect"
)

func TestStatefulRulesParse(t *testing.T) {
	rules, err := detect.LoadRules(os.DirFS(filepath.Join("testdata", "stateful")))
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]*detect.Rule{}
	for _, r := range rules {
		byName[filepath.Base(r.File)] = r
		if r.Query == nil || !r.Stateful() {
			t.Errorf("%s: query compiled %v, stateful %v", r.File, r.Query != nil, r.Stateful())
		}
	}
	th := byName["threshold_storage_deletions_by_user.toml"].Threshold
	if th == nil || strings.Join(th.Fields, ",") != "azure.activitylogs.identity.claims_initiated_by_user.name" || th.Value != 1 ||
		th.Cardinality == nil || th.Cardinality.Field != "azure.resource.name" || th.Cardinality.Value != 3 || th.Window != 10*time.Minute {
		t.Errorf("threshold = %+v", th)
	}
	if th := byName["threshold_snapshot_deletions.toml"].Threshold; th == nil || len(th.Fields) != 1 || th.Value != 4 || th.Window != 5*time.Minute || th.Cardinality != nil {
		t.Errorf("threshold with a single field = %+v", th)
	}
	nt := byName["new_terms_vm_command_identity_and_group.toml"].NewTerms
	if nt == nil || len(nt.Fields) != 2 || nt.HistoryWindow != 5*24*time.Hour {
		t.Errorf("new_terms = %+v", nt)
	}
}

func TestStatefulRuleErrors(t *testing.T) {
	base, err := os.ReadFile(filepath.Join("testdata", "stateful", "new_terms_storage_deletion_unusual_user.toml"))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct{ name, from, to, want string }{
		{"four fields", `value = ["azure.activitylogs.identity.claims_initiated_by_user.name"]`, `value = ["a", "b", "c", "d"]`, "one to three field names"},
		{"history not date math", `value = "now-7d"`, `value = "2026-01-01"`, "now-<n><unit>"},
		{"history month", `value = "now-7d"`, `value = "now-1M"`, "unit \"M\""},
		{"field name", `field = "new_terms_fields"`, `field = "terms"`, `must be "new_terms_fields"`},
		{"threshold without table", `type = "new_terms"`, `type = "threshold"`, "needs a [rule.threshold] table"},
		{"eql", `type = "new_terms"`, `type = "eql"`, `skipped: rule type "eql"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			data := strings.Replace(string(base), c.from, c.to, 1)
			if data == string(base) {
				t.Fatalf("%q not in the rule", c.from)
			}
			_, err := detect.ParseRule("x.toml", []byte(data))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want it to say %q", err, c.want)
			}
		})
	}
}

// TestElasticCheckoutStatefulRules is opt-in: with TRIPLINE_ELASTIC_RULES
// set to a checkout of github.com/elastic/detection-rules, every kuery rule
// of type query, threshold or new_terms in rules/integrations/azure whose
// query reads azure.activitylogs or azure.platformlogs must load; the counts
// by type are logged. Elastic's files stay out of this tree.
func TestElasticCheckoutStatefulRules(t *testing.T) {
	dir := os.Getenv("TRIPLINE_ELASTIC_RULES")
	if dir == "" {
		t.Skip("set TRIPLINE_ELASTIC_RULES to a checkout of github.com/elastic/detection-rules to run")
	}
	files, err := filepath.Glob(filepath.Join(dir, "rules", "integrations", "azure", "*.toml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no rules under %s/rules/integrations/azure (%v)", dir, err)
	}
	loaded, other := map[string]int{}, map[string]int{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		s := string(data)
		i := strings.Index(s, "\nquery =")
		if i < 0 || !(strings.Contains(s[i:], "azure.activitylogs") || strings.Contains(s[i:], "azure.platformlogs")) {
			continue
		}
		typ := ""
		for _, line := range strings.Split(s, "\n") {
			if v, ok := strings.CutPrefix(line, "type = "); ok {
				typ = strings.Trim(v, `"`)
				break
			}
		}
		r, err := detect.ParseRule(f, data)
		switch {
		case typ == "query" || typ == "threshold" || typ == "new_terms":
			if err != nil {
				t.Errorf("%s: %v", filepath.Base(f), err)
				continue
			}
			loaded[r.Type]++
		default:
			other[typ]++
		}
	}
	t.Logf("loaded: %v; other types (not run): %v", loaded, other)
	if loaded["new_terms"] == 0 || loaded["threshold"] == 0 {
		t.Errorf("no new_terms or threshold rule found: %v", loaded)
	}
}
