package detect

import (
	"bytes"
	"fmt"
	"strings"
)

// Engine is a compiled rule set. It is immutable after NewEngine and safe for
// concurrent use by many invocations.
type Engine struct {
	rules      []*Rule
	exceptions map[string][]*Query
	// prefilters[i] holds rule i's lower-cased literals: a record whose
	// bytes contain none of them cannot match rule i. nil means rule i must
	// always be evaluated.
	prefilters [][][]byte
	// alwaysDecode is true when some rule has no usable prefilter.
	alwaysDecode bool
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
		pf := rulePrefilter(r.Query)
		if pf == nil {
			e.alwaysDecode = true
		}
		e.prefilters = append(e.prefilters, pf)
	}
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
func (e *Engine) Evaluate(message int, msg []byte, res *Result) {
	SplitRecords(msg, func(rec RawRecord) {
		res.Records++
		e.evaluateRecord(message, rec, res)
	}, func(record int, offset int64, reason string) {
		if record >= 0 {
			res.Records++
		}
		res.Skips = append(res.Skips, Skip{Message: message, Record: record, Offset: offset, Reason: reason})
	})
}

func (e *Engine) evaluateRecord(message int, rec RawRecord, res *Result) {
	if !e.alwaysDecode && !e.anyCandidate(rec.Bytes) {
		return
	}
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

// anyCandidate reports whether some rule may match the record: some literal
// of its prefilter occurs in the bytes (ASCII case-insensitively, because
// normalization upper-cases Event Grid operation names). Escapes could hide a
// literal, so a record with \u or \/ escapes is always a candidate.
func (e *Engine) anyCandidate(raw []byte) bool {
	if hasHidingEscape(raw) {
		return true
	}
	for _, lits := range e.prefilters {
		for _, lit := range lits {
			if containsFold(raw, lit) {
				return true
			}
		}
	}
	return false
}

// synthesized fields are set by normalization rather than copied from the
// record's text, so their values cannot be searched for in the raw bytes.
var synthesizedFields = []string{
	"event.dataset", "event.kind", "event.type", "event.duration", "event.module",
	"data_stream.", "cloud.provider", "log.level", "azure.activitylogs.event_category",
	"@timestamp",
}

func isSynthesized(field string) bool {
	for _, s := range synthesizedFields {
		if field == s || (strings.HasSuffix(s, ".") && strings.HasPrefix(field, s)) {
			return true
		}
	}
	return false
}

// rulePrefilter derives lower-cased literals from a query, or nil when the
// query can match a record without any of them appearing in its bytes.
func rulePrefilter(q *Query) [][]byte {
	terms, ok := q.PrefilterFields(func(field string) bool { return !isSynthesized(field) })
	if !ok || len(terms) == 0 {
		return nil
	}
	var lits [][]byte
	for _, t := range terms {
		if len(t.Literal) < 3 || strings.ContainsAny(t.Literal, "\"\\") || !isASCII(t.Literal) {
			return nil // too weak, or escaped differently in the raw text
		}
		lits = append(lits, []byte(strings.ToLower(t.Literal)))
	}
	return lits
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

func hasHidingEscape(b []byte) bool {
	// In double-encoded text (kube-audit properties.log) the escape is \\u,
	// which still contains \u, so one search covers every level.
	return bytes.Contains(b, []byte(`\u`)) || bytes.Contains(b, []byte(`\/`))
}

// containsFold reports whether lowerNeedle occurs in hay, ASCII
// case-insensitively. lowerNeedle must be lower-case.
func containsFold(hay, lowerNeedle []byte) bool {
	if len(lowerNeedle) == 0 {
		return true
	}
	first := lowerNeedle[0]
	upperFirst := first
	if first >= 'a' && first <= 'z' {
		upperFirst = first - 'a' + 'A'
	}
	n := len(lowerNeedle)
	for i := 0; i+n <= len(hay); {
		j := indexEither(hay[i:len(hay)-n+1], first, upperFirst)
		if j < 0 {
			return false
		}
		i += j
		if equalFoldLower(hay[i:i+n], lowerNeedle) {
			return true
		}
		i++
	}
	return false
}

func indexEither(b []byte, c1, c2 byte) int {
	if c1 == c2 {
		return bytes.IndexByte(b, c1)
	}
	i1 := bytes.IndexByte(b, c1)
	if i1 == 0 {
		return 0
	}
	limit := b
	if i1 > 0 {
		limit = b[:i1]
	}
	if i2 := bytes.IndexByte(limit, c2); i2 >= 0 {
		return i2
	}
	return i1
}

func equalFoldLower(s, lower []byte) bool {
	for i, c := range s {
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}
