package hostsim

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestRoundTrip(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"compact, order kept", `{ "b" : 1, "a" : [ true, false, null ], "c": {} }`, `{"b":1,"a":[true,false,null],"c":{}}`},
		{"strings and escapes", `{"s":"<&>\u00e9\n\"q\"","k\"ey":"v"}`, `{"s":"<&>é\n\"q\"","k\"ey":"v"}`},
		{"UTC date trims fraction zeros", `{"t":"2025-01-15T10:20:30.1200000Z"}`, `{"t":"2025-01-15T10:20:30.12Z"}`},
		{"UTC date without fraction", `{"t":"2025-01-15T10:20:30.000Z"}`, `{"t":"2025-01-15T10:20:30Z"}`},
		{"7 digits kept", `{"t":"2025-01-15T10:20:30.1234567Z"}`, `{"t":"2025-01-15T10:20:30.1234567Z"}`},
		{"8 digits are not a date", `{"t":"2025-01-15T10:20:30.12345678Z"}`, `{"t":"2025-01-15T10:20:30.12345678Z"}`},
		{"offset converted to host local time (UTC)", `["2025-01-15T12:20:30.5+02:00","2025-01-15T10:20:30-0130","2025-01-15T10:20:30+01"]`,
			`["2025-01-15T10:20:30.5+00:00","2025-01-15T11:50:30+00:00","2025-01-15T09:20:30+00:00"]`},
		{"no zone stays unspecified", `["2025-01-15T10:20:30.100"]`, `["2025-01-15T10:20:30.1"]`},
		{"keys are never dates", `{"2025-01-15T10:20:30.100Z":1}`, `{"2025-01-15T10:20:30.100Z":1}`},
		{"not dates", `["2025-01-15","2025-01-15 10:20:30Z","2025-13-15T10:20:30Z","x2025-01-15T10:20:30Z"]`,
			`["2025-01-15","2025-01-15 10:20:30Z","2025-13-15T10:20:30Z","x2025-01-15T10:20:30Z"]`},
		{"integers unchanged", `[0,-1,12345678901234567890]`, `[0,-1,12345678901234567890]`},
		{"floats re-printed", `[21.50,1.0,1e3,0.1,1e15,1.5e-6,-2.5E+2]`, `[21.5,1.0,1000.0,0.1,1E+15,1.5E-06,-250.0]`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := roundTrip([]byte(tc.in))
			if err != nil || string(got) != tc.want {
				t.Errorf("roundTrip(%s)\n got %s, %v\nwant %s", tc.in, got, err, tc.want)
			}
		})
	}
	if _, err := roundTrip([]byte(`{"a":`)); err == nil {
		t.Error("truncated JSON: no error")
	}
}

