package handler

import (
	"encoding/json"
	"slices"
	"testing"
)

// isHostRequestV1 is IsHostRequest as encoding/json reads the envelope: the
// reference the one-pass reading must agree with.
func isHostRequestV1(body []byte) ([]string, bool) {
	var env struct {
		Data     map[string]json.RawMessage `json:"Data"`
		Metadata map[string]json.RawMessage `json:"Metadata"`
	}
	if err := json.Unmarshal(body, &env); err != nil || env.Data == nil || env.Metadata == nil {
		return nil, false
	}
	var keys []string
	for k := range env.Data {
		keys = append(keys, k)
	}
	return keys, true
}

var hostRequestCases = []string{
	`{"Data":{"events":"[\"{}\"]"},"Metadata":{"sys":{"MethodName":"f"}}}`,
	`{"Metadata":{},"Data":{"event":{"id":"1"}}}`,
	`{"data":{"events":"x"},"METADATA":{}}`,
	`{"Data":{"a":1},"Data":{"b":2},"Metadata":{}}`,
	`{"Data":{"a":1},"Metadata":{},"Data":null}`,
	`{"Data":null,"Metadata":{}}`,
	`{"Data":"text","Metadata":{}}`,
	`{"Data":{},"Metadata":[]}`,
	`{"Data":{}}`,
	`{"Data":{},"Metadata":{}}`,
	`{"Data":{"events":"\ud800"},"Metadata":{"x":"` + "\xff" + `"}}`,
	`{"Data":{"events":tru},"Metadata":{}}`,
	`{"Data":{"events":"x"},"Metadata":{}} trailing`,
	`{"Data":{"events":"x"},"Metadata":{}}   `,
	`{"Data":{"e":1,"e":2},"Metadata":{"m":{}}}`,
	`{"Other":1,"Data":{"events":[1,2,{"a":[]}]},"Metadata":{"k":null}}`,
	`[{"Data":{},"Metadata":{}}]`,
	`{"Data":{"events":"x"},"Metadata":{"a":1,}}`,
	`{"Data":{"ev\u0065nts":"x"},"Metadata":{}}`,
	`{"D\u0061ta":{"events":"x"},"Metadata":{}}`,
	`{"Data":{"events":"x"},"Metadata":{"a":01}}`,
	``,
	`null`,
}

func sameHostRequest(t *testing.T, body []byte) {
	t.Helper()
	wantKeys, wantOK := isHostRequestV1(body)
	gotKeys, gotOK := IsHostRequest(body)
	slices.Sort(wantKeys)
	slices.Sort(gotKeys)
	if gotOK != wantOK || !slices.Equal(gotKeys, wantKeys) {
		t.Fatalf("IsHostRequest(%q) = %q, %v; encoding/json reads %q, %v", body, gotKeys, gotOK, wantKeys, wantOK)
	}
}

// TestIsHostRequestIsEncodingJSON: the one-pass IsHostRequest answers as
// encoding/json's reading of the envelope does.
func TestIsHostRequestIsEncodingJSON(t *testing.T) {
	accepted := 0
	for _, c := range hostRequestCases {
		sameHostRequest(t, []byte(c))
		if _, ok := IsHostRequest([]byte(c)); ok {
			accepted++
		}
	}
	// Both answers occur: the cases test something.
	if accepted == 0 || accepted == len(hostRequestCases) {
		t.Fatalf("%d of %d cases accepted", accepted, len(hostRequestCases))
	}
}

func FuzzIsHostRequest(f *testing.F) {
	for _, c := range hostRequestCases {
		f.Add([]byte(c))
	}
	f.Fuzz(func(t *testing.T, body []byte) { sameHostRequest(t, body) })
}

func benchIsHostRequest(b *testing.B, is func([]byte) ([]string, bool)) {
	req, _ := corpusRequest(b, 100)
	b.SetBytes(int64(len(req)))
	b.ReportAllocs()
	for b.Loop() {
		if keys, ok := is(req); !ok || len(keys) != 1 || keys[0] != "events" {
			b.Fatalf("IsHostRequest = %q, %v", keys, ok)
		}
	}
}

// BenchmarkIsHostRequest tells a captured 100-event request (about 8 MB)
// from a message, as scan does for every object that mentions "Metadata".
func BenchmarkIsHostRequest(b *testing.B) { benchIsHostRequest(b, IsHostRequest) }

// BenchmarkIsHostRequestEncodingJSON is the same with encoding/json, for
// comparison.
func BenchmarkIsHostRequestEncodingJSON(b *testing.B) { benchIsHostRequest(b, isHostRequestV1) }
