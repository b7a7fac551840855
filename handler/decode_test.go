package handler

import (
	"bytes"
	"testing"
)

// TestBodiesDoNotAliasTheRequest: the server reuses its request buffers, and
// a Func owns the bodies it is given, so no body may share memory with the
// request, whatever form the host used.
func TestBodiesDoNotAliasTheRequest(t *testing.T) {
	eh := Route{Function: "F", Trigger: EventHubBatch, Binding: "events"}
	eg := Route{Function: "G", Trigger: EventGrid, Binding: "event"}
	for _, tc := range []struct {
		name  string
		route Route
		req   string
		want  []string
	}{
		{"batch as a string", eh, `{"Data":{"events":"[\"{\\\"a\\\":1}\",\"{\\\"b\\\":2}\"]"},"Metadata":{}}`, []string{`{"a":1}`, `{"b":2}`}},
		{"batch as a bare array", eh, `{"Data":{"events":["{\"a\":1}","{\"b\":2}"]},"Metadata":{}}`, []string{`{"a":1}`, `{"b":2}`}},
		{"event as an object", eg, `{"Data":{"event":{"id":"e1"}},"Metadata":{}}`, []string{`{"id":"e1"}`}},
		{"event as a string", eg, `{"Data":{"event":"{\"id\":\"e1\"}"},"Metadata":{}}`, []string{`{"id":"e1"}`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := []byte(tc.req)
			inv, _, err := decodeInvocation(&tc.route, req)
			if err != nil {
				t.Fatal(err)
			}
			copy(req, bytes.Repeat([]byte("x"), len(req)))
			if len(inv.Messages) != len(tc.want) {
				t.Fatalf("%d messages, want %d", len(inv.Messages), len(tc.want))
			}
			for i, m := range inv.Messages {
				if string(m.Body) != tc.want[i] {
					t.Errorf("message %d = %q after the request was overwritten, want %q", i, m.Body, tc.want[i])
				}
			}
		})
	}
}
