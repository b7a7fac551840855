package detect

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math/bits"
)

// This file reads the structure of a message (which bytes are strings,
// where containers open and close, where the records are) without judging
// the content of its records. It is how a message is cut into records:
//
//   - a message is a sequence of top-level values; an object with a
//     "records" array gives that array's elements, an array gives its
//     elements, any other object is one record, a scalar is a non-record;
//   - a record is cut out when the comma or bracket that follows it is
//     read, whether or not its content is valid JSON (Normalize judges that
//     when the record is decoded), so one bad record costs that record only;
//   - when the structure itself breaks (a bracket that does not match, a
//     string or container the message ends inside, an element missing
//     between commas), the records before the break are kept and the rest
//     of the message is reported as one skip.
//
// The walker reads text escaped depth times, that is, the content of a JSON
// string nested depth deep (depth 0: the message itself). That lets the
// handler's batches, where each message is a JSON string inside the JSON
// string Data.<binding> (depth 2), be cut into records in place, without
// copying the message out of its two escape layers first (escaped.go).
// Character classes do not change with escaping except for '"' and '\':
// a quote or backslash of the message is spelled, depth levels down, as a
// run of backslashes and a character, and decodeRun says what a run stands
// for. The walker does not take \u escapes above the message level outside
// strings (they could spell quotes) and reports them as breaks; inside
// strings it notes them (walker.hazards), and escaped.go unescapes such a
// message before evaluating it.

// runKind says what a run of backslashes and the character after it stand
// for at the message level.
type runKind uint8

const (
	// runChar: k backslashes of the message, then the character c.
	runChar runKind = iota
	// runEnd: the character is a quote that closes the string holding the
	// message (at an outer level): the message text ends here.
	runEnd
	// runBad: an escape the walker does not read (\u at an outer level,
	// an invalid escape).
	runBad
)

// decodeRun reads n backslashes followed by x in text escaped depth times.
func decodeRun(n int, x byte, depth int) (k int, c byte, kind runKind) {
	k, c = n, x
	for l := 0; l < depth; l++ {
		if k&1 == 0 {
			if c == '"' {
				return 0, 0, runEnd
			}
			k /= 2
			continue
		}
		switch c {
		case '"', '/':
		case 'b':
			c = '\b'
		case 'f':
			c = '\f'
		case 'n':
			c = '\n'
		case 'r':
			c = '\r'
		case 't':
			c = '\t'
		default:
			return 0, 0, runBad
		}
		k = (k - 1) / 2
	}
	return k, c, runChar
}

// walkStop is how a walk ended.
type walkStop struct {
	// end is where the message text ends: len(text) at depth 0, the start
	// of the run that closes the enclosing string otherwise.
	end int
	// errAt >= 0 when the structure broke at that offset (of the text);
	// reason says how, in the words of a "not valid JSON" skip (reported
	// for the message, not a record).
	errAt  int
	reason string
}

// walker is the reusable state of walks; it is not safe for concurrent use.
type walker struct {
	depth int
	// hazards found in the message's strings (escaped text only).
	hazards int
	// spans are the elements found, in order: records (obj) and values
	// that are not objects.
	spans []span
	stack []byte
}

// read returns the message character at text[i] outside strings and the
// offset after it.
func (w *walker) read(b []byte, i int) (c byte, next int, kind runKind) {
	c = b[i]
	if c != '\\' && (c != '"' || w.depth == 0) {
		return c, i + 1, runChar
	}
	n := 0
	for i+n < len(b) && b[i+n] == '\\' {
		n++
	}
	if i+n == len(b) {
		if w.depth == 0 {
			return '\\', i + 1, runChar // stray backslashes at the end: not JSON
		}
		return 0, 0, runBad
	}
	k, c, kind := decodeRun(n, b[i+n], w.depth)
	if kind == runEnd && n != (1<<w.depth)/2-1 {
		// The quote closes the enclosing string, but backslashes of the
		// message come before it (a message ending in a backslash, not
		// JSON) or it closes a string further out: not the plain end.
		return 0, 0, runBad
	}
	if kind == runChar && k > 0 {
		// A backslash outside a string of the message (not JSON; the
		// record holding it will not decode): consume the raw
		// backslashes that spell it, so that the rest of the run reads
		// as before.
		return '\\', i + 1<<w.depth, runChar
	}
	return c, i + n + 1, kind
}

