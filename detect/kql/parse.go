package kql

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// parser turns a query into a tree of compiled nodes. It mirrors Kibana's
// grammar (grammar.peggy), production for production:
//
//	query      = space* or space*
//	or         = and (space+ "or" space+ and)*
//	and        = not (space+ "and" space+ not)*
//	not        = "not" space+ sub | sub
//	sub        = "(" space* or space* ")" | expression
//	expression = field space* rangeop space* literal
//	           | field space* ":" space* list
//	list       = "(" space* orlist space* ")" | literal
//	orlist     = andlist (space+ "or" space+ andlist)*
//	andlist    = notlist (space+ "and" space+ notlist)*
//	notlist    = "not" space+ list | list
//
// Kibana's other productions (free text without a field, field:{nested}) and
// Lucene syntax Kibana would take literally are reported as unsupported.
//
// Kibana quirks kept on purpose, so a query means here what it means there:
// "a:b c" is the one value "b c"; "a:cannot be" fails because "not " inside an
// unquoted value is the not keyword; "a:b or" (no whitespace after or) is the
// value "b or"; "x"or y needs whitespace before or; \n in an unquoted value is
// a newline, so \not is a newline and "ot" (then trimmed to "ot").
type parser struct {
	scanner
	// paths shares one compiled path per field name within a query.
	paths map[string]*fieldPath
	// depth counts open parentheses, to bound recursion.
	depth int
}

// Limits that keep compile time and memory bounded on hostile input; real
// rules stay far below them.
const (
	maxDepth    = 100 // nested parentheses
	maxSegments = 32  // dot-separated parts of a field name
)

// open consumes "(" and checks the nesting limit; close with closeParen.
func (p *parser) open() (int, *Error) {
	if p.depth >= maxDepth {
		return 0, p.errorHere(fmt.Sprintf("parentheses nested deeper than %d", maxDepth))
	}
	p.depth++
	open := p.pos
	p.pos++
	p.skipSpaces()
	return open, nil
}

// parse parses and compiles src.
func parse(src string) (node, *Error) {
	p := &parser{scanner: scanner{src: src}, paths: map[string]*fieldPath{}}
	p.skipSpaces()
	if p.eof() {
		return nil, p.errorHere("empty query")
	}
	n, err := p.or()
	if err != nil {
		return nil, err
	}
	p.skipSpaces()
	if !p.eof() {
		return nil, p.errorHere(`expected "and", "or" or end of query, found ` + p.found())
	}
	return n, nil
}

func (p *parser) errorHere(msg string) *Error { return errorAt(p.src, p.pos, msg) }

// where renders an offset as line:col for messages that point elsewhere.
func (p *parser) where(off int) string {
	l, c := lineCol(p.src, off)
	return fmt.Sprintf("%d:%d", l, c)
}

// chain parses next (op next)* into one n-ary node, as Kibana does.
func (p *parser) chain(op string, next func() (node, *Error)) (node, *Error) {
	first, err := next()
	if err != nil {
		return nil, err
	}
	kids := []node{first}
	for p.accept(op) {
		n, err := next()
		if err != nil {
			return nil, err
		}
		kids = append(kids, n)
	}
	switch {
	case len(kids) == 1:
		return first, nil
	case op == "or":
		return &orNode{kids: kids}, nil
	default:
		return &andNode{kids: kids}, nil
	}
}

func (p *parser) or() (node, *Error)  { return p.chain("or", p.and) }
func (p *parser) and() (node, *Error) { return p.chain("and", p.not) }

func (p *parser) not() (node, *Error) {
	if p.accept("not") {
		n, err := p.sub()
		if err != nil {
			return nil, err
		}
		return &notNode{kid: n}, nil
	}
	return p.sub()
}

// closeParen expects the ")" that closes the "(" at open.
func (p *parser) closeParen(open int) *Error {
	p.skipSpaces()
	if p.peek() != ')' {
		return p.errorHere(fmt.Sprintf(`expected ")" to close "(" at %s, found %s`, p.where(open), p.found()))
	}
	p.pos++
	p.depth--
	return nil
}

func (p *parser) sub() (node, *Error) {
	if p.peek() != '(' {
		return p.expression()
	}
	open, err := p.open()
	if err != nil {
		return nil, err
	}
	n, err := p.or()
	if err != nil {
		return nil, err
	}
	if err := p.closeParen(open); err != nil {
		return nil, err
	}
	return n, nil
}

