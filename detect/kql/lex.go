package kql

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// This file holds the character-level part of the KQL compiler: whitespace,
// the and/or/not keyword look-aheads and the two kinds of literal (quoted and
// unquoted) with their escapes. It follows Kibana's grammar
// (packages/kbn-es-query/src/kuery/grammar/grammar.peggy) rule for rule, so
// the same text splits into the same values as in Kibana:
//
//   - Whitespace is space, tab, CR, LF and U+00A0.
//   - An unquoted literal runs until a special character \ ( ) : < > " { }
//     or a keyword: whitespace+"or"+whitespace, whitespace+"and"+whitespace or
//     "not"+whitespace (keywords are case-insensitive). So an unquoted value may
//     contain spaces ("a:b c" is the value "b c"); it is then trimmed.
//   - In an unquoted literal, * is a wildcard; \t \r \n are tab, CR and LF;
//     \ before a special character (or before or/and/not) makes it literal;
//     \uXXXX is a UTF-16 code unit. Any other backslash is an error.
//   - A quoted literal is literal text: \" and \\ are a quote and a backslash,
//     \t \r \n and \uXXXX as above, and any other backslash stays a backslash.

// literal is one scanned literal: a field name or a value.
type literal struct {
	start, end int  // byte offsets of the literal's text in the query
	quoted     bool // written in double quotes
	// frags is the text split at unescaped wildcards: a literal without
	// wildcards has exactly one fragment, "a*b" has "a" and "b".
	frags []string
}

// text is the literal's text without wildcards (its only fragment when it
// has none).
func (l literal) text() string { return strings.Join(l.frags, "") }

// wild reports whether the literal has an unescaped wildcard.
func (l literal) wild() bool { return len(l.frags) > 1 }

// scanner reads a query. It is a value: the parser copies it to look ahead.
type scanner struct {
	src string
	pos int
}

// special reports whether c may not appear unescaped in an unquoted
// literal (the wildcard * is handled apart).
func special(c byte) bool {
	switch c {
	case '\\', '(', ')', ':', '<', '>', '"', '*', '{', '}':
		return true
	}
	return false
}

// spaceAt returns the width of the whitespace character at i, or 0.
func (s *scanner) spaceAt(i int) int {
	if i >= len(s.src) {
		return 0
	}
	switch s.src[i] {
	case ' ', '\t', '\r', '\n':
		return 1
	case 0xC2: // U+00A0 NO-BREAK SPACE is C2 A0 in UTF-8
		if i+1 < len(s.src) && s.src[i+1] == 0xA0 {
			return 2
		}
	}
	return 0
}

// spacesFrom returns the offset after the whitespace run starting at i.
func (s *scanner) spacesFrom(i int) int {
	for {
		w := s.spaceAt(i)
		if w == 0 {
			return i
		}
		i += w
	}
}

// skipSpaces moves past whitespace.
func (s *scanner) skipSpaces() { s.pos = s.spacesFrom(s.pos) }

// eof reports whether the whole query has been read.
func (s *scanner) eof() bool { return s.pos >= len(s.src) }

// peek returns the byte at the current position, 0 at the end.
func (s *scanner) peek() byte {
	if s.pos >= len(s.src) {
		return 0
	}
	return s.src[s.pos]
}

// wordAt reports whether word (lower-case ASCII) occurs at i, ignoring case.
func (s *scanner) wordAt(i int, word string) bool {
	return len(s.src)-i >= len(word) && strings.EqualFold(s.src[i:i+len(word)], word)
}

// binaryAt matches Kibana's Or and And: whitespace, the keyword, whitespace.
// It returns the offset after the trailing whitespace.
func (s *scanner) binaryAt(i int, word string) (int, bool) {
	j := s.spacesFrom(i)
	if j == i || !s.wordAt(j, word) {
		return 0, false
	}
	k := j + len(word)
	end := s.spacesFrom(k)
	if end == k {
		return 0, false
	}
	return end, true
}