// stringEnd finds the end of the message string whose content starts at
// text[i]: the offset of its content's end and the offset after its closing
// quote. ok is false when the message ends inside the string.
func (w *walker) stringEnd(b []byte, i int) (contentEnd, next int, ok bool) {
	if w.depth == 0 {
		for {
			q := indexQuote(b, i)
			if q < 0 {
				return 0, 0, false
			}
			n := 0
			for q-n > i && b[q-n-1] == '\\' {
				n++
			}
			if n&1 == 0 {
				return q, q + 1, true
			}
			i = q + 1
		}
	}
	// Escaped, every quote of the message is spelled with backslashes
	// before it, so looking at each run of backslashes finds the closing
	// quote, and notes on the way what could hide a literal (see
	// walker.hazards).
	const ones, highs, backslashes, quotes = 0x0101010101010101, 0x8080808080808080, 0x5c5c5c5c5c5c5c5c, 0x2222222222222222
	for {
		// p is the first backslash or quote at or after i, found eight
		// bytes at a time; high collects the bytes >= 0x80 passed over
		// (it may also flag one just past p). The lowest byte flagged in m
		// is exact (higher ones may be false positives, never looked at).
		p := -1
		var high uint64
		for ; len(b)-i >= 8; i += 8 {
			v := binary.LittleEndian.Uint64(b[i:])
			high |= v
			x, y := v^backslashes, v^quotes
			if m := ((x-ones)&^x | (y-ones)&^y) & highs; m != 0 {
				p = i + bits.TrailingZeros64(m)>>3
				break
			}
		}
		if p < 0 {
			// The last bytes of the text, fewer than eight.
			for ; i < len(b); i++ {
				high |= uint64(b[i]) << 56
				if b[i] == '\\' || b[i] == '"' {
					p = i
					break
				}
			}
		}
		if high&highs != 0 {
			w.hazards |= hazardNonASCII
		}
		if p < 0 || b[p] == '"' {
			// A quote with no backslash before it closes the outermost
			// string: the text ends inside this string.
			return 0, 0, false
		}
		// b[p-1] is not a backslash: the opening quote, or the character
		// after the previous run.
		if w.depth == 2 && len(b)-p >= 8 {
			switch v := binary.LittleEndian.Uint64(b[p:]); {
			case uint32(v) == 0x225c5c5c: // \\\" : the closing quote
				return p, p + 4, true
			case v == 0x225c5c5c5c5c5c5c: // \\\\\\\" : a quote in the content
				i = p + 8
				continue
			}
		}
		n := 1
		for p+n < len(b) && b[p+n] == '\\' {
			n++
		}
		if p+n == len(b) {
			return 0, 0, false
		}
		switch b[p+n] {
		case '"':
			k, _, kind := decodeRun(n, '"', w.depth)
			if kind != runChar {
				return 0, 0, false
			}
			if k&1 == 0 {
				// k backslashes of the message (escaped pairs) end the
				// content; the quote's own run follows them.
				return p + k<<w.depth, p + n + 1, true
			}
		case 'u':
			w.hazards |= hazardU
		case '/':
			w.hazards |= hazardSlash
		}
		i = p + n + 1
	}
}

// Hazards are escapes and characters in the strings of a message that
// could spell a rule literal differently from its raw bytes (see
// escaped.go); the walker notes them while it reads escaped text.
const (
	hazardU        = 1 << iota // a backslash before 'u' (a \u escape at some level)
	hazardSlash                // a backslash before '/'
	hazardNonASCII             // a byte >= 0x80
)

// indexQuote returns the offset of the first '"' at or after b[i], or -1.
// Strings of a message are short (a dozen bytes between quotes), too short
// for bytes.IndexByte's call to pay off: this tests eight bytes at a time
// in line.
func indexQuote(b []byte, i int) int {
	const ones, highs, quotes = 0x0101010101010101, 0x8080808080808080, 0x2222222222222222
	for ; len(b)-i >= 8; i += 8 {
		x := binary.LittleEndian.Uint64(b[i:]) ^ quotes
		// The lowest byte flagged is the first quote (higher flags may be
		// false positives, which are never looked at).
		if m := (x - ones) &^ x & highs; m != 0 {
			return i + bits.TrailingZeros64(m)>>3
		}
	}
	for ; i < len(b); i++ {
		if b[i] == '"' {
			return i
		}
	}
	return -1
}

