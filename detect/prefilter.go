package detect

import (
	"bytes"
	"encoding/binary"
	"strings"
)

// This file derives, from each compiled rule, literals that every record the
// rule can match must contain in its raw bytes, and tests records for them
// without decoding. It reads the compiled query tree (kql_compile.go) and
// changes nothing in it.
//
// A rule's prefilter is a conjunction of clauses, each a disjunction of
// literals: a record can match the rule only if every clause has a literal
// in the record's bytes. It is exact (never drops a record the rule matches)
// because:
//   - literals come only from fields whose string values are copied from
//     the record's text (or are substrings of it), never from fields that
//     normalization synthesizes or rewrites (see prefilterField);
//   - literals are printable ASCII without '"' or '\', so JSON writes them
//     verbatim at every level of string nesting, unless an escape spells one
//     of their characters: a record holding such an escape (\uXXXX for a
//     character that matters, \/ when a literal has '/') is always a
//     candidate;
//   - operation names are upper-cased for Event Grid events, so their
//     literals are searched ASCII-case-insensitively, and records with
//     non-ASCII letters whose case mapping is ASCII (ı, ſ, İ, K) are
//     candidates.

// pfLit is one literal; fold marks an ASCII-case-insensitive search (text is
// then lower-case).
type pfLit struct {
	text []byte
	fold bool
	// anchor is the position of the literal's rarest byte, searched for
	// first (bytes.Index anchors on the first byte, often a common one).
	anchor int
}

// byteRank orders bytes from the most to the least common in Azure log
// records (ASCII-lower-cased), measured on the benchmark corpus; bytes not
// listed are rarer still.
const byteRank = "\"esratoicnd:/0-puml,1\\b2.4f7vg58396ykh}{w zxq@[]()j"

func rarestByte(lit []byte) int {
	best, bestRank := 0, -1
	for i, c := range lit {
		r := strings.IndexByte(byteRank, lower(c))
		if r < 0 {
			r = len(byteRank)
		}
		if r > bestRank {
			best, bestRank = i, r
		}
	}
	return best
}

