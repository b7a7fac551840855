package handler

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

// recorder is a Func that keeps every Invocation it gets.
type recorder struct {
	mu   sync.Mutex
	invs []*Invocation
	// do, if set, decides the result.
	do func(ctx context.Context, inv *Invocation) (Result, error)
}

func (r *recorder) Invoke(ctx context.Context, inv *Invocation) (Result, error) {
	r.mu.Lock()
	r.invs = append(r.invs, inv)
	r.mu.Unlock()
	if r.do != nil {
		return r.do(ctx, inv)
	}
	return Result{Logs: []string{"ok"}}, nil
}

func (r *recorder) last(t *testing.T) *Invocation {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.invs) == 0 {
		t.Fatal("Func was not called")
	}
	return r.invs[len(r.invs)-1]
}

func (r *recorder) calls() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.invs)
}

// testServer serves one route per trigger kind, all recording into rec.
func testServer(t *testing.T, rec *recorder, opts Options) *httptest.Server {
	t.Helper()
	s, err := New([]Route{
		{Function: "Batch", Trigger: EventHubBatch, Binding: "events", Func: rec},
		{Function: "BatchBinary", Trigger: EventHubBatch, Binding: "events", DataType: DataTypeBinary, Func: rec},
		{Function: "BatchJSON", Trigger: EventHubBatch, Binding: "events", DataType: DataTypeOmitted, Func: rec},
		{Function: "Events", Trigger: EventGrid, Binding: "event", Func: rec},
		{Function: "Tick", Trigger: Timer, Binding: "timer", Func: rec},
	}, opts)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	return srv
}

type answer struct {
	status      int
	contentType string
	body        []byte
	resp        struct {
		Outputs     map[string]any
		Logs        []string
		ReturnValue any
		Error       string
	}
}

func do(t *testing.T, srv *httptest.Server, method, path string, body []byte, hdr map[string]string) answer {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var a answer
	a.status, a.contentType = resp.StatusCode, resp.Header.Get("Content-Type")
	if a.body, err = io.ReadAll(resp.Body); err != nil {
		t.Fatal(err)
	}
	if method != http.MethodHead {
		if err := json.Unmarshal(a.body, &a.resp); err != nil {
			t.Fatalf("%s %s: body %q is not a JSON object: %v", method, path, a.body, err)
		}
	}
	if a.contentType != "application/json" {
		t.Errorf("%s %s: Content-Type %q, want application/json", method, path, a.contentType)
	}
	return a
}

func post(t *testing.T, srv *httptest.Server, path, body string) answer {
	t.Helper()
	return do(t, srv, http.MethodPost, path, []byte(body), nil)
}

// str returns v as a JSON string literal.
func str(v string) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func bodies(inv *Invocation) []string {
	out := make([]string, len(inv.Messages))
	for i, m := range inv.Messages {
		out[i] = string(m.Body)
	}
	return out
}

func TestEventHubBatchEncodings(t *testing.T) {
	hostArray := `["{\"deviceId\":\"d1\",\"temp\":21.5}","hello"]`
	want := []string{`{"deviceId":"d1","temp":21.5}`, "hello"}
	tests := []struct {
		name     string
		function string
		data     string // JSON value of Data.events
		want     []string
	}{
		{"string, host form (array in a JSON string)", "Batch", str(hostArray), want},
		{"string, encoded twice", "Batch", str(str(hostArray)), want},
		{"string, bare array", "Batch", hostArray, want},
		{"string, whitespace around the array", "Batch", str(" \n" + hostArray + " "), want},
		{"string, empty and unicode bodies", "Batch", str(`["","é\u2028<&>"]`), []string{"", "é\u2028<&>"}},
		{"string, non-string elements are JSON bodies", "Batch", str(`["x",{"a":1},7,null]`), []string{"x", `{"a":1}`, "7", ""}},
		{"binary, host form", "BatchBinary", str(`["eyJkZXZpY2VJZCI6ImQxIiwidGVtcCI6MjEuNX0=","aGVsbG8="]`), want},
		{"binary, encoded twice", "BatchBinary", str(str(`["aGVsbG8="]`)), []string{"hello"}},
		{"binary, bare array", "BatchBinary", `["aGVsbG8=",""]`, []string{"hello", ""}},
		{"binary, raw bytes", "BatchBinary", str(`["` + base64.StdEncoding.EncodeToString([]byte{0xff, 0x00, 0x80}) + `"]`), []string{"\xff\x00\x80"}},
		{"omitted, host form", "BatchJSON", str(`[{"deviceId":"d1","temp":21.5},{"b":[1,2]}]`), []string{`{"deviceId":"d1","temp":21.5}`, `{"b":[1,2]}`}},
		{"omitted, scalars keep their JSON text", "BatchJSON", str(`[42,"str",null,true,[1]]`), []string{"42", `"str"`, "null", "true", "[1]"}},
		{"omitted, encoded twice", "BatchJSON", str(str(`[{"a":1}]`)), []string{`{"a":1}`}},
		{"omitted, bare array", "BatchJSON", `[{"a":1}, {"b":2}]`, []string{`{"a":1}`, `{"b":2}`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := &recorder{}
			srv := testServer(t, rec, Options{})
			a := post(t, srv, "/"+tc.function, `{"Data":{"events":`+tc.data+`},"Metadata":{}}`)
			if a.status != http.StatusOK {
				t.Fatalf("status %d, body %s", a.status, a.body)
			}
			inv := rec.last(t)
			if got := bodies(inv); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("bodies:\n got %q\nwant %q", got, tc.want)
			}
			if inv.Trigger != EventHubBatch || inv.Function != tc.function {
				t.Errorf("Trigger %v Function %q", inv.Trigger, inv.Function)
			}
		})
	}
}

