package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestMessagesNameWhatWasTyped: an error about the rules directory or the
// state file names the flag when the flag was used and the setting when the
// setting was, and says what is wrong.
func TestMessagesNameWhatWasTyped(t *testing.T) {
	ex := "examples/activitylog-eventhub.json"
	missing := filepath.Join(t.TempDir(), "no-such-dir")
	empty := t.TempDir()
	os.MkdirAll(filepath.Join(empty, ".git"), 0o755)
	os.WriteFile(filepath.Join(empty, ".git", "hidden.toml"), []byte("x"), 0o644) // left out, as the loader does
	notDir := filepath.Join(t.TempDir(), "state.db")
	os.WriteFile(notDir, nil, 0o644)
	badState := filepath.Join(notDir, "x.db") // its parent is a file
	cases := []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"scan --rules missing", nil, []string{"scan", "--rules", missing, ex}, "--rules: " + missing + " does not exist"},
		{"scan --rules empty", nil, []string{"scan", ex, "--rules", empty}, "--rules: " + empty + " has no rule files"},
		{"setting missing", map[string]string{"TRIPLINE_RULES_DIR": missing}, []string{"scan", ex}, "TRIPLINE_RULES_DIR: " + missing + " does not exist"},
		{"setting empty", map[string]string{"TRIPLINE_RULES_DIR": empty}, []string{"scan", ex}, "TRIPLINE_RULES_DIR: " + empty + " has no rule files"},
		{"setting a file", map[string]string{"TRIPLINE_RULES_DIR": notDir}, []string{"rules", "list"}, "TRIPLINE_RULES_DIR: " + notDir + " is not a directory"},
		{"rules list --rules", map[string]string{"TRIPLINE_RULES_DIR": empty}, []string{"rules", "list", "--rules", missing}, "--rules: " + missing + " does not exist"},
		{"rules test --rules", nil, []string{"rules", "test", "--rules", empty}, "--rules: " + empty + " has no rule files"},
		{"learn --rules", nil, []string{"learn", ex, "--rules", missing}, "--rules: " + missing + " does not exist"},
		{"scan --state", nil, []string{"scan", "--state", badState, ex}, "embedded store (--state): "},
		{"state setting", map[string]string{"TRIPLINE_STATE_FILE": badState}, []string{"scan", ex}, "embedded store (TRIPLINE_STATE_FILE): "},
		{"deliver --state", nil, []string{"deliver", "--state", badState}, "embedded store (--state): "},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, stderr, code := runBinary(t, isolatedEnv(t, c.env), c.args...)
			if code != 1 || !strings.Contains(stderr, c.want) {
				t.Errorf("exit %d, want 1 and %q in:\n%s", code, c.want, stderr)
			}
			if strings.Contains(c.want, "--") && strings.Contains(stderr, "TRIPLINE_") {
				t.Errorf("the flag was used, but the message names a setting:\n%s", stderr)
			}
		})
	}
}

// TestHelpAndUsage: asking for help is not an error, in every command, and
// the top-level usage lists every flag of scan and deliver.
func TestHelpAndUsage(t *testing.T) {
	env := isolatedEnv(t, nil)
	for _, args := range [][]string{{"--help"}, {"help"}, {"scan", "--help"}, {"serve", "-h"}, {"deliver", "--help"}, {"deadletter", "--help"}, {"rules", "--help"}, {"rules", "list", "--help"}, {"learn", "--help"}} {
		if _, stderr, code := runBinary(t, env, args...); code != 0 {
			t.Errorf("%v: exit %d, want 0\n%s", args, code, stderr)
		}
	}
	stdout, _, _ := runBinary(t, env, "--help")
	for _, flag := range []string{"--json", "--state", "--no-deliver", "--rules", "--quiet", "--check-records", "--respect-backoff", "--force", "--until", "docs/settings.md"} {
		if !strings.Contains(stdout, flag) {
			t.Errorf("usage lacks %s:\n%s", flag, stdout)
		}
	}
	// Unusable arguments exit 2.
	for _, args := range [][]string{{"nope"}, {"scan", "--nope", "x"}, {"deliver", "--nope"}, {"rules", "list", "extra"}, {"learn", "examples/activitylog-eventhub.json", "--until", "yesterday"}} {
		if _, stderr, code := runBinary(t, env, args...); code != 2 {
			t.Errorf("%v: exit %d, want 2\n%s", args, code, stderr)
		}
	}
}

