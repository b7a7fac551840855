package kql

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Error is a syntax error, or input outside the supported KQL subset, in
// a query given to Compile. It never means a partial compile: a query
// either compiles whole or not at all.
type Error struct {
	// Offset is the byte offset in the query where the problem is.
	Offset int
	// Line and Column are 1-based and locate Offset within the query; Column
	// counts Unicode code points (characters), not bytes.
	Line, Column int
	// Msg says what is wrong, without the position.
	Msg string
}

// Error renders the error as "line:col: msg".
func (e *Error) Error() string { return fmt.Sprintf("%d:%d: %s", e.Line, e.Column, e.Msg) }

// errorAt builds a Error at byte offset off of src.
func errorAt(src string, off int, msg string) *Error {
	l, c := lineCol(src, off)
	return &Error{Offset: off, Line: l, Column: c, Msg: msg}
}

// lineCol converts a byte offset into a 1-based line and column (in code
// points). Lines end at "\n"; a "\r\n" pair ends one line.
func lineCol(src string, off int) (line, col int) {
	off = min(max(off, 0), len(src))
	before := src[:off]
	line = 1 + strings.Count(before, "\n")
	lineStart := strings.LastIndexByte(before, '\n') + 1
	return line, 1 + utf8.RuneCountInString(before[lineStart:])
}

// Query is a compiled KQL query. It is immutable and safe for concurrent use;
// Match allocates nothing.
//
// Matching follows Elastic's keyword semantics, with the type of each
// document leaf standing in for the field's mapping:
//   - field:value and field:"value" match a string leaf exactly and
//     case-sensitively. A value written as a number (JSON number syntax, quoted
//     or not) also matches a numeric leaf (json.Number, float64, int, int64)
//     of equal value: 200 matches 200, 200.0 and 2e2, and the string "200" but
//     not the string "200.0". true and false also match bool leaves.
//   - An unquoted value with * is a wildcard pattern over string leaves only;
//   - matches any run of characters, including none; ? is an ordinary
//     character, as in KQL.
//   - field:* matches when the field is present and not null (an empty string
//     is present; an empty array or an array of nulls is not; an object is
//     present when something in it is).
//   - Ranges (<, <=, >, >=) compare numerically when the leaf is numeric and
//     the value is a number, and compare strings byte-wise (lexicographically)
//     when the leaf is a string. Dates are strings here: they compare
//     correctly only when both sides are ISO 8601 in the same zone and
//     precision (e.g. 2024-01-02T03:04:05Z); date math (now-1d) is rejected at
//     compile time. Anything else does not match.
//   - A multi-valued field (array) matches when any element matches; arrays of
//     objects are descended into. field:(a and b) needs some element equal to a
//     and some element equal to b. not x matches every document x does not
//     match, including documents without the field.
//   - A dotted field name is found however the document nests it: for
//     a.b.c the keys a→b→c, a.b→c, a→b.c and a.b.c are all tried.
type Query struct {
	src    string
	root   node
	fields []string
}

// Compile parses and compiles a KQL query once. The result is immutable
// and safe for concurrent use. The error is a *Error for a syntax error or
// anything outside the supported subset (free text without a field, nested
// field:{...} queries, wildcards in field names, *:value, unquoted null,
// Lucene fuzzy/regex/range syntax, date math); nothing is ever accepted and
// then matched differently from Elastic.
func Compile(query string) (*Query, error) {
	root, kerr := parse(query)
	if kerr != nil {
		return nil, kerr
	}
	var fields []string
	root.fields(func(f string) { fields = append(fields, f) })
	slices.Sort(fields)
	return &Query{src: query, root: root, fields: slices.Compact(fields)}, nil
}

// Match reports whether doc matches the query. doc is a decoded JSON object
// (see the package doc); it is only read. Match allocates nothing and is safe
// for concurrent use. A nil doc is an empty document.
func (q *Query) Match(doc map[string]any) bool { return q.root.match(doc) }

// String prints the compiled query as an S-expression, deterministically:
// (or ...), (and ...), (not x), (is field "v"), (wildcard field "a*b") with
// literal * and \ escaped by \, (exists field), (range field >= "v").
// Value lists are expanded: f:(a or b) prints as (or (is f "a") (is f "b")).
func (q *Query) String() string {
	var b strings.Builder
	q.root.write(&b)
	return b.String()
}

// Fields returns the distinct field names the query references, sorted. The
// slice is a fresh copy owned by the caller.
func (q *Query) Fields() []string { return slices.Clone(q.fields) }

// Term is one prefilter alternative: Field's value contains Literal.
type Term struct {
	// Field is a field path, looked up as Match looks it up.
	Field string
	// Literal is a case-sensitive substring of a string value of Field.
	Literal string
}

// A Clause holds for a document when, for at least one of its Terms, a
// string leaf value of Term.Field (any element, when the field is
// multi-valued) contains Term.Literal as a case-sensitive substring.
type Clause []Term