func TestEventHubBatchRejects(t *testing.T) {
	tests := []struct {
		name, function, body string
		wantInError          string
	}{
		{"empty body", "Batch", ``, "empty request body"},
		{"not an object", "Batch", `[1,2]`, "not a JSON object"},
		{"invalid JSON", "Batch", `{"Data":`, "request body"},
		{"binding missing", "Batch", `{"Data":{"evnts":"[]"},"Metadata":{}}`, `Data.events is missing (Data has keys ["evnts"])`},
		{"no Data", "Batch", `{"Metadata":{}}`, `Data.events is missing`},
		{"binding null", "Batch", `{"Data":{"events":null}}`, `Data.events is null`},
		{"string that is not an array", "Batch", `{"Data":{"events":"\"hello\""}}`, `value of Data.events: want a JSON array`},
		{"encoded three times", "Batch", `{"Data":{"events":` + str(str(str(`["a"]`))) + `}}`, `want a JSON array`},
		{"object", "Batch", `{"Data":{"events":{"a":1}}}`, `got an object`},
		{"broken array", "Batch", `{"Data":{"events":"[\"a\","}}`, `value of Data.events`},
		{"bad base64", "BatchBinary", `{"Data":{"events":"[\"aGVsbG8=\",\"%%%\"]"}}`, `element 1: dataType binary: not a base64 string`},
		{"event grid array", "Events", `{"Data":{"event":[{"id":"1"}]}}`, `value of Data.event: want a JSON object`},
		{"event grid string not object", "Events", `{"Data":{"event":"\"x\""}}`, `want a JSON object`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := &recorder{}
			srv := testServer(t, rec, Options{})
			a := post(t, srv, "/"+tc.function, tc.body)
			if a.status != http.StatusBadRequest {
				t.Fatalf("status %d, want 400; body %s", a.status, a.body)
			}
			if !strings.Contains(a.resp.Error, tc.wantInError) || len(a.resp.Logs) != 1 || a.resp.Logs[0] != a.resp.Error {
				t.Errorf("Error %q, Logs %q; want the error to contain %q", a.resp.Error, a.resp.Logs, tc.wantInError)
			}
			if rec.calls() != 0 {
				t.Error("Func was called for an undecodable request")
			}
		})
	}
}

