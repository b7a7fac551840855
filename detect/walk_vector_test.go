package detect

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/tripline/tripline/bench/corpus"
)

// escapedTwice returns the batch text (Data.<binding>'s content) holding
// msg as its only element, and the offset where msg's text starts.
func escapedTwice(msg []byte) ([]byte, int) {
	enc := func(v any) []byte {
		var buf bytes.Buffer
		e := json.NewEncoder(&buf)
		e.SetEscapeHTML(false)
		_ = e.Encode(v)
		return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
	}
	inner := enc([]string{string(msg)})
	outer := enc(string(inner))
	return outer[1 : len(outer)-1], 3
}

// compareWalks runs walkVector and walk on the same text; when walkVector
// reads it, it must find what walk finds, and at least walk's hazards.
// It reports whether walkVector read it.
func compareWalks(t *testing.T, text []byte, start int) bool {
	t.Helper()
	v := &walker{depth: 2}
	got, ok := v.walkVector(text, start)
	if !ok {
		return false
	}
	s := &walker{depth: 2}
	want := s.walk(text, start)
	if want.errAt >= 0 || got.end != want.end || !reflect.DeepEqual(v.spans, s.spans) && (len(v.spans) > 0 || len(s.spans) > 0) {
		t.Fatalf("%q from %d:\nwalkVector end %d spans %v\nwalk       end %d spans %v (break at %d: %s)", text, start, got.end, v.spans, want.end, s.spans, want.errAt, want.reason)
	}
	if s.hazards&^v.hazards != 0 {
		t.Fatalf("%q: walkVector hazards %b, walk %b", text, v.hazards, s.hazards)
	}
	return true
}

// TestWalkVectorAgreesWithWalk: on the messages of the benchmark corpus,
// which it must all read, and on messages made to be awkward (which it may
// leave to walk), walkVector cuts what walk cuts.
func TestWalkVectorAgreesWithWalk(t *testing.T) {
	if !vectorWalk {
		t.Skip("no AVX2 here: walkVector always leaves messages to walk")
	}
	c := corpus.Generate(corpus.Options{Messages: 50})
	for i, m := range c.Bodies {
		text, start := escapedTwice(m)
		if !compareWalks(t, text, start) {
			t.Fatalf("corpus message %d was left to walk", i)
		}
	}
	read := 0
	for _, m := range []string{
		`{"records":[]}`,
		`{"records":[{}]}`,
		`{ "records" : [ {"a":1} , {"b":[1,{"c":"}"}]} ] } `,
		`{"records":[{"a":"x\"y","b":"\\","c":"\\\"","d":"]}{["}]}`,
		`{"records":[{"a":"\u0041","b":"é","c":"a\/b"}]}`,
		`{"records":[{"a":"line\nbreak\ttab"}]}`,
		`{"records":[{"a":1},]}`,
		`{"records":[,{"a":1}]}`,
		`{"records":[{"a":1},,{"b":2}]}`,
		`{"records":[{"a":1} {"b":2}]}`,
		`{"records":[42,{"a":1}]}`,
		`{"records":[{"a":1}],"more":2}`,
		`{"records":[{"a":1}]} {"records":[]}`,
		`{"records":[{"a":[1}]}`,
		`{"records":[{"a":{1]}]}`,
		`{"records":[{"a":1}`,
		`{"records":[{"a":"unterminated}]}`,
		`{"records":{"a":1}}`,
		`{"other":[{"a":1}]}`,
		"{\"records\":\n[{\"a\":1}]}",
		`[{"a":1}]`,
		`{"records":[{"k` + string(bytes.Repeat([]byte("x"), 61)) + `":"v"}]}`,
	} {
		// Shifted so that each part falls on every side of a block edge.
		for pad := 0; pad < 64; pad += 7 {
			text, start := escapedTwice([]byte(string(bytes.Repeat([]byte(" "), pad)) + m))
			if compareWalks(t, text, start) {
				read++
			}
		}
	}
	if read == 0 {
		t.Fatal("walkVector read none of the awkward messages")
	}
	// Nesting: it keeps a record's open brackets as bits, up to
	// maxVecDepth, and leaves deeper records to walk.
	nested := func(depth int, closer string) []byte {
		in := strings.Repeat("[", depth-1) + "1" + closer + strings.Repeat("]", depth-2)
		return []byte(`{"records":[{"a":` + in + `}]}`)
	}
	for _, depth := range []int{2, maxVecDepth - 1, maxVecDepth, maxVecDepth + 1, 100} {
		text, start := escapedTwice(nested(depth, "]"))
		if !compareWalks(t, text, start) && depth <= maxVecDepth {
			t.Errorf("a record %d deep was left to walk", depth)
		}
		// '}' closing the innermost '[': walk rejects it, and so must
		// walkVector (compareWalks fails where it reads what walk rejects).
		text, start = escapedTwice(nested(depth, "}"))
		compareWalks(t, text, start)
		// ']' closing the '{' at depth 2, under the deepest brackets.
		text, start = escapedTwice([]byte(`{"records":[{"a":{"b":` + strings.Repeat("[", depth) + "1" + strings.Repeat("]", depth) + `]}]}`))
		compareWalks(t, text, start)
	}
}

// FuzzWalkVector: wherever walkVector reads a message, it agrees with walk,
// for messages escaped as the host escapes them and for any text.
func FuzzWalkVector(f *testing.F) {
	for _, s := range []string{`{"records":[{"a":"x\"y"},{"b":[1,{"c":"}"}]}]}`, `{"records":[{"a":"\\"}]}`, `{"records":[]}`} {
		f.Add([]byte(s), false)
		text, _ := escapedTwice([]byte(s))
		f.Add(text, true)
	}
	f.Fuzz(func(t *testing.T, data []byte, raw bool) {
		if !vectorWalk {
			t.Skip()
		}
		if raw {
			compareWalks(t, data, 0)
			return
		}
		text, start := escapedTwice(data)
		compareWalks(t, text, start)
	})
}