func TestParseTimeSpan(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
	}{
		{"00:00:05", 5 * time.Second},
		{"00:15:00", 15 * time.Minute},
		{"01:02", time.Hour + 2*time.Minute},
		{"1.02:03:04.5", 26*time.Hour + 3*time.Minute + 4500*time.Millisecond},
		{"2", 48 * time.Hour},
		{"00:00:00.0000001", 100 * time.Nanosecond},
	}
	for _, tc := range tests {
		if got, err := parseTimeSpan(tc.in); err != nil || got != tc.want {
			t.Errorf("parseTimeSpan(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{"", "5s", "24:00:00", "00:60:00", "00:00:61", "-00:00:01", "1:2:3:4", "00:00:00.12345678"} {
		if _, err := parseTimeSpan(bad); err == nil {
			t.Errorf("parseTimeSpan(%q): no error", bad)
		}
	}
}

func TestExpand(t *testing.T) {
	env := map[string]string{"A": "1", "B_C": "x y"}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	for in, want := range map[string]string{
		"%A%":           "1",
		"--x=%A%/%B_C%": "--x=1/x y",
		"%MISSING%":     "%MISSING%",
		"100%":          "100%",
		"no refs":       "no refs",
	} {
		if got := expand(in, lookup); got != want {
			t.Errorf("expand(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestParseRetry(t *testing.T) {
	n := func(i int) *int { return &i }
	p, err := parseRetry("fixedDelay", n(3), "00:00:10", "", "")
	if err != nil || *p != (retryPolicy{maxRetryCount: 3, delay: 10 * time.Second}) {
		t.Errorf("fixedDelay: %+v %v", p, err)
	}
	p, err = parseRetry("ExponentialBackoff", n(-1), "", "00:00:05", "00:15:00")
	if err != nil || *p != (retryPolicy{exponential: true, maxRetryCount: -1, min: 5 * time.Second, max: 15 * time.Minute}) {
		t.Errorf("exponentialBackoff: %+v %v", p, err)
	}
	for _, bad := range []struct {
		strategy  string
		max       *int
		d, lo, hi string
	}{
		{"fixedDelay", nil, "00:00:10", "", ""},
		{"fixedDelay", n(-2), "00:00:10", "", ""},
		{"fixedDelay", n(1), "", "", ""},
		{"exponentialBackoff", n(1), "", "00:10:00", "00:01:00"},
		{"linear", n(1), "00:00:10", "", ""},
	} {
		if _, err := parseRetry(bad.strategy, bad.max, bad.d, bad.lo, bad.hi); err == nil {
			t.Errorf("parseRetry(%+v): no error", bad)
		}
	}
}

func TestBackoff(t *testing.T) {
	fixed := newBackoff(&retryPolicy{maxRetryCount: 3, delay: 2 * time.Second}, 1)
	for i := 0; i < 3; i++ {
		if d := fixed(); d != 2*time.Second {
			t.Errorf("fixed delay %d: %v", i, d)
		}
	}
	lo, hi := 5*time.Second, 15*time.Minute
	exp := newBackoff(&retryPolicy{exponential: true, maxRetryCount: -1, min: lo, max: hi}, 7)
	if d := exp(); d != lo {
		t.Errorf("first exponential delay %v, want the minimum %v", d, lo)
	}
	reached := false
	for k := 1; k < 20; k++ {
		d := exp()
		if reached {
			if d != hi {
				t.Fatalf("delay %d: %v after reaching the maximum", k, d)
			}
			continue
		}
		if d == hi {
			reached = true
			continue
		}
		step := float64(int64(1)<<(k-1)) * float64(lo)
		if d < lo+time.Duration(0.8*step) || d >= lo+time.Duration(1.2*step) {
			t.Errorf("delay %d: %v outside [min+0.8·2^%d·min, min+1.2·2^%d·min)", k, d, k-1, k-1)
		}
	}
	if !reached {
		t.Error("never reached the maximum")
	}
}

func TestJudge(t *testing.T) {
	tests := []struct {
		name   string
		a      Attempt
		ok     bool
		fail   string
		wantLg []string
	}{
		{"success", Attempt{Status: 200, ContentType: "application/json", Body: []byte(`{"Outputs":{},"Logs":["a"],"ReturnValue":null}`)}, true, "", []string{"a"}},
		{"charset and text/json", Attempt{Status: 204, ContentType: "text/json; charset=utf-8", Body: []byte(`{}`)}, true, "", nil},
		{"500 logs are dropped", Attempt{Status: 500, ContentType: "application/json", Body: []byte(`{"Logs":["x"]}`)}, false, "Response status code does not indicate success: 500 (Internal Server Error).", nil},
		{"text/plain", Attempt{Status: 200, ContentType: "text/plain", Body: []byte(`{}`)}, false, "media type 'text/plain'", nil},
		{"no content type", Attempt{Status: 200, Body: []byte(`{}`)}, false, "media type ''", nil},
		{"empty body", Attempt{Status: 200, ContentType: "application/json"}, false, "empty 2xx body", nil},
		{"null body", Attempt{Status: 200, ContentType: "application/json", Body: []byte("null")}, false, "empty 2xx body", nil},
		{"invalid JSON", Attempt{Status: 200, ContentType: "application/json", Body: []byte(`{"Logs":`)}, false, "Invalid HttpResponseMessage", nil},
		{"array", Attempt{Status: 200, ContentType: "application/json", Body: []byte(`[]`)}, false, "Invalid HttpResponseMessage", nil},
		{"Logs not strings", Attempt{Status: 200, ContentType: "application/json", Body: []byte(`{"Logs":[{}]}`)}, false, "Invalid HttpResponseMessage", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := tc.a
			judge(&a)
			if a.Success != tc.ok || !strings.Contains(a.Failure, tc.fail) || (tc.ok && a.Failure != "") || !reflect.DeepEqual(a.Logs, tc.wantLg) {
				t.Errorf("Success %v Failure %q Logs %q; want %v %q %q", a.Success, a.Failure, a.Logs, tc.ok, tc.fail, tc.wantLg)
			}
		})
	}
}

// referenceExample is the request body of functions-host-protocol.md §2
// ("Example request", dataType "string", 2 events).
const referenceExample = `{
  "Data": {
    "events": "[\"{\\\"deviceId\\\":\\\"d1\\\",\\\"temp\\\":21.5}\",\"hello\"]"
  },
  "Metadata": {
    "PartitionContext": {
      "FullyQualifiedNamespace": "myns.servicebus.windows.net",
      "EventHubName": "telemetry",
      "ConsumerGroup": "$Default",
      "PartitionId": "0"
    },
    "PartitionKeyArray": "[null,\"pk-1\"]",
    "OffsetArray": "[\"4294967296\",\"4294967552\"]",
    "SequenceNumberArray": "[1041,1042]",
    "EnqueuedTimeUtcArray": "[\"2025-01-15T10:20:30.123\",\"2025-01-15T10:20:30.456\"]",
    "PropertiesArray": "[{\"source\":\"sim\"},{}]",
    "SystemPropertiesArray": "[{\"x-opt-sequence-number\":1041,\"x-opt-offset\":4294967296,\"x-opt-enqueued-time\":\"2025-01-15T10:20:30.123Z\",\"SequenceNumber\":1041,\"Offset\":4294967296,\"PartitionKey\":null,\"EnqueuedTimeUtc\":\"2025-01-15T10:20:30.123\"},{\"x-opt-sequence-number\":1042,\"x-opt-offset\":4294967552,\"x-opt-enqueued-time\":\"2025-01-15T10:20:30.456Z\",\"x-opt-partition-key\":\"pk-1\",\"SequenceNumber\":1042,\"Offset\":4294967552,\"PartitionKey\":\"pk-1\",\"EnqueuedTimeUtc\":\"2025-01-15T10:20:30.456\"}]",
    "sys": {
      "MethodName": "ProcessTelemetry",
      "UtcNow": "2025-01-15T10:20:31.0012345Z",
      "RandGuid": "2b7e151c-9c8e-4e5b-8a4e-1f2e3d4c5b6a"
    }
  }
}`

// TestEncodeMatchesReference encodes the reference example's batch and
// compares every value, string for string (key order aside; RandGuid is
// random).
func TestEncodeMatchesReference(t *testing.T) {
	fc := &functionConfig{name: "ProcessTelemetry", triggerType: "eventHubTrigger", binding: "events", dataType: "string", cardinality: "many"}
	opts := BatchOptions{
		Namespace: "myns.servicebus.windows.net", EventHubName: "telemetry",
		FirstSequenceNumber: 1041, Offsets: []int64{4294967296, 4294967552},
		EnqueuedTimes: []time.Time{time.Date(2025, 1, 15, 10, 20, 30, 123e6, time.UTC), time.Date(2025, 1, 15, 10, 20, 30, 456e6, time.UTC)},
		PartitionKeys: []string{"", "pk-1"},
		Properties:    []map[string]any{{"source": "sim"}},
		Now:           time.Date(2025, 1, 15, 10, 20, 31, 1234500, time.UTC),
	}
	got, err := encodeBatch(fc, [][]byte{[]byte(`{"deviceId":"d1","temp":21.5}`), []byte("hello")}, &opts, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	var g, w map[string]map[string]any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("encoded body is not JSON: %v\n%s", err, got)
	}
	if err := json.Unmarshal([]byte(referenceExample), &w); err != nil {
		t.Fatal(err)
	}
	gsys, wsys := g["Metadata"]["sys"].(map[string]any), w["Metadata"]["sys"].(map[string]any)
	if len(gsys["RandGuid"].(string)) != 36 {
		t.Errorf("RandGuid %q", gsys["RandGuid"])
	}
	delete(gsys, "RandGuid")
	delete(wsys, "RandGuid")
	if !reflect.DeepEqual(g, w) {
		gj, _ := json.MarshalIndent(g, "", "  ")
		wj, _ := json.MarshalIndent(w, "", "  ")
		t.Errorf("encoded batch differs from the reference:\n got %s\nwant %s", gj, wj)
	}
	// The same seed gives the same bytes; key order is not the written one.
	again, _ := encodeBatch(fc, [][]byte{[]byte(`{"deviceId":"d1","temp":21.5}`), []byte("hello")}, &opts, 0, nil)
	if string(again) != string(got) {
		t.Error("same seed, different encoding")
	}
	opts.Seed = 99
	other, _ := encodeBatch(fc, [][]byte{[]byte(`{"deviceId":"d1","temp":21.5}`), []byte("hello")}, &opts, 0, nil)
	if string(other) == string(got) {
		t.Error("different seeds, same key order")
	}
}

func TestEncodeDataTypes(t *testing.T) {
	bodies := [][]byte{[]byte(`{"a": 1.50, "t": "2025-01-15T10:20:30.100Z"}`), []byte("<&>"), {0xff, 0x00}}
	tests := []struct {
		dataType string
		bodies   [][]byte
		want     string // Data.events after one json.Unmarshal into a string
		wantErr  error
	}{
		{"string", bodies, `["{\"a\": 1.50, \"t\": \"2025-01-15T10:20:30.100Z\"}","<&>","` + "\uFFFD" + `\u0000"]`, nil},
		{"binary", bodies, `["eyJhIjogMS41MCwgInQiOiAiMjAyNS0wMS0xNVQxMDoyMDozMC4xMDBaIn0=","PCY+","/wA="]`, nil},
		{"", bodies[:1], `[{"a":1.5,"t":"2025-01-15T10:20:30.1Z"}]`, nil},
		{"", [][]byte{[]byte(" "), []byte(`"s"`), []byte("42")}, `[null,"s",42]`, nil},
		{"", bodies, "", ErrBinding},
	}
	for _, tc := range tests {
		fc := &functionConfig{name: "F", binding: "events", dataType: tc.dataType, cardinality: "many"}
		got, err := encodeBatch(fc, tc.bodies, &BatchOptions{}, 0, nil)
		if !errors.Is(err, tc.wantErr) {
			t.Errorf("dataType %q: err %v, want %v", tc.dataType, err, tc.wantErr)
			continue
		}
		if err != nil {
			continue
		}
		var env struct{ Data map[string]string }
		if err := json.Unmarshal(got, &env); err != nil {
			t.Fatal(err)
		}
		if env.Data["events"] != tc.want {
			t.Errorf("dataType %q: Data.events\n got %s\nwant %s", tc.dataType, env.Data["events"], tc.want)
		}
	}
}

func TestEncodeRetryContext(t *testing.T) {
	fc := &functionConfig{name: "F", binding: "events", dataType: "string", retry: &retryPolicy{maxRetryCount: 5, delay: time.Second}}
	for n, prev := range []*Attempt{nil, {Failure: "Response status code does not indicate success: 500 (Internal Server Error)."}} {
		body, err := encodeBatch(fc, [][]byte{[]byte("x")}, &BatchOptions{}, n, prev)
		if err != nil {
			t.Fatal(err)
		}
		var env struct {
			Metadata struct {
				RetryContext struct {
					RetryCount, MaxRetryCount int
					Exception                 *struct {
						Message        string
						InnerException struct{ Message string }
					}
					Instance any
					State    map[string]any
				}
			}
		}
		if err := json.Unmarshal(body, &env); err != nil {
			t.Fatal(err)
		}
		rc := env.Metadata.RetryContext
		if rc.RetryCount != n || rc.MaxRetryCount != 5 || rc.Instance != nil || rc.State == nil || (n == 0) != (rc.Exception == nil) {
			t.Errorf("attempt %d: %+v", n, rc)
		}
		if n == 1 && rc.Exception.InnerException.Message != prev.Failure {
			t.Errorf("attempt 1: inner exception %q", rc.Exception.InnerException.Message)
		}
	}
}
