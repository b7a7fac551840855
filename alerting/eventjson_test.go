package alerting

import (
	"bytes"
	"encoding/json"
	"math"
	"testing"
)

// sameAsEncodingJSON fails unless appendEvent writes v as encoding/json
// does, and fails where it fails.
func sameAsEncodingJSON(t *testing.T, v any) {
	t.Helper()
	want, wantErr := json.Marshal(v)
	got, err := appendEvent([]byte("prefix"), v)
	if (err != nil) != (wantErr != nil) {
		t.Fatalf("%#v: error %v, encoding/json's %v", v, err, wantErr)
	}
	if wantErr == nil && !bytes.Equal(got, append([]byte("prefix"), want...)) {
		t.Fatalf("%#v:\nappendEvent  %s\nencoding/json prefix%s", v, got, want)
	}
}

// TestAppendEventIsEncodingJSON: every kind of value an event holds, and
// some it never does, in the bytes encoding/json writes.
func TestAppendEventIsEncodingJSON(t *testing.T) {
	strs := []string{"", "plain", "Microsoft.Kubernetes/connectedClusters", "a<b>&c", `quote " and \ backslash`,
		"tab\tnewline\n\x00\x1f\x7f", "é ü 日本", "\u2028\u2029", "bad \xff utf-8", "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name"}
	nums := []json.Number{"0", "7", "-12", "123456789012345678901234567890", "012", "-0", "1.5", "-3e2", "1E+2", "", "1.", "+1", "abc", "0x10"}
	for _, s := range strs {
		sameAsEncodingJSON(t, s)
		sameAsEncodingJSON(t, map[string]any{s: s})
	}
	for _, n := range nums {
		sameAsEncodingJSON(t, n)
		sameAsEncodingJSON(t, []any{n})
	}
	for _, v := range []any{nil, true, false, 1.5, 1e21, 1e-7, float32(0.1), 42, int64(-1), uint8(3), math.NaN(),
		map[string]any(nil), []any(nil), map[string]any{}, []any{}, map[string]string{"b": "<", "a": "1"}, []string{"x"},
		struct{ A int }{1}, map[string]any{"ch": make(chan int)}} {
		sameAsEncodingJSON(t, v)
	}
	// A normalized event's shape: nested maps with keys out of order.
	sameAsEncodingJSON(t, map[string]any{
		"z": "last", "a": []any{json.Number("1"), "x", nil, true, map[string]any{"y": 1.25, "b": []any{}}},
		"azure": map[string]any{"activitylogs": map[string]any{"operation_name": "MICROSOFT.KUBERNETES/CONNECTEDCLUSTERS/EVENTS.K8S.IO/EVENTS/DELETE",
			"identity": map[string]any{"claims": map[string]any{"http://schemas.microsoft.com/identity/claims/objectidentifier": "4f1c", "name": "Dana <dana@contoso>"}}}},
		"event": map[string]any{"duration": json.Number("1200000"), "outcome": "success"},
		"A":     "upper case sorts first", "é": "non-ASCII key sorts last",
	})
}

// FuzzAppendEvent: any JSON document, decoded as records are (UseNumber),
// is written by appendEvent as by encoding/json.
func FuzzAppendEvent(f *testing.F) {
	for _, s := range []string{`{"a":1,"b":[true,null,"x<y"],"c":{"d":-0.5e3}}`, `["\u2028","\ud800",012]`, `"é"`, `{"z":{},"a":[]}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.UseNumber()
		var v any
		if dec.Decode(&v) != nil {
			return
		}
		sameAsEncodingJSON(t, v)
	})
}
