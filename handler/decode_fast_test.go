package handler

import (
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/tripline/tripline/internal/hostsim"
)

var fastRoute = Route{Function: "ActivityLogEvents", Trigger: EventHubBatch, Binding: "events", DataType: DataTypeString}

// checkFastDecode fails when the fast path accepts body and decodes it
// differently from the general path.
func checkFastDecode(t *testing.T, body []byte) (fast bool) {
	t.Helper()
	r := fastRoute
	inv, warns, ok := decodeEventHubFast(&r, body)
	if !ok {
		return false
	}
	want, wantWarns, err := decodeInvocationGeneral(&r, body)
	if err != nil {
		t.Fatalf("fast path accepted what the general path rejects (%v): %q", err, body)
	}
	if !reflect.DeepEqual(inv, want) {
		t.Fatalf("fast path decoded differently:\nfast    %+v\ngeneral %+v\nbody %q", inv, want, body)
	}
	if len(warns) != len(wantWarns) {
		t.Fatalf("warnings: fast %v, general %v", warns, wantWarns)
	}
	return true
}

// encodeBatch encodes bodies as the host does for ActivityLogEvents.
func encodeBatch(t testing.TB, bodies ...string) []byte {
	bs := make([][]byte, len(bodies))
	for i, b := range bodies {
		bs[i] = []byte(b)
	}
	req, err := hostsim.EncodeEventHubBatch("..", "ActivityLogEvents", bs, hostsim.BatchOptions{Seed: 7})
	if err != nil {
		t.Fatal(err)
	}
	return req
}

func TestFastDecodeMatchesGeneral(t *testing.T) {
	bodies := map[string][]string{
		"records":         {`{"records":[{"operationName":"A/B","properties":{"log":"{\"verb\":\"delete\",\"uri\":\"\\/x\\u0026y\"}"}}]}`, `{"records":[]}`},
		"escapes in body": {`{"a":"\u0041\/\\\"\n\t"}`, "plain text body", ""},
		"control chars":   {"a\x01b\tc\nd\re"},
		"non-ASCII":       {`{"name":"Dana Økafor ı ſ 日本"}`, "\u2028\u2029"},
		"invalid UTF-8":   {"a\xffb"},
		"many":            {"1", "2", "3", "4", "5", "6", "7", "8", "9", "10"},
		"backslash runs":  {`\\\\` + strings.Repeat("x", 21) + `\\"\\` + strings.Repeat("\\", 9) + `"`, strings.Repeat(`{"k":"v\"w"},`, 40) + `\`},
	}
	for name, bs := range bodies {
		t.Run(name, func(t *testing.T) {
			req := encodeBatch(t, bs...)
			fast := checkFastDecode(t, req)
			if !fast && name != "invalid UTF-8" && name != "control chars" {
				t.Errorf("fast path not taken for %s", name)
			}
			inv, err := DecodeRequest(fastRoute, req)
			if err != nil {
				t.Fatal(err)
			}
			for i, m := range inv.Messages {
				want := bs[i]
				if name == "invalid UTF-8" {
					want = strings.ToValidUTF8(want, "\uFFFD")
				}
				if string(m.Body) != want {
					t.Errorf("body %d = %q, want %q", i, m.Body, want)
				}
			}
		})
	}
	// Hand-written envelopes: the fast path must agree or step aside.
	for _, body := range []string{
		`{"Data":{"events":"[\"a\",\"b\"]"},"Metadata":{}}`,
		` { "Metadata" : {"SequenceNumberArray":"[1,2]"} , "Data" : { "events" : " [ \"a\" , \"b\" ] " } } `,
		`{"Data":{"events":"[\"a\\u0041\"]"},"Metadata":{}}`,
		`{"Data":{"events":"[\"\\\\u0041\\\/\"]"},"Metadata":{}}`,
		`{"Data":{"events":"[\"\\\\ud83d\\\\ude00\"]"},"Metadata":{}}`,
		`{"Data":{"events":"[null]"},"Metadata":{}}`,
		`{"Data":{"events":"[]"},"Metadata":{}}`,
		`{"Data":{"events":"[\"a\"]x"},"Metadata":{}}`,
		`{"Data":{"events":"[\"a\"]"},"Metadata":{}} x`,
		`{"Data":{"events":"[\"a\"]"},"Metadata":{"x":}}`,
		`{"Data":{"events":"\"[\\\"a\\\"]\""},"Metadata":{}}`,
		`{"data":{"events":"[\"a\"]"},"Metadata":{}}`,
		`{"Data":{"events":"[\"a\"]","other":1},"Metadata":{}}`,
		`{"Data":{"events":"[\"a\"]"},"Metadata":null}`,
		`{"Data":{"events":"[\"a\"]"}}`,
		`{"Data":{"events":"[\"a\\tb\"]"}}`,
		`{"Data":{"events":"[\"a\\\tb\"]"}}`,
	} {
		checkFastDecode(t, []byte(body))
	}
}

func FuzzFastDecode(f *testing.F) {
	f.Add([]byte(`{"records":[{"a":"\u0041\/"}]}`), uint8(2))
	f.Add([]byte("a\x00b\"c\\d\xffe"), uint8(1))
	f.Add([]byte(`{"Data":{"events":"[\"a\",\"b\"]"},"Metadata":{}}`), uint8(0))
	f.Fuzz(func(t *testing.T, data []byte, parts uint8) {
		// As is: an arbitrary request body.
		checkFastDecode(t, data)
		// As bodies of a host-encoded batch.
		var bodies []string
		n := int(parts%8) + 1
		for i := 0; i < n; i++ {
			lo, hi := len(data)*i/n, len(data)*(i+1)/n
			bodies = append(bodies, string(data[lo:hi]))
		}
		req := encodeBatch(t, bodies...)
		if checkFastDecode(t, req) {
			return
		}
		if utf8.Valid(data) {
			t.Errorf("fast path not taken for valid UTF-8 bodies %q", bodies)
		}
	})
}
