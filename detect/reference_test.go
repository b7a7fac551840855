package detect_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"reflect"
	"testing"

	"github.com/tripline/tripline/detect"
	"github.com/tripline/tripline/detect/ecs"
)

// This file is the independent reference the engine is compared with: the
// messages are cut into records by encoding/json's Decoder, and every record
// is normalized and matched against every rule, with no prefilter. It shares
// no code with the engine's cutting (package input) or candidate selection
// (prefilter.go); it does share the mapping (ecs.Normalize, checked against
// golden files) and the matcher (kql, checked against Elastic's semantics).

// refRecord is one record as the reference cuts it.
type refRecord struct {
	message, index int
	offset         int64
	raw            []byte // nil: not an object
}

// referenceCut cuts a message with encoding/json. ok is false when msg is
// not a sequence of valid JSON values (then the engine's cutting, which
// keeps what it can of a broken message, is not compared).
func referenceCut(message int, msg []byte) (recs []refRecord, ok bool) {
	base := 0
	if bytes.HasPrefix(msg, []byte("\xef\xbb\xbf")) {
		base = 3 // the engine, like many exporters' readers, skips a BOM
	}
	dec := json.NewDecoder(bytes.NewReader(msg[base:]))
	index := 0
	add := func(raw json.RawMessage, at int64) {
		r := refRecord{message: message, index: index, offset: int64(base) + at}
		if len(raw) > 0 && raw[0] == '{' {
			r.raw = raw
		}
		recs = append(recs, r)
		index++
	}
	for {
		at := startOf(msg[base:], dec.InputOffset())
		var v json.RawMessage
		if err := dec.Decode(&v); err == io.EOF {
			return recs, true
		} else if err != nil {
			return nil, false
		}
		switch v[0] {
		case '[':
			elems, ok := elements(v, 0)
			if !ok {
				return nil, false
			}
			for _, e := range elems {
				if inner, ok := envelope(e.raw); ok {
					for _, r := range inner {
						add(r.raw, at+e.off+r.off)
					}
					continue
				}
				add(e.raw, at+e.off)
			}
		case '{':
			if inner, ok := envelope(v); ok {
				for _, r := range inner {
					add(r.raw, at+r.off)
				}
				continue
			}
			add(v, at)
		default:
			add(v, at)
		}
	}
}

// element is a value inside another, at off.
type element struct {
	raw json.RawMessage
	off int64
}

// elements returns the elements of the array starting at v[from].
func elements(v json.RawMessage, from int64) ([]element, bool) {
	dec := json.NewDecoder(bytes.NewReader(v[from:]))
	if t, err := dec.Token(); err != nil || t != json.Delim('[') {
		return nil, false
	}
	var out []element
	for dec.More() {
		at := from + startOf(v[from:], dec.InputOffset())
		var e json.RawMessage
		if dec.Decode(&e) != nil {
			return nil, false
		}
		out = append(out, element{e, at})
	}
	return out, true
}

// envelope reports whether v is an object whose first key is "records"
// holding an array, and returns that array's elements.
func envelope(v json.RawMessage) ([]element, bool) {
	dec := json.NewDecoder(bytes.NewReader(v))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, false
	}
	// The key as written: "rec\u006frds" is not the envelope's key for the
	// engine, which compares the raw bytes (Azure writes it plainly).
	if !bytes.HasPrefix(v[startOf(v, dec.InputOffset()):], []byte(`"records"`)) {
		return nil, false
	}
	if _, err := dec.Token(); err != nil {
		return nil, false
	}
	at := startOf(v, dec.InputOffset())
	for at < int64(len(v)) && v[at] == ':' {
		at = startOf(v, at+1)
	}
	if at >= int64(len(v)) || v[at] != '[' {
		return nil, false
	}
	return elements(v, at)
}

// startOf returns where the next value starts at or after off.
func startOf(b []byte, off int64) int64 {
	for off < int64(len(b)) && bytes.IndexByte([]byte(" \t\r\n,"), b[off]) >= 0 {
		off++
	}
	return off
}

// refOutcome is what the reference finds in messages; the engine's Result
// is reduced to the same shape.
type refOutcome struct {
	Records    int
	Matches    []refMatch
	Skips      []detect.Skip
	Duplicates int
}

