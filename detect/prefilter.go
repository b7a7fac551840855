package detect

import (
	"bytes"
	"cmp"
	"slices"
	"strings"

	"github.com/tripline/tripline/input"
)

// The prefilter skips records that no rule can match without decoding them.
// From each rule's compiled query it takes clauses of literals (kql.Query.
// Prefilter): every record the rule matches holds, for each clause, one of
// its literals in its raw bytes. A record is decoded only when, for some
// rule, every clause has a literal in it. It is exact
// (never drops a record a rule matches) because:
//   - literals come only from fields whose string values are copied from the
//     record's text, or lower-cased copies of it (event.outcome, searched
//     case-insensitively), never from fields that normalization synthesizes
//     or rewrites (searchableField);
//   - literals are printable ASCII without '"' or '\', so JSON writes them
//     verbatim at every level of string nesting (an audit event is a JSON
//     string inside the record), unless an escape spells one of their
//     characters: a record holding \uXXXX for a character that matters, or
//     \/ when a literal has '/', is always decoded (hides). The cutter
//     notes escapes and non-ASCII bytes as it passes them (input.Hints), so
//     only a record that has some is searched for them again;
//   - operation names are upper-cased for Event Grid events, so their
//     literals are searched ASCII-case-insensitively, and records with
//     non-ASCII letters whose case mapping is ASCII (ı, ſ, İ, K) are decoded.
//
// It searches with the bytes package, which uses the processor's vector
// instructions.

// literal is one searched string; fold marks an ASCII-case-insensitive
// search (text is then lower-case), anchored at its rarest byte.
type literal struct {
	text   []byte
	fold   bool
	anchor int
}

// clause holds when one of its literals occurs.
type clause []literal

// prefilter holds, per rule, the clauses a record the rule can match
// satisfies.
type prefilter struct {
	// rules[i] are rule i's clauses; none means every record is a
	// candidate for the rule.
	rules [][]clause
	// always is true when some rule has no literals.
	always bool
	// hide[c] is true when an escape producing c could hide a literal.
	hide [128]bool
	// slash: some literal has '/' (so \/ can hide it); fold: some literal
	// is case-insensitive.
	slash, fold bool
}

func newPrefilter(rules []*Rule) *prefilter {
	pf := &prefilter{}
	for _, c := range `\u0123456789abcdefABCDEF` {
		pf.hide[c] = true
	}
	for _, r := range rules {
		clauses := ruleClauses(r)
		if len(clauses) == 0 {
			pf.always = true
		}
		for _, cl := range clauses {
			for _, l := range cl {
				for _, c := range l.text {
					pf.hide[c] = true
					if l.fold {
						pf.hide[upperASCII(c)] = true
					}
				}
				pf.slash = pf.slash || bytes.IndexByte(l.text, '/') >= 0
				pf.fold = pf.fold || l.fold
			}
		}
		pf.rules = append(pf.rules, clauses)
	}
	return pf
}

// ruleClauses derives a rule's clauses. A clause with a literal that cannot
// be searched for verbatim is left out: fewer clauses only let more records
// through.
func ruleClauses(r *Rule) []clause {
	var out []clause
	for _, terms := range r.Query.Prefilter(func(f string) bool { _, ok := searchableField(f); return ok }) {
		var cl clause
		for _, t := range terms {
			fold, _ := searchableField(t.Field)
			if t.Literal == "" || strings.ContainsFunc(t.Literal, func(c rune) bool { return c < 0x20 || c > 0x7e || c == '"' || c == '\\' }) {
				cl = nil
				break
			}
			text := t.Literal
			if fold {
				text = strings.ToLower(text)
			}
			cl = append(cl, literal{text: []byte(text), fold: fold, anchor: rarestByte(text, fold)})
		}
		if cl != nil {
			out = append(out, withoutImplied(cl))
		}
	}
	// Case-sensitive clauses first: bytes.Index searches them fastest, and
	// a record is rejected by the first clause it fails.
	slices.SortStableFunc(out, func(a, b clause) int { return cmp.Compare(folds(a), folds(b)) })
	return out
}

