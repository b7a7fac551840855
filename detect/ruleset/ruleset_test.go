package ruleset_test

import (
	"strings"
	"testing"
	"testing/fstest"

	"github.com/tripline/tripline/detect/rules"
	"github.com/tripline/tripline/detect/ruleset"
)

const seedID = "8b64d36a-1307-4b2e-a77b-a0027e4d27c8"
const kubeAuditID = "b76ccbde-88d9-47f1-b077-b38e61cbbe2e"

// rule writes a minimal query rule in Elastic's format.
func rule(id, name, query string, extra ...string) *fstest.MapFile {
	s := "[metadata]\nmaturity = \"production\"\n\n[rule]\nrule_id = \"" + id + "\"\nname = \"" + name + "\"\ntype = \"query\"\nlanguage = \"kuery\"\nseverity = \"low\"\nrisk_score = 21\n"
	for _, e := range extra {
		s += e + "\n"
	}
	s += "query = '''\n" + query + "\n'''\n"
	return &fstest.MapFile{Data: []byte(s)}
}

func load(t *testing.T, opts ruleset.Options) (*ruleset.Set, error) {
	t.Helper()
	opts.Builtin = rules.FS
	set, err := ruleset.Load(opts)
	if set == nil {
		t.Fatalf("Load returned no set (err %v)", err)
	}
	return set, err
}

func running(set *ruleset.Set) map[string]string {
	out := map[string]string{}
	for _, r := range set.Rules {
		out[r.ID] = r.Name
	}
	return out
}

func TestUserRuleReplacesBuiltin(t *testing.T) {
	tree := fstest.MapFS{
		"azure/seed.toml":  rule(seedID, "Seed, my way", `data_stream.dataset:azure.activitylogs and event.outcome:success`),
		"azure/other.toml": rule("11111111-2222-3333-4444-555555555555", "Mine", `event.dataset:azure.activitylogs and event.action:X`),
	}
	set, err := load(t, ruleset.Options{Trees: []ruleset.Tree{{FS: tree, Name: "mine", Origin: "TRIPLINE_RULES_DIR"}}})
	if err != nil {
		t.Fatal(err)
	}
	got := running(set)
	if len(got) != 4 || got[seedID] != "Seed, my way" || got["11111111-2222-3333-4444-555555555555"] != "Mine" {
		t.Fatalf("running rules = %v", got)
	}
	var replaced int
	for _, e := range set.Entries {
		if e.Status == ruleset.Replaced {
			replaced++
			if e.Rule.ID != seedID || e.Rule.Origin != ruleset.OriginBuiltin || e.By != "mine/azure/seed.toml" {
				t.Errorf("replaced entry = %+v", e)
			}
		}
	}
	if replaced != 1 || len(set.Entries) != 5 {
		t.Fatalf("%d replaced of %d entries, want 1 of 5", replaced, len(set.Entries))
	}
	for _, r := range set.Rules {
		if r.ID == seedID && r.Origin != "TRIPLINE_RULES_DIR" {
			t.Errorf("replacing rule's origin = %q", r.Origin)
		}
	}
}

func TestDuplicateUserIDsNameBothFiles(t *testing.T) {
	tree := fstest.MapFS{
		"a.toml":     rule(seedID, "A", `event.dataset:azure.activitylogs`),
		"sub/b.toml": rule(seedID, "B", `event.dataset:azure.activitylogs`),
	}
	_, err := load(t, ruleset.Options{Trees: []ruleset.Tree{{FS: tree, Name: "d"}}})
	if err == nil || !strings.Contains(err.Error(), "d/a.toml") || !strings.Contains(err.Error(), "d/sub/b.toml") || !strings.Contains(err.Error(), seedID) {
		t.Fatalf("err = %v, want a duplicate naming both files", err)
	}
}

