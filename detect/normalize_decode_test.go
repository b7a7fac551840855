package detect

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/tripline/tripline/bench/corpus"
)

// decodeObjectStd is what decodeObjectFast must agree with.
func decodeObjectStd(s string) (map[string]any, error) {
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var m map[string]any
	err := dec.Decode(&m)
	return m, err
}

// checkDecode fails when decodeObjectFast accepts s and decodes it
// differently from encoding/json; it reports whether the fast path took s.
func checkDecode(t *testing.T, s string) bool {
	t.Helper()
	got, ok := decodeObjectFast(s)
	if !ok {
		return false
	}
	want, err := decodeObjectStd(s)
	if err != nil || want == nil {
		t.Fatalf("fast decoder accepted %q, encoding/json: %v", s, err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("decode of %q:\nfast          %#v\nencoding/json %#v", s, got, want)
	}
	return true
}

var decodeCases = []string{
	`{}`, ` {"a":1} `, `{"a":1} trailing`, `{"a":{}}{"b":2}`, `{"a":[]}`, `{"a":[1,"x",true,false,null,{"b":[[]]}]}`,
	`{"a":1,"a":2}`, `{"":""}`, `{"n":-0.5e+7,"m":0,"o":1E3,"p":-12.25}`,
	`{"e":"\u0041\/\\\"\n\t\r\b\f","f":"\u00e9\u2028"}`, `{"k\u0065y":"v"}`, `{"s":"Økafor 日本 ı ſ K"}`,
	`{"log":"{\"kind\":\"Event\",\"user\":{\"username\":\"x\"}}\n"}`,
	// encoding/json's judgement: the fast decoder must step aside or agree.
	`{"a":"\ud83d\ude00"}`, `{"a":"\ud83d"}`, `{"a":"\xff"}`, `{"a":01}`, `{"a":tru}`, `{"a":1,}`, `{"a" 1}`,
	`{"a":"x` + "\x01" + `"}`, `{"a":"\x"}`, `{"a":"\u00g0"}`, `[1]`, `null`, `"s"`, ``, `{`, `{"a":-}`, `{"a":1.}`,
	`{"a":1e}`, "\xef\xbb\xbf{}", `{"a":truex}`, `{"a":[1 2]}`, `{"a":[1,]}`, strings.Repeat(`{"a":`, 600) + `1` + strings.Repeat(`}`, 600),
}

func TestDecodeObjectFast(t *testing.T) {
	for _, s := range decodeCases {
		checkDecode(t, s)
	}
	for _, s := range []string{`{}`, `{"a":[1,{"b":"\u0041"}],"c":"Økafor"}`, `{"a":1} x`} {
		if !checkDecode(t, s) {
			t.Errorf("fast decoder declined %q", s)
		}
	}
}

// TestNormalizeFastDecodeSame checks Normalize with the fast decoder
// against Normalize on encoding/json's maps, on the differential cases.
func TestNormalizeFastDecodeSame(t *testing.T) {
	for _, name := range sortedKeys(diffCases()) {
		SplitRecords([]byte(diffCases()[name]), func(r RawRecord) {
			checkDecode(t, string(r.Bytes))
			if m, err := decodeObjectStd(string(r.Bytes)); err == nil && m != nil {
				if p, ok := m["properties"].(map[string]any); ok {
					if l, ok := p["log"].(string); ok {
						checkDecode(t, l)
					}
				}
			}
		}, func(int, int64, string) {})
	}
}

func FuzzDecodeObjectFast(f *testing.F) {
	for _, s := range decodeCases {
		f.Add(s)
	}
	for _, c := range diffCases() {
		f.Add(c)
	}
	f.Fuzz(func(t *testing.T, s string) {
		checkDecode(t, s)
	})
}

// TestNormalizeCorpusSame normalizes records of the benchmark corpus from
// the fast decoder's maps and from encoding/json's: the events must be equal.
func TestNormalizeCorpusSame(t *testing.T) {
	c := corpus.Generate(corpus.Options{Messages: 4, MatchPerMille: 100})
	msgs := c.Bodies
	for _, name := range sortedKeys(diffCases()) {
		msgs = append(msgs, []byte(diffCases()[name]))
	}
	for _, m := range msgs {
		SplitRecords(m, func(r RawRecord) {
			got, gerr := Normalize(r.Bytes)
			rec, err := decodeObjectStd(string(r.Bytes))
			if err != nil || rec == nil {
				if gerr == nil {
					t.Errorf("Normalize accepted %q", r.Bytes)
				}
				return
			}
			want, werr := normalizeDecoded(rec, r.Bytes)
			if (gerr == nil) != (werr == nil) || gerr != nil && gerr.Error() != werr.Error() {
				t.Errorf("errors differ on %q: %v, %v", r.Bytes, gerr, werr)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("events differ on %q:\n%#v\n%#v", r.Bytes, got, want)
			}
		}, func(int, int64, string) {})
	}
}
