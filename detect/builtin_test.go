package detect_test

import (
	"testing"

	"github.com/tripline/tripline/detect"
	"github.com/tripline/tripline/detect/rules"
)

// TestBuiltinRules runs every built-in rule's own test cases: each must load,
// and each case must match or not as it says.
func TestBuiltinRules(t *testing.T) {
	all, err := detect.LoadRules(rules.FS)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 3 {
		t.Fatalf("built-in rules = %d, want 3", len(all))
	}
	for _, r := range all {
		if len(r.Tests) < 4 {
			t.Errorf("%s: %d test cases, want at least 4 (must and must-not pairs)", r.File, len(r.Tests))
		}
		var must, mustNot int
		for _, tc := range r.Tests {
			if tc.Match {
				must++
			} else {
				mustNot++
			}
		}
		if must == 0 || mustNot == 0 {
			t.Errorf("%s: %d must-match and %d must-not-match cases; want both", r.File, must, mustNot)
		}
	}
	for _, o := range detect.RunRuleTests(all) {
		t.Run(o.Rule.File+"/"+o.Test.Name, func(t *testing.T) {
			if !o.Passed {
				t.Error(o.Problem)
			}
		})
	}
}

func TestSeedRuleMetadata(t *testing.T) {
	all, err := detect.LoadRules(rules.FS)
	if err != nil {
		t.Fatal(err)
	}
	var seed *detect.Rule
	for _, r := range all {
		if r.ID == "8b64d36a-1307-4b2e-a77b-a0027e4d27c8" {
			seed = r
		}
	}
	if seed == nil {
		t.Fatal("seed rule missing")
	}
	want := `event.dataset:azure.activitylogs and azure.activitylogs.operation_name:"MICROSOFT.KUBERNETES/CONNECTEDCLUSTERS/EVENTS.K8S.IO/EVENTS/DELETE" and event.outcome:(Success or success)`
	if got := trimSpace(seed.QueryText); got != want {
		t.Errorf("query = %q, want %q", got, want)
	}
	if seed.Name != "Azure Kubernetes Events Deleted" || seed.Severity != "medium" || seed.RiskScore != 47 ||
		seed.Interval != "5m" || seed.From != "now-25m" || seed.MaxSignals != 100 || seed.Type != "query" || seed.Language != "kuery" {
		t.Errorf("metadata = %q %s %d %s %s %d %s %s", seed.Name, seed.Severity, seed.RiskScore, seed.Interval, seed.From, seed.MaxSignals, seed.Type, seed.Language)
	}
	wantTags := []string{"Domain: Cloud", "Data Source: Azure", "Use Case: Log Auditing", "Tactic: Defense Evasion", "Resources: Investigation Guide"}
	if len(seed.Tags) != len(wantTags) {
		t.Fatalf("tags = %q", seed.Tags)
	}
	for i := range wantTags {
		if seed.Tags[i] != wantTags[i] {
			t.Errorf("tag %d = %q, want %q", i, seed.Tags[i], wantTags[i])
		}
	}
	var ids []string
	for _, th := range seed.Threat {
		ids = append(ids, th.Tactic.ID)
		for _, tech := range th.Technique {
			ids = append(ids, tech.ID)
			for _, sub := range tech.Subtechnique {
				ids = append(ids, sub.ID)
			}
		}
	}
	if got := join(ids); got != "TA0005,T1562,T1562.001" {
		t.Errorf("techniques = %s", got)
	}
	if steps := detect.FirstSteps(seed.Note, 3); len(steps) != 3 {
		t.Errorf("first investigation steps = %q, want 3", steps)
	}
	if seed.Suppression.Duration.Minutes() != 25 || len(seed.Suppression.GroupBy) != 2 || !seed.Suppression.SuppressMissing {
		t.Errorf("suppression = %+v", seed.Suppression)
	}
}

func trimSpace(s string) string {
	for len(s) > 0 && (s[0] == '\n' || s[0] == ' ') {
		s = s[1:]
	}
	for len(s) > 0 && (s[len(s)-1] == '\n' || s[len(s)-1] == ' ') {
		s = s[:len(s)-1]
	}
	return s
}

func join(ss []string) string {
	out := ""
	for i, s := range ss {
		if i > 0 {
			out += ","
		}
		out += s
	}
	return out
}
