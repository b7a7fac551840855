package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/tripline/tripline/alert"
	"github.com/tripline/tripline/bench/corpus"
	"github.com/tripline/tripline/detect"
	"github.com/tripline/tripline/internal/cosmostest"
	"github.com/tripline/tripline/internal/hostsim"
)

// binary is the tripline executable built once for the end-to-end tests.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "tripline-e2e")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "tripline")
	build := exec.Command("go", "build", "-o", binary, ".")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func readExample(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("examples", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// isolatedEnv keeps a test away from the developer's settings and state.
func isolatedEnv(t testing.TB, extra map[string]string) map[string]string {
	env := map[string]string{
		"TRIPLINE_STATE_FILE":            filepath.Join(t.TempDir(), "state.db"),
		"TRIPLINE_COSMOS_ENDPOINT":       "",
		"TRIPLINE_WEBHOOK_URL":           "",
		"TRIPLINE_TEAMS_WEBHOOK_URL":     "",
		"TRIPLINE_SLACK_WEBHOOK_URL":     "",
		"TRIPLINE_PAGERDUTY_ROUTING_KEY": "",
		"TRIPLINE_RULES_DIR":             "",
		"TRIPLINE_EXCEPTIONS_FILE":       "",
		"TRIPLINE_OVERRIDES_FILE":        "",
		"XDG_STATE_HOME":                 t.TempDir(),
		"EventHubName":                   "insights-activity-logs",
		"EventHubConsumerGroup":          "tripline",
		"NotificationRetrySchedule":      "0 */5 * * * *",
	}
	for k, v := range extra {
		env[k] = v
	}
	return env
}

// runBinary runs the tripline binary with extra settings and returns stdout,
// stderr and the exit code.
func runBinary(t *testing.T, env map[string]string, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = os.Environ()
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return stdout.String(), stderr.String(), code
}

func runScan(t *testing.T, env map[string]string, args ...string) (string, string, int) {
	t.Helper()
	return runBinary(t, env, append([]string{"scan"}, args...)...)
}

type printedAlert struct {
	ID   string `json:"id"`
	Rule struct {
		ID        string `json:"id"`
		Name      string `json:"name"`
		Severity  string `json:"severity"`
		RiskScore int    `json:"risk_score"`
	} `json:"rule"`
	State      string            `json:"state"`
	Count      int               `json:"count"`
	FirstSeen  time.Time         `json:"first_seen"`
	LastSeen   time.Time         `json:"last_seen"`
	Group      map[string]string `json:"group"`
	Source     string            `json:"source"`
	Event      map[string]any    `json:"event"`
	Deliveries map[string]struct {
		State    string `json:"state"`
		Attempts int    `json:"attempts"`
	} `json:"deliveries"`
}

func parseAlerts(t *testing.T, stdout string) []printedAlert {
	t.Helper()
	var out []printedAlert
	for _, line := range strings.Split(strings.TrimSpace(stdout), "\n") {
		if line == "" {
			continue
		}
		var a printedAlert
		if err := json.Unmarshal([]byte(line), &a); err != nil {
			t.Fatalf("scan --json printed a non-JSON line %q: %v", line, err)
		}
		out = append(out, a)
	}
	return out
}

func TestScanExamplesTwiceEmbedded(t *testing.T) {
	env := isolatedEnv(t, nil)
	stdout, stderr, code := runScan(t, env, "--json", "examples/activitylog-eventhub.json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	alerts := parseAlerts(t, stdout)
	if len(alerts) != 1 {
		t.Fatalf("alerts = %d, want exactly 1:\n%s", len(alerts), stdout)
	}
	a := alerts[0]
	if a.Rule.ID != "8b64d36a-1307-4b2e-a77b-a0027e4d27c8" || a.Rule.Name != "Azure Kubernetes Events Deleted" ||
		a.Rule.Severity != "medium" || a.Rule.RiskScore != 47 || a.State != "new" || a.Count != 1 || a.Source != "activitylog" {
		t.Errorf("alert = %+v", a)
	}
	if want := time.Date(2025, 5, 6, 9, 16, 48, 552190400, time.UTC); !a.FirstSeen.Equal(want) || !a.LastSeen.Equal(want) {
		t.Errorf("first/last seen = %s/%s, want %s (the Success record)", a.FirstSeen, a.LastSeen, want)
	}
	if got := a.Event["event"].(map[string]any)["outcome"]; got != "success" {
		t.Errorf("event.outcome = %v", got)
	}
	if a.Group["azure.activitylogs.identity.authorization.evidence.principal_id"] != "c2f4a6e8b0d14c3e9a5b7d9f1e2c4a6b" {
		t.Errorf("group = %v", a.Group)
	}
	for _, want := range []string{"5 record(s) read, 0 skipped, 1 matched", "alerts: 1 new"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("summary lacks %q:\n%s", want, stderr)
		}
	}

	stdout, stderr, code = runScan(t, env, "--json", "examples/activitylog-eventhub.json")
	if code != 0 {
		t.Fatalf("second run exit %d: %s", code, stderr)
	}
	again := parseAlerts(t, stdout)
	if len(again) != 1 || again[0].State != "duplicate" || again[0].ID != a.ID || again[0].Count != 1 {
		t.Fatalf("second run alerts = %+v, want the same alert as duplicate", again)
	}
	for _, want := range []string{"alerts: 0 new, 0 suppressed into open alerts, 1 already recorded", "nothing new"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("second summary lacks %q:\n%s", want, stderr)
		}
	}

	// The same operation through Event Grid is that alert again.
	stdout, _, _ = runScan(t, env, "--json", "examples/eventgrid-delivery.json")
	eg := parseAlerts(t, stdout)
	if len(eg) != 1 || eg[0].ID != a.ID || eg[0].State != "duplicate" {
		t.Fatalf("event grid after activity log = %+v", eg)
	}
}

func TestScanKubeAuditAndEventGridAlone(t *testing.T) {
	env := isolatedEnv(t, nil)
	stdout, stderr, code := runScan(t, env, "--json", "examples/kube-audit-eventhub.json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	alerts := parseAlerts(t, stdout)
	if len(alerts) != 1 || alerts[0].Rule.Name != "Azure AKS Kubernetes Events Deleted (kube-audit)" || alerts[0].Count != 1 || alerts[0].Source != "kube-audit" {
		t.Fatalf("kube-audit alerts = %+v", alerts)
	}
	// Event Grid first, on its own store: the mixed-case operation fires.
	env = isolatedEnv(t, nil)
	stdout, _, _ = runScan(t, env, "--json", "examples/eventgrid-delivery.json")
	eg := parseAlerts(t, stdout)
	if len(eg) != 1 || eg[0].State != "new" || eg[0].Source != "eventgrid" || eg[0].Rule.ID != "8b64d36a-1307-4b2e-a77b-a0027e4d27c8" {
		t.Fatalf("event grid alerts = %+v", eg)
	}
	// Then the Activity Log: the first source won, this one is a duplicate.
	stdout, _, _ = runScan(t, env, "--json", "examples/activitylog-eventhub.json")
	al := parseAlerts(t, stdout)
	if len(al) != 1 || al[0].State != "duplicate" || al[0].ID != eg[0].ID || al[0].Source != "eventgrid" {
		t.Fatalf("activity log after event grid = %+v", al)
	}
}

// TestScanSkipsInOrderAcrossChunks scans a file of more messages than one
// pipeline call takes, with a broken host request, a record that is not an
// object and a truncated end: every record is counted once, the matches are
// all found, and the skips are reported in the order of the file.
func TestScanSkipsInOrderAcrossChunks(t *testing.T) {
	c := corpus.Generate(corpus.Options{Messages: 60})
	var in bytes.Buffer
	for i, b := range c.Bodies {
		if i == 50 {
			in.WriteString("{\"Data\":{\"events\":5},\"Metadata\":{}}\n\"just a string\"\n")
		}
		in.Write(b)
		in.WriteByte('\n')
	}
	in.WriteString(`{"records":[{"operationName":"x","time":"2026-01-01T00:00:00Z"},{"a":"trunc`)
	if c.Records <= scanChunkRecords {
		t.Fatalf("%d records fit in one chunk of %d", c.Records, scanChunkRecords)
	}
	file := filepath.Join(t.TempDir(), "mixed.jsonl")
	if err := os.WriteFile(file, in.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	_, stderr, code := runScan(t, isolatedEnv(t, nil), "--no-deliver", file)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	// The string and the record before the truncation count as records.
	want := fmt.Sprintf("%d record(s) read, 3 skipped, %d matched", c.Records+2, c.Planted)
	if !strings.Contains(stderr, want) {
		t.Errorf("summary lacks %q:\n%s", want, stderr)
	}
	var skips []string
	for _, line := range strings.Split(stderr, "\n") {
		if rest, ok := strings.CutPrefix(line, "skipped: "+file+" "); ok {
			skips = append(skips, rest)
		}
	}
	wantSkips := []string{
		"message 50 (byte ", "host request: value of Data.events",
		"message 51, record 0 (byte ", "record is not a JSON object",
		"not valid JSON at byte ", "input ends inside a JSON value; the rest of the file is not read",
	}
	if len(skips) != 3 {
		t.Fatalf("skips = %q, want 3", skips)
	}
	for i, s := range skips {
		if !strings.HasPrefix(s, wantSkips[2*i]) || !strings.Contains(s, wantSkips[2*i+1]) {
			t.Errorf("skip %d = %q, want %q … %q", i, s, wantSkips[2*i], wantSkips[2*i+1])
		}
	}
}

// TestScanCapturedHostRequest scans a request body as the Functions host
// sends it: scan finds the Event Hubs messages inside its Data, and raises
// what the two bodies it carries raise on their own.
func TestScanCapturedHostRequest(t *testing.T) {
	env := isolatedEnv(t, nil)
	stdout, stderr, code := runScan(t, env, "--json", "examples/host-request-activitylogevents.json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	names := map[string]bool{}
	for _, a := range parseAlerts(t, stdout) {
		if a.State != "new" || a.Count != 1 {
			t.Errorf("alert = %+v, want new with count 1", a)
		}
		names[a.Rule.Name] = true
	}
	if len(names) != 2 || !names["Azure Kubernetes Events Deleted"] || !names["Azure AKS Kubernetes Events Deleted (kube-audit)"] {
		t.Fatalf("alerts of rules %v, want the seed rule and the kube-audit rule:\n%s", names, stdout)
	}
	if want := "10 record(s) read, 0 skipped, 2 matched"; !strings.Contains(stderr, want) {
		t.Errorf("summary lacks %q:\n%s", want, stderr)
	}
}

func TestMentionsMetadata(t *testing.T) {
	for in, want := range map[string]bool{
		`{"Data":{},"Metadata":{}}`:        true,
		`{"Metadata":1}`:                   true,
		`{"x":"Metadata"}`:                 true, // DecodeCaptured then decides
		`{"MetadataX":1}`:                  false,
		`{"xMetadata":1}`:                  false,
		`Metadata"`:                        false,
		`{"Metadat":1,"a":"Metadata"`:      true,
		`{"aMetadata":1,"Metadata":2}`:     true,
		`{"MICROSOFT":"Metadata\"","b":1}`: false,
		``:                                 false,
	} {
		if got := mentionsMetadata([]byte(in)); got != want {
			t.Errorf("mentionsMetadata(%s) = %v, want %v", in, got, want)
		}
	}
}

func TestScanArgumentsAndUnreadableInput(t *testing.T) {
	env := isolatedEnv(t, nil)
	if _, stderr, code := runScan(t, env); code != 2 || !strings.Contains(stderr, "name at least one FILE") {
		t.Errorf("no file: exit %d, %s", code, stderr)
	}
	if _, stderr, code := runScan(t, env, "examples/nope.json"); code != 1 || !strings.Contains(stderr, "cannot read examples/nope.json") {
		t.Errorf("missing file: exit %d, %s", code, stderr)
	}
	dir := t.TempDir()
	if _, stderr, code := runScan(t, env, dir); code != 1 || !strings.Contains(stderr, dir+" is a directory") || strings.Count(stderr, "\n") != 1 {
		t.Errorf("directory: exit %d, %q", code, stderr)
	}
	if _, stderr, code := runScan(t, env, "--no-such-flag", "examples/activitylog-eventhub.json"); code != 2 || !strings.Contains(stderr, "no-such-flag") {
		t.Errorf("unknown flag: exit %d, %s", code, stderr)
	}
	if _, _, code := runScan(t, env, "--help"); code != 0 {
		t.Errorf("--help: exit %d", code)
	}
	// Flags after the files are flags, not file names.
	if stdout, stderr, code := runScan(t, env, "examples/activitylog-eventhub.json", "--json", "--no-deliver"); code != 0 || !strings.HasPrefix(stdout, "{") {
		t.Errorf("flags after the file: exit %d, stdout %.40q, %s", code, stdout, stderr)
	}
	// An empty input and an input with no JSON in it say so in one line.
	empty, text := filepath.Join(dir, "empty.json"), filepath.Join(dir, "notes.txt")
	os.WriteFile(empty, nil, 0o644)
	os.WriteFile(text, []byte("these are notes, not logs\nsecond line\n"), 0o644)
	if _, stderr, code := runScan(t, env, "--no-deliver", empty, text); code != 0 ||
		!strings.Contains(stderr, "skipped: "+empty+" is empty\n") ||
		strings.Count(stderr, "skipped: "+text) != 1 || !strings.Contains(stderr, text+" holds no JSON records") {
		t.Errorf("empty and text inputs: exit %d:\n%s", code, stderr)
	}
	// Many inputs take turns with the same two chunks of memory.
	ex := "examples/activitylog-eventhub.json"
	if _, stderr, code := runScan(t, env, "--no-deliver", ex, ex, ex, ex, ex); code != 0 || !strings.Contains(stderr, "scan: 5 file(s), 25 record(s) read") {
		t.Errorf("five inputs: exit %d:\n%s", code, stderr)
	}
	// Malformed records are skipped and counted with their position; exit 0.
	bad := filepath.Join(t.TempDir(), "bad.json")
	os.WriteFile(bad, []byte(`{"records":[42,{"time":"x","operationName":"MICROSOFT.KUBERNETES/CONNECTEDCLUSTERS/EVENTS.K8S.IO/EVENTS/DELETE","resultType":"Success","correlationId":"b1"}]}
{"records":[{"oops": ]}
`), 0o644)
	_, stderr, code := runScan(t, env, bad)
	if code != 0 {
		t.Fatalf("malformed input: exit %d, %s", code, stderr)
	}
	for _, want := range []string{"1 matched", "bad.json message 0, record 0 (byte 12): record is not a JSON object", "not valid JSON"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("summary lacks %q:\n%s", want, stderr)
		}
	}
}

func TestScanAgainstCosmos(t *testing.T) {
	endpoint, key := cosmostest.Endpoint(t)
	db, container := cosmostest.NewContainerName(t)
	env := isolatedEnv(t, map[string]string{
		"TRIPLINE_COSMOS_ENDPOINT": endpoint, "TRIPLINE_COSMOS_KEY": key,
		"TRIPLINE_COSMOS_DATABASE": db, "TRIPLINE_COSMOS_CONTAINER": container,
	})
	stdout, stderr, code := runScan(t, env, "--json", "examples/activitylog-eventhub.json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	first := parseAlerts(t, stdout)
	if len(first) != 1 || first[0].State != "new" || !strings.Contains(stderr, "store: Cosmos DB "+db+"/"+container) {
		t.Fatalf("first = %+v\n%s", first, stderr)
	}
	stdout, stderr, _ = runScan(t, env, "--json", "examples/activitylog-eventhub.json")
	second := parseAlerts(t, stdout)
	if len(second) != 1 || second[0].State != "duplicate" || second[0].ID != first[0].ID {
		t.Fatalf("second = %+v\n%s", second, stderr)
	}
}

// TestTwoScanProcessesOneGroup runs two scan processes at once on the same
// embedded store, each with different records of one suppression group: one
// alert, exact total.
func TestTwoScanProcessesOneGroup(t *testing.T) {
	t.Run("bolt", func(t *testing.T) { twoScanProcesses(t, isolatedEnv(t, nil)) })
	t.Run("cosmos", func(t *testing.T) {
		endpoint, key := cosmostest.Endpoint(t)
		db, container := cosmostest.NewContainerName(t)
		twoScanProcesses(t, isolatedEnv(t, map[string]string{
			"TRIPLINE_COSMOS_ENDPOINT": endpoint, "TRIPLINE_COSMOS_KEY": key,
			"TRIPLINE_COSMOS_DATABASE": db, "TRIPLINE_COSMOS_CONTAINER": container,
		}))
	})
}

func twoScanProcesses(t *testing.T, env map[string]string) {
	dir := t.TempDir()
	var files []string
	for p := 0; p < 2; p++ {
		var recs []string
		for i := 0; i < 30; i++ {
			recs = append(recs, fmt.Sprintf(`{"time":"2025-05-06T09:%02d:%02dZ","resourceId":"/SUBSCRIPTIONS/S/RESOURCEGROUPS/RG/PROVIDERS/MICROSOFT.KUBERNETES/CONNECTEDCLUSTERS/ARC-1","operationName":"MICROSOFT.KUBERNETES/CONNECTEDCLUSTERS/EVENTS.K8S.IO/EVENTS/DELETE","category":"Administrative","resultType":"Success","correlationId":"p%d-%d","identity":{"authorization":{"evidence":{"principalId":"p1"}}}}`, 1+i/60, i%60, p, i))
		}
		// One message per record, so each process makes many store writes.
		f := filepath.Join(dir, fmt.Sprintf("p%d.json", p))
		os.WriteFile(f, []byte(`{"records":[`+strings.Join(recs, "]}\n{\"records\":[")+`]}`), 0o644)
		files = append(files, f)
	}
	var wg sync.WaitGroup
	codes := make([]int, 2)
	for p := range files {
		wg.Add(1)
		go func(p int) {
			defer wg.Done()
			_, stderr, code := runScan(t, env, "--json", files[p])
			if code != 0 {
				t.Errorf("process %d: exit %d %s", p, code, stderr)
			}
			codes[p] = code
		}(p)
	}
	wg.Wait()
	// Rescanning one file reports the alert with the total of both processes.
	stdout, _, _ := runScan(t, env, "--json", files[0])
	alerts := parseAlerts(t, stdout)
	if len(alerts) != 1 || alerts[0].Count != 60 || alerts[0].State != "duplicate" {
		t.Fatalf("alerts after two processes = %+v, want one alert with count 60", alerts)
	}
}

func TestHostSimulatorEndToEnd(t *testing.T) {
	host := hostsim.Start(t, binary, hostsim.StartOptions{AppRoot: ".", Env: isolatedEnv(t, nil)})
	ctx := context.Background()
	bodies := [][]byte{
		readExample(t, "activitylog-eventhub.json"),
		readExample(t, "kube-audit-eventhub.json"),
		[]byte(`not json at all`),
		[]byte(`{"records":[42]}`),
	}
	out, err := host.EventHubBatch(ctx, "ActivityLogEvents", bodies, hostsim.BatchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !out.Success || out.Status != 200 {
		t.Fatalf("ActivityLogEvents: status %d success %v (%s) body %s", out.Status, out.Success, out.Failure, out.Body)
	}
	logs := strings.Join(out.Logs, "\n")
	for _, want := range []string{
		"ActivityLogEvents: 4 message(s), 11 record(s), 2 skipped, 2 matched; alerts: 2 new, 0 suppressed, 0 duplicate match(es)",
		`"name":"Azure Kubernetes Events Deleted","state":"new","count":1`,
		`"name":"Azure AKS Kubernetes Events Deleted (kube-audit)","state":"new","count":1`,
		"skipped message 2 (byte 0): not valid JSON",
		"skipped message 3, record 0 (byte 12): record is not a JSON object",
	} {
		if !strings.Contains(logs, want) {
			t.Errorf("Logs lack %q:\n%s", want, logs)
		}
	}

	status, outcomes, err := host.EventGridDelivery(ctx, "ResourceEvents", readExample(t, "eventgrid-delivery.json"), hostsim.EventGridSchema)
	if err != nil {
		t.Fatal(err)
	}
	if status != 202 || len(outcomes) != 2 {
		t.Fatalf("ResourceEvents: status %d, %d invocations", status, len(outcomes))
	}
	for i, o := range outcomes {
		if !o.Success {
			t.Fatalf("event %d failed: %s", i, o.Failure)
		}
	}
	// Event 0 (diagnostic setting deleted) matches no built-in rule; event 1
	// is the seed operation already recorded from the Activity Log.
	if l := strings.Join(outcomes[0].Logs, "\n"); !strings.Contains(l, "1 record(s), 0 skipped, 0 matched") {
		t.Errorf("event 0 logs: %s", l)
	}
	if l := strings.Join(outcomes[1].Logs, "\n"); !strings.Contains(l, `"name":"Azure Kubernetes Events Deleted","state":"duplicate","count":1`) {
		t.Errorf("event 1 logs: %s", l)
	}

	timer, err := host.Timer(ctx, "NotificationRetry")
	if err != nil {
		t.Fatal(err)
	}
	if !timer.Success || !strings.Contains(strings.Join(timer.Logs, "\n"), "delivery pass: 0 pending alert(s)") {
		t.Fatalf("NotificationRetry: %v %s %q", timer.Success, timer.Failure, timer.Logs)
	}
}

// flakyProxy is an HTTP reverse proxy in front of the Cosmos-protocol server
// that can be switched off (every request answered 503 Service Unavailable,
// keep-alive connections cut), to make the store unreachable and bring it
// back. It rewrites the account's advertised locations to itself, or the
// client would go to the server directly after its first call.
type flakyProxy struct {
	srv  *httptest.Server
	mu   sync.Mutex
	down bool
}

func newFlakyProxy(t *testing.T, endpoint string) *flakyProxy {
	target, err := url.Parse(endpoint)
	if err != nil {
		t.Fatal(err)
	}
	p := &flakyProxy{}
	rp := httputil.NewSingleHostReverseProxy(target)
	rp.ModifyResponse = func(resp *http.Response) error {
		if resp.Request.URL.Path != "/" && resp.Request.URL.Path != "" {
			return nil
		}
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			return err
		}
		resp.Body.Close()
		b = regexp.MustCompile(`https?://127\.0\.0\.1:[0-9]+/`).ReplaceAll(b, []byte(p.srv.URL+"/"))
		resp.Body = io.NopCloser(bytes.NewReader(b))
		resp.ContentLength = int64(len(b))
		resp.Header.Set("Content-Length", strconv.Itoa(len(b)))
		return nil
	}
	p.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		down := p.down
		p.mu.Unlock()
		if down {
			w.Header().Set("Connection", "close")
			http.Error(w, `{"code":"ServiceUnavailable","message":"proxy is down"}`, http.StatusServiceUnavailable)
			return
		}
		rp.ServeHTTP(w, r)
	}))
	p.srv.Start()
	t.Cleanup(p.srv.Close)
	return p
}

func (p *flakyProxy) set(down bool) {
	p.mu.Lock()
	p.down = down
	p.mu.Unlock()
	if down {
		p.srv.CloseClientConnections()
	}
}

// TestStoreOutageFailsInvocationThenRedeliveryRecovers: with Cosmos DB
// unreachable the handler answers non-2xx (the host retries per function.json),
// and once it is back the same batch yields exactly its alerts.
func TestStoreOutageFailsInvocationThenRedeliveryRecovers(t *testing.T) {
	endpoint, key := cosmostest.Endpoint(t)
	db, container := cosmostest.NewContainerName(t)
	proxy := newFlakyProxy(t, endpoint)
	host := hostsim.Start(t, binary, hostsim.StartOptions{AppRoot: ".", Env: isolatedEnv(t, map[string]string{
		"TRIPLINE_COSMOS_ENDPOINT": proxy.srv.URL + "/", "TRIPLINE_COSMOS_KEY": key,
		"TRIPLINE_COSMOS_DATABASE": db, "TRIPLINE_COSMOS_CONTAINER": container,
		"TRIPLINE_COSMOS_RETRY_BUDGET": "500ms",
	})})
	ctx := context.Background()
	batch := [][]byte{readExample(t, "activitylog-eventhub.json"), readExample(t, "kube-audit-eventhub.json")}

	proxy.set(true)
	out, err := host.EventHubBatch(ctx, "ActivityLogEvents", batch, hostsim.BatchOptions{MaxAttempts: 2})
	if err != nil {
		t.Fatal(err)
	}
	if out.Success || out.Status != 500 || len(out.Attempts) != 2 || out.Attempts[1].RetryCount != 1 {
		t.Fatalf("store down: success=%v status=%d attempts=%d", out.Success, out.Status, len(out.Attempts))
	}

	proxy.set(false)
	out, err = host.EventHubBatch(ctx, "ActivityLogEvents", batch, hostsim.BatchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	logs := strings.Join(out.Logs, "\n")
	if !out.Success || !strings.Contains(logs, "alerts: 2 new, 0 suppressed, 0 duplicate match(es)") {
		t.Fatalf("after recovery: success=%v logs=%s", out.Success, logs)
	}
	// And a further redelivery is all duplicates.
	out, _ = host.EventHubBatch(ctx, "ActivityLogEvents", batch, hostsim.BatchOptions{})
	if logs := strings.Join(out.Logs, "\n"); !out.Success || !strings.Contains(logs, "alerts: 0 new, 0 suppressed, 2 duplicate match(es)") {
		t.Fatalf("redelivery: %s", logs)
	}
}

// webhookReceiver is a local Standard Webhooks receiver that verifies every
// request with the official library and can fail on demand.
type webhookReceiver struct {
	srv      *httptest.Server
	mu       sync.Mutex
	failing  bool
	accepted []string // webhook-id of verified, accepted requests
	bodies   [][]byte // their bodies
	rejected int
	badSig   int
}

const testWebhookSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

func newWebhookReceiver(t *testing.T) *webhookReceiver {
	wh, err := standardwebhooks.NewWebhook(testWebhookSecret)
	if err != nil {
		t.Fatal(err)
	}
	r := &webhookReceiver{}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		defer r.mu.Unlock()
		if r.failing {
			r.rejected++
			http.Error(w, "down for maintenance", http.StatusInternalServerError)
			return
		}
		if err := wh.Verify(body, req.Header); err != nil {
			r.badSig++
			http.Error(w, "bad signature", http.StatusBadRequest)
			return
		}
		r.accepted = append(r.accepted, req.Header.Get("webhook-id"))
		r.bodies = append(r.bodies, body)
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *webhookReceiver) setFailing(f bool) { r.mu.Lock(); r.failing = f; r.mu.Unlock() }
func (r *webhookReceiver) counts() ([]string, int, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.accepted...), r.rejected, r.badSig
}

func runDeliver(t *testing.T, env map[string]string) (string, string, int) {
	t.Helper()
	return runBinary(t, env, "deliver")
}

func TestScanDeliversSignedWebhookOnce(t *testing.T) {
	rcv := newWebhookReceiver(t)
	env := isolatedEnv(t, map[string]string{"TRIPLINE_WEBHOOK_URL": rcv.srv.URL + "/hook", "TRIPLINE_WEBHOOK_SECRET": testWebhookSecret})
	stdout, stderr, code := runScan(t, env, "--json", "examples/activitylog-eventhub.json", "examples/kube-audit-eventhub.json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	alerts := parseAlerts(t, stdout)
	accepted, rejected, bad := rcv.counts()
	if len(alerts) != 2 || len(accepted) != 2 || rejected != 0 || bad != 0 {
		t.Fatalf("alerts=%d accepted=%v rejected=%d badsig=%d", len(alerts), accepted, rejected, bad)
	}
	if !(accepted[0] == alerts[0].ID && accepted[1] == alerts[1].ID) {
		t.Errorf("webhook-id %v, want the alert ids %s %s", accepted, alerts[0].ID, alerts[1].ID)
	}
	for _, a := range alerts {
		if d := a.Deliveries["webhook"]; d.State != "sent" || d.Attempts != 1 {
			t.Errorf("alert %s printed delivery %+v, want the state after the attempt: sent", a.ID, d)
		}
	}
	if strings.Contains(stderr, rcv.srv.URL) || strings.Contains(stderr, testWebhookSecret) {
		t.Errorf("scan printed a channel secret:\n%s", stderr)
	}
	runScan(t, env, "examples/activitylog-eventhub.json", "examples/kube-audit-eventhub.json")
	if accepted, _, _ := rcv.counts(); len(accepted) != 2 {
		t.Fatalf("second scan delivered again: %v", accepted)
	}
}

func TestReceiverDownThenDeliverAndTimerDeliverOnce(t *testing.T) {
	rcv := newWebhookReceiver(t)
	env := isolatedEnv(t, map[string]string{
		"TRIPLINE_WEBHOOK_URL": rcv.srv.URL + "/hook", "TRIPLINE_WEBHOOK_SECRET": testWebhookSecret,
		"TRIPLINE_DELIVERY_RETRY_BASE": "1ms",
	})
	rcv.setFailing(true)
	_, stderr, code := runScan(t, env, "examples/activitylog-eventhub.json")
	if code != 0 || !strings.Contains(stderr, "notifications: 1 alert(s) still pending on some channel; run `tripline deliver` to retry") {
		t.Fatalf("receiver down: exit %d\n%s", code, stderr)
	}
	if accepted, rejected, _ := rcv.counts(); len(accepted) != 0 || rejected != 3 {
		t.Fatalf("receiver down: accepted=%v rejected=%d, want 0 and 3 inline attempts", accepted, rejected)
	}
	rcv.setFailing(false)
	stdout, stderr, code := runDeliver(t, env)
	if code != 0 || !strings.Contains(stdout, "delivery pass: 1 pending alert(s), 1 sent, 0 failed, 0 still pending") {
		t.Fatalf("deliver: exit %d %s %s", code, stdout, stderr)
	}
	stdout, _, _ = runDeliver(t, env)
	if accepted, _, _ := rcv.counts(); len(accepted) != 1 || !strings.Contains(stdout, "delivery pass: 0 pending alert(s)") {
		t.Fatalf("after two passes accepted=%v, second pass: %s", accepted, stdout)
	}
	// The pass read the alert back from the store: its record came too.
	rcv.mu.Lock()
	var sent struct {
		Event struct {
			Azure struct {
				CorrelationID string `json:"correlation_id"`
			} `json:"azure"`
		} `json:"event"`
	}
	err := json.Unmarshal(rcv.bodies[0], &sent)
	rcv.mu.Unlock()
	if err != nil || sent.Event.Azure.CorrelationID != "a7d3e5f1-2c4b-4e8a-9d0f-3b5c7e9a1d24" {
		t.Fatalf("the retried webhook carries event %+v (%v), want the matching record's correlation id", sent.Event, err)
	}

	// The same through the NotificationRetry timer of the running function.
	rcv.setFailing(true)
	runScan(t, env, "examples/kube-audit-eventhub.json")
	rcv.setFailing(false)
	time.Sleep(20 * time.Millisecond) // the 1 ms backoff of the failed channel is over
	host := hostsim.Start(t, binary, hostsim.StartOptions{AppRoot: ".", Env: env})
	ctx := context.Background()
	for i, want := range []string{"delivery pass: 1 pending alert(s), 1 sent, 0 failed, 0 still pending", "delivery pass: 0 pending alert(s)"} {
		out, err := host.Timer(ctx, "NotificationRetry")
		if err != nil {
			t.Fatal(err)
		}
		if logs := strings.Join(out.Logs, "\n"); !out.Success || !strings.Contains(logs, want) {
			t.Fatalf("timer %d: success=%v logs=%s", i, out.Success, logs)
		}
	}
	if accepted, _, bad := rcv.counts(); len(accepted) != 2 || bad != 0 {
		t.Fatalf("accepted=%v badsig=%d, want exactly one delivery per alert", accepted, bad)
	}
}

// TestScanCheckRecords: a malformed record no rule could match is counted
// but not reported by default (it is never decoded); --check-records
// decodes every record and reports it with its position. The alerts are the
// same either way.
func TestScanCheckRecords(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "mixed.json")
	body := `{"records":[{"operationName":"MICROSOFT.RESOURCES/DEPLOYMENTS/WRITE","resultType":"Success","x":tru},` +
		`{"time":"2026-11-07T08:00:00Z","resourceId":"/SUBSCRIPTIONS/S1/RESOURCEGROUPS/RG/PROVIDERS/MICROSOFT.KUBERNETES/CONNECTEDCLUSTERS/C1",` +
		`"operationName":"MICROSOFT.KUBERNETES/CONNECTEDCLUSTERS/EVENTS.K8S.IO/EVENTS/DELETE","category":"Administrative","resultType":"Success","correlationId":"cr-1"}]}`
	if err := os.WriteFile(file, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	_, stderr, code := runScan(t, isolatedEnv(t, nil), file)
	if code != 0 || !strings.Contains(stderr, "2 record(s) read, 0 skipped, 1 matched") {
		t.Fatalf("default scan: exit %d\n%s", code, stderr)
	}
	_, stderr, code = runScan(t, isolatedEnv(t, nil), "--check-records", file)
	if code != 0 || !strings.Contains(stderr, "2 record(s) read, 1 skipped, 1 matched") || !strings.Contains(stderr, "record 0 (byte 12)") {
		t.Fatalf("scan --check-records: exit %d\n%s", code, stderr)
	}
}

// TestScanSameOnEveryCoreCount: scan evaluates batches of records on every
// core and merges them in input order, so what it prints (alerts, their
// states and counts, the summary) does not depend on how many cores there
// are, and is what the pipeline prints when it evaluates the same messages
// one after the other, a chunk at a time (Engine.Evaluate in order, then
// Record). The input repeats bodies, so that duplicates cross batches and
// chunks.
func TestScanSameOnEveryCoreCount(t *testing.T) {
	c := corpus.Generate(corpus.Options{Messages: 120})
	var in bytes.Buffer
	var messages [][]byte
	for i, b := range c.Bodies {
		messages = append(messages, b)
		if i%7 == 0 {
			messages = append(messages, c.Bodies[i/2])
		}
	}
	for _, m := range messages {
		in.Write(m)
		in.WriteByte('\n')
	}
	file := filepath.Join(t.TempDir(), "export.jsonl")
	if err := os.WriteFile(file, in.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	want := inOrder(t, messages)
	for _, procs := range []string{"1", "2", "4"} {
		stdout, stderr, code := runScan(t, isolatedEnv(t, map[string]string{"GOMAXPROCS": procs}), "--no-deliver", "--json", file)
		if code != 0 {
			t.Fatalf("GOMAXPROCS=%s: exit %d: %s", procs, code, stderr)
		}
		if strings.Contains(stderr, " 0 duplicate)") {
			t.Fatalf("GOMAXPROCS=%s: the input should give duplicates: %s", procs, stderr)
		}
		if stdout != want {
			t.Errorf("GOMAXPROCS=%s: scan prints otherwise than evaluating in order:\n%.1500s\nwant\n%.1500s", procs, stdout, want)
		}
	}
}

// inOrder is what scan --json prints for messages of 50 records each, made
// without scan's pipeline: each chunk of scanChunkRecords records is
// evaluated message after message and recorded.
func inOrder(t *testing.T, messages [][]byte) string {
	t.Helper()
	for k, v := range isolatedEnv(t, nil) {
		t.Setenv(k, v)
	}
	a, err := newApp(context.Background(), appOptions{noDeliver: true, needStore: true, notice: func(string) {}})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	var out bytes.Buffer
	shown := map[string]bool{}
	perChunk := scanChunkRecords / 50
	for k := 0; k < len(messages); k += perChunk {
		var res detect.Result
		for i, m := range messages[k:min(k+perChunk, len(messages))] {
			a.pipeline.Engine.Evaluate(k+i, m, &res)
		}
		o, err := a.pipeline.Record(context.Background(), 0, &res)
		if err != nil {
			t.Fatal(err)
		}
		for _, al := range o.Alerts {
			if shown[al.ID] && al.State == alert.StateDuplicate {
				continue
			}
			shown[al.ID] = true
			printAlert(&out, al, true)
		}
	}
	return out.String()
}