// notAt matches Kibana's Not: the keyword and whitespace.
func (s *scanner) notAt(i int) (int, bool) {
	if !s.wordAt(i, "not") {
		return 0, false
	}
	end := s.spacesFrom(i + 3)
	if end == i+3 {
		return 0, false
	}
	return end, true
}

// keywordAt reports whether an or/and/not keyword starts at i, which ends an
// unquoted literal.
func (s *scanner) keywordAt(i int) bool {
	if _, ok := s.binaryAt(i, "or"); ok {
		return true
	}
	if _, ok := s.binaryAt(i, "and"); ok {
		return true
	}
	_, ok := s.notAt(i)
	return ok
}

// accept consumes the keyword when it is next; op is "or", "and" or "not".
func (s *scanner) accept(op string) bool {
	var end int
	var ok bool
	if op == "not" {
		end, ok = s.notAt(s.pos)
	} else {
		end, ok = s.binaryAt(s.pos, op)
	}
	if ok {
		s.pos = end
	}
	return ok
}

// literal scans a quoted or unquoted literal at the current position. It
// returns ok false, consuming nothing, when no literal starts here.
func (s *scanner) literal() (lit literal, ok bool, err *Error) {
	if s.peek() == '"' {
		lit, err = s.quoted()
		return lit, err == nil, err
	}
	return s.unquoted()
}

// quoted scans a double-quoted literal.
func (s *scanner) quoted() (literal, *Error) {
	open := s.pos
	var b strings.Builder
	i := open + 1
	for {
		if i >= len(s.src) {
			return literal{}, errorAt(s.src, open, "unterminated quoted string")
		}
		c := s.src[i]
		switch {
		case c == '"':
			s.pos = i + 1
			return literal{start: open, end: i + 1, quoted: true, frags: []string{b.String()}}, nil
		case c == '\\':
			if r, n, ok, err := s.commonEscape(i); err != nil {
				return literal{}, err
			} else if ok {
				b.WriteRune(r)
				i += n
				continue
			}
			if i+1 < len(s.src) && (s.src[i+1] == '\\' || s.src[i+1] == '"') {
				b.WriteByte(s.src[i+1])
				i += 2
				continue
			}
			b.WriteByte(c) // any other backslash is literal inside quotes
			i++
		default:
			b.WriteByte(c)
			i++
		}
	}
}

// unquoted scans an unquoted literal, stopping before a special character or
// a keyword, and trims it as Kibana does.
func (s *scanner) unquoted() (literal, bool, *Error) {
	start := s.pos
	var frags []string
	var b strings.Builder
	i := start
	for i < len(s.src) {
		c := s.src[i]
		if c == '\\' {
			if r, n, ok, err := s.commonEscape(i); err != nil {
				return literal{}, false, err
			} else if ok {
				b.WriteRune(r)
				i += n
				continue
			}
			if i+1 < len(s.src) && special(s.src[i+1]) {
				b.WriteByte(s.src[i+1])
				i += 2
				continue
			}
			if kw := s.escapedKeyword(i + 1); kw != "" {
				b.WriteString(kw)
				i += 1 + len(kw)
				continue
			}
			return literal{}, false, s.badEscape(i)
		}
		if c == '*' {
			frags = append(frags, b.String())
			b.Reset()
			i++
			continue
		}
		if s.spaceAt(i) > 0 {
			if s.keywordAt(i) {
				break
			}
			j := s.spacesFrom(i) // take the whole run: keeps scanning linear
			b.WriteString(s.src[i:j])
			i = j
			continue
		}
		if special(c) || s.keywordAt(i) {
			break
		}
		b.WriteByte(c)
		i++
	}
	if i == start {
		return literal{}, false, nil
	}
	s.pos = i
	frags = append(frags, b.String())
	frags[0] = strings.TrimLeftFunc(frags[0], trimmable)
	last := len(frags) - 1
	frags[last] = strings.TrimRightFunc(frags[last], trimmable)
	return literal{start: start, end: i, frags: frags}, true, nil
}