type refMatch struct {
	Rule, Identity, Source string
	Message, Record        int
	Doc                    map[string]any
}

// reference evaluates valid messages; ok is false when some message is not
// valid JSON.
func reference(e *detect.Engine, msgs ...[]byte) (out refOutcome, ok bool) {
	seen := map[string]bool{}
	for i, m := range msgs {
		recs, ok := referenceCut(i, m)
		if !ok {
			return out, false
		}
		for _, r := range recs {
			out.Records++
			if r.raw == nil {
				out.Skips = append(out.Skips, detect.Skip{Message: r.message, Record: r.index, Offset: r.offset, Reason: "record is not a JSON object"})
				continue
			}
			ev, err := ecs.Normalize(r.raw)
			if err != nil {
				out.Skips = append(out.Skips, detect.Skip{Message: r.message, Record: r.index, Offset: r.offset, Reason: err.Error()})
				continue
			}
			for _, rule := range e.Rules() {
				if !rule.Query.Match(ev.Doc) {
					continue
				}
				if key := rule.ID + "\x00" + ev.Identity; ev.Identity != "" {
					if seen[key] {
						out.Duplicates++
						continue
					}
					seen[key] = true
				}
				out.Matches = append(out.Matches, refMatch{rule.ID, ev.Identity, ev.Source, r.message, r.index, ev.Doc})
			}
		}
	}
	return out, true
}

// evaluate runs the engine and reduces its Result to a refOutcome.
func evaluate(e *detect.Engine, decodeAll bool, msgs ...[]byte) refOutcome {
	res := detect.Result{DecodeAll: decodeAll}
	for i, m := range msgs {
		e.Evaluate(i, m, &res)
	}
	out := refOutcome{Records: res.Records, Skips: res.Skips, Duplicates: res.Duplicates}
	for _, m := range res.Matches {
		out.Matches = append(out.Matches, refMatch{m.Rule.ID, m.Event.Identity, m.Event.Source, m.Message, m.Record, m.Event.Doc})
	}
	return out
}

// checkAgainstReference fails when the engine and the reference disagree on
// valid messages: with every record decoded, everything must be equal; with
// the prefilter, the records, matches and duplicates must be, and the skips
// of records that are not objects. On messages that are not valid JSON the
// engine must still not panic and keep its counts consistent.
func checkAgainstReference(t *testing.T, e *detect.Engine, msgs ...[]byte) {
	t.Helper()
	want, ok := reference(e, msgs...)
	all := evaluate(e, true, msgs...)
	fast := evaluate(e, false, msgs...)
	if !ok {
		if fast.Records != all.Records || len(fast.Matches) != len(all.Matches) {
			t.Errorf("invalid input: prefiltered %d records, %d matches; decoded %d, %d", fast.Records, len(fast.Matches), all.Records, len(all.Matches))
		}
		return
	}
	if !reflect.DeepEqual(all, want) {
		t.Errorf("every record decoded:\nengine    %+v\nreference %+v", brief(all), brief(want))
	}
	notObjects := func(o refOutcome) refOutcome {
		var keep []detect.Skip
		for _, s := range o.Skips {
			if s.Reason == "record is not a JSON object" {
				keep = append(keep, s)
			}
		}
		o.Skips = keep
		return o
	}
	if got, want := notObjects(fast), notObjects(want); !reflect.DeepEqual(got, want) {
		t.Errorf("prefiltered:\nengine    %+v\nreference %+v", brief(got), brief(want))
	}
}

// brief drops the documents from an outcome, for messages.
func brief(o refOutcome) refOutcome {
	o.Matches = append([]refMatch(nil), o.Matches...)
	for i := range o.Matches {
		o.Matches[i].Doc = nil
	}
	return o
}

var errNoMatch = errors.New("no match")

// firstMatch is a helper for tests that plant one match.
func firstMatch(e *detect.Engine, msg []byte) (detect.Match, error) {
	var res detect.Result
	e.Evaluate(0, msg, &res)
	if len(res.Matches) == 0 {
		return detect.Match{}, errNoMatch
	}
	return res.Matches[0], nil
}