func TestSkipsByReasonAndStrict(t *testing.T) {
	tree := fstest.MapFS{
		"eql.toml":        {Data: []byte("[rule]\nrule_id = \"e\"\nname = \"e\"\ntype = \"eql\"\nlanguage = \"eql\"\nquery = \"sequence by x [a where true]\"\n")},
		"esql.toml":       {Data: []byte("[rule]\nrule_id = \"q\"\nname = \"q\"\ntype = \"esql\"\nlanguage = \"esql\"\nquery = \"from logs-*\"\n")},
		"terms.toml":      {Data: []byte("[rule]\nrule_id = \"n\"\nname = \"n\"\ntype = \"threat_match\"\nlanguage = \"kuery\"\nquery = \"event.dataset:azure.activitylogs\"\n")},
		"lucene.toml":     {Data: []byte("[rule]\nrule_id = \"l\"\nname = \"l\"\ntype = \"query\"\nlanguage = \"lucene\"\nquery = \"a:b\"\n")},
		"aws.toml":        rule("a", "aws", `event.dataset:aws.cloudtrail and aws.cloudtrail.flattened.request_parameters:*`),
		"aws2.toml":       rule("a2", "aws2", `event.dataset:"aws.cloudtrail" and event.action:(StopLogging or DeleteTrail)`),
		"windows.toml":    rule("w", "windows", `process.name:cmd.exe and not process.args:/c`, `index = ["winlogbeat-*", "logs-windows.*"]`),
		"old.toml":        {Data: []byte("[metadata]\nmaturity = \"deprecated\"\n[rule]\nrule_id = \"o\"\nname = \"o\"\ntype = \"query\"\nlanguage = \"kuery\"\nseverity = \"low\"\nquery = \"event.dataset:azure.activitylogs\"\n")},
		"ours.toml":       rule("ok1", "ours", `event.dataset:(azure.signinlogs or azure.activitylogs) and event.action:X`),
		"wild.toml":       rule("ok2", "wild", `event.action:X`, `index = ["filebeat-*", "logs-azure*"]`),
		"noindex.toml":    rule("ok3", "no index, no dataset", `event.action:X`),
		".git/skip.toml":  {Data: []byte("not toml at all [")},
		"README.md":       {Data: []byte("not a rule")},
		"mapping.toml":    rule("m", "promotes external alerts", `event.kind:alert`, `index = ["logs-*"]`, `[[rule.severity_mapping]]`, `field = "event.severity"`, `operator = "equals"`, `severity = "high"`, `value = "73"`),
		"kql-broken.toml": rule("k", "other platform, KQL outside the subset", `event.dataset:okta.system and okta.target:{ alternate_id:x }`),
	}
	set, err := load(t, ruleset.Options{Trees: []ruleset.Tree{{FS: tree, Name: "elastic"}}})
	if err != nil {
		t.Fatal(err)
	}
	got := running(set)
	for _, id := range []string{"ok1", "ok2", "ok3"} {
		if got[id] == "" {
			t.Errorf("rule %s not loaded", id)
		}
	}
	want := map[string]int{
		`rule type "eql"`: 1, `rule type "esql"`: 1, `rule type "threat_match"`: 1, `language "lucene"`: 1,
		"dataset not produced by Tripline": 3, "index patterns cover no dataset Tripline produces": 1,
		"deprecated (metadata.maturity)": 1, "rule.severity_mapping is not supported": 1,
	}
	skipped := set.Skipped()
	if len(skipped) != len(want) {
		t.Errorf("skipped = %v, want %v", skipped, want)
	}
	for k, n := range want {
		if skipped[k] != n {
			t.Errorf("skipped[%s] = %d, want %d (all: %v)", k, skipped[k], n, skipped)
		}
	}
	summary := set.SkipSummary()
	if len(summary) != len(want) || summary[0] != `skipped 3 rule file(s): dataset not produced by Tripline (aws.cloudtrail: 2; okta.system: 1)` ||
		summary[1] != `skipped 1 rule file(s): deprecated (metadata.maturity)` {
		t.Errorf("summary = %q", summary)
	}
	for _, v := range set.Files {
		if v.File == "elastic/windows.toml" && v.SkipDetail != "winlogbeat-*, logs-windows.*" {
			t.Errorf("windows.toml detail = %q", v.SkipDetail)
		}
	}
	if len(set.Files) != 13 {
		t.Errorf("%d verdicts, want 13 (.git and README.md left out)", len(set.Files))
	}

	_, err = load(t, ruleset.Options{Strict: true, Trees: []ruleset.Tree{{FS: tree, Name: "elastic"}}})
	if err == nil || !strings.Contains(err.Error(), `elastic/eql.toml: skipped: rule type "eql"`) || !strings.Contains(err.Error(), "--strict") {
		t.Fatalf("strict err = %v", err)
	}
}

func TestBrokenRuleIsAnErrorAndOthersStillLoad(t *testing.T) {
	tree := fstest.MapFS{
		"bad.toml":  rule("bad", "bad", `event.dataset:azure.activitylogs and (`),
		"good.toml": rule("good", "good", `event.dataset:azure.activitylogs`),
	}
	set, err := load(t, ruleset.Options{Trees: []ruleset.Tree{{FS: tree, Name: "d"}}})
	if err == nil || !strings.Contains(err.Error(), "d/bad.toml:") {
		t.Fatalf("err = %v", err)
	}
	if len(set.Files) != 2 || set.Files[0].Err == nil || set.Files[1].Rule == nil || set.Files[1].Rule.Name != "good" {
		t.Fatalf("verdicts = %+v", set.Files)
	}
	if len(set.Problems) != 0 {
		t.Errorf("problems = %v, want the parse error only in its verdict", set.Problems)
	}
}

