package main

import (
	"archive/zip"
	"context"
	"debug/elf"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/tripline/tripline/internal/hostsim"
	"github.com/tripline/tripline/internal/packager"
)

const (
	seedRuleID      = "8b64d36a-1307-4b2e-a77b-a0027e4d27c8"
	kubeAuditRuleID = "b76ccbde-88d9-47f1-b077-b38e61cbbe2e"
	adminCredRuleID = "0f4c5a1e-7d2b-4c8e-9a3f-6b1d2e4c8a70"
)

// userRule is a rule file in Elastic's format, with one test case pair.
func userRule(id, name, severity, query, match, miss string) string {
	return `[metadata]
creation_date = "2026/12/06"
maturity = "production"

[rule]
author = ["Tripline tests"]
description = "test rule"
rule_id = "` + id + `"
name = "` + name + `"
type = "query"
language = "kuery"
severity = "` + severity + `"
risk_score = 21
query = '''
` + query + `
'''

[[tripline.tests]]
name = "matches"
match = true
record = '''` + match + `'''

[[tripline.tests]]
name = "does not match"
match = false
record = '''` + miss + `'''
`
}

// userRules writes a rules tree: Elastic's seed rule as a user would bring
// it (same rule_id, its own name and severity), a rule of the user's own on
// admin credential listing, and an EQL rule Tripline skips.
func userRules(t *testing.T) string {
	dir := t.TempDir()
	files := map[string]string{
		"azure/seed.toml": userRule(seedRuleID, "Seed rule, user's copy", "high",
			`data_stream.dataset:azure.activitylogs and azure.activitylogs.operation_name:"MICROSOFT.KUBERNETES/CONNECTEDCLUSTERS/EVENTS.K8S.IO/EVENTS/DELETE" and event.outcome:(Success or success)`,
			`{"time":"2025-05-06T09:16:48Z","operationName":"MICROSOFT.KUBERNETES/CONNECTEDCLUSTERS/EVENTS.K8S.IO/EVENTS/DELETE","category":"Administrative","resultType":"Success","correlationId":"c1"}`,
			`{"time":"2025-05-06T09:16:48Z","operationName":"MICROSOFT.KUBERNETES/CONNECTEDCLUSTERS/EVENTS.K8S.IO/EVENTS/DELETE","category":"Administrative","resultType":"Start","correlationId":"c1"}`),
		"azure/admin_credential.toml": userRule(adminCredRuleID, "AKS admin credential listed", "medium",
			`event.dataset:azure.activitylogs and event.action:"MICROSOFT.CONTAINERSERVICE/MANAGEDCLUSTERS/LISTCLUSTERADMINCREDENTIAL/ACTION" and event.outcome:success`,
			`{"time":"2025-05-06T09:14:02Z","operationName":"MICROSOFT.CONTAINERSERVICE/MANAGEDCLUSTERS/LISTCLUSTERADMINCREDENTIAL/ACTION","category":"Administrative","resultType":"Success","correlationId":"c2"}`,
			`{"time":"2025-05-06T09:14:02Z","operationName":"MICROSOFT.CONTAINERSERVICE/MANAGEDCLUSTERS/LISTCLUSTERUSERCREDENTIAL/ACTION","category":"Administrative","resultType":"Success","correlationId":"c2"}`),
		"other/sequence.toml": "[rule]\nrule_id = \"5e0c1d2a-0000-4000-8000-000000000001\"\nname = \"a sequence\"\ntype = \"eql\"\nlanguage = \"eql\"\nquery = \"sequence by user.name [any where true]\"\n",
	}
	for name, data := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// disableKubeAudit writes an overrides file that switches off the built-in
// kube-audit rule.
func disableKubeAudit(t *testing.T) string {
	p := filepath.Join(t.TempDir(), "overrides.toml")
	data := "[[override]]\nrule_id = \"" + kubeAuditRuleID + "\"\nenabled = false\n"
	if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// listedRunning parses `rules list` output into the ids of the running rules.
func listedRunning(t *testing.T, out string) []string {
	t.Helper()
	var ids []string
	lines := strings.Split(out, "\n")
	for i, l := range lines {
		if l == "" || strings.HasPrefix(l, " ") || strings.Contains(l, "rule(s) running") {
			continue
		}
		notRunning := false
		for _, next := range lines[i+1:] {
			if !strings.HasPrefix(next, " ") {
				break
			}
			notRunning = notRunning || strings.Contains(next, "(not running)")
		}
		if !notRunning {
			ids = append(ids, strings.Fields(l)[0])
		}
	}
	sort.Strings(ids)
	return ids
}

// TestRulesCommandsAgreeWithScan: for the same settings, rules list, rules
// test, rules check and scan load the same rules: the user's copy of the seed
// rule replaces the built-in, the overrides file disables the kube-audit
// rule, the user's own rule runs, the EQL rule is skipped.
func TestRulesCommandsAgreeWithScan(t *testing.T) {
	dir := userRules(t)
	env := isolatedEnv(t, map[string]string{"TRIPLINE_RULES_DIR": dir, "TRIPLINE_OVERRIDES_FILE": disableKubeAudit(t)})
	want := []string{adminCredRuleID, seedRuleID, "c077d3e3-6cac-481f-a197-e1d7a553dd6b"}

	out, stderr, code := runBinary(t, env, "rules", "list")
	if code != 0 {
		t.Fatalf("rules list: exit %d: %s", code, stderr)
	}
	if got := listedRunning(t, out); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("rules list runs %v, want %v:\n%s", got, want, out)
	}
	for _, s := range []string{
		"replaced by " + filepath.Join(dir, "azure/seed.toml") + " (not running)",
		"disabled by overrides " + env["TRIPLINE_OVERRIDES_FILE"] + " (not running)",
		"from TRIPLINE_RULES_DIR (" + filepath.Join(dir, "azure/seed.toml") + ")",
		"from built-in (defense_evasion_kubernetes_events_deleted.toml)",
		"3 rule(s) running",
	} {
		if !strings.Contains(out, s) {
			t.Errorf("rules list lacks %q:\n%s", s, out)
		}
	}
	if !strings.Contains(stderr, `skipped 1 rule file(s): rule type "eql"`) {
		t.Errorf("rules list stderr lacks the skip summary: %q", stderr)
	}

	// --rules DIR is the same as the setting, its rules labelled with the
	// flag the user typed.
	out2, _, code := runBinary(t, isolatedEnv(t, map[string]string{"TRIPLINE_OVERRIDES_FILE": env["TRIPLINE_OVERRIDES_FILE"]}), "rules", "list", "--rules", dir)
	if code != 0 || out2 != strings.ReplaceAll(out, "from TRIPLINE_RULES_DIR (", "from --rules (") {
		t.Errorf("rules list --rules DIR (exit %d) differs from TRIPLINE_RULES_DIR:\n%s\n---\n%s", code, out2, out)
	}

	out, stderr, code = runBinary(t, env, "rules", "test")
	if code != 0 {
		t.Fatalf("rules test: exit %d: %s\n%s", code, stderr, out)
	}
	for _, s := range []string{"ok   Seed rule, user's copy: matches", "ok   AKS admin credential listed: does not match", "test case(s), 0 failed"} {
		if !strings.Contains(out, s) {
			t.Errorf("rules test lacks %q:\n%s", s, out)
		}
	}
	for _, s := range []string{"(kube-audit)", "ok   Azure Kubernetes Events Deleted:"} {
		if strings.Contains(out, s) {
			t.Errorf("rules test ran a rule that does not run (%q):\n%s", s, out)
		}
	}

	out, stderr, code = runBinary(t, env, "rules", "check")
	if code != 0 {
		t.Fatalf("rules check: exit %d: %s\n%s", code, stderr, out)
	}
	for _, s := range []string{
		"ok    " + filepath.Join(dir, "azure/admin_credential.toml") + "  AKS admin credential listed",
		"ok    " + filepath.Join(dir, "azure/seed.toml") + `  Seed rule, user's copy (replaces built-in "Azure Kubernetes Events Deleted")`,
		"skip  " + filepath.Join(dir, "other/sequence.toml") + `  rule type "eql"`,
		"3 file(s): 2 ok, 1 skipped, 0 in error",
	} {
		if !strings.Contains(out, s) {
			t.Errorf("rules check lacks %q:\n%s", s, out)
		}
	}
	out, _, code = runBinary(t, env, "rules", "check", "--strict")
	if code != 1 || !strings.Contains(out, "error "+filepath.Join(dir, "other/sequence.toml")) {
		t.Errorf("rules check --strict: exit %d, want 1 with the EQL file in error:\n%s", code, out)
	}

	// scan fires exactly the running rules: the user's seed copy (one
	// alert, not two), the user's own rule; not the disabled kube-audit
	// rule.
	out, stderr, code = runScan(t, env, "--json", "examples/activitylog-eventhub.json", "examples/kube-audit-eventhub.json")
	if code != 0 {
		t.Fatalf("scan: exit %d: %s", code, stderr)
	}
	var fired []string
	for _, a := range parseAlerts(t, out) {
		fired = append(fired, a.Rule.ID+" "+a.Rule.Name+" "+a.Rule.Severity)
	}
	sort.Strings(fired)
	wantFired := []string{adminCredRuleID + " AKS admin credential listed medium", seedRuleID + " Seed rule, user's copy high"}
	if strings.Join(fired, "|") != strings.Join(wantFired, "|") {
		t.Errorf("scan alerts = %q, want %q", fired, wantFired)
	}
	if !strings.Contains(stderr, `tripline scan: skipped 1 rule file(s): rule type "eql"`) {
		t.Errorf("scan stderr lacks the skip summary:\n%s", stderr)
	}
}

// TestDuplicateUserRuleIDsRefusedByEveryCommand: two user files with one
// rule_id stop every command alike, naming both files.
func TestDuplicateUserRuleIDsRefusedByEveryCommand(t *testing.T) {
	dir := userRules(t)
	copyFile := filepath.Join(dir, "copy-of-seed.toml")
	b, err := os.ReadFile(filepath.Join(dir, "azure", "seed.toml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(copyFile, b, 0o644); err != nil {
		t.Fatal(err)
	}
	env := isolatedEnv(t, map[string]string{"TRIPLINE_RULES_DIR": dir})
	for _, args := range [][]string{
		{"rules", "list"}, {"rules", "test"}, {"rules", "check"}, {"scan", "examples/activitylog-eventhub.json"}, {"deliver"},
	} {
		out, stderr, code := runBinary(t, env, args...)
		msg := out + stderr
		if code != 1 || !strings.Contains(msg, "rule_id "+seedRuleID+" is used by both") ||
			!strings.Contains(msg, filepath.Join(dir, "azure/seed.toml")) || !strings.Contains(msg, copyFile) {
			t.Errorf("%v: exit %d, want 1 naming both files:\n%s", args, code, msg)
		}
	}
}

// TestRulesCheckPrintsEveryVerdict: one bad file among good ones still gets
// an ok line for each good file.
func TestRulesCheckPrintsEveryVerdict(t *testing.T) {
	dir := userRules(t)
	bad := filepath.Join(dir, "azure", "broken.toml")
	if err := os.WriteFile(bad, []byte(userRule("3a2b1c0d-0000-4000-8000-00000000000b", "broken", "low", `event.dataset:azure.activitylogs and (`, `{}`, `{}`)), 0o644); err != nil {
		t.Fatal(err)
	}
	out, _, code := runBinary(t, isolatedEnv(t, nil), "rules", "check", dir, "detect/rules/defense_evasion_arc_core_events_deleted.toml")
	if code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	for _, s := range []string{
		"ok    " + filepath.Join(dir, "azure/admin_credential.toml"),
		"ok    " + filepath.Join(dir, "azure/seed.toml"),
		"error " + bad + "\n      " + bad + ":16:1: query:",
		"ok    detect/rules/defense_evasion_arc_core_events_deleted.toml  Azure Arc Kubernetes Core Events Deleted",
		"5 file(s): 3 ok, 1 skipped, 1 in error",
	} {
		if !strings.Contains(out, s) {
			t.Errorf("rules check lacks %q:\n%s", s, out)
		}
	}
}

// TestPackagedRulesThroughHostSimulator packages a rule tree and an
// overrides file with the app (internal/packager, as make package does),
// unpacks the zip as Azure does, and runs it under the host simulator: the
// packaged rule fires, the built-in the overrides file disables does not.
func TestPackagedRulesThroughHostSimulator(t *testing.T) {
	if f, err := elf.Open(binary); err != nil || f.Machine != elf.EM_X86_64 {
		t.Skip("the package holds a linux/amd64 binary; this test uses the test binary as that")
	}
	// The app as scripts/package.sh sees it: host.json, the functions and
	// the binary.
	src := t.TempDir()
	entries, err := packager.Entries(".")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		from := filepath.FromSlash(e.Name)
		if e.Name == "bin/tripline" {
			from = binary
		}
		copyTo(t, from, filepath.Join(src, filepath.FromSlash(e.Name)))
	}
	// Packaged by scripts/package.go, the command make package runs, in
	// its own process: the test process stays small, and the peak RSS
	// TestScanStreamsInConstantMemory reads from a child starts from it.
	zipPath := filepath.Join(t.TempDir(), "tripline.zip")
	pkg := exec.Command("go", "run", "scripts/package.go", "-root", src, "-o", zipPath,
		"-rules", userRules(t), "-overrides", disableKubeAudit(t))
	if out, err := pkg.CombinedOutput(); err != nil {
		t.Fatalf("scripts/package.go: %v\n%s", err, out)
	}
	root := unzip(t, zipPath)

	env := isolatedEnv(t, nil)
	delete(env, "TRIPLINE_RULES_DIR") // unset, as in Azure
	host := hostsim.Start(t, "", hostsim.StartOptions{AppRoot: root, Env: env})
	out, err := host.EventHubBatch(context.Background(), "ActivityLogEvents",
		[][]byte{readExample(t, "activitylog-eventhub.json"), readExample(t, "kube-audit-eventhub.json")}, hostsim.BatchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	logs := strings.Join(out.Logs, "\n")
	if !out.Success {
		t.Fatalf("invocation failed: %s\n%s", out.Failure, logs)
	}
	for _, s := range []string{`"name":"AKS admin credential listed","state":"new"`, `"name":"Seed rule, user's copy","state":"new"`, "alerts: 2 new"} {
		if !strings.Contains(logs, s) {
			t.Errorf("logs lack %q:\n%s", s, logs)
		}
	}
	if strings.Contains(logs, "kube-audit)") || strings.Contains(logs, `"name":"Azure Kubernetes Events Deleted"`) {
		t.Errorf("a disabled or replaced built-in fired:\n%s", logs)
	}
}

// copyTo copies a file by streaming it (the binary is 16 MB).
func copyTo(t *testing.T, from, to string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := streamFile(from, to, 0o755); err != nil {
		t.Fatal(err)
	}
}

func streamFile(from, to string, mode os.FileMode) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	return writeFrom(in, to, mode)
}

func writeFrom(r io.Reader, to string, mode os.FileMode) error {
	out, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, r); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// unzip extracts a package with the modes it records, as the platform does.
func unzip(t *testing.T, zipPath string) string {
	t.Helper()
	zr, err := zip.OpenReader(zipPath)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	root := t.TempDir()
	for _, f := range zr.File {
		p := filepath.Join(root, filepath.FromSlash(f.Name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		err = writeFrom(rc, p, f.Mode().Perm())
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// TestElasticCheckoutServeAndScan (opt-in: TRIPLINE_ELASTIC_RULES names a
// checkout's rules/ folder) starts serve under the host simulator and runs
// scan with TRIPLINE_RULES_DIR at that folder: both start, and Elastic's rule
// with the seed rule's id is the one that fires.
func TestElasticCheckoutServeAndScan(t *testing.T) {
	dir := os.Getenv("TRIPLINE_ELASTIC_RULES")
	if dir == "" {
		t.Skip("set TRIPLINE_ELASTIC_RULES to a checkout of elastic/detection-rules' rules/ folder")
	}
	env := isolatedEnv(t, map[string]string{"TRIPLINE_RULES_DIR": dir})
	out, stderr, code := runScan(t, env, "--json", "examples/activitylog-eventhub.json")
	if code != 0 {
		t.Fatalf("scan: exit %d: %s", code, stderr)
	}
	alerts := parseAlerts(t, out)
	if len(alerts) != 1 || alerts[0].Rule.ID != seedRuleID || alerts[0].Rule.Name == "Azure Kubernetes Events Deleted" {
		t.Errorf("scan alerts = %+v, want one from Elastic's rule with the seed's id", alerts)
	}
	t.Logf("scan: %s", stderr)
	host := hostsim.Start(t, binary, hostsim.StartOptions{AppRoot: ".", Env: isolatedEnv(t, map[string]string{"TRIPLINE_RULES_DIR": dir})})
	res, err := host.EventHubBatch(context.Background(), "ActivityLogEvents", [][]byte{readExample(t, "activitylog-eventhub.json")}, hostsim.BatchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Success {
		t.Fatalf("serve: %s", res.Failure)
	}
	if logs := strings.Join(res.Logs, "\n"); !strings.Contains(logs, `"rule":"`+seedRuleID+`"`) {
		t.Errorf("serve logs lack the seed rule's alert:\n%s", logs)
	}
}
