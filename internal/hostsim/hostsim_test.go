package hostsim

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"
)

// buildEcho builds testdata/echohandler into a temporary directory.
func buildEcho(t *testing.T) string {
	t.Helper()
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("no go command: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "echohandler")
	cmd := exec.Command(gobin, "build", "-o", bin, "./testdata/echohandler")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build echohandler: %v\n%s", err, out)
	}
	return bin
}

// echoHeader and echoMessage are the Logs entries the echo Func writes.
type echoHeader struct {
	Function, ID, Trigger, Partition string
	Retry, MaxRetry, Count           int
}

type echoMessage struct {
	Body []byte
	Seq  int64
	Time string
}

type echoProcess struct {
	Args []string
	Cwd  string
	Env  map[string]string
}

func parseEcho(t *testing.T, logs []string) (echoHeader, []echoMessage) {
	t.Helper()
	if len(logs) == 0 {
		t.Fatal("no Logs")
	}
	var h echoHeader
	if err := json.Unmarshal([]byte(logs[0]), &h); err != nil {
		t.Fatalf("header %q: %v", logs[0], err)
	}
	var ms []echoMessage
	for _, l := range logs[1 : 1+h.Count] {
		var m echoMessage
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("message %q: %v", l, err)
		}
		ms = append(ms, m)
	}
	return h, ms
}

func echoBodies(ms []echoMessage) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = string(m.Body)
	}
	return out
}