func TestEventHubBatchMetadata(t *testing.T) {
	t0 := time.Date(2025, 1, 15, 10, 20, 30, 123e6, time.UTC)
	t1 := time.Date(2025, 1, 15, 10, 20, 30, 456e6, time.UTC)
	data := `"events":` + str(`["a","b"]`)
	tests := []struct {
		name      string
		meta      string
		partition string
		seqs      []int64
		times     []time.Time
		retry     [2]int
	}{
		{
			name: "host example",
			meta: `"PartitionContext":{"FullyQualifiedNamespace":"myns.servicebus.windows.net","EventHubName":"telemetry","ConsumerGroup":"$Default","PartitionId":"3"},
				"PartitionKeyArray":"[null,\"pk-1\"]","OffsetArray":"[\"4294967296\",\"4294967552\"]",
				"SequenceNumberArray":"[1041,1042]",
				"EnqueuedTimeUtcArray":"[\"2025-01-15T10:20:30.123\",\"2025-01-15T10:20:30.456\"]",
				"PropertiesArray":"[{\"source\":\"sim\"},{}]","SystemPropertiesArray":"[{},{}]",
				"sys":{"MethodName":"Batch","UtcNow":"2025-01-15T10:20:31.0012345Z","RandGuid":"2b7e151c-9c8e-4e5b-8a4e-1f2e3d4c5b6a"},
				"RetryContext":{"RetryCount":2,"MaxRetryCount":5,"Exception":null,"Instance":null,"State":{}},
				"SomethingNew":{"x":1}`,
			partition: "3", seqs: []int64{1041, 1042}, times: []time.Time{t0, t1}, retry: [2]int{2, 5},
		},
		{
			name:      "missing metadata",
			meta:      ``,
			partition: "", seqs: []int64{-1, -1}, times: []time.Time{{}, {}},
		},
		{
			name: "bare arrays, Z and offsets, no fraction, numeric partition id",
			meta: `"PartitionContext":{"PartitionId":7},"SequenceNumberArray":[5,6],
				"EnqueuedTimeUtcArray":["2025-01-15T10:20:30.123Z","2025-01-15T12:20:30+02:00"],
				"RetryContext":{"RetryCount":"1","MaxRetryCount":"-1"}`,
			partition: "7", seqs: []int64{5, 6}, times: []time.Time{t0, t1.Truncate(time.Second)}, retry: [2]int{1, -1},
		},
		{
			name: "arrays and objects encoded as strings, twice",
			meta: `"PartitionContext":` + str(`{"PartitionId":"1"}`) + `,"SequenceNumberArray":` + str(str(`[9,10]`)) +
				`,"EnqueuedTimeUtcArray":` + str(str(`["2025-01-15T10:20:30"]`)) + `,"RetryContext":` + str(`{"RetryCount":3}`),
			partition: "1", seqs: []int64{9, 10}, times: []time.Time{t0.Truncate(time.Second), {}}, retry: [2]int{3, 0},
		},
		{
			name: "malformed values are ignored",
			meta: `"PartitionContext":"oops","SequenceNumberArray":"[1,\"x\"]","EnqueuedTimeUtcArray":"[\"yesterday\",\"2025-01-15T10:20:30.456\"]",
				"RetryContext":{"RetryCount":"many"}`,
			partition: "", seqs: []int64{-1, -1}, times: []time.Time{{}, t1},
		},
		{
			name: "longer arrays than the batch",
			meta: `"SequenceNumberArray":"[1,2,3]","EnqueuedTimeUtcArray":"[\"2025-01-15T10:20:30.123\",\"2025-01-15T10:20:30.456\",\"2025-01-15T10:20:31\"]"`,
			seqs: []int64{1, 2}, times: []time.Time{t0, t1},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := &recorder{}
			srv := testServer(t, rec, Options{})
			a := post(t, srv, "/Batch", `{"Metadata":{`+tc.meta+`},"Data":{`+data+`}}`)
			if a.status != http.StatusOK {
				t.Fatalf("status %d, body %s", a.status, a.body)
			}
			inv := rec.last(t)
			if inv.Partition != tc.partition {
				t.Errorf("Partition %q, want %q", inv.Partition, tc.partition)
			}
			if inv.RetryCount != tc.retry[0] || inv.MaxRetryCount != tc.retry[1] {
				t.Errorf("RetryCount %d MaxRetryCount %d, want %v", inv.RetryCount, inv.MaxRetryCount, tc.retry)
			}
			for i, m := range inv.Messages {
				if m.SequenceNumber != tc.seqs[i] {
					t.Errorf("message %d: SequenceNumber %d, want %d", i, m.SequenceNumber, tc.seqs[i])
				}
				if !m.EnqueuedTime.Equal(tc.times[i]) || (!m.EnqueuedTime.IsZero() && m.EnqueuedTime.Location() != time.UTC) {
					t.Errorf("message %d: EnqueuedTime %v, want %v (UTC)", i, m.EnqueuedTime, tc.times[i])
				}
			}
		})
	}
}