func TestOverrides(t *testing.T) {
	ov := `
[[override]]
rule_id = "` + kubeAuditID + `"
enabled = false
comment = "we read kube-audit elsewhere"

[[override]]
rule_id = "` + seedID + `"
severity = "critical"
risk_score = 99
max_signals = 7
[override.alert_suppression]
group_by = ["azure.resource.id"]
duration = { value = 2, unit = "h" }
missing_fields_strategy = "doNotSuppress"
`
	ex := `
[[exception]]
rule_id = "` + kubeAuditID + `"
query = 'user.name:"bot"'

[[exception]]
rule_id = "` + seedID + `"
query = 'user.name:"bot"'
`
	set, err := load(t, ruleset.Options{
		Overrides:  &ruleset.File{Name: "overrides.toml", Data: []byte(ov)},
		Exceptions: &ruleset.File{Name: "exceptions.toml", Data: []byte(ex)},
	})
	if err != nil {
		t.Fatal(err)
	}
	got := running(set)
	if _, on := got[kubeAuditID]; on || len(got) != 2 {
		t.Fatalf("running = %v, want the kube-audit rule disabled", got)
	}
	for _, r := range set.Rules {
		if r.ID == seedID {
			if r.Severity != "critical" || r.RiskScore != 99 || r.MaxSignals != 7 || r.Suppression.Duration.Hours() != 2 ||
				r.Suppression.SuppressMissing || len(r.Suppression.GroupBy) != 1 {
				t.Errorf("seed after overrides = %s %d %d %+v", r.Severity, r.RiskScore, r.MaxSignals, r.Suppression)
			}
		}
	}
	for _, e := range set.Entries {
		switch e.Rule.ID {
		case kubeAuditID:
			if e.Status != ruleset.Disabled || e.By != "overrides overrides.toml" {
				t.Errorf("kube-audit entry = %+v", e)
			}
		case seedID:
			if strings.Join(e.Changes, ", ") != "severity critical, risk_score 99, max_signals 7, alert_suppression" {
				t.Errorf("seed changes = %q", e.Changes)
			}
		}
	}
	if len(set.Exceptions) != 1 || set.Exceptions[0].RuleID != seedID {
		t.Errorf("exceptions = %+v, want only the running rule's", set.Exceptions)
	}
}

func TestOverrideProblems(t *testing.T) {
	for name, tc := range map[string]struct{ file, want string }{
		"unknown rule":     {"[[override]]\nrule_id = \"nope\"\nenabled = false\n", "rule_id nope is not a loaded rule"},
		"misspelt key":     {"[[override]]\nrule_id = \"" + seedID + "\"\nseverty = \"high\"\n", "unknown key override.severty"},
		"bad severity":     {"[[override]]\nrule_id = \"" + seedID + "\"\nseverity = \"urgent\"\n", `severity "urgent" must be`},
		"bad risk":         {"[[override]]\nrule_id = \"" + seedID + "\"\nrisk_score = 101\n", "risk_score must be between 0 and 100"},
		"bad suppression":  {"[[override]]\nrule_id = \"" + seedID + "\"\n[override.alert_suppression]\nduration = { value = 1, unit = \"d\" }\n", `unit "d" must be s, m or h`},
		"twice":            {"[[override]]\nrule_id = \"" + seedID + "\"\n[[override]]\nrule_id = \"" + seedID + "\"\n", "second override"},
		"missing rule_id":  {"[[override]]\nenabled = false\n", "rule_id is required"},
		"zero max signals": {"[[override]]\nrule_id = \"" + seedID + "\"\nmax_signals = 0\n", "max_signals must be at least 1"},
	} {
		t.Run(name, func(t *testing.T) {
			set, err := load(t, ruleset.Options{Overrides: &ruleset.File{Name: "o.toml", Data: []byte(tc.file)}})
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "o.toml") {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
			if len(set.Problems) == 0 {
				t.Errorf("the error is not among the set's problems")
			}
		})
	}
}

func TestExceptionForUnknownRule(t *testing.T) {
	_, err := load(t, ruleset.Options{Exceptions: &ruleset.File{Name: "x.toml", Data: []byte("[[exception]]\nrule_id = \"nope\"\nquery = 'a:b'\n")}})
	if err == nil || !strings.Contains(err.Error(), "exceptions x.toml: rule_id nope is not a loaded rule") {
		t.Fatalf("err = %v", err)
	}
}