// waitOutput polls the handler's output for s (the handler prints progress
// there; there is no other event to wait on).
func waitOutput(t *testing.T, h *Host, s string) {
	t.Helper()
	for i := 0; i < 2000; i++ {
		if strings.Contains(h.Output(), s) {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("handler never printed %q; output:\n%s", s, h.Output())
}

func TestWithEchoHandler(t *testing.T) {
	bin := buildEcho(t)
	appRoot, err := filepath.Abs("testdata/app")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	h := Start(t, bin, StartOptions{AppRoot: appRoot, Env: map[string]string{"ECHO_MODE": "fast"}})

	t.Run("started like the host starts a handler", func(t *testing.T) {
		if h.TimeToReady() <= 0 {
			t.Errorf("TimeToReady %v not recorded", h.TimeToReady())
		}
		out, err := h.Timer(ctx, "Tick")
		if err != nil || !out.Success {
			t.Fatalf("Timer: %v %+v", err, out)
		}
		hdr, _ := parseEcho(t, out.Logs)
		if hdr != (echoHeader{Function: "Tick", ID: out.InvocationID, Trigger: "timerTrigger", MaxRetry: 1}) {
			t.Errorf("header %+v", hdr)
		}
		var p echoProcess
		if err := json.Unmarshal([]byte(out.Logs[1]), &p); err != nil {
			t.Fatal(err)
		}
		wantArgs := []string{"serve", "--mode=fast", "%ECHO_UNSET_SETTING%"}
		port := h.URL()[strings.LastIndexByte(h.URL(), ':')+1:]
		wantEnv := map[string]string{
			"FUNCTIONS_CUSTOMHANDLER_PORT":      port,
			"FUNCTIONS_HTTPWORKER_PORT":         port,
			"FUNCTIONS_CUSTOMHANDLER_WORKER_ID": h.WorkerID(),
			"FUNCTIONS_HTTPWORKER_ID":           h.WorkerID(),
			"FUNCTIONS_APP_ROOT_PATH":           appRoot,
			"ECHO_MODE":                         "fast",
		}
		if !reflect.DeepEqual(p.Args, wantArgs) || p.Cwd != appRoot {
			t.Errorf("args %q cwd %q; want %q %q", p.Args, p.Cwd, wantArgs, appRoot)
		}
		for k, v := range wantEnv {
			if p.Env[k] != v {
				t.Errorf("env %s=%q, want %q", k, p.Env[k], v)
			}
		}
	})

	t.Run("Event Hubs encodings decode to the exact bodies", func(t *testing.T) {
		t0 := time.Date(2025, 1, 15, 10, 20, 30, 123456700, time.UTC)
		t1 := time.Date(2025, 1, 15, 10, 20, 31, 0, time.UTC)
		tests := []struct {
			function string
			bodies   []string
			want     []string
		}{
			{"Batch", []string{`{"records":[{"time":"2025-01-15T10:20:30.100Z","n":1.50}]}`, "plain text", "", "é\u2028<&>\"\\", "\x00\x1f"},
				[]string{`{"records":[{"time":"2025-01-15T10:20:30.100Z","n":1.50}]}`, "plain text", "", "é\u2028<&>\"\\", "\x00\x1f"}},
			{"Batch", []string{"\xff\xfe"}, []string{"\uFFFD\uFFFD"}}, // the host UTF-8 decodes string bodies
			{"BatchBinary", []string{"\xff\x00\x80", `{"a":1}`, ""}, []string{"\xff\x00\x80", `{"a":1}`, ""}},
			{"BatchJSON", []string{`{ "records" : [ {"time":"2025-01-15T10:20:30.100Z", "n": 1.50} ] }`, `"s"`, "42", " "},
				[]string{`{"records":[{"time":"2025-01-15T10:20:30.1Z","n":1.5}]}`, `"s"`, "42", "null"}},
		}
		for _, tc := range tests {
			bodies := make([][]byte, len(tc.bodies))
			for i, b := range tc.bodies {
				bodies[i] = []byte(b)
			}
			out, err := h.EventHubBatch(ctx, tc.function, bodies, BatchOptions{
				PartitionID: "4", FirstSequenceNumber: 77, EnqueuedTimes: []time.Time{t0, t1}, Seed: 3,
			})
			if err != nil || !out.Success || !out.Checkpointed || len(out.Attempts) != 1 {
				t.Fatalf("%s: %v %+v", tc.function, err, out)
			}
			hdr, ms := parseEcho(t, out.Logs)
			if hdr.Partition != "4" || hdr.Count != len(tc.want) || hdr.Trigger != "eventHubTrigger" || hdr.ID != out.InvocationID {
				t.Errorf("%s: header %+v", tc.function, hdr)
			}
			if got := echoBodies(ms); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("%s: bodies\n got %q\nwant %q", tc.function, got, tc.want)
			}
			for i, m := range ms {
				if m.Seq != 77+int64(i) {
					t.Errorf("%s: message %d seq %d", tc.function, i, m.Seq)
				}
			}
			if ms[0].Time != "2025-01-15T10:20:30.1234567Z" || (len(ms) > 1 && ms[1].Time != "2025-01-15T10:20:31Z") {
				t.Errorf("%s: times %q %q", tc.function, ms[0].Time, ms[len(ms)-1].Time)
			}
		}
	})

	t.Run("dataType omitted with a non-JSON body fails before the handler", func(t *testing.T) {
		out, err := h.EventHubBatch(ctx, "BatchJSON", [][]byte{[]byte(`{"a":1}`), []byte("hello")}, BatchOptions{})
		if !errors.Is(err, ErrBinding) {
			t.Fatalf("err %v, want ErrBinding", err)
		}
		if out.Status != 0 || out.Success || !out.Checkpointed || len(out.Attempts) != 1 || !strings.Contains(out.Failure, "body 1") {
			t.Errorf("outcome %+v", out)
		}
	})

	t.Run("fixed-delay retries carry RetryContext from 0", func(t *testing.T) {
		out, err := h.EventHubBatch(ctx, "Batch", [][]byte{[]byte("fail-until:2")}, BatchOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if !out.Success || !out.Checkpointed || out.Capped || len(out.Attempts) != 3 {
			t.Fatalf("outcome %+v", out)
		}
		for i, a := range out.Attempts {
			wantStatus, wantDelay := http.StatusInternalServerError, 2*time.Second
			if i == 2 {
				wantStatus = http.StatusOK
			}
			if i == 0 {
				wantDelay = 0
			}
			if a.RetryCount != i || a.Status != wantStatus || a.Delay != wantDelay || (i < 2) != (a.Logs == nil) {
				t.Errorf("attempt %d: RetryCount %d Status %d Delay %v Logs %q", i, a.RetryCount, a.Status, a.Delay, a.Logs)
			}
		}
		if hdr, _ := parseEcho(t, out.Logs); hdr.Retry != 2 || hdr.MaxRetry != 3 {
			t.Errorf("last attempt header %+v", hdr)
		}
		if !strings.Contains(string(out.Attempts[1].Body), "failing attempt with RetryCount 1") {
			t.Errorf("failed attempt body %s", out.Attempts[1].Body)
		}
	})

	t.Run("retries exhausted: the batch is checkpointed anyway", func(t *testing.T) {
		out, err := h.EventHubBatch(ctx, "Batch", [][]byte{[]byte("fail-until:9")}, BatchOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if out.Success || !out.Checkpointed || out.Capped || len(out.Attempts) != 4 || out.RetryCount != 3 {
			t.Errorf("outcome: Success %v Checkpointed %v Capped %v attempts %d RetryCount %d",
				out.Success, out.Checkpointed, out.Capped, len(out.Attempts), out.RetryCount)
		}
	})

	t.Run("maxRetryCount -1 is capped by MaxAttempts", func(t *testing.T) {
		out, err := h.EventHubBatch(ctx, "Forever", [][]byte{[]byte("fail-until:1000")}, BatchOptions{MaxAttempts: 4})
		if err != nil {
			t.Fatal(err)
		}
		if out.Success || out.Checkpointed || !out.Capped || len(out.Attempts) != 4 {
			t.Fatalf("outcome: Success %v Checkpointed %v Capped %v attempts %d", out.Success, out.Checkpointed, out.Capped, len(out.Attempts))
		}
		if out.Attempts[1].Delay != 5*time.Second || out.Attempts[2].Delay <= out.Attempts[1].Delay {
			t.Errorf("delays %v %v %v", out.Attempts[1].Delay, out.Attempts[2].Delay, out.Attempts[3].Delay)
		}
		out, err = h.EventHubBatch(ctx, "Forever", [][]byte{[]byte("fail-until:1")}, BatchOptions{})
		if err != nil || !out.Success || len(out.Attempts) != 2 {
			t.Errorf("recovering batch: %v %+v", err, out)
		}
	})

	t.Run("a handler without a retry policy gets no RetryContext and one attempt", func(t *testing.T) {
		out, err := h.EventHubBatch(ctx, "BatchBinary", [][]byte{[]byte("fail-until:1")}, BatchOptions{})
		if err != nil || out.Success || len(out.Attempts) != 1 || !out.Checkpointed || out.Status != 500 {
			t.Errorf("%v %+v", err, out)
		}
		out, err = h.EventHubBatch(ctx, "BatchBinary", [][]byte{[]byte("panic")}, BatchOptions{})
		if err != nil || out.Success || out.Status != 500 {
			t.Errorf("panic: %v %+v", err, out)
		}
	})

	t.Run("pre-encoded batch through Invoke", func(t *testing.T) {
		body, err := EncodeEventHubBatch(appRoot, "Batch", [][]byte{[]byte("one"), []byte("two")}, BatchOptions{Seed: 9})
		if err != nil {
			t.Fatal(err)
		}
		a, err := h.Invoke(ctx, "Batch", body)
		if err != nil || !a.Success {
			t.Fatalf("%v %+v", err, a)
		}
		hdr, ms := parseEcho(t, a.Logs)
		if got := echoBodies(ms); hdr.Retry != 0 || hdr.MaxRetry != 3 || !reflect.DeepEqual(got, []string{"one", "two"}) {
			t.Errorf("header %+v bodies %q", hdr, got)
		}
		if a, err := h.Invoke(ctx, "Nope", body); err != nil || a.Success || a.Status != 404 {
			t.Errorf("unknown function: %v %+v", err, a)
		}
	})

	t.Run("Event Grid deliveries", func(t *testing.T) {
		delivery := `[
		  {"id":"1","topic":"/subscriptions/s","subject":"/a","eventType":"Microsoft.Resources.ResourceDeleteSuccess",
		   "eventTime":"2025-05-06T09:21:37.9045120Z","data":{"operationName":"Microsoft.Insights/diagnosticSettings/delete","at":"2025-05-06T11:21:37+02:00"},"dataVersion":"2","metadataVersion":"1"},
		  {"id":"2","topic":"/subscriptions/s","subject":"/b","eventType":"Microsoft.Resources.ResourceWriteSuccess",
		   "eventTime":"2025-05-06T09:21:38Z","data":"text","dataVersion":"2","metadataVersion":"1"}
		]`
		want := []string{
			`{"id":"1","topic":"/subscriptions/s","subject":"/a","eventType":"Microsoft.Resources.ResourceDeleteSuccess","eventTime":"2025-05-06T09:21:37.904512Z","data":{"operationName":"Microsoft.Insights/diagnosticSettings/delete","at":"2025-05-06T09:21:37+00:00"},"dataVersion":"2","metadataVersion":"1"}`,
			`{"id":"2","topic":"/subscriptions/s","subject":"/b","eventType":"Microsoft.Resources.ResourceWriteSuccess","eventTime":"2025-05-06T09:21:38Z","data":"text","dataVersion":"2","metadataVersion":"1"}`,
		}
		status, outs, err := h.EventGridDelivery(ctx, "Events", []byte(delivery), EventGridSchema)
		if err != nil || status != http.StatusAccepted || len(outs) != 2 {
			t.Fatalf("status %d, %d outcomes, %v", status, len(outs), err)
		}
		for i, o := range outs {
			hdr, ms := parseEcho(t, o.Logs)
			if hdr.Trigger != "eventGridTrigger" || len(ms) != 1 || string(ms[0].Body) != want[i] || ms[0].Seq != -1 || ms[0].Time != "" {
				t.Errorf("event %d: header %+v\n got %s\nwant %s", i, hdr, echoBodies(ms), want[i])
			}
		}

		ce := `{"specversion":"1.0","type":"Microsoft.Resources.ResourceWriteSuccess","source":"/subscriptions/s","id":"c1","time":"2025-05-06T09:21:38.5Z","subject":"/c","data":{"k":"v"}}`
		status, outs, err = h.EventGridDelivery(ctx, "Events", []byte(ce), CloudEventsSchema)
		if err != nil || status != http.StatusAccepted || len(outs) != 1 {
			t.Fatalf("CloudEvents: status %d, %d outcomes, %v", status, len(outs), err)
		}
		if _, ms := parseEcho(t, outs[0].Logs); string(ms[0].Body) != ce {
			t.Errorf("CloudEvents body %s", ms[0].Body)
		}

		failing := `[{"id":"1","subject":"panic","eventType":"x","data":{}},{"id":"2","subject":"ok","eventType":"x","data":{}}]`
		status, outs, err = h.EventGridDelivery(ctx, "Events", []byte(failing), EventGridSchema)
		if err != nil || status != http.StatusInternalServerError || outs[0].Success || outs[0].Status != 500 || !outs[1].Success {
			t.Errorf("one failing event: status %d, %v, %+v", status, err, outs)
		}

		if _, _, err := h.EventGridDelivery(ctx, "Events", []byte(ce), EventGridSchema); err == nil {
			t.Error("CloudEvents object delivered as Event Grid schema: no error")
		}
		if _, _, err := h.EventGridDelivery(ctx, "Batch", []byte(delivery), EventGridSchema); err == nil {
			t.Error("Event Grid delivery to an Event Hubs function: no error")
		}
	})

	t.Run("a handler that ignores SIGTERM is killed", func(t *testing.T) {
		h2 := Start(t, bin, StartOptions{AppRoot: appRoot, Env: map[string]string{"ECHO_IGNORE_SIGTERM": "1"}, StopTimeout: 200 * time.Millisecond})
		res := h2.Stop()
		if !res.Signaled || !res.Killed || res.ExitCode != -1 {
			t.Errorf("Stop: %+v", res)
		}
	})
}

func TestSIGTERMLetsInFlightInvocationFinish(t *testing.T) {
	bin := buildEcho(t)
	h := Start(t, bin, StartOptions{AppRoot: "testdata/app"})
	gate := filepath.Join(t.TempDir(), "go")
	type result struct {
		out *Outcome
		err error
	}
	done := make(chan result, 1)
	go func() {
		out, err := h.EventHubBatch(context.Background(), "BatchBinary", [][]byte{[]byte("wait-file:" + gate)}, BatchOptions{})
		done <- result{out, err}
	}()
	waitOutput(t, h, "echo: waiting for "+gate)
	if err := h.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waitOutput(t, h, "shutting down")
	if err := os.WriteFile(gate, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	r := <-done
	if r.err != nil || !r.out.Success {
		t.Fatalf("in-flight invocation: %v %+v", r.err, r.out)
	}
	<-h.Exited()
	res := h.Stop()
	if res.Killed || res.ExitCode != 0 || res.Err != nil {
		t.Errorf("exit: %+v", res)
	}
	for _, s := range []string{"shutdown complete", "echohandler: exited cleanly"} {
		if !strings.Contains(h.Output(), s) {
			t.Errorf("output lacks %q:\n%s", s, h.Output())
		}
	}
}

// TestRepositoryFunctions drives the repository's own host.json and
// function.json files (the real Function App) with the echo handler.
func TestRepositoryFunctions(t *testing.T) {
	bin := buildEcho(t)
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"host.json", "ActivityLogEvents/function.json", "ResourceEvents/function.json", "NotificationRetry/function.json"} {
		if _, err := os.Stat(filepath.Join(root, f)); err != nil {
			t.Skipf("repository layout changed: %v", err)
		}
	}
	ctx := context.Background()
	h := Start(t, bin, StartOptions{AppRoot: root})

	out, err := h.EventHubBatch(ctx, "ActivityLogEvents", [][]byte{[]byte(`{"records":[]}`), []byte("not json")}, BatchOptions{})
	if err != nil || !out.Success {
		t.Fatalf("ActivityLogEvents: %v %+v", err, out)
	}
	hdr, ms := parseEcho(t, out.Logs)
	if hdr.MaxRetry != -1 || !reflect.DeepEqual(echoBodies(ms), []string{`{"records":[]}`, "not json"}) {
		t.Errorf("ActivityLogEvents: header %+v bodies %q", hdr, echoBodies(ms))
	}

	status, outs, err := h.EventGridDelivery(ctx, "ResourceEvents", []byte(`[{"id":"1","subject":"/s","eventType":"Microsoft.Resources.ResourceDeleteSuccess","data":{}}]`), EventGridSchema)
	if err != nil || status != http.StatusAccepted || len(outs) != 1 {
		t.Errorf("ResourceEvents: %d %v", status, err)
	}

	tick, err := h.Timer(ctx, "NotificationRetry")
	if err != nil || !tick.Success {
		t.Fatalf("NotificationRetry: %v %+v", err, tick)
	}
	var p echoProcess
	if err := json.Unmarshal([]byte(tick.Logs[1]), &p); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(p.Args, []string{"serve"}) || p.Cwd != root {
		t.Errorf("args %q cwd %q", p.Args, p.Cwd)
	}
}
