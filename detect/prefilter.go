package detect

import (
	"bytes"
	"sort"
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
//     the record's text (or are substrings of it), or lower-cased copies of
//     it (event.outcome, searched case-insensitively), never from fields
//     that normalization synthesizes or rewrites (see prefilterField);
//   - literals are printable ASCII without '"' or '\', so JSON writes them
//     verbatim at every level of string nesting, unless an escape spells one
//     of their characters: a record holding such an escape (\uXXXX for a
//     character that matters, \/ when a literal has '/') is always a
//     candidate;
//   - operation names are upper-cased for Event Grid events, so their
//     literals are searched ASCII-case-insensitively, and records with
//     non-ASCII letters whose case mapping is ASCII (ı, ſ, İ, K) are
//     candidates.
//
// Searching (engine.go, candidates): each literal has a cursor over the
// message, so it is searched for at most once per message however many
// records there are; over the whole message a rule's clauses are tried
// cheapest first (clausesByCost), in a record in an adaptive order (the one
// that last rejected a record first); case-insensitive literals are
// searched in place. A literal is found by two of its bytes at once where
// the CPU has AVX2 (pfLit.pair, indexPair), else by its anchor byte (in
// both cases for a case-insensitive letter).

// pfLit is one literal; fold marks an ASCII-case-insensitive search (text is
// then lower-case).
type pfLit struct {
	text []byte
	fold bool
	// anchor is the position of the literal's rarest byte, searched for
	// first (bytes.Index anchors on the first byte, often a common one).
	anchor int
	// guard, when not 0, is 1 + the index in prefilter.lits of a prefix
	// this literal shares with others: where the guard does not occur,
	// none of them does, and one search answers for all (guardLiterals).
	guard int
	// paired literals are searched for by the anchor and the byte at
	// second together (indexPair), where the CPU can (pairSearch).
	paired bool
	second int
}

// pair chooses the literal's second byte: the rarest in the half of it
// the anchor is not in. The anchor recurs mostly in near misses that share
// a prefix or a suffix with the literal (resource ids of the same provider,
// operation names of the same resource type); a byte from the other half
// rarely recurs with it at the same distance.
func (l *pfLit) pair() {
	n := len(l.text)
	if !pairSearch || n < 4 {
		return
	}
	lo, hi := n/2, n
	if l.anchor >= n/2 {
		lo, hi = 0, n/2
	}
	l.paired, l.second = true, lo+rarestByte(l.text[lo:hi], l.fold)
}

// foldMask is what indexPair ORs into a text byte before comparing it
// with the literal's byte c: a case-insensitive letter matches both cases.
func (l *pfLit) foldMask(c byte) byte {
	if l.fold && c >= 'a' && c <= 'z' {
		return 0x20
	}
	return 0
}

// byteFreq is how often each byte occurs in Azure log records (per 64 KB
// of the benchmark corpus, case-sensitive); bytes not listed are rarer
// still. A literal is searched for by its least frequent byte first
// (bytes.Index anchors on the first byte, often a common one).
var byteFreq = [128]uint16{
	'"':  5529,
	'e':  3660,
	'a':  2587,
	't':  2221,
	'r':  2216,
	's':  2147,
	'i':  2104,
	'o':  2089,
	':':  1794,
	'/':  1709,
	'n':  1693,
	'0':  1636,
	'c':  1571,
	'-':  1570,
	'd':  1519,
	',':  1240,
	'S':  1227,
	'p':  1191,
	'1':  1155,
	'R':  1130,
	'E':  1119,
	'\\': 1090,
	'l':  1069,
	'm':  1021,
	'T':  1003,
	'2':  957,
	'C':  956,
	'O':  946,
	'u':  924,
	'I':  919,
	'.':  889,
	'4':  793,
	'b':  746,
	'A':  724,
	'7':  675,
	'5':  650,
	'8':  647,
	'3':  640,
	'9':  603,
	'6':  586,
	'N':  565,
	'U':  514,
	'f':  494,
	'v':  482,
	'y':  405,
	'g':  383,
	'D':  376,
	'M':  355,
	'{':  321,
	'}':  321,
	'h':  300,
	'F':  287,
	'P':  268,
	'G':  266,
	'B':  251,
	' ':  235,
	'L':  233,
	'k':  231,
	'V':  181,
	'K':  177,
	'w':  159,
	'x':  157,
	'W':  128,
	'z':  79,
	'Z':  79,
	'H':  71,
	'q':  61,
	'@':  43,
	'Y':  40,
	'[':  21,
	']':  21,
	'(':  10,
	')':  10,
	'j':  10,
}

// rarestByte returns the position of the byte of lit expected least often
// in records; for a case-insensitive literal (lower-case) both cases of a
// letter count.
func rarestByte(lit []byte, fold bool) int {
	best, bestFreq := 0, -1
	for i, c := range lit {
		f := int(byteFreq[c&0x7f])
		if fold && c >= 'a' && c <= 'z' {
			f += int(byteFreq[c-'a'+'A'])
		}
		if bestFreq < 0 || f < bestFreq {
			best, bestFreq = i, f
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

// next returns the offset of the first occurrence of the literal in hay
// at or after from, or -1. A case-insensitive literal is searched in place:
// its anchor byte (and second byte, when paired) in both cases, then the
// rest compared ASCII-case-folded (exactly a search of the lower-cased
// literal in hay lower-cased).
func (l *pfLit) next(hay []byte, from int) int {
	n, a := len(l.text), l.anchor
	if l.paired {
		p, q := min(a, l.second), max(a, l.second)
		c1, c2 := l.text[p], l.text[q]
		m1, m2 := l.foldMask(c1), l.foldMask(c2)
		for i := from + p; i < len(hay); {
			j := indexPair(hay[i:], q-p, c1, m1, c2, m2)
			if j < 0 {
				return -1
			}
			s := i + j - p
			if s+n > len(hay) {
				return -1
			}
			if l.at(hay, s) {
				return s
			}
			i += j + 1
		}
		return -1
	}
	c := l.text[a]
	i := from + a
	if !l.fold || c < 'a' || c > 'z' {
		for i < len(hay) {
			j := bytes.IndexByte(hay[i:], c)
			if j < 0 {
				return -1
			}
			i += j
			s := i - a
			if s+n > len(hay) {
				return -1
			}
			if l.at(hay, s) {
				return s
			}
			i++
		}
		return -1
	}
	// lo and up are the next offsets of the anchor's two cases at or after
	// i (len(hay) when none).
	lo, up := -1, -1
	for i < len(hay) {
		if lo < i {
			lo = indexByteFrom(hay, c, i)
		}
		if up < i {
			up = indexByteFrom(hay, c-'a'+'A', i)
		}
		p := min(lo, up)
		s := p - a
		if p >= len(hay) || s+n > len(hay) {
			return -1
		}
		if l.at(hay, s) {
			return s
		}
		i = p + 1
	}
	return -1
}

func indexByteFrom(b []byte, c byte, i int) int {
	if j := bytes.IndexByte(b[i:], c); j >= 0 {
		return i + j
	}
	return len(b)
}

// at reports whether the literal occurs at hay[s:] (s+len(text) <= len(hay)).
func (l *pfLit) at(hay []byte, s int) bool {
	w := hay[s : s+len(l.text)]
	// Most anchor hits fail on the byte after the anchor: test it first.
	if k := l.anchor + 1; k < len(w) && w[k] != l.text[k] && (!l.fold || lower(w[k]) != l.text[k]) {
		return false
	}
	if !l.fold {
		return string(w) == string(l.text)
	}
	for k, t := range l.text {
		if lower(w[k]) != t {
			return false
		}
	}
	return true
}

// pfClause holds when some literal occurs.
type pfClause []pfLit

// rulePF is one rule's prefilter; nil clauses means every record is a
// candidate for the rule.
type rulePF struct {
	clauses []pfClause
	// lits holds, for each clause, the indexes of its literals in
	// prefilter.lits.
	lits [][]int
	// cheapFirst lists the clauses by the estimated cost of searching a
	// whole message for them, cheapest first. Over a whole message most
	// clauses of a rule that cannot match are absent, so the first clause
	// tried is searched to the end: it had better be the cheapest one.
	cheapFirst []int
}

// prefilter is the engine-wide prefilter.
type prefilter struct {
	rules []rulePF
	// lits are the distinct literals of every rule.
	lits []*pfLit
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
		rp := rulePF{clauses: clauses}
		for _, cl := range clauses {
			var ids []int
			for k := range cl {
				ids = append(ids, pf.litIndex(&cl[k]))
			}
			rp.lits = append(rp.lits, ids)
		}
		pf.rules = append(pf.rules, rp)
	}
	pf.guardLiterals()
	for k := range pf.lits {
		pf.lits[k].pair()
	}
	for i := range pf.rules {
		pf.rules[i].cheapFirst = pf.clausesByCost(pf.rules[i].lits)
	}
	return pf
}

// searchCost estimates what searching a message for literal k to its end
// costs: the expected number of anchor hits (a case-insensitive letter is
// searched in both cases). A guarded literal costs what its guard does:
// where the guard is absent, nearly everywhere, only the guard is searched.
func (pf *prefilter) searchCost(k int) int {
	l := pf.lits[k]
	if l.guard > 0 {
		return pf.searchCost(l.guard - 1)
	}
	c := l.text[l.anchor]
	cost := int(byteFreq[c&0x7f]) + 64 // 64: a search's own overhead
	if l.fold && c >= 'a' && c <= 'z' {
		cost += int(byteFreq[c-'a'+'A']) + 64
	}
	return cost
}

// clausesByCost returns the clause indexes of lits, cheapest to search a
// whole message for first (a clause costs the sum of its literals: when it
// is absent, every one of them is searched).
func (pf *prefilter) clausesByCost(lits [][]int) []int {
	cost := make([]int, len(lits))
	order := make([]int, len(lits))
	for ci, ks := range lits {
		order[ci] = ci
		for _, k := range ks {
			cost[ci] += pf.searchCost(k)
		}
	}
	sort.SliceStable(order, func(a, b int) bool { return cost[order[a]] < cost[order[b]] })
	return order
}

// minGuard is the shortest shared prefix worth a search of its own: a
// short one ("microsoft.") occurs in nearly every record and would only add
// a search.
const minGuard = 24

// guardLiterals gives literals that share a long prefix (operation names:
// "microsoft.kubernetes/connectedclusters/events" starts both the seed
// rule's and its core-API twin's) that prefix as a guard literal, searched
// first: in the records where it does not occur, which are nearly all, one
// search rules out every literal that starts with it. The guards are not
// clauses of any rule, so they change no answer, only the work.
func (pf *prefilter) guardLiterals() {
	n := len(pf.lits)
	for i := 0; i < n; i++ {
		for j := i + 1; j < n; j++ {
			a, b := pf.lits[i], pf.lits[j]
			if a.fold != b.fold {
				continue
			}
			l := 0
			for l < len(a.text) && l < len(b.text) && a.text[l] == b.text[l] {
				l++
			}
			if l < minGuard || l == len(a.text) || l == len(b.text) {
				continue // short, or one is the other's prefix (its own guard)
			}
			g := pfLit{text: a.text[:l:l], fold: a.fold, anchor: rarestByte(a.text[:l], a.fold)}
			k := pf.litIndex(&g) + 1
			for _, x := range []*pfLit{a, b} {
				if x.guard == 0 || len(pf.lits[x.guard-1].text) < l {
					x.guard = k // the longest shared prefix rules out most
				}
			}
		}
	}
}

// litIndex returns the index of l in pf.lits, adding it when new.
func (pf *prefilter) litIndex(l *pfLit) int {
	for i, m := range pf.lits {
		if m.fold == l.fold && bytes.Equal(m.text, l.text) {
			return i
		}
	}
	pf.lits = append(pf.lits, l)
	return len(pf.lits) - 1
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

// A literal that contains another literal of its clause (both folded or
// neither) adds nothing to the clause: wherever it occurs, so does the
// other ("delete" or "deletecollection" holds when "delete" occurs).
func appendLits(dst, src pfClause) pfClause {
	for _, l := range src {
		implied := false
		for _, d := range dst {
			if d.fold == l.fold && bytes.Contains(l.text, d.text) {
				implied = true
				break
			}
		}
		if implied {
			continue
		}
		kept := dst[:0]
		for _, d := range dst {
			if !(d.fold == l.fold && bytes.Contains(d.text, l.text)) {
				kept = append(kept, d)
			}
		}
		dst = append(kept, l)
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
	return pfLit{text: []byte(text), fold: fold, anchor: rarestByte([]byte(text), fold)}, true
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
	if field == "event.outcome" {
		// Synthesized, but always a lower-cased copy of text in the
		// record (resultType, properties.result, or the Event Grid
		// event type's Success/Failure suffix): normalize.go.
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
// literal.
func (pf *prefilter) hides(b []byte) bool {
	// One pass over the backslashes: \/ and \uXXXX.
	for i := 0; ; {
		j := bytes.IndexByte(b[i:], '\\')
		if j < 0 || i+j+1 >= len(b) {
			break
		}
		i += j + 1
		switch b[i] {
		case '/':
			if pf.slash {
				return true
			}
			continue
		case 'u':
		default:
			continue
		}
		if len(b)-(i+1) < 4 {
			break
		}
		cp := 0
		valid := true
		for _, c := range b[i+1 : i+5] {
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
	return pf.fold && foldHazard(b)
}

// foldHazard reports whether b holds a non-ASCII letter whose case folds
// to an ASCII letter (İ ı ſ K), which a case-insensitive literal search in
// raw bytes would miss.
func foldHazard(b []byte) bool {
	// İ and ı start with 0xC4, ſ with 0xC5, K with 0xE2.
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
