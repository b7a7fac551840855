package infra

// A small Bicep scanner, enough for the consistency checks in infra_test.go
// (the Bicep CLI cannot be installed here). It tokenizes Bicep (strings with
// ${} interpolation, ''' strings, comments), splits a file into top-level
// declarations (param, var, resource, module, output, ...), parses object
// literals into key → value spans, and resolves the expressions used for app
// settings (object literals, variables, union(...), cond ? a : b). Anything
// it does not understand is reported as an error, never silently skipped.

import (
	"fmt"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
)

type tokKind int

const (
	tIdent tokKind = iota
	tString
	tNumber
	tPunct
	tNL
)

type token struct {
	kind   tokKind
	text   string // identifier, punctuation, number; for strings the content with escapes decoded and ${...} kept verbatim
	interp bool   // string contains ${...}
	start  int    // byte offsets in the source
	end    int
}

type bicepFile struct {
	name  string // slash path relative to the repository root
	src   string
	toks  []token
	decls []*decl
}

type decl struct {
	kind       string // param, var, resource, module, output, targetScope, type, func, import, metadata, using
	name       string // symbol name
	target     string // resource 'type@version' or module path (string literal)
	existing   bool
	decorators []string // raw decorator text, e.g. "@secure()"
	start, end int      // token span of the value after '=' (end exclusive); start == end when absent
	first      int      // token index of the keyword
	last       int      // token index after the declaration
}

func (f *bicepFile) line(tok int) int {
	if tok >= len(f.toks) {
		return strings.Count(f.src, "\n") + 1
	}
	return strings.Count(f.src[:f.toks[tok].start], "\n") + 1
}

func (f *bicepFile) pos(tok int) string { return fmt.Sprintf("%s:%d", f.name, f.line(tok)) }

// text returns the source text of tokens [start, end).
func (f *bicepFile) text(start, end int) string {
	if start >= end {
		return ""
	}
	return f.src[f.toks[start].start:f.toks[end-1].end]
}

var multiPunct = []string{"...", "??", ".?", "=>", "==", "!=", "<=", ">=", "&&", "||", "::"}

func lex(src string) ([]token, error) {
	var toks []token
	i := 0
	for i < len(src) {
		c := src[i]
		switch {
		case c == ' ' || c == '\t' || c == '\r':
			i++
		case c == '\n':
			toks = append(toks, token{kind: tNL, text: "\n", start: i, end: i + 1})
			i++
		case strings.HasPrefix(src[i:], "//"):
			for i < len(src) && src[i] != '\n' {
				i++
			}
		case strings.HasPrefix(src[i:], "/*"):
			j := strings.Index(src[i+2:], "*/")
			if j < 0 {
				return nil, fmt.Errorf("offset %d: unterminated block comment", i)
			}
			i += j + 4
		case strings.HasPrefix(src[i:], "'''"):
			j := strings.Index(src[i+3:], "'''")
			if j < 0 {
				return nil, fmt.Errorf("offset %d: unterminated ''' string", i)
			}
			toks = append(toks, token{kind: tString, text: src[i+3 : i+3+j], start: i, end: i + 6 + j})
			i += j + 6
		case c == '\'':
			text, interp, end, err := lexString(src, i)
			if err != nil {
				return nil, err
			}
			toks = append(toks, token{kind: tString, text: text, interp: interp, start: i, end: end})
			i = end
		case c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z':
			j := i + 1
			for j < len(src) && (src[j] == '_' || src[j] >= 'a' && src[j] <= 'z' || src[j] >= 'A' && src[j] <= 'Z' || src[j] >= '0' && src[j] <= '9') {
				j++
			}
			toks = append(toks, token{kind: tIdent, text: src[i:j], start: i, end: j})
			i = j
		case c >= '0' && c <= '9':
			j := i + 1
			for j < len(src) && (src[j] >= '0' && src[j] <= '9' || src[j] == '.') {
				j++
			}
			toks = append(toks, token{kind: tNumber, text: src[i:j], start: i, end: j})
			i = j
		default:
			p := string(c)
			for _, m := range multiPunct {
				if strings.HasPrefix(src[i:], m) {
					p = m
					break
				}
			}
			if !strings.ContainsAny(p[:1], "{}[]():,.?!=<>&|+-*/%@") {
				return nil, fmt.Errorf("offset %d: unexpected character %q", i, c)
			}
			toks = append(toks, token{kind: tPunct, text: p, start: i, end: i + len(p)})
			i += len(p)
		}
	}
	return toks, nil
}

