package detect

import (
	"fmt"
)

// Engine is a compiled rule set. It is immutable after NewEngine and safe for
// concurrent use by many invocations.
type Engine struct {
	rules      []*Rule
	exceptions map[string][]*Query
	// pf skips records no rule can match without decoding them
	// (prefilter.go).
	pf *prefilter
	// untilDecode makes the in-place path (escaped.go) stop at each
	// candidate once it is unescaped, as if decoding it and the rules cost
	// nothing. Only BenchmarkWalkBatch/candidates sets it: the bound on
	// what the hot path can reach against the floor.
	untilDecode bool
}

// Exception drops a rule's matches that also match Query (the false-positive
// advice of a rule: maintenance accounts, automation identities, test
// environments).
type Exception struct {
	RuleID  string
	Query   *Query
	Comment string
}

// Match is one rule matching one record.
type Match struct {
	Rule  *Rule
	Event *Event
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
	// seen drops a second match of one rule on one record identity within
	// the result (kube-audit and kube-audit-admin carry the same audit event).
	seen map[string]struct{}
	// Duplicates counts those dropped second matches.
	Duplicates int
}

// NewEngine compiles a rule set. Rule ids must be unique; exceptions must name
// a rule of the set.
func NewEngine(rules []*Rule, exceptions []Exception) (*Engine, error) {
	e := &Engine{rules: rules, exceptions: map[string][]*Query{}}
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

// Evaluate splits one message into records, normalizes them and evaluates
// every rule, appending matches and skips to res. It never fails: bad records
// become Skips.
//
// This is the hot path: records are cut out without decoding (split_fast.go)
// and a record is decoded only when the prefilter derived from the rules
// (prefilter.go) says some rule may match it, so a record that no rule can
// match costs no allocation. Matches, record counts and the skips of invalid
// JSON are exactly those of EvaluateReference; a record that is valid JSON
// but not an Azure record is reported as a skip only when it was decoded.
func (e *Engine) Evaluate(message int, msg []byte, res *Result) {
	sp := splitPool.Get().(*splitter)
	defer splitPool.Put(sp)
	sp.split(msg)
	c := e.newCandidates(sp, msg)
	index := 0
	for _, s := range sp.spans {
		res.Records++
		if !s.obj {
			res.Skips = append(res.Skips, Skip{Message: message, Record: index, Offset: int64(s.start), Reason: "record is not a JSON object"})
			index++
			continue
		}
		raw := msg[s.start:s.end:s.end]
		if c.test(raw, s.start) {
			e.decodeAndMatch(message, RawRecord{Index: index, Offset: int64(s.start), Bytes: raw}, res)
		}
		index++
	}
	if sp.tail >= 0 {
		// The rest of the message needs encoding/json's judgement.
		splitRecordsFrom(msg, int64(sp.tail), sp.tailIndex, func(rec RawRecord) {
			res.Records++
			if c.test(rec.Bytes, int(rec.Offset)) {
				e.decodeAndMatch(message, rec, res)
			}
		}, func(record int, offset int64, reason string) {
			if record >= 0 {
				res.Records++
			}
			res.Skips = append(res.Skips, Skip{Message: message, Record: record, Offset: offset, Reason: reason})
		})
	}
}

// candidates decides, for the records of one message, which ones to decode.
type candidates struct {
	pf  *prefilter
	msg []byte
	// hiding: escapes or case mappings in the message could hide literals.
	hiding bool
	// any: some rule may match somewhere in the message.
	any bool
	// may[i]: rule i may match somewhere in the message.
	may []bool
	// cur[k] caches where literal k next occurs in msg, so that each
	// literal is searched for at most once over the whole message, whatever
	// the number of records.
	cur []litCursor
	// order[i] is the order in which rule i's clauses are tested: a clause
	// that rejects a record moves to the front, so that the clause that
	// rejects most records is tried first (the outcome does not depend on
	// the order, only the work).
	order [][]uint8
}

// litCursor: the first occurrence of a literal at or after from is at at;
// at -1: none lies inside msg[from:to].
type litCursor struct{ from, to, at int }

// newCandidates runs the prefilter on the whole message: most messages
// stop there.
func (e *Engine) newCandidates(sp *splitter, msg []byte) candidates {
	return e.newCandidatesHiding(sp, msg, e.pf.always || e.pf.hides(msg))
}

// newCandidatesHiding is newCandidates when the caller has decided whether
// the message may hide literals.
func (e *Engine) newCandidatesHiding(sp *splitter, msg []byte, hiding bool) candidates {
	pf := e.pf
	c := candidates{pf: pf, msg: msg, hiding: hiding}
	if cap(sp.may) < len(pf.rules) {
		sp.may = make([]bool, len(pf.rules))
	}
	c.may = sp.may[:len(pf.rules)]
	if cap(sp.cur) < len(pf.lits) {
		sp.cur = make([]litCursor, len(pf.lits))
	}
	c.cur = sp.cur[:len(pf.lits)]
	for k := range c.cur {
		c.cur[k] = litCursor{from: len(msg) + 1, at: -1} // not searched yet
	}
	if sp.orderFor != pf {
		sp.orderFor = pf
		sp.order = sp.order[:0]
		for _, r := range pf.rules {
			o := make([]uint8, min(len(r.lits), 256))
			for k := range o {
				o[k] = uint8(k)
			}
			sp.order = append(sp.order, o)
		}
	}
	c.order = sp.order
	c.any = c.hiding
	for i := range c.may {
		c.may[i] = c.ruleInMessage(i)
		c.any = c.any || c.may[i]
	}
	return c
}

// ruleInMessage reports whether every clause of rule i has a literal
// somewhere in the message, trying the clauses cheapest first.
func (c *candidates) ruleInMessage(i int) bool {
	r := &c.pf.rules[i]
	for _, ci := range r.cheapFirst {
		hit := false
		for _, k := range r.lits[ci] {
			if c.find(k, 0, len(c.msg)) >= 0 {
				hit = true
				break
			}
		}
		if !hit {
			return false
		}
	}
	return true
}

// find returns the offset of the first occurrence of literal k that lies
// inside msg[s:e], or -1. It searches only msg[s:e] (a record that no other
// clause rejected), so the bytes of records that never needed the literal
// are never searched for it, and it remembers what it searched, so that
// each byte is searched at most once per literal however the records and
// rules ask.
func (c *candidates) find(k, s, e int) int {
	if g := c.pf.lits[k].guard; g > 0 && c.find(g-1, s, e) < 0 {
		return -1
	}
	cu := &c.cur[k]
	n := len(c.pf.lits[k].text)
	if cu.from <= s {
		if cu.at >= s {
			if cu.at+n <= e {
				return cu.at
			}
			return -1
		}
		if cu.at < 0 && cu.to >= e {
			return -1
		}
	}
	from := s
	if cu.from <= s && cu.at < 0 && cu.to > s {
		// msg[cu.from:cu.to] holds no occurrence: one could only start
		// in its last n-1 bytes.
		from = max(s, cu.to-n+1)
	}
	at := c.pf.lits[k].next(c.msg[:e], from)
	switch {
	case at >= 0:
		// None starts in msg[s:from] either (see from).
		*cu = litCursor{from: s, at: at}
	case cu.from <= s && cu.at < 0 && from <= cu.to-n+1:
		// This search continued the last one.
		cu.to = e
	default:
		*cu = litCursor{from: from, to: e, at: -1}
	}
	return at
}

// ruleIn reports whether every clause of rule i has a literal inside
// msg[s:e].
func (c *candidates) ruleIn(i, s, e int) bool {
	clauses := c.pf.rules[i].lits
	order := c.order[i]
	for n, ci := range order {
		hit := false
		for _, k := range clauses[ci] {
			if c.find(k, s, e) >= 0 {
				hit = true
				break
			}
		}
		if !hit {
			copy(order[1:n+1], order[:n])
			order[0] = ci
			return false
		}
	}
	// Clauses past 256 (never in practice) are tested in rule order.
	for _, cl := range clauses[len(order):] {
		hit := false
		for _, k := range cl {
			if c.find(k, s, e) >= 0 {
				hit = true
				break
			}
		}
		if !hit {
			return false
		}
	}
	return true
}

// test reports whether the record raw, at offset off in the message, must
// be decoded (raw holds the message's bytes at off).
func (c *candidates) test(raw []byte, off int) bool {
	if !c.any {
		return false
	}
	if c.hiding && (c.pf.always || c.pf.hides(raw)) {
		return true
	}
	for i, m := range c.may {
		if m && c.ruleIn(i, off, off+len(raw)) {
			return true
		}
	}
	return false
}

// EvaluateReference is the straightforward path Evaluate must agree with:
// SplitRecords, then Normalize and every rule's Query.Match on every record.
// Unlike Evaluate it reports every record that is not an Azure record as a
// skip. It exists for differential tests and benchmarks.
func (e *Engine) EvaluateReference(message int, msg []byte, res *Result) {
	SplitRecords(msg, func(rec RawRecord) {
		res.Records++
		e.decodeAndMatch(message, rec, res)
	}, func(record int, offset int64, reason string) {
		if record >= 0 {
			res.Records++
		}
		res.Skips = append(res.Skips, Skip{Message: message, Record: record, Offset: offset, Reason: reason})
	})
}

// decodeAndMatch normalizes one record and records its matches.
func (e *Engine) decodeAndMatch(message int, rec RawRecord, res *Result) {
	ev, err := Normalize(rec.Bytes)
	if err != nil {
		res.Skips = append(res.Skips, Skip{Message: message, Record: rec.Index, Offset: rec.Offset, Reason: err.Error()})
		return
	}
	for _, r := range e.MatchEvent(ev) {
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
		res.Matches = append(res.Matches, Match{Rule: r, Event: ev, Message: message, Record: rec.Index})
	}
}

// MatchEvent returns the rules whose query matches the event, exceptions not
// applied. It allocates only the returned slice.
func (e *Engine) MatchEvent(ev *Event) []*Rule {
	var out []*Rule
	for _, r := range e.rules {
		if r.Query.Match(ev.Doc) {
			out = append(out, r)
		}
	}
	return out
}

func (e *Engine) excepted(r *Rule, ev *Event) bool {
	for _, q := range e.exceptions[r.ID] {
		if q.Match(ev.Doc) {
			return true
		}
	}
	return false
}