// withoutImplied drops the literals of a clause that hold another of its
// literals (kube-audit-admin beside kube-audit), and repeated ones: a
// record without the other has neither, and searching for both read the
// whole record twice. A case-sensitive literal does not stand for a
// case-insensitive one (it would miss other cases).
func withoutImplied(cl clause) clause {
	var out clause
	for i, l := range cl {
		implied := false
		for j, m := range cl {
			text := l.text
			if m.fold && !l.fold {
				text = bytes.ToLower(text) // m's text is lower-case
			}
			if j != i && !(l.fold && !m.fold) && bytes.Contains(text, m.text) && (len(m.text) < len(l.text) || j < i || m.fold && !l.fold) {
				implied = true
				break
			}
		}
		if !implied {
			out = append(out, l)
		}
	}
	return out
}

// folds counts a clause's case-insensitive literals.
func folds(c clause) int {
	n := 0
	for _, l := range c {
		if l.fold {
			n++
		}
	}
	return n
}

// commonness ranks bytes by how often they occur in Azure's JSON records,
// most common first; a byte not listed is rarer than all of them. Measured
// over the benchmark corpus and the examples (Activity Log and AKS audit
// records); the order only decides which byte a search looks for first.
const commonness = `"east/ciodr0:-1nm,fp42b7.895l63SuERThCOI\\AygNvUwMDFxG{}LBPk KVWqH@Z_zYj][()+?=Q`

// rarestByte returns the position of the byte of text (lower-case when
// fold) that a search should look for first: the rarest by commonness,
// where a letter searched in both cases is as common as its commoner case,
// and a little more (two searches).
func rarestByte(text string, fold bool) int {
	best, bestScore := 0, -1
	for i := 0; i < len(text); i++ {
		c := text[i]
		score := len(commonness) + 1
		if k := strings.IndexByte(commonness, c); k >= 0 {
			score = k
		}
		if fold && upperASCII(c) != c {
			if k := strings.IndexByte(commonness, upperASCII(c)); k >= 0 && k < score {
				score = k
			}
			score = score * 3 / 4
		}
		if score > bestScore {
			best, bestScore = i, score
		}
	}
	return best
}

// candidate reports whether some rule may match the record b; hints are
// what cutting it saw (input.Hints), so that only a record with escapes or
// non-ASCII bytes is searched for them.
func (pf *prefilter) candidate(b []byte, hints input.Hints) bool {
	if pf.always {
		return true
	}
	for _, clauses := range pf.rules {
		if holdsAll(b, clauses) {
			return true
		}
	}
	return hints != 0 && pf.hides(b, hints)
}