// lexString scans a single-quoted string whose opening quote is src[i].
func lexString(src string, i int) (text string, interp bool, end int, err error) {
	var b strings.Builder
	j := i + 1
	for j < len(src) {
		c := src[j]
		switch {
		case c == '\n':
			return "", false, 0, fmt.Errorf("offset %d: newline in string", j)
		case c == '\\' && j+1 < len(src):
			switch e := src[j+1]; e {
			case 'n':
				b.WriteByte('\n')
			case 'r':
				b.WriteByte('\r')
			case 't':
				b.WriteByte('\t')
			case 'u':
				k := strings.IndexByte(src[j:], '}')
				if k < 0 {
					return "", false, 0, fmt.Errorf("offset %d: bad \\u escape", j)
				}
				b.WriteString(src[j : j+k+1])
				j += k + 1
				continue
			default:
				b.WriteByte(e)
			}
			j += 2
		case c == '$' && j+1 < len(src) && src[j+1] == '{':
			k, err := skipInterpolation(src, j+2)
			if err != nil {
				return "", false, 0, err
			}
			b.WriteString(src[j:k])
			interp = true
			j = k
		case c == '\'':
			return b.String(), interp, j + 1, nil
		default:
			b.WriteByte(c)
			j++
		}
	}
	return "", false, 0, fmt.Errorf("offset %d: unterminated string", i)
}

// skipInterpolation returns the offset after the '}' closing an interpolation
// whose expression starts at src[i].
func skipInterpolation(src string, i int) (int, error) {
	depth := 0
	for i < len(src) {
		switch c := src[i]; {
		case c == '\'':
			_, _, end, err := lexString(src, i)
			if err != nil {
				return 0, err
			}
			i = end
			continue
		case c == '{':
			depth++
		case c == '}':
			if depth == 0 {
				return i + 1, nil
			}
			depth--
		}
		i++
	}
	return 0, fmt.Errorf("offset %d: unterminated interpolation", i)
}

func isOpen(t token) bool {
	return t.kind == tPunct && (t.text == "{" || t.text == "[" || t.text == "(")
}
func isClose(t token) bool {
	return t.kind == tPunct && (t.text == "}" || t.text == "]" || t.text == ")")
}
func isP(t token, p string) bool {
	return t.kind == tPunct && t.text == p
}

// matching returns the index of the bracket closing the one at i.
func (f *bicepFile) matching(i int) (int, error) {
	depth := 0
	for j := i; j < len(f.toks); j++ {
		if isOpen(f.toks[j]) {
			depth++
		} else if isClose(f.toks[j]) {
			depth--
			if depth == 0 {
				return j, nil
			}
		}
	}
	return 0, fmt.Errorf("%s: unbalanced %q", f.pos(i), f.toks[i].text)
}

// exprEnd returns the index of the newline (or EOF) ending the expression that
// starts at i: the first newline outside brackets.
func (f *bicepFile) exprEnd(i int) (int, error) {
	for i < len(f.toks) {
		t := f.toks[i]
		if t.kind == tNL {
			return i, nil
		}
		if isOpen(t) {
			j, err := f.matching(i)
			if err != nil {
				return 0, err
			}
			i = j + 1
			continue
		}
		if isClose(t) {
			return 0, fmt.Errorf("%s: unexpected %q", f.pos(i), t.text)
		}
		i++
	}
	return i, nil
}

