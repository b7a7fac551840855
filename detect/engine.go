package detect

import (
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/tripline/tripline/detect/ecs"
	"github.com/tripline/tripline/detect/kql"
	"github.com/tripline/tripline/input"
)

// Engine is a compiled rule set. It is immutable after NewEngine and safe for
// concurrent use by many invocations.
type Engine struct {
	rules      []*Rule
	exceptions map[string][]*kql.Query
	// pf skips records no rule can match without decoding them
	// (prefilter.go).
	pf *prefilter
	// readers keeps the cutters of messages (input.Reader) for reuse, so
	// that a record no rule can match costs no allocation.
	readers sync.Pool
}

// Exception drops a rule's matches that also match Query (the false-positive
// advice of a rule: maintenance accounts, automation identities, test
// environments).
type Exception struct {
	RuleID  string
	Query   *kql.Query
	Comment string
}

// Match is one rule matching one record.
type Match struct {
	Rule  *Rule
	Event *ecs.Event
	// Message and Record locate the record in its batch or file.
	Message, Record int
}

// Result accumulates what evaluating messages produced.
type Result struct {
	// Records is the number of records read (matched or not, skips included).
	Records int
	Matches []Match
	Skips   []Skip
	// Excepted counts matches dropped by exceptions.
	Excepted int
	// DecodeAll, set by the caller, decodes every record instead of only
	// those some rule may match, so that every record that is not valid
	// JSON or not an Azure record is reported as a skip (scan
	// --check-records). The matches are the same.
	DecodeAll bool
	// seen drops a second match of one rule on one record identity within
	// the result (kube-audit and kube-audit-admin carry the same audit event).
	seen map[string]struct{}
	// Duplicates counts those dropped second matches.
	Duplicates int
	// deferred (BeginPart) keeps what matched, in found, for Merge to
	// record in order: duplicates and exceptions depend on what came
	// before, in other workers' records too.
	deferred     bool
	found        []found
	skipOrdinals []int
}

// NewEngine compiles a rule set. Rule ids must be unique; exceptions must name
// a rule of the set.
func NewEngine(rules []*Rule, exceptions []Exception) (*Engine, error) {
	e := &Engine{rules: rules, exceptions: map[string][]*kql.Query{}}
	ids := map[string]string{}
	for _, r := range rules {
		if prev, dup := ids[r.ID]; dup {
			return nil, fmt.Errorf("rule_id %s is used by both %s and %s", r.ID, prev, r.File)
		}
		ids[r.ID] = r.File
	}
	e.pf = newPrefilter(rules)
	for _, x := range exceptions {
		if _, ok := ids[x.RuleID]; !ok {
			return nil, fmt.Errorf("exception for unknown rule_id %s", x.RuleID)
		}
		e.exceptions[x.RuleID] = append(e.exceptions[x.RuleID], x.Query)
	}
	return e, nil
}

// Rules returns the rule set in load order. The slice must not be modified.
func (e *Engine) Rules() []*Rule { return e.rules }

// Evaluate cuts one message into records (input.Reader, as scan cuts files;
// in memory, so that each record is a slice of msg)
// and evaluates each, appending matches and skips to res. It never fails:
// bad records become Skips; a message whose structure breaks keeps the
// records before the break and reports the rest as one skip.
func (e *Engine) Evaluate(message int, msg []byte, res *Result) {
	in, _ := e.readers.Get().(*input.Reader)
	if in == nil {
		in = input.NewBytesReader(msg)
	} else {
		in.ResetBytes(msg)
	}
	defer e.readers.Put(in)
	for index := 0; ; index++ {
		rec, err := in.Next()
		if err == io.EOF {
			return
		}
		if err != nil {
			var ie *input.Error
			off := int64(len(msg))
			if errors.As(err, &ie) {
				off, err = ie.Offset, ie.Err
			}
			res.skip(Skip{Message: message, Record: -1, Offset: off, Reason: "not valid JSON: " + err.Error()})
			return
		}
		// Records are numbered through the message, whatever top-level
		// values it holds.
		rec.Message, rec.Index = message, index
		e.EvaluateRecord(rec, res)
	}
}

// EvaluateRecord evaluates one record cut by input.Reader. A record is
// decoded only when the prefilter derived from the rules says some rule may
// match it (or res.DecodeAll), so a record that no rule can match costs no
// allocation.
func (e *Engine) EvaluateRecord(rec input.Record, res *Result) {
	res.Records++
	if rec.Skip != "" {
		res.skip(Skip{Message: rec.Message, Record: rec.Index, Offset: rec.Offset, Reason: rec.Skip})
		return
	}
	if res.DecodeAll || e.pf.candidate(rec.Bytes, rec.Hints) {
		e.decodeAndMatch(rec, res)
	}
}

// found is a record some rule matched, not yet recorded in a Result.
type found struct {
	ev              *ecs.Event
	rules           []*Rule
	message, record int
	// ordinal is the record's position among the part's records.
	ordinal int
}