// holdsAll reports whether every clause has a literal in b.
func holdsAll(b []byte, clauses []clause) bool {
	for _, cl := range clauses {
		found := false
		for _, l := range cl {
			if l.fold && indexFold(b, l.text, l.anchor) >= 0 || !l.fold && bytes.Contains(b, l.text) {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// synthesizedFields are set or rewritten by normalization rather than
// copied from the record's text, so their values cannot be searched for in
// the raw bytes.
var synthesizedFields = []string{
	"event.dataset", "event.kind", "event.type", "event.duration", "event.module", "event.outcome",
	"data_stream.", "cloud.provider", "log.level", "@timestamp",
	"azure.activitylogs.event_category", "azure.activitylogs.category", // constant for Event Grid
	"source.", "client.", "related.", // IP addresses are canonicalized
}

// searchableField reports whether field's string values are (substrings of)
// strings of the record, and whether they may have been upper-cased.
func searchableField(field string) (fold, ok bool) {
	if field == "event.outcome" {
		// Synthesized, but always a lower-cased copy of text in the
		// record (resultType, properties.result, or the Event Grid
		// event type's Success/Failure suffix): ecs/normalize.go.
		return true, true
	}
	for _, s := range synthesizedFields {
		if field == s || (strings.HasSuffix(s, ".") && strings.HasPrefix(field, s)) ||
			strings.HasPrefix(field, s+".") {
			return false, false
		}
	}
	switch field {
	case "azure.activitylogs.operation_name", "event.action":
		return true, true
	}
	return false, true
}

// hides reports whether b holds an escape or a character that could hide a
// literal, looking only for what hints says may be there.
func (pf *prefilter) hides(b []byte, hints input.Hints) bool {
	if pf.slash && hints&input.EscapedSlash != 0 && bytes.Contains(b, []byte(`\/`)) {
		return true
	}
	if hints&input.EscapedU == 0 {
		return pf.fold && hints&input.NonASCII != 0 && foldHazard(b)
	}
	// \uXXXX at any level of string nesting holds "\u" (a nested
	// backslash is itself escaped, \\u).
	for i := 0; ; {
		j := bytes.Index(b[i:], []byte(`\u`))
		if j < 0 {
			break
		}
		i += j + 2
		if len(b)-i < 4 {
			break
		}
		if cp, ok := hex4(b[i : i+4]); ok && (cp < 128 && pf.hide[cp] || pf.fold && foldsToASCII(cp)) {
			return true
		}
	}
	return pf.fold && hints&input.NonASCII != 0 && foldHazard(b)
}

func hex4(h []byte) (rune, bool) {
	var cp rune
	for _, c := range h {
		var d rune
		switch {
		case c >= '0' && c <= '9':
			d = rune(c - '0')
		case c >= 'a' && c <= 'f':
			d = rune(c-'a') + 10
		case c >= 'A' && c <= 'F':
			d = rune(c-'A') + 10
		default:
			return 0, false
		}
		cp = cp<<4 | d
	}
	return cp, true
}

// foldHazard reports whether b holds a non-ASCII letter whose case folds
// to an ASCII letter (İ ı ſ K), which a case-insensitive literal search in
// raw bytes would miss.
func foldHazard(b []byte) bool {
	// İ and ı start with 0xC4, ſ with 0xC5, K with 0xE2: most records
	// hold none of these bytes, and IndexByte is the cheapest pass.
	for _, lead := range [...]byte{0xc4, 0xc5, 0xe2} {
		if bytes.IndexByte(b, lead) < 0 {
			continue
		}
		for _, s := range foldSpecialUTF8 {
			if s[0] == lead && bytes.Contains(b, []byte(s)) {
				return true
			}
		}
	}
	return false
}

// foldSpecialUTF8 are the non-ASCII letters whose Unicode case mapping is an
// ASCII letter: İ, ı, ſ, K (Kelvin sign).
var foldSpecialUTF8 = [...]string{"\u0130", "\u0131", "\u017f", "\u212a"}

func foldsToASCII(r rune) bool {
	return r == 0x130 || r == 0x131 || r == 0x17f || r == 0x212a
}

func upperASCII(c byte) byte {
	if c >= 'a' && c <= 'z' {
		return c - 'a' + 'A'
	}
	return c
}

// indexFold returns the first offset of lit (lower-case ASCII) in b, ASCII
// case ignored, or -1. It looks only at the places where lit's anchor byte
// occurs in either case, found by bytes.IndexByte.
func indexFold(b, lit []byte, anchor int) int {
	lo, up, n := lit[anchor], upperASCII(lit[anchor]), len(lit)
	// nextLo and nextUp are where the anchor occurs next in each case at
	// or after i (-1: nowhere), so each is searched for once per
	// occurrence, not once per candidate position.
	nextLo, nextUp := -2, -2
	for i := anchor; i+n-anchor <= len(b); {
		if nextLo != -1 && nextLo < i {
			nextLo = indexByteFrom(b, lo, i)
		}
		if lo == up {
			nextUp = nextLo
		} else if nextUp != -1 && nextUp < i {
			nextUp = indexByteFrom(b, up, i)
		}
		p := nextLo
		if p < 0 || nextUp >= 0 && nextUp < p {
			p = nextUp
		}
		if p < 0 || p-anchor+n > len(b) {
			return -1
		}
		if start := p - anchor; equalFoldASCII(b[start:start+n], lit) {
			return start
		}
		i = p + 1
	}
	return -1
}

func indexByteFrom(b []byte, c byte, i int) int {
	if j := bytes.IndexByte(b[i:], c); j >= 0 {
		return i + j
	}
	return -1
}

// equalFoldASCII compares s with lower-case lit, folding ASCII letters of s.
func equalFoldASCII(s, lit []byte) bool {
	for i, c := range s {
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lit[i] {
			return false
		}
	}
	return true
}