func parseBicep(name, src string) (*bicepFile, error) {
	toks, err := lex(src)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	f := &bicepFile{name: name, src: src, toks: toks}
	var decorators []string
	i := 0
	for i < len(toks) {
		t := toks[i]
		if t.kind == tNL {
			i++
			continue
		}
		if isP(t, "@") {
			end, err := f.exprEnd(i)
			if err != nil {
				return nil, err
			}
			decorators = append(decorators, f.text(i, end))
			i = end
			continue
		}
		if t.kind != tIdent {
			return nil, fmt.Errorf("%s: unexpected %q at top level", f.pos(i), t.text)
		}
		d := &decl{kind: t.text, first: i, decorators: decorators}
		decorators = nil
		j := i + 1
		next := func() token {
			if j < len(toks) {
				return toks[j]
			}
			return token{kind: tNL}
		}
		switch d.kind {
		case "param", "var", "output", "type", "metadata", "resource", "module", "func":
			if next().kind != tIdent {
				return nil, fmt.Errorf("%s: %s without a name", f.pos(i), d.kind)
			}
			d.name = next().text
			j++
		case "targetScope", "using", "import", "extension":
		default:
			return nil, fmt.Errorf("%s: unknown top-level keyword %q", f.pos(i), t.text)
		}
		if d.kind == "resource" || d.kind == "module" {
			if next().kind != tString {
				return nil, fmt.Errorf("%s: %s %s without a type/path string", f.pos(i), d.kind, d.name)
			}
			d.target = next().text
			j++
			if next().kind == tIdent && next().text == "existing" {
				d.existing = true
				j++
			}
		}
		if d.kind == "using" && next().kind == tString {
			d.target = next().text
		}
		// Skip the type (param, output, func signature) up to '=' or '=>' at depth 0.
		k := j
		for k < len(toks) && toks[k].kind != tNL && !isP(toks[k], "=") {
			if isOpen(toks[k]) {
				m, err := f.matching(k)
				if err != nil {
					return nil, err
				}
				k = m + 1
				continue
			}
			k++
		}
		if k < len(toks) && isP(toks[k], "=") {
			end, err := f.exprEnd(k + 1)
			if err != nil {
				return nil, err
			}
			d.start, d.end = k+1, end
			k = end
		}
		d.last = k
		f.decls = append(f.decls, d)
		i = k
	}
	return f, nil
}

func (f *bicepFile) find(kind, name string) *decl {
	for _, d := range f.decls {
		if d.kind == kind && d.name == name {
			return d
		}
	}
	return nil
}

func (f *bicepFile) all(kind string) []*decl {
	var out []*decl
	for _, d := range f.decls {
		if d.kind == kind {
			out = append(out, d)
		}
	}
	return out
}

// trim drops newlines at both ends of [start, end).
func (f *bicepFile) trim(start, end int) (int, int) {
	for start < end && f.toks[start].kind == tNL {
		start++
	}
	for end > start && f.toks[end-1].kind == tNL {
		end--
	}
	return start, end
}

type entry struct {
	key        string
	keyTok     int
	start, end int // value token span
}

// object parses the object literal at token i ('{') into its entries.
func (f *bicepFile) object(i int) ([]entry, error) {
	if i >= len(f.toks) || !isP(f.toks[i], "{") {
		return nil, fmt.Errorf("%s: object literal expected", f.pos(i))
	}
	close, err := f.matching(i)
	if err != nil {
		return nil, err
	}
	var out []entry
	j := i + 1
	for j < close {
		t := f.toks[j]
		if t.kind == tNL || isP(t, ",") {
			j++
			continue
		}
		if t.kind != tIdent && t.kind != tString {
			return nil, fmt.Errorf("%s: object key expected, got %q", f.pos(j), t.text)
		}
		if j+1 >= close || !isP(f.toks[j+1], ":") {
			return nil, fmt.Errorf("%s: ':' expected after key %q", f.pos(j), t.text)
		}
		e := entry{key: t.text, keyTok: j, start: j + 2}
		k := j + 2
		for k < close && f.toks[k].kind != tNL && !isP(f.toks[k], ",") {
			if isOpen(f.toks[k]) {
				m, err := f.matching(k)
				if err != nil {
					return nil, err
				}
				k = m + 1
				continue
			}
			k++
		}
		e.end = k
		if e.start == e.end {
			return nil, fmt.Errorf("%s: key %q has no value", f.pos(j), t.text)
		}
		out = append(out, e)
		j = k
	}
	return out, nil
}