// trimmable reports whether JavaScript's String.prototype.trim removes r,
// which Kibana applies to unquoted literals.
func trimmable(r rune) bool {
	if r == '\uFEFF' {
		return true
	}
	return r != '\u0085' && unicode.IsSpace(r)
}

// commonEscape decodes the escapes that quoted and unquoted literals share:
// \t, \r, \n and \uXXXX (a UTF-16 surrogate pair written as two escapes is
// one character). ok is false when the backslash at i starts none of them.
func (s *scanner) commonEscape(i int) (r rune, n int, ok bool, err *Error) {
	if i+1 >= len(s.src) {
		return 0, 0, false, nil
	}
	switch s.src[i+1] {
	case 't':
		return '\t', 2, true, nil
	case 'r':
		return '\r', 2, true, nil
	case 'n':
		return '\n', 2, true, nil
	case 'u':
	default:
		return 0, 0, false, nil
	}
	hi, ok := s.hex4(i + 2)
	if !ok {
		return 0, 0, false, nil
	}
	if !utf16IsSurrogate(hi) {
		return hi, 6, true, nil
	}
	if hi < 0xDC00 && s.wordAt(i+6, `\u`) {
		if lo, ok := s.hex4(i + 8); ok && lo >= 0xDC00 && lo <= 0xDFFF {
			return (hi-0xD800)<<10 + (lo - 0xDC00) + 0x10000, 12, true, nil
		}
	}
	return 0, 0, false, errorAt(s.src, i, "\\u"+s.src[i+2:i+6]+" is half of a UTF-16 surrogate pair")
}

// utf16IsSurrogate reports whether r is a UTF-16 surrogate code unit.
func utf16IsSurrogate(r rune) bool { return r >= 0xD800 && r <= 0xDFFF }

// hex4 reads four hexadecimal digits at i.
func (s *scanner) hex4(i int) (rune, bool) {
	if i+4 > len(s.src) {
		return 0, false
	}
	var v rune
	for _, c := range []byte(s.src[i : i+4]) {
		d, ok := hexDigit(c)
		if !ok {
			return 0, false
		}
		v = v<<4 | d
	}
	return v, true
}

// escapedKeyword returns "or", "and" or "not" as written at i, or "".
func (s *scanner) escapedKeyword(i int) string {
	for _, kw := range [...]string{"or", "and", "not"} {
		if s.wordAt(i, kw) {
			return s.src[i : i+len(kw)]
		}
	}
	return ""
}

// badEscape reports a backslash that starts no escape.
func (s *scanner) badEscape(i int) *Error {
	if i+1 >= len(s.src) {
		return errorAt(s.src, i, "backslash at end of query escapes nothing")
	}
	r, _ := utf8.DecodeRuneInString(s.src[i+1:])
	return errorAt(s.src, i, "invalid escape \\"+string(r)+` (escape one of \ ( ) : < > " * { } or write \t \r \n \uXXXX)`)
}

// found describes what is at the current position, for error messages.
func (s *scanner) found() string {
	if s.eof() {
		return "end of query"
	}
	for _, kw := range [...]string{"not", "and", "or"} {
		if s.wordAt(s.pos, kw) {
			if end := s.pos + len(kw); end == len(s.src) || s.spaceAt(end) > 0 {
				msg := "keyword " + strconv.Quote(s.src[s.pos:end])
				if kw != "not" && s.pos > 0 && s.spaceAt(s.pos-1) == 0 && s.src[s.pos-1] != 0xA0 {
					msg += " without whitespace before it (Kibana requires whitespace around and/or)"
				}
				return msg
			}
		}
	}
	r, _ := utf8.DecodeRuneInString(s.src[s.pos:])
	return strconv.Quote(string(r))
}

// hexDigit returns the value of one hexadecimal digit of a \u escape.
func hexDigit(h byte) (v rune, ok bool) {
	switch {
	case h >= '0' && h <= '9':
		return rune(h - '0'), true
	case h >= 'a' && h <= 'f':
		return rune(h-'a') + 10, true
	case h >= 'A' && h <= 'F':
		return rune(h-'A') + 10, true
	}
	return 0, false
}