// Prefilter returns clauses that every document the query matches
// satisfies, all of them: what an engine can search for in a record before
// decoding it. It returns none when nothing can be derived (a query that
// can match through not, field:*, a range, or a value that also matches
// numbers or booleans). keep, when not nil, says which fields terms may name
// (an engine excludes fields whose values it synthesizes). For a and b the
// clauses of both sides; for a or b one clause, the union of each side's
// most selective clause (fewest terms, then the longest shortest literal);
// for field:pattern one clause per literal fragment. The slices are fresh
// copies owned by the caller.
func (q *Query) Prefilter(keep func(field string) bool) []Clause {
	return q.root.prefilter(keep)
}

// node is one node of a compiled query.
type node interface {
	// match evaluates the node on a document without allocating.
	match(doc map[string]any) bool
	// write prints the node (see Query.String).
	write(b *strings.Builder)
	// fields reports every field name the node references.
	fields(add func(string))
	// prefilter derives clauses (see Query.Prefilter).
	prefilter(keep func(field string) bool) []Clause
}

// andNode matches when every kid matches.
type andNode struct{ kids []node }

// orNode matches when some kid matches.
type orNode struct{ kids []node }

// notNode matches when its kid does not.
type notNode struct{ kid node }

// isNode is field:value with a literal value.
type isNode struct {
	path *fieldPath
	val  scalar
}

// wildcardNode is field:pattern with at least one unescaped *.
type wildcardNode struct {
	path  *fieldPath
	frags []string // text between the wildcards; len(frags) >= 2
}

// existsNode is field:*.
type existsNode struct{ path *fieldPath }

// rangeNode is field < v, <=, >, >=.
type rangeNode struct {
	path *fieldPath
	op   string // "<", "<=", ">" or ">="
	val  scalar
}

// scalar is a literal value with its number and boolean readings decided
// at compile time.
type scalar struct {
	text  string
	num   number  // valid when isNum
	f     float64 // num as a float64, for float64 leaves
	isNum bool
	// isBool is true for "true" and "false"; b is the value.
	isBool, b bool
}

func newScalar(text string) scalar {
	s := scalar{text: text}
	if n, ok := parseNum(text); ok {
		s.num, s.isNum = n, true
		s.f, _ = strconv.ParseFloat(text, 64) // ±Inf on overflow is the right order
	}
	if text == "true" || text == "false" {
		s.isBool, s.b = true, text == "true"
	}
	return s
}

// fieldPath is a compiled field path.
type fieldPath struct {
	name string
	// keys[i][k] is segments i..i+k joined by ".": the map keys that can hold
	// the rest of the path from segment i on.
	keys [][]string
}

func newPath(name string) *fieldPath {
	segs := strings.Split(name, ".")
	keys := make([][]string, len(segs))
	for i := range segs {
		for j := i; j < len(segs); j++ {
			keys[i] = append(keys[i], strings.Join(segs[i:j+1], "."))
		}
	}
	return &fieldPath{name: name, keys: keys}
}

// newValue compiles field:value for an unquoted or quoted value.
func newValue(src string, path *fieldPath, lit literal) (node, *Error) {
	if lit.quoted {
		return &isNode{path: path, val: newScalar(lit.text())}, nil
	}
	text := lit.text()
	if msg := luceneSyntax(strings.Join(lit.frags, "*")); msg != "" {
		return nil, errorAt(src, lit.start, msg+"; quote the value to match it literally")
	}
	if lit.wild() {
		if len(lit.frags) == 2 && text == "" {
			return &existsNode{path: path}, nil
		}
		return &wildcardNode{path: path, frags: lit.frags}, nil
	}
	if text == "null" {
		return nil, errorAt(src, lit.start, `unquoted null is unsupported; write "null" to match the string`)
	}
	return &isNode{path: path, val: newScalar(text)}, nil
}

// luceneSyntax names Lucene query syntax that KQL would take literally,
// which is almost never what a rule author meant, or returns "".
func luceneSyntax(v string) string {
	switch {
	case len(v) >= 2 && v[0] == '/' && v[len(v)-1] == '/':
		return "Lucene regular expressions (/.../) are unsupported in KQL"
	case len(v) >= 2 && v[0] == '[' && v[len(v)-1] == ']' && strings.Contains(v, " TO "):
		return "Lucene range syntax ([a TO b]) is unsupported; use field >= a and field <= b"
	}
	if i := strings.LastIndexByte(v, '~'); i > 0 && !strings.ContainsAny(v, " \t\r\n") {
		tail := v[i+1:]
		if strings.Trim(tail, "0123456789.") == "" {
			return "Lucene fuzzy syntax (~) is unsupported in KQL"
		}
	}
	return ""
}