// body returns the token index of the object literal that is the body of a
// resource or module declaration (after "if (...)" or "[for ... :").
func (f *bicepFile) body(d *decl) (int, error) {
	paren := 0
	for k := d.start; k < d.end; k++ {
		t := f.toks[k]
		switch {
		case isP(t, "("):
			paren++
		case isP(t, ")"):
			paren--
		case isP(t, "{") && paren == 0:
			return k, nil
		}
	}
	return 0, fmt.Errorf("%s: %s %s has no object body", f.pos(d.first), d.kind, d.name)
}

func (f *bicepFile) bodyEntries(d *decl) ([]entry, error) {
	b, err := f.body(d)
	if err != nil {
		return nil, err
	}
	return f.object(b)
}

func lookup(es []entry, key string) (entry, bool) {
	for _, e := range es {
		if e.key == key {
			return e, true
		}
	}
	return entry{}, false
}

// setting is one app setting found in the Bicep.
type setting struct {
	name        string
	value       string // source text of the value expression
	str         *token // the value when it is a single string literal
	conditional bool   // set only on one branch of a ternary
	where       string
}

// settingsOf resolves an app-settings expression into its settings.
func (f *bicepFile) settingsOf(start, end int, conditional bool, depth int) ([]setting, error) {
	if depth > 20 {
		return nil, fmt.Errorf("%s: settings expression nested too deeply", f.pos(start))
	}
	start, end = f.trim(start, end)
	if start >= end {
		return nil, fmt.Errorf("%s: empty settings expression", f.pos(start))
	}
	// Strip parentheses around the whole expression.
	if isP(f.toks[start], "(") {
		if m, err := f.matching(start); err == nil && m == end-1 {
			return f.settingsOf(start+1, end-1, conditional, depth+1)
		}
	}
	// Ternary: cond ? a : b (at bracket depth 0).
	q, colon := -1, -1
	for k := start; k < end; k++ {
		t := f.toks[k]
		if isOpen(t) {
			m, err := f.matching(k)
			if err != nil {
				return nil, err
			}
			k = m
			continue
		}
		if isP(t, "?") && q < 0 {
			q = k
		} else if isP(t, ":") && q >= 0 && colon < 0 {
			colon = k
		}
	}
	if q >= 0 {
		if colon < 0 {
			return nil, fmt.Errorf("%s: '?' without ':'", f.pos(q))
		}
		a, err := f.settingsOf(q+1, colon, true, depth+1)
		if err != nil {
			return nil, err
		}
		b, err := f.settingsOf(colon+1, end, true, depth+1)
		if err != nil {
			return nil, err
		}
		return append(a, b...), nil
	}
	t := f.toks[start]
	switch {
	case isP(t, "{"):
		m, err := f.matching(start)
		if err != nil {
			return nil, err
		}
		if m != end-1 {
			break
		}
		es, err := f.object(start)
		if err != nil {
			return nil, err
		}
		var out []setting
		for _, e := range es {
			s := setting{name: e.key, value: f.text(e.start, e.end), conditional: conditional, where: f.pos(e.keyTok)}
			if vs, ve := f.trim(e.start, e.end); ve == vs+1 && f.toks[vs].kind == tString {
				tok := f.toks[vs]
				s.str = &tok
			}
			out = append(out, s)
		}
		return out, nil
	case t.kind == tIdent && end == start+1:
		v := f.find("var", t.text)
		if v == nil {
			return nil, fmt.Errorf("%s: %s is not a variable of this file", f.pos(start), t.text)
		}
		return f.settingsOf(v.start, v.end, conditional, depth+1)
	case t.kind == tIdent && t.text == "union" && end > start+1 && isP(f.toks[start+1], "("):
		m, err := f.matching(start + 1)
		if err != nil {
			return nil, err
		}
		if m != end-1 {
			break
		}
		var out []setting
		argStart := start + 2
		for k := start + 2; k <= m; k++ {
			tk := f.toks[k]
			if isOpen(tk) {
				mm, err := f.matching(k)
				if err != nil {
					return nil, err
				}
				k = mm
				continue
			}
			if isP(tk, ",") || k == m {
				if s, e := f.trim(argStart, k); s < e {
					part, err := f.settingsOf(s, e, conditional, depth+1)
					if err != nil {
						return nil, err
					}
					out = append(out, part...)
				}
				argStart = k + 1
			}
		}
		return out, nil
	case isP(t, "{") || t.kind == tIdent:
	}
	return nil, fmt.Errorf("%s: cannot resolve settings expression %q (use object literals, variables, union() or ?:)", f.pos(start), f.text(start, end))
}

