package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// deletion is an Activity Log storage account deletion by user at t.
func deletion(n int, user string, t time.Time) string {
	return fmt.Sprintf(`{"time":%q,"resourceId":"/SUBSCRIPTIONS/S1/RESOURCEGROUPS/RG/PROVIDERS/MICROSOFT.STORAGE/STORAGEACCOUNTS/ACCT%d","operationName":"MICROSOFT.STORAGE/STORAGEACCOUNTS/DELETE","category":"Administrative","resultType":"Success","correlationId":"learn-%d","identity":{"claims":{"http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name":%q}}}`,
		t.UTC().Format(time.RFC3339), n, n, user)
}

// newTermsRulesDir holds the project's test new_terms rule, with a stepped
// test case appended (steps from the given records).
func newTermsRulesDir(t *testing.T, steps string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("detect", "testdata", "stateful", "new_terms_storage_deletion_unusual_user.toml"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "nt.toml"), append(data, steps...), 0o600); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestLearnThenScanAlertsOnlyNewTerms(t *testing.T) {
	env := isolatedEnv(t, map[string]string{"TRIPLINE_RULES_DIR": newTermsRulesDir(t, "")})
	now := time.Now().UTC()
	dir := t.TempDir()

	stdout, _, code := runBinary(t, env, "rules", "list")
	if code != 0 || !strings.Contains(stdout, "no history yet: records terms without alerting for 168h0m0s") {
		t.Fatalf("rules list before learning (exit %d):\n%s", code, stdout)
	}

	history := filepath.Join(dir, "history.json")
	recs := []string{deletion(1, "al@contoso.example", now.Add(-9*24*time.Hour)), deletion(2, "al@contoso.example", now.Add(-2*24*time.Hour)),
		deletion(3, "cy@contoso.example", now.Add(-time.Hour))} // after --until: not learned
	if err := os.WriteFile(history, []byte(`{"records":[`+strings.Join(recs, ",")+`]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	stdout, stderr, code := runBinary(t, env, "learn", "--until", now.Add(-24*time.Hour).Format(time.RFC3339), history)
	if code != 0 || !strings.Contains(stdout, "learned 1 term(s) of 1 new_terms rule(s) from 2 record(s)") || !strings.Contains(stdout, "1 skipped") {
		t.Fatalf("learn (exit %d):\n%s%s", code, stdout, stderr)
	}
	stdout, _, _ = runBinary(t, env, "rules", "list")
	if !strings.Contains(stdout, "alerting on new terms (history from") {
		t.Fatalf("rules list after learning 9 days:\n%s", stdout)
	}

	live := filepath.Join(dir, "live.json")
	recs = []string{deletion(10, "al@contoso.example", now), deletion(11, "bo@contoso.example", now), deletion(12, "cy@contoso.example", now)}
	if err := os.WriteFile(live, []byte(`{"records":[`+strings.Join(recs, ",")+`]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	stdout, stderr, code = runScan(t, env, "--json", live)
	if code != 0 {
		t.Fatalf("scan exit %d: %s", code, stderr)
	}
	alerts := parseAlerts(t, stdout)
	var users []string
	for _, a := range alerts {
		users = append(users, fmt.Sprint(a.Event["kibana.alert.new_terms"]))
	}
	if len(alerts) != 2 || !strings.Contains(strings.Join(users, " "), "bo@contoso.example") || !strings.Contains(strings.Join(users, " "), "cy@contoso.example") {
		t.Fatalf("alerts for %v, want bo and cy (al was learned)", users)
	}
}

func TestLearnWithoutHistoryWindowCoveredLearns(t *testing.T) {
	env := isolatedEnv(t, map[string]string{"TRIPLINE_RULES_DIR": newTermsRulesDir(t, "")})
	now := time.Now().UTC()
	live := filepath.Join(t.TempDir(), "live.json")
	if err := os.WriteFile(live, []byte(deletion(1, "dy@contoso.example", now)), 0o600); err != nil {
		t.Fatal(err)
	}
	stdout, stderr, code := runScan(t, env, "--json", live)
	if code != 0 || len(parseAlerts(t, stdout)) != 0 {
		t.Fatalf("a fresh deployment alerted (exit %d): %s%s", code, stdout, stderr)
	}
	stdout, _, _ = runBinary(t, env, "rules", "list")
	if !strings.Contains(stdout, "learning until "+now.Add(7*24*time.Hour).Format("2006-01-02")) {
		t.Fatalf("rules list:\n%s", stdout)
	}
}

func TestRulesTestSteps(t *testing.T) {
	step := func(rec string, alerts int, learn bool) string {
		return fmt.Sprintf("[[tripline.tests.steps]]\nrecord = '%s'\nalerts = %d\nlearn = %v\n", rec, alerts, learn)
	}
	t0 := time.Date(2026, 11, 2, 10, 0, 0, 0, time.UTC)
	steps := "\n[[tripline.tests]]\nname = \"known user quiet, new user once\"\n" +
		step(deletion(1, "al@contoso.example", t0), 0, true) +
		step(deletion(2, "al@contoso.example", t0.Add(time.Hour)), 0, false) +
		step(deletion(3, "bo@contoso.example", t0.Add(2*time.Hour)), 1, false) +
		step(deletion(4, "bo@contoso.example", t0.Add(3*time.Hour)), 0, false) +
		step(deletion(5, "al@contoso.example", t0.Add(9*24*time.Hour)), 1, false)
	env := isolatedEnv(t, map[string]string{"TRIPLINE_RULES_DIR": newTermsRulesDir(t, steps)})
	stdout, _, code := runBinary(t, env, "rules", "test")
	if code != 0 || !strings.Contains(stdout, "ok   Test: Storage Account Deletion by Unusual User: known user quiet, new user once") {
		t.Fatalf("rules test (exit %d):\n%s", code, stdout)
	}
	wrong := strings.Replace(steps, "alerts = 1", "alerts = 0", 1)
	env = isolatedEnv(t, map[string]string{"TRIPLINE_RULES_DIR": newTermsRulesDir(t, wrong)})
	stdout, _, code = runBinary(t, env, "rules", "test")
	if code != 1 || !strings.Contains(stdout, "step 3: 1 new alert(s), want 0") {
		t.Fatalf("rules test with a wrong expectation (exit %d):\n%s", code, stdout)
	}
}