// TestScanShowsAnAlertOncePerScan: two files holding the same operation
// (the Activity Log and Event Grid examples) print its block once and count
// one alert; the matches are all counted.
func TestScanShowsAnAlertOncePerScan(t *testing.T) {
	env := isolatedEnv(t, nil)
	stdout, stderr, code := runScan(t, env, "examples/activitylog-eventhub.json", "examples/eventgrid-delivery.json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if n := strings.Count(stdout, "alt-89e7c5c2a6256e0e2c717221b62de8cd"); n != 1 {
		t.Errorf("alert printed %d times, want once:\n%s", n, stdout)
	}
	if !strings.Contains(stderr, "alerts: 1 new, 0 suppressed into open alerts, 0 already recorded (matches: 1 new, 0 suppressed, 1 duplicate)") {
		t.Errorf("summary:\n%s", stderr)
	}
	// A later scan still reports it, once, as already recorded.
	stdout, stderr, _ = runScan(t, env, "--json", "examples/eventgrid-delivery.json", "examples/activitylog-eventhub.json")
	if al := parseAlerts(t, stdout); len(al) != 1 || al[0].State != "duplicate" || !strings.Contains(stderr, "1 already recorded") {
		t.Errorf("second scan: %+v\n%s", al, stderr)
	}
}

// TestSkipPositionsInOneLineBody: in a one-line {"records":[...]} body the
// third record is record 2 of message 0, at its own byte.
func TestSkipPositionsInOneLineBody(t *testing.T) {
	f := filepath.Join(t.TempDir(), "one-line.json")
	body := `{"records":[{"operationName":"A","resultType":"Success"},{"operationName":"B","resultType":"Success"},42]}`
	os.WriteFile(f, []byte(body+"\n"), 0o644)
	_, stderr, code := runScan(t, isolatedEnv(t, nil), "--check-records", f)
	want := f + " message 0, record 2 (byte " + itoa(strings.Index(body, "42")) + ")"
	if code != 0 || !strings.Contains(stderr, want) {
		t.Errorf("exit %d, want %q in:\n%s", code, want, stderr)
	}
}

func itoa(i int) string { b, _ := json.Marshal(i); return string(b) }

// TestSilentCosmosSaysWhatItWaitsFor: a Cosmos DB endpoint that accepts
// connections and never answers is named on stderr while scan waits, rather
// than after the client's retries give up.
func TestSilentCosmosSaysWhatItWaitsFor(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() { // hold every connection open, say nothing
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	endpoint := "http://" + ln.Addr().String() + "/"
	env := isolatedEnv(t, map[string]string{"TRIPLINE_COSMOS_ENDPOINT": endpoint, "TRIPLINE_COSMOS_KEY": "QUJD"})
	cmd := exec.Command(binary, "scan", "examples/activitylog-eventhub.json")
	cmd.Env = os.Environ()
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	// The first line on stderr must be the notice: nothing else is said
	// while the store does not answer.
	line, err := bufio.NewReader(stderr).ReadString('\n')
	if want := "waiting for Cosmos DB at " + endpoint + " (TRIPLINE_COSMOS_ENDPOINT): no answer yet"; !strings.Contains(line, want) {
		t.Errorf("first stderr line %q (%v), want %q", line, err, want)
	}
}

// TestServeLogsDurationsAsDurations: the JSON log writes a duration as "20s",
// not as nanoseconds.
func TestServeLogsDurationsAsDurations(t *testing.T) {
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{ReplaceAttr: durationText})).Info("shutting down", "timeout", 20*time.Second, "n", 3)
	var m map[string]any
	if err := json.Unmarshal(buf.Bytes(), &m); err != nil {
		t.Fatal(err)
	}
	if m["timeout"] != "20s" || m["n"] != 3.0 {
		t.Errorf("logged %s", buf.Bytes())
	}
}

// TestMakeAzureTargetsNeedTheCLI: make deploy and make destroy on a machine
// without the Azure CLI say what to install instead of failing inside a
// script with "az: command not found". PATH holds only the tools make needs,
// so that no az can be found (and nothing is ever deployed or destroyed).
func TestMakeAzureTargetsNeedTheCLI(t *testing.T) {
	bin := t.TempDir()
	for _, tool := range []string{"make", "bash", "sh", "go"} {
		p, err := exec.LookPath(tool)
		if err != nil {
			t.Skipf("%s not installed", tool)
		}
		if err := os.Symlink(p, filepath.Join(bin, tool)); err != nil {
			t.Fatal(err)
		}
	}
	for _, target := range []string{"deploy", "destroy"} {
		cmd := exec.Command(filepath.Join(bin, "make"), "--no-print-directory", target)
		cmd.Env = append(os.Environ(), "PATH="+bin, "TRIPLINE_LOCATION=nowhere", "TRIPLINE_RESOURCE_GROUP=rg-none")
		out, err := cmd.CombinedOutput()
		if err == nil {
			t.Fatalf("make %s succeeded without the Azure CLI:\n%s", target, out)
		}
		if !strings.Contains(string(out), "make "+target+": the Azure CLI (az) is not installed; see docs/deploy.md") || strings.Contains(string(out), "command not found") {
			t.Errorf("make %s without az:\n%s", target, out)
		}
	}
}