func TestEventGrid(t *testing.T) {
	egEvent := `{"id":"9aeb0fdf","topic":"/subscriptions/s","subject":"/a/b","eventType":"Microsoft.Resources.ResourceDeleteSuccess","eventTime":"2025-01-15T10:20:30.1234567Z","data":{"operationName":"x","n":1.5},"dataVersion":"","metadataVersion":"1"}`
	ceEvent := `{"specversion":"1.0","type":"Microsoft.Resources.ResourceWriteSuccess","source":"/subscriptions/s","id":"1","time":"2025-01-15T10:20:30Z","subject":"/x","datacontenttype":"application/json","data":{"a":"b"}}`
	tests := []struct{ name, data, want string }{
		{"Event Grid schema", egEvent, egEvent},
		{"CloudEvents", ceEvent, ceEvent},
		{"string-encoded event", str(egEvent), egEvent},
		{"event encoded twice", str(str(ceEvent)), ceEvent},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := &recorder{}
			srv := testServer(t, rec, Options{})
			a := post(t, srv, "/Events", `{"Data":{"event":`+tc.data+`},"Metadata":{"data":{"operationName":"x"},"sys":{"MethodName":"Events"}}}`)
			if a.status != http.StatusOK {
				t.Fatalf("status %d, body %s", a.status, a.body)
			}
			inv := rec.last(t)
			if got := bodies(inv); len(got) != 1 || got[0] != tc.want {
				t.Errorf("bodies %q, want [%q]", got, tc.want)
			}
			if inv.Trigger != EventGrid || inv.Messages[0].SequenceNumber != -1 || !inv.Messages[0].EnqueuedTime.IsZero() {
				t.Errorf("Trigger %v, message %+v", inv.Trigger, inv.Messages[0])
			}
		})
	}
}

func TestTimer(t *testing.T) {
	rec := &recorder{}
	srv := testServer(t, rec, Options{})
	a := post(t, srv, "/Tick", `{"Data":{"timer":{"Schedule":{"AdjustForDST":true},"ScheduleStatus":null,"IsPastDue":false}},"Metadata":{"sys":{"MethodName":"Tick"},"RetryContext":{"RetryCount":1,"MaxRetryCount":2}}}`)
	if a.status != http.StatusOK {
		t.Fatalf("status %d, body %s", a.status, a.body)
	}
	inv := rec.last(t)
	if len(inv.Messages) != 0 || inv.Trigger != Timer || inv.RetryCount != 1 || inv.MaxRetryCount != 2 {
		t.Errorf("got %+v", inv)
	}
}