// newRange compiles field op value.
func newRange(src string, path *fieldPath, op string, lit literal) (node, *Error) {
	text := lit.text()
	if !lit.quoted {
		switch {
		case lit.wild():
			return nil, errorAt(src, lit.start, "wildcards in range values are unsupported")
		case text == "null":
			return nil, errorAt(src, lit.start, "null in a range is unsupported")
		}
	}
	if text == "now" || strings.HasPrefix(text, "now-") || strings.HasPrefix(text, "now+") ||
		strings.HasPrefix(text, "now/") || strings.Contains(text, "||") {
		return nil, errorAt(src, lit.start, "date math in range values is unsupported; compare with an ISO 8601 date")
	}
	return &rangeNode{path: path, op: op, val: newScalar(text)}, nil
}

// fieldString prints a field name, quoted when it would not read back.
func fieldString(name string) string {
	if name == "" || strings.ContainsAny(name, " \t\r\n()\"\\:<>*{}") || !utf8.ValidString(name) {
		return strconv.Quote(name)
	}
	return name
}

func writeKids(b *strings.Builder, op string, kids []node) {
	b.WriteString("(" + op)
	for _, k := range kids {
		b.WriteByte(' ')
		k.write(b)
	}
	b.WriteByte(')')
}

func (n *andNode) write(b *strings.Builder) { writeKids(b, "and", n.kids) }
func (n *orNode) write(b *strings.Builder)  { writeKids(b, "or", n.kids) }
func (n *notNode) write(b *strings.Builder) {
	b.WriteString("(not ")
	n.kid.write(b)
	b.WriteByte(')')
}
func (n *isNode) write(b *strings.Builder) {
	b.WriteString("(is " + fieldString(n.path.name) + " " + strconv.Quote(n.val.text) + ")")
}
func (n *wildcardNode) write(b *strings.Builder) {
	esc := strings.NewReplacer(`\`, `\\`, `*`, `\*`)
	parts := make([]string, len(n.frags))
	for i, f := range n.frags {
		parts[i] = esc.Replace(f)
	}
	b.WriteString("(wildcard " + fieldString(n.path.name) + " " + strconv.Quote(strings.Join(parts, "*")) + ")")
}
func (n *existsNode) write(b *strings.Builder) {
	b.WriteString("(exists " + fieldString(n.path.name) + ")")
}
func (n *rangeNode) write(b *strings.Builder) {
	b.WriteString("(range " + fieldString(n.path.name) + " " + n.op + " " + strconv.Quote(n.val.text) + ")")
}

func (n *andNode) fields(add func(string)) {
	for _, k := range n.kids {
		k.fields(add)
	}
}
func (n *orNode) fields(add func(string)) {
	for _, k := range n.kids {
		k.fields(add)
	}
}
func (n *notNode) fields(add func(string))      { n.kid.fields(add) }
func (n *isNode) fields(add func(string))       { add(n.path.name) }
func (n *wildcardNode) fields(add func(string)) { add(n.path.name) }
func (n *existsNode) fields(add func(string))   { add(n.path.name) }
func (n *rangeNode) fields(add func(string))    { add(n.path.name) }

// better reports whether clause a is more selective than b: fewer terms,
// then a longer shortest literal.
func better(a, b Clause) bool {
	if len(a) != len(b) {
		return len(a) < len(b)
	}
	return shortest(a) > shortest(b)
}

func shortest(c Clause) int {
	m := -1
	for _, t := range c {
		if m < 0 || len(t.Literal) < m {
			m = len(t.Literal)
		}
	}
	return m
}

func (n *andNode) prefilter(keep func(string) bool) []Clause {
	var out []Clause
	for _, k := range n.kids {
		out = append(out, k.prefilter(keep)...)
	}
	return out
}

func (n *orNode) prefilter(keep func(string) bool) []Clause {
	var merged Clause
	for _, k := range n.kids {
		cs := k.prefilter(keep)
		if len(cs) == 0 {
			return nil
		}
		best := cs[0]
		for _, c := range cs[1:] {
			if better(c, best) {
				best = c
			}
		}
		for _, t := range best {
			if !slices.Contains(merged, t) {
				merged = append(merged, t)
			}
		}
	}
	return []Clause{merged}
}

func (n *notNode) prefilter(func(string) bool) []Clause    { return nil }
func (n *existsNode) prefilter(func(string) bool) []Clause { return nil }
func (n *rangeNode) prefilter(func(string) bool) []Clause  { return nil }

func (n *isNode) prefilter(keep func(string) bool) []Clause {
	if n.val.isNum || n.val.isBool || (keep != nil && !keep(n.path.name)) {
		return nil
	}
	return []Clause{{{Field: n.path.name, Literal: n.val.text}}}
}

func (n *wildcardNode) prefilter(keep func(string) bool) []Clause {
	if keep != nil && !keep(n.path.name) {
		return nil
	}
	var out []Clause
	for _, f := range n.frags {
		if f != "" {
			out = append(out, Clause{{Field: n.path.name, Literal: f}})
		}
	}
	return out
}