// quoteAtDepth2 reports whether b[i:] starts with exactly three backslashes
// and a quote, which at depth 2 is a quote of the message with no backslash
// of the message before it (b[i-1], when it exists, is not a backslash).
func quoteAtDepth2(b []byte, i int) bool {
	return len(b)-i >= 4 && binary.LittleEndian.Uint32(b[i:]) == 0x225c5c5c && (i == 0 || b[i-1] != '\\')
}

// skipWS returns the next message character at or after text[i] that is
// not whitespace, and its offset.
func (w *walker) skipWS(b []byte, i int) (c byte, at, next int, kind runKind, eof bool) {
	for i < len(b) {
		c, next, kind = w.read(b, i)
		if kind != runChar {
			return c, i, next, kind, false
		}
		switch c {
		case ' ', '\t', '\n', '\r':
			i = next
			continue
		}
		return c, i, next, kind, false
	}
	return 0, i, i, runChar, true
}

// walk cuts the message text b, starting at from (the start of b or the end
// of a top-level value), into w.spans.
func (w *walker) walk(b []byte, from int) walkStop {
	w.spans = w.spans[:0]
	w.hazards = 0
	i := from
	for {
		c, at, next, kind, eof := w.skipWS(b, i)
		switch {
		case eof:
			if w.depth > 0 {
				return w.broke(at, "unexpected end of input")
			}
			return walkStop{end: at, errAt: -1}
		case kind == runEnd:
			return walkStop{end: at, errAt: -1}
		case kind == runBad:
			return w.broke(at, "escape not read in place")
		}
		switch c {
		case '{', '[':
			end, stop := w.top(b, at, next, c)
			if stop.errAt >= 0 {
				return stop
			}
			i = end
		case '"':
			_, end, ok := w.stringEnd(b, next)
			if !ok {
				return w.broke(at, "unexpected end of input")
			}
			w.spans = append(w.spans, span{start: at, end: end})
			i = end
		default:
			end := next
			for end < len(b) && !delimiter(b[end]) {
				end++
			}
			if w.depth > 0 {
				return w.broke(at, "top-level scalar not read in place")
			}
			var v any
			if err := json.Unmarshal(b[at:end], &v); err != nil {
				return w.broke(at+int(syntaxOffset(err, 0)), jsonProblem(err))
			}
			w.spans = append(w.spans, span{start: at, end: end})
			i = end
		}
	}
}

// delimiter: the bytes that end a number or literal.
func delimiter(c byte) bool {
	switch c {
	case ' ', '\t', '\n', '\r', ',', ':', '{', '}', '[', ']', '"', '\\':
		return true
	}
	return false
}

func (w *walker) broke(at int, reason string) walkStop {
	return walkStop{errAt: at, reason: reason}
}