func TestResponses(t *testing.T) {
	t.Run("success shape and invocation id", func(t *testing.T) {
		rec := &recorder{do: func(ctx context.Context, inv *Invocation) (Result, error) {
			return Result{Logs: []string{"processed <2> events & more"}}, nil
		}}
		srv := testServer(t, rec, Options{})
		a := do(t, srv, http.MethodPost, "/Batch", []byte(`{"Data":{"events":"[\"a\"]"}}`),
			map[string]string{"X-Azure-Functions-InvocationId": "0f9c2f0e-6d1e-4b1e-9a55-3a1b2c3d4e5f"})
		want := `{"Outputs":{},"Logs":["processed <2> events & more"],"ReturnValue":null}` + "\n"
		if a.status != http.StatusOK || string(a.body) != want {
			t.Errorf("got %d %s, want 200 %s", a.status, a.body, want)
		}
		if id := rec.last(t).ID; id != "0f9c2f0e-6d1e-4b1e-9a55-3a1b2c3d4e5f" {
			t.Errorf("ID %q", id)
		}
	})
	t.Run("nil logs are an empty array", func(t *testing.T) {
		rec := &recorder{do: func(ctx context.Context, inv *Invocation) (Result, error) { return Result{}, nil }}
		srv := testServer(t, rec, Options{})
		a := post(t, srv, "/Tick", `{}`)
		if want := `{"Outputs":{},"Logs":[],"ReturnValue":null}` + "\n"; a.status != 200 || string(a.body) != want {
			t.Errorf("got %d %s, want 200 %s", a.status, a.body, want)
		}
	})
	t.Run("Func error is 500 with the same shape", func(t *testing.T) {
		rec := &recorder{do: func(ctx context.Context, inv *Invocation) (Result, error) {
			return Result{Logs: []string{"stored 1 of 2"}}, errors.New("store: cosmos unavailable")
		}}
		srv := testServer(t, rec, Options{})
		a := post(t, srv, "/Batch", `{"Data":{"events":"[\"a\"]"}}`)
		want := `{"Outputs":{},"Logs":["stored 1 of 2","error: store: cosmos unavailable"],"ReturnValue":null,"Error":"store: cosmos unavailable"}` + "\n"
		if a.status != http.StatusInternalServerError || string(a.body) != want {
			t.Errorf("got %d %s\nwant 500 %s", a.status, a.body, want)
		}
	})
	t.Run("panic is recovered as 500 and the server goes on", func(t *testing.T) {
		rec := &recorder{do: func(ctx context.Context, inv *Invocation) (Result, error) {
			if len(inv.Messages) == 1 {
				panic("boom")
			}
			return Result{}, nil
		}}
		srv := testServer(t, rec, Options{})
		a := post(t, srv, "/Batch", `{"Data":{"events":"[\"a\"]"}}`)
		if a.status != http.StatusInternalServerError || a.resp.Error != "panic in Batch: boom" || a.resp.Outputs == nil || a.resp.Logs == nil {
			t.Errorf("got %d %s", a.status, a.body)
		}
		if a := post(t, srv, "/Batch", `{"Data":{"events":"[\"a\",\"b\"]"}}`); a.status != http.StatusOK {
			t.Errorf("after the panic: status %d", a.status)
		}
	})
	t.Run("readiness", func(t *testing.T) {
		srv := testServer(t, &recorder{}, Options{})
		a := do(t, srv, http.MethodGet, "/", nil, nil)
		if a.status != http.StatusOK || string(a.body) != "{}" {
			t.Errorf("GET /: %d %q", a.status, a.body)
		}
		if a := do(t, srv, http.MethodHead, "/", nil, nil); a.status != http.StatusOK {
			t.Errorf("HEAD /: %d", a.status)
		}
		if a := do(t, srv, http.MethodPost, "/", []byte("{}"), nil); a.status != http.StatusMethodNotAllowed {
			t.Errorf("POST /: %d", a.status)
		}
	})
	t.Run("unknown function is 404", func(t *testing.T) {
		srv := testServer(t, &recorder{}, Options{})
		a := post(t, srv, "/api/Batch", `{}`)
		if a.status != http.StatusNotFound || a.resp.Error != `no function "api/Batch"` {
			t.Errorf("got %d %s", a.status, a.body)
		}
	})
	t.Run("function names match case-insensitively", func(t *testing.T) {
		rec := &recorder{}
		srv := testServer(t, rec, Options{})
		if a := post(t, srv, "/batch", `{"Data":{"Events":"[\"a\"]"}}`); a.status != http.StatusOK {
			t.Errorf("got %d %s", a.status, a.body)
		}
		if inv := rec.last(t); inv.Function != "Batch" || len(inv.Messages) != 1 {
			t.Errorf("got %+v", inv)
		}
	})
	t.Run("non-POST on a function is 405", func(t *testing.T) {
		rec := &recorder{}
		srv := testServer(t, rec, Options{})
		for _, m := range []string{http.MethodGet, http.MethodPut, http.MethodDelete} {
			a := do(t, srv, m, "/Batch", nil, nil)
			if a.status != http.StatusMethodNotAllowed || !strings.Contains(a.resp.Error, "method "+m+" not allowed") {
				t.Errorf("%s: got %d %s", m, a.status, a.body)
			}
		}
		if rec.calls() != 0 {
			t.Error("Func called")
		}
	})
}

func TestBodyLimit(t *testing.T) {
	rec := &recorder{}
	srv := testServer(t, rec, Options{MaxBodyBytes: 1024})
	big := `{"Data":{"events":"[\"` + strings.Repeat("x", 2000) + `\"]"}}`
	t.Run("known length", func(t *testing.T) {
		a := post(t, srv, "/Batch", big)
		if a.status != http.StatusOK || len(a.resp.Logs) != 1 || !strings.HasPrefix(a.resp.Logs[0], "ERROR batch not evaluated: the request body exceeds the limit of 1024 bytes") {
			t.Errorf("got %d %s", a.status, a.body)
		}
	})
	t.Run("chunked", func(t *testing.T) {
		req, err := http.NewRequest(http.MethodPost, srv.URL+"/Batch", io.MultiReader(strings.NewReader(big)))
		if err != nil {
			t.Fatal(err)
		}
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), "batch not evaluated") || !strings.Contains(string(b), "limit of 1024 bytes") ||
			resp.Header.Get("Content-Type") != "application/json" {
			t.Errorf("got %d %s", resp.StatusCode, b)
		}
	})
	t.Run("at the limit", func(t *testing.T) {
		body := `{"Data":{"events":"[\"` + strings.Repeat("x", 1024-len(`{"Data":{"events":"[\"\"]"}}`)) + `\"]"}}`
		if len(body) != 1024 {
			t.Fatalf("test body is %d bytes", len(body))
		}
		if a := post(t, srv, "/Batch", body); a.status != http.StatusOK {
			t.Errorf("got %d %s", a.status, a.body)
		}
	})
	if rec.calls() != 1 {
		t.Errorf("Func called %d times, want 1 (only at the limit)", rec.calls())
	}
}