func lower(c byte) byte {
	if c >= 'A' && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// in reports whether the literal occurs in hay.
func (l *pfLit) in(hay []byte) bool {
	n, a := len(l.text), l.anchor
	c := l.text[a]
	for i := a; i < len(hay); {
		j := bytes.IndexByte(hay[i:], c)
		if j < 0 {
			return false
		}
		i += j
		if s := i - a; s+n <= len(hay) && string(hay[s:s+n]) == string(l.text) {
			return true
		}
		i++
	}
	return false
}

// pfClause holds when some literal occurs.
type pfClause []pfLit

// rulePF is one rule's prefilter; nil clauses means every record is a
// candidate for the rule.
type rulePF struct {
	clauses []pfClause
}

// prefilter is the engine-wide prefilter.
type prefilter struct {
	rules []rulePF
	// always is true when some rule has no clause.
	always bool
	// hide[c] is true when an escape producing c could hide a literal.
	hide [128]bool
	// slash is true when some literal contains '/' (so \/ can hide it).
	slash bool
	// fold is true when some literal is case-insensitive.
	fold bool
}

func newPrefilter(rules []*Rule) *prefilter {
	pf := &prefilter{}
	for _, c := range `\u0123456789abcdefABCDEF` {
		pf.hide[c] = true
	}
	for _, r := range rules {
		clauses := pfDerive(r.Query.root)
		if len(clauses) == 0 {
			pf.always = true
		}
		for _, cl := range clauses {
			for _, l := range cl {
				for _, c := range l.text {
					pf.hide[c] = true
					if l.fold {
						pf.fold = true
						if c >= 'a' && c <= 'z' {
							pf.hide[c-'a'+'A'] = true
						}
					}
					if c == '/' {
						pf.slash = true
					}
				}
			}
		}
		pf.rules = append(pf.rules, rulePF{clauses: clauses})
	}
	return pf
}

// pfDerive returns the clauses a node implies (nil: none).
func pfDerive(n kqlNode) []pfClause {
	switch n := n.(type) {
	case *kqlAnd:
		var out []pfClause
		for _, k := range n.kids {
			out = append(out, pfDerive(k)...)
		}
		return out
	case *kqlOr:
		var merged pfClause
		for _, k := range n.kids {
			cs := pfDerive(k)
			if len(cs) == 0 {
				return nil
			}
			merged = appendLits(merged, pfBest(cs))
		}
		return []pfClause{merged}
	case *kqlIs:
		if n.val.isNum || n.val.isBool {
			return nil
		}
		if l, ok := pfLiteral(n.path.name, n.val.text); ok {
			return []pfClause{{l}}
		}
	case *kqlWildcard:
		var out []pfClause
		for _, f := range n.frags {
			if l, ok := pfLiteral(n.path.name, f); ok {
				out = append(out, pfClause{l})
			}
		}
		return out
	}
	return nil // not, field:*, ranges: nothing is implied
}

// pfBest picks the most selective clause: fewest literals, then the longest
// shortest literal.
func pfBest(cs []pfClause) pfClause {
	best := cs[0]
	for _, c := range cs[1:] {
		if len(c) < len(best) || len(c) == len(best) && shortestLit(c) > shortestLit(best) {
			best = c
		}
	}
	return best
}

func shortestLit(c pfClause) int {
	m := -1
	for _, l := range c {
		if m < 0 || len(l.text) < m {
			m = len(l.text)
		}
	}
	return m
}

func appendLits(dst, src pfClause) pfClause {
	for _, l := range src {
		dup := false
		for _, d := range dst {
			if d.fold == l.fold && bytes.Equal(d.text, l.text) {
				dup = true
				break
			}
		}
		if !dup {
			dst = append(dst, l)
		}
	}
	return dst
}

// pfLiteral makes a literal for field's value text, or reports that the
// field or the text cannot be searched for in raw bytes.
func pfLiteral(field, text string) (pfLit, bool) {
	fold, ok := prefilterField(field)
	if !ok || text == "" {
		return pfLit{}, false
	}
	for i := 0; i < len(text); i++ {
		if c := text[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			return pfLit{}, false
		}
	}
	if fold {
		text = strings.ToLower(text)
	}
	return pfLit{text: []byte(text), fold: fold, anchor: rarestByte([]byte(text))}, true
}

// synthesized fields are set or rewritten by normalization rather than
// copied from the record's text, so their values cannot be searched for in
// the raw bytes.
var synthesizedFields = []string{
	"event.dataset", "event.kind", "event.type", "event.duration", "event.module", "event.outcome",
	"data_stream.", "cloud.provider", "log.level", "@timestamp",
	"azure.activitylogs.event_category", "azure.activitylogs.category", // constant for Event Grid
	"source.", "client.", "related.", // IP addresses are canonicalized
}

// prefilterField reports whether field's string values are (substrings of)
// strings of the record, and whether they may have been upper-cased.
func prefilterField(field string) (fold, ok bool) {
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
// literal.
func (pf *prefilter) hides(b []byte) bool {
	if pf.slash && bytes.Contains(b, []byte(`\/`)) {
		return true
	}
	for i := 0; ; {
		j := bytes.Index(b[i:], []byte(`\u`))
		if j < 0 {
			break
		}
		i += j + 2
		if len(b)-i < 4 {
			break
		}
		cp := 0
		valid := true
		for _, c := range b[i : i+4] {
			var d int
			switch {
			case c >= '0' && c <= '9':
				d = int(c - '0')
			case c >= 'a' && c <= 'f':
				d = int(c-'a') + 10
			case c >= 'A' && c <= 'F':
				d = int(c-'A') + 10
			default:
				valid = false
			}
			cp = cp<<4 | d
		}
		if !valid {
			continue
		}
		if cp < 128 && pf.hide[cp] || pf.fold && foldsToASCII(rune(cp)) {
			return true
		}
	}
	if pf.fold {
		for _, s := range foldSpecialUTF8 {
			if bytes.Contains(b, []byte(s)) {
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

// ruleMayMatch reports whether every clause of rule i has a literal in raw
// (lower is raw ASCII-lower-cased, or nil when no literal folds).
func (pf *prefilter) ruleMayMatch(i int, raw, lower []byte) bool {
	for _, cl := range pf.rules[i].clauses {
		hit := false
		for k := range cl {
			l := &cl[k]
			hay := raw
			if l.fold {
				hay = lower
			}
			if l.in(hay) {
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

// lowerASCII writes b ASCII-lower-cased into dst (grown as needed).
func lowerASCII(dst, b []byte) []byte {
	if cap(dst) < len(b) {
		dst = make([]byte, len(b), len(b)+len(b)/4)
	}
	dst = dst[:len(b)]
	i := 0
	for ; len(b)-i >= 8; i += 8 {
		x := binary.LittleEndian.Uint64(b[i:])
		// bytes in 'A'..'Z' (with the high bit clear) get 0x20 added.
		heptets := x &^ hi8
		ge := (heptets + lo8*(0x80-'A')) & hi8
		gt := (heptets + lo8*(0x80-'Z'-1)) & hi8
		upper := ge &^ gt &^ (x & hi8)
		x |= upper >> 2
		binary.LittleEndian.PutUint64(dst[i:], x)
	}
	for ; i < len(b); i++ {
		c := b[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		dst[i] = c
	}
	return dst
}