// skip adds a skip; a part notes which of its records it concerns (the
// number of records before, for a message that could not be cut).
func (res *Result) skip(s Skip) {
	res.Skips = append(res.Skips, s)
	if res.deferred {
		res.skipOrdinals = append(res.skipOrdinals, max(res.Records-1, 0))
	}
}

// EvaluateMessages evaluates messages in order, as Evaluate on each does,
// with the work spread over up to workers goroutines: each cuts, filters,
// decodes and matches a run of messages into a part, and the parts are
// merged in message order, so res is what Evaluate in a loop gives.
func (e *Engine) EvaluateMessages(messages [][]byte, workers int, res *Result) {
	workers = min(workers, len(messages))
	if workers <= 1 {
		for i, m := range messages {
			e.Evaluate(i, m, res)
		}
		return
	}
	parts := make([]Result, workers)
	var wg sync.WaitGroup
	for w := range parts {
		from, to := w*len(messages)/workers, (w+1)*len(messages)/workers
		part := &parts[w]
		part.BeginPart(res.DecodeAll)
		wg.Go(func() {
			for i := from; i < to; i++ {
				e.Evaluate(i, messages[i], part)
			}
		})
	}
	wg.Wait()
	for w := range parts {
		e.Merge(res, &parts[w])
	}
}

// BeginPart empties res, keeping its memory, to hold one run of records
// evaluated apart from the runs before it (concurrently, say): what matches
// is kept, not recorded, until Merge adds it to the whole result, because
// duplicates and exceptions depend on what came before.
func (res *Result) BeginPart(decodeAll bool) {
	clear(res.found) // let the events go
	*res = Result{DecodeAll: decodeAll, deferred: true, Skips: res.Skips[:0], found: res.found[:0], skipOrdinals: res.skipOrdinals[:0]}
}

// Merge adds part (BeginPart), the run of records that follows those res
// holds, to res, recording its matches as evaluating the records in order
// into res would have. part may then be begun again.
func (e *Engine) Merge(res, part *Result) {
	e.MergeRecords(res, part, 0, part.Records, 0, 0)
}

// MergeRecords is Merge for the records from..to of part (positions among
// its records; what concerns none, a message that could not be cut, goes
// with the last), with message and offset added to their positions: a part
// that evaluated a stretch of a longer input numbers its messages and
// offsets from the stretch's start, and a caller may record the matches of
// so many records at a time.
func (e *Engine) MergeRecords(res, part *Result, from, to, message int, offset int64) {
	in := func(ordinal int) bool { return ordinal >= from && (ordinal < to || to >= part.Records) }
	res.Records += min(to, part.Records) - from
	for i, s := range part.Skips {
		if in(part.skipOrdinals[i]) {
			s.Message += message
			s.Offset += offset
			res.Skips = append(res.Skips, s)
		}
	}
	for _, f := range part.found {
		if in(f.ordinal) {
			e.record(res, f.ev, f.rules, f.message+message, f.record)
		}
	}
}

// decodeAndMatch normalizes one record and records its matches.
func (e *Engine) decodeAndMatch(rec input.Record, res *Result) {
	ev, err := ecs.Normalize(rec.Bytes)
	if err != nil {
		res.skip(Skip{Message: rec.Message, Record: rec.Index, Offset: rec.Offset, Reason: err.Error()})
		return
	}
	rules := e.MatchEvent(ev)
	if res.deferred {
		if len(rules) > 0 {
			res.found = append(res.found, found{ev, rules, rec.Message, rec.Index, res.Records - 1})
		}
		return
	}
	e.record(res, ev, rules, rec.Message, rec.Index)
}

// record adds the matches of one event to res: a second match of a rule on
// one identity is a duplicate, one an exception covers is dropped.
func (e *Engine) record(res *Result, ev *ecs.Event, rules []*Rule, message, index int) {
	for _, r := range rules {
		if ev.Identity != "" {
			key := r.ID + "\x00" + ev.Identity
			if res.seen == nil {
				res.seen = map[string]struct{}{}
			}
			if _, dup := res.seen[key]; dup {
				res.Duplicates++
				continue
			}
			res.seen[key] = struct{}{}
		}
		if e.excepted(r, ev) {
			res.Excepted++
			continue
		}
		res.Matches = append(res.Matches, Match{Rule: r, Event: ev, Message: message, Record: index})
	}
}

// MatchEvent returns the rules whose query matches the event, exceptions not
// applied. It allocates only the returned slice.
func (e *Engine) MatchEvent(ev *ecs.Event) []*Rule {
	var out []*Rule
	for _, r := range e.rules {
		if r.Query.Match(ev.Doc) {
			out = append(out, r)
		}
	}
	return out
}

func (e *Engine) excepted(r *Rule, ev *ecs.Event) bool {
	for _, q := range e.exceptions[r.ID] {
		if q.Match(ev.Doc) {
			return true
		}
	}
	return false
}