func TestInvokeTimeout(t *testing.T) {
	var hasDeadline bool
	rec := &recorder{do: func(ctx context.Context, inv *Invocation) (Result, error) {
		_, hasDeadline = ctx.Deadline()
		return Result{}, nil
	}}
	srv := testServer(t, rec, Options{InvokeTimeout: time.Hour})
	if a := post(t, srv, "/Tick", `{}`); a.status != http.StatusOK || !hasDeadline {
		t.Errorf("status %d, deadline set %v", a.status, hasDeadline)
	}
}

func TestNewRejects(t *testing.T) {
	f := FuncOf(func(context.Context, *Invocation) (Result, error) { return Result{}, nil })
	tests := []struct {
		name   string
		routes []Route
		opts   Options
		want   string
	}{
		{"empty name", []Route{{Trigger: Timer, Func: f}}, Options{}, "route 0: empty Function"},
		{"slash", []Route{{Function: "api/X", Trigger: Timer, Func: f}}, Options{}, "folder name"},
		{"nil func", []Route{{Function: "X", Trigger: Timer}}, Options{}, "nil Func"},
		{"no binding", []Route{{Function: "X", Trigger: EventHubBatch, Func: f}}, Options{}, "needs the trigger binding name"},
		{"bad trigger", []Route{{Function: "X", Func: f}}, Options{}, "unknown Trigger 0"},
		{"bad data type", []Route{{Function: "X", Trigger: EventHubBatch, Binding: "e", DataType: 9, Func: f}}, Options{}, "unknown DataType 9"},
		{"duplicate", []Route{{Function: "X", Trigger: Timer, Func: f}, {Function: "x", Trigger: Timer, Func: f}}, Options{}, `routes "X" and "x"`},
		{"negative limit", nil, Options{MaxBodyBytes: -1}, "MaxBodyBytes is negative"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.routes, tc.opts)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestPortFromEnv(t *testing.T) {
	t.Setenv("FUNCTIONS_CUSTOMHANDLER_PORT", "")
	t.Setenv("FUNCTIONS_HTTPWORKER_PORT", "")
	if p, ok := PortFromEnv(); ok || p != "" {
		t.Errorf("unset: %q %v", p, ok)
	}
	t.Setenv("FUNCTIONS_HTTPWORKER_PORT", "4001")
	if p, ok := PortFromEnv(); !ok || p != "4001" {
		t.Errorf("legacy only: %q %v", p, ok)
	}
	t.Setenv("FUNCTIONS_CUSTOMHANDLER_PORT", "4002")
	if p, ok := PortFromEnv(); !ok || p != "4002" {
		t.Errorf("both: %q %v", p, ok)
	}
}

func TestParseHostTime(t *testing.T) {
	tests := []struct {
		in   string
		want time.Time
	}{
		{"2025-01-15T10:20:30", time.Date(2025, 1, 15, 10, 20, 30, 0, time.UTC)},
		{"2025-01-15T10:20:30.123", time.Date(2025, 1, 15, 10, 20, 30, 123e6, time.UTC)},
		{"2025-01-15T10:20:30.1234567", time.Date(2025, 1, 15, 10, 20, 30, 123456700, time.UTC)},
		{"2025-01-15T10:20:30.123Z", time.Date(2025, 1, 15, 10, 20, 30, 123e6, time.UTC)},
		{"2025-01-15T10:20:30+00:00", time.Date(2025, 1, 15, 10, 20, 30, 0, time.UTC)},
		{"2025-01-15T12:20:30.5+02:00", time.Date(2025, 1, 15, 10, 20, 30, 5e8, time.UTC)},
	}
	for _, tc := range tests {
		got, err := ParseHostTime(tc.in)
		if err != nil || !got.Equal(tc.want) || got.Location() != time.UTC {
			t.Errorf("ParseHostTime(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{"", "2025-01-15", "10/01/2025 10:20:30", "2025-01-15T10:20:30 +0200"} {
		if _, err := ParseHostTime(bad); err == nil {
			t.Errorf("ParseHostTime(%q): no error", bad)
		}
	}
}
