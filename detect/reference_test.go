package detect_test

import (
	"errors"
	"reflect"
	"testing"

	"github.com/tripline/tripline/detect"
	"github.com/tripline/tripline/detect/ecs"
	"github.com/tripline/tripline/internal/jsonref"
)

// This file is the independent reference the engine is compared with: the
// messages are cut into records by encoding/json (internal/jsonref), and
// every record is normalized and matched against every rule, with no
// prefilter. It shares no code with the engine's cutting (package input) or
// candidate selection (prefilter.go); it does share the mapping
// (ecs.Normalize, checked against golden files) and the matcher (kql,
// checked against Elastic's semantics).

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
		recs, ok := jsonref.Cut(i, m)
		if !ok {
			return out, false
		}
		for _, r := range recs {
			out.Records++
			if r.Raw == nil {
				out.Skips = append(out.Skips, detect.Skip{Message: r.Message, Record: r.Index, Offset: r.Offset, Reason: "record is not a JSON object"})
				continue
			}
			ev, err := ecs.Normalize(r.Raw)
			if err != nil {
				out.Skips = append(out.Skips, detect.Skip{Message: r.Message, Record: r.Index, Offset: r.Offset, Reason: err.Error()})
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
				out.Matches = append(out.Matches, refMatch{rule.ID, ev.Identity, ev.Source, r.Message, r.Index, ev.Doc})
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