// top walks the top-level object or array opened by c at text[at] (next is
// after it) and appends its records to w.spans. It returns the offset after
// the value.
func (w *walker) top(b []byte, at, next int, c byte) (int, walkStop) {
	stack := append(w.stack[:0], c)
	defer func() { w.stack = stack[:0] }()
	recDepth := -1 // the depth whose container is the records array
	found := c == '['
	if found {
		recDepth = 1
	}
	elemStart, elemEnd := -1, -1
	afterComma := false
	i := next
	for {
		if i >= len(b) {
			return 0, w.broke(i, "unexpected end of input")
		}
		pos := i
		c, nx := b[i], i+1
		switch {
		case c == ' ':
			i++
			continue
		case c == '\\' && w.depth == 2 && quoteAtDepth2(b, i):
			// The common case of the slow path below: a quote of the
			// message, spelled \\\" two levels down.
			c, nx = '"', i+4
		case c == '\\' || c == '"' || c < ' ':
			var kind runKind
			var eof bool
			c, pos, nx, kind, eof = w.skipWS(b, i)
			if eof || kind == runEnd {
				return 0, w.broke(pos, "unexpected end of input")
			}
			if kind == runBad {
				return 0, w.broke(pos, "escape not read in place")
			}
		}
		atElem := len(stack) == recDepth
		switch c {
		case ',':
			if atElem {
				if elemStart < 0 {
					return 0, w.broke(pos, "invalid character ',' looking for beginning of value")
				}
				w.spans = append(w.spans, span{start: elemStart, end: elemEnd, obj: b[elemStart] == '{'})
				elemStart, afterComma = -1, true
			}
			i = nx
			continue
		case '}', ']':
			open := byte('{')
			if c == ']' {
				open = '['
			}
			if stack[len(stack)-1] != open {
				return 0, w.broke(pos, fmt.Sprintf("invalid character %q after %s", c, containerName(stack[len(stack)-1])))
			}
			if atElem {
				switch {
				case elemStart >= 0:
					w.spans = append(w.spans, span{start: elemStart, end: elemEnd, obj: b[elemStart] == '{'})
				case afterComma:
					return 0, w.broke(pos, "invalid character ']' looking for beginning of value")
				}
				elemStart, recDepth = -1, -1
			}
			stack = stack[:len(stack)-1]
			if len(stack) == 0 {
				if !found {
					w.spans = append(w.spans, span{start: at, end: nx, obj: true})
				}
				return nx, walkStop{errAt: -1}
			}
			if len(stack) >= recDepth && recDepth > 0 {
				elemEnd = nx
			}
			i = nx
			continue
		}
		if atElem && elemStart < 0 {
			elemStart = pos
		}
		switch c {
		case '{', '[':
			stack = append(stack, c)
			i = nx
		case '"':
			contentEnd, end, ok := w.stringEnd(b, nx)
			if !ok {
				return 0, w.broke(pos, "unexpected end of input")
			}
			i = end
			if !found && len(stack) == 1 && stack[0] == '{' {
				isRec, ok := w.recordsKey(b, nx, contentEnd, end)
				if !ok {
					return 0, w.broke(pos, "escape not read in place")
				}
				if isRec {
					found, recDepth, afterComma = true, 2, false
				}
			}
			if w.depth == 2 && recDepth > 0 && len(stack) > recDepth {
				// Inside a record, strings mostly follow one another as
				// "key":"value","key":... Read such a run here rather
				// than one character per turn of the loop.
				for len(b)-i >= 5 && (b[i] == ':' || b[i] == ',') && binary.LittleEndian.Uint32(b[i+1:]) == 0x225c5c5c {
					// The string's first word, in line: most strings
					// end inside it with no backslash of their own.
					s := i + 5
					if len(b)-s >= 16 {
						v := binary.LittleEndian.Uint64(b[s:])
						x, y := v^0x5c5c5c5c5c5c5c5c, v^0x2222222222222222
						if m := ((x-0x0101010101010101)&^x | (y-0x0101010101010101)&^y) & 0x8080808080808080; m != 0 && v&0x8080808080808080 == 0 {
							if p := s + bits.TrailingZeros64(m)>>3; binary.LittleEndian.Uint32(b[p:]) == 0x225c5c5c {
								i = p + 4
								continue
							}
						}
					}
					_, end, ok := w.stringEnd(b, s)
					if !ok {
						return 0, w.broke(i+1, "unexpected end of input")
					}
					i = end
				}
			}
		default:
			i = nx
		}
		if len(stack) >= recDepth && recDepth > 0 {
			elemEnd = i
		}
	}
}

// recordsKey reports whether the string with content text[s:e], followed
// at next by ':' and an array, is the key "records". ok is false when the
// key has escapes the walker cannot compare at this depth.
func (w *walker) recordsKey(b []byte, s, e, next int) (isRec, ok bool) {
	c, _, nx, kind, eof := w.skipWS(b, next)
	if eof || kind != runChar || c != ':' {
		return false, true
	}
	c, _, _, kind, eof = w.skipWS(b, nx)
	if eof || kind != runChar || c != '[' {
		return false, true
	}
	key := b[s:e]
	if bytes.IndexByte(key, '\\') < 0 {
		return string(key) == "records", true
	}
	if w.depth > 0 {
		return false, false
	}
	var k string
	if json.Unmarshal(b[s-1:e+1], &k) != nil {
		return false, true // Normalize will judge the record
	}
	return k == "records", true
}

func syntaxOffset(err error, fallback int64) int64 {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return se.Offset
	}
	return fallback
}

func containerName(open byte) string {
	if open == '{' {
		return "object"
	}
	return "array"
}