// identRefs counts identifier tokens named name outside [skipStart, skipEnd).
func (f *bicepFile) identRefs(name string, skipStart, skipEnd int) int {
	n := 0
	for k, t := range f.toks {
		if k >= skipStart && k < skipEnd {
			continue
		}
		if t.kind == tIdent && t.text == name && (k == 0 || !isP(f.toks[k-1], ".") && !isP(f.toks[k-1], ".?")) {
			n++
		}
		if t.kind == tString && t.interp && strings.Contains(t.text, "${") {
			for _, id := range interpIdents(t.text) {
				if id == name {
					n++
				}
			}
		}
	}
	return n
}

// interpIdents lists the identifiers used inside the ${...} parts of a string
// (not those after a '.').
func interpIdents(s string) []string {
	var out []string
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			return out
		}
		end, err := skipInterpolation(s, i+2)
		if err != nil {
			return out
		}
		toks, err := lex(s[i+2 : end-1])
		if err == nil {
			for k, t := range toks {
				if t.kind == tIdent && (k == 0 || !isP(toks[k-1], ".") && !isP(toks[k-1], ".?")) {
					out = append(out, t.text)
				}
			}
		}
		s = s[end:]
	}
}

// project is the set of Bicep files under infra/, keyed by slash path relative
// to the repository root, plus the repository root for other files.
type project struct {
	root  string
	files map[string]string
}

func loadProject(root string) (*project, error) {
	p := &project{root: root, files: map[string]string{}}
	err := filepath.WalkDir(filepath.Join(root, "infra"), func(fp string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || !(strings.HasSuffix(fp, ".bicep") || strings.HasSuffix(fp, ".bicepparam")) {
			return nil
		}
		b, err := os.ReadFile(fp)
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, fp)
		if err != nil {
			return err
		}
		p.files[filepath.ToSlash(rel)] = string(b)
		return nil
	})
	return p, err
}

func (p *project) clone() *project {
	c := &project{root: p.root, files: map[string]string{}}
	for k, v := range p.files {
		c.files[k] = v
	}
	return c
}

func (p *project) names() []string {
	var out []string
	for k := range p.files {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func (p *project) parse(name string) (*bicepFile, error) {
	src, ok := p.files[name]
	if !ok {
		return nil, fmt.Errorf("%s: no such Bicep file", name)
	}
	return parseBicep(name, src)
}

// parseAll parses every .bicep file (not .bicepparam).
func (p *project) parseAll() (map[string]*bicepFile, error) {
	out := map[string]*bicepFile{}
	for _, n := range p.names() {
		if !strings.HasSuffix(n, ".bicep") {
			continue
		}
		f, err := p.parse(n)
		if err != nil {
			return nil, err
		}
		out[n] = f
	}
	return out, nil
}

// modulePath resolves a module path relative to the file that declares it.
func modulePath(from, target string) string {
	return path.Clean(path.Join(path.Dir(from), target))
}