func (p *parser) expression() (node, *Error) {
	lit, ok, err := p.literal()
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, p.errorHere(`expected a field name or "(", found ` + p.found())
	}
	p.skipSpaces()
	if p.peek() == ':' {
		p.pos++
		p.skipSpaces()
		if p.peek() == '{' {
			return nil, p.errorHere("nested field queries (field:{...}) are unsupported")
		}
		path, err := p.field(lit)
		if err != nil {
			return nil, err
		}
		return p.list(path, `":"`)
	}
	for _, op := range [...]string{"<=", ">=", "<", ">"} { // longest first
		if strings.HasPrefix(p.src[p.pos:], op) {
			path, err := p.field(lit)
			if err != nil {
				return nil, err
			}
			p.pos += len(op)
			p.skipSpaces()
			v, ok, err := p.literal()
			if err != nil {
				return nil, err
			}
			if !ok {
				return nil, p.errorHere(fmt.Sprintf("expected a value after %q, found %s", op, p.found()))
			}
			return newRange(p.src, path, op, v)
		}
	}
	if text := lit.text(); !lit.quoted && !lit.wild() && isKeyword(text) {
		return nil, errorAt(p.src, lit.start, fmt.Sprintf(`expected a field name or "(", found keyword %q`, text))
	}
	return nil, errorAt(p.src, lit.start, fmt.Sprintf(
		"free-text search without a field name is unsupported (%q); write field:value", literalSource(p.src, lit)))
}

// isKeyword reports whether s is and/or/not in any case.
func isKeyword(s string) bool {
	return strings.EqualFold(s, "and") || strings.EqualFold(s, "or") || strings.EqualFold(s, "not")
}

// literalSource returns a literal's text as written, trimmed and cut to
// 40 bytes, for messages.
func literalSource(src string, lit literal) string {
	s := strings.TrimFunc(src[lit.start:lit.end], trimmable)
	if len(s) > 40 {
		cut := 40
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "..."
	}
	return s
}

// field checks a field-name literal and returns its compiled path.
func (p *parser) field(lit literal) (*fieldPath, *Error) {
	name := lit.text()
	switch {
	case lit.wild() && name == "":
		return nil, errorAt(p.src, lit.start, "searching every field (*:value) is unsupported; name the field")
	case lit.wild():
		return nil, errorAt(p.src, lit.start, fmt.Sprintf("wildcards in field names are unsupported (%s)", literalSource(p.src, lit)))
	case name == "":
		return nil, errorAt(p.src, lit.start, "empty field name")
	case !lit.quoted && (name[0] == '-' || name[0] == '+'):
		return nil, errorAt(p.src, lit.start, fmt.Sprintf("Lucene %c operator is unsupported; use not", name[0]))
	case strings.Count(name, ".") >= maxSegments:
		return nil, errorAt(p.src, lit.start, fmt.Sprintf("field name has more than %d dot-separated parts", maxSegments))
	}
	if path, ok := p.paths[name]; ok {
		return path, nil
	}
	path := newPath(name)
	p.paths[name] = path
	return path, nil
}

// list parses a value or a parenthesized value list for path. after names
// what precedes the value, for messages ("" to name nothing).
func (p *parser) list(path *fieldPath, after string) (node, *Error) {
	if p.peek() != '(' {
		lit, ok, err := p.literal()
		if err != nil {
			return nil, err
		}
		if !ok && after == "" {
			return nil, p.errorHere("expected a value, found " + p.found())
		}
		if !ok {
			return nil, p.errorHere(fmt.Sprintf("expected a value after %s, found %s", after, p.found()))
		}
		return newValue(p.src, path, lit)
	}
	open, err := p.open()
	if err != nil {
		return nil, err
	}
	n, err := p.orList(path)
	if err != nil {
		return nil, err
	}
	if err := p.closeParen(open); err != nil {
		return nil, err
	}
	return n, nil
}

func (p *parser) orList(path *fieldPath) (node, *Error) {
	return p.chain("or", func() (node, *Error) { return p.andList(path) })
}

func (p *parser) andList(path *fieldPath) (node, *Error) {
	return p.chain("and", func() (node, *Error) { return p.notList(path) })
}

func (p *parser) notList(path *fieldPath) (node, *Error) {
	if p.accept("not") {
		n, err := p.list(path, `"not"`)
		if err != nil {
			return nil, err
		}
		return &notNode{kid: n}, nil
	}
	return p.list(path, "")
}
