package detect

import (
	"encoding/json"
	"math/bits"
	"sync"
	"unicode/utf8"

	"github.com/tripline/tripline/internal/jsonscan"
)

// This file is the JSON decoder Normalize uses: it builds exactly the values
// json.Decoder with UseNumber builds when decoding into map[string]any
// (map[string]any, []any, string, json.Number, bool, nil; a repeated key keeps
// its last value), about three times faster, because it does not go through
// reflection, sizes every map and slice once, and takes unescaped strings as
// substrings of its input instead of copying them.
//
// It decodes only the first JSON value of its input, as Decoder.Decode
// does, and only when that value is an object. It gives up (ok false) on
// anything where encoding/json's output or error needs encoding/json's own
// judgement: invalid JSON, invalid UTF-8 (replaced by U+FFFD), \u escapes of
// surrogates, nesting deeper than fastDecodeDepth. Callers then run
// encoding/json, so results and errors are always encoding/json's.

// fastDecodeDepth bounds nesting (encoding/json allows 10000).
const fastDecodeDepth = 512

// jsonDecoder is the reusable state of one decode; it lives in decoderPool.
type jsonDecoder struct {
	s string
	i int
	// members and elems hold the members of the objects and the elements
	// of the arrays being decoded, innermost last.
	members []jsonMember
	elems   []any
	// buf collects an escaped string while it is unescaped.
	buf []byte
}

type jsonMember struct {
	key string
	val any
}

var decoderPool = sync.Pool{New: func() any { return &jsonDecoder{} }}

// decodeObjectFast decodes the JSON object at the start of s (after
// whitespace), or reports ok false.
func decodeObjectFast(s string) (m map[string]any, ok bool) {
	d := decoderPool.Get().(*jsonDecoder)
	d.s, d.i = s, d.skipWS(0)
	if d.i < len(s) && s[d.i] == '{' {
		m, ok = d.object(0)
	}
	clear(d.members[:cap(d.members)])
	clear(d.elems[:cap(d.elems)])
	d.members, d.elems, d.s = d.members[:0], d.elems[:0], ""
	decoderPool.Put(d)
	return m, ok
}

func (d *jsonDecoder) skipWS(i int) int {
	for i < len(d.s) {
		switch d.s[i] {
		case ' ', '\t', '\n', '\r':
			i++
			continue
		}
		break
	}
	return i
}

// next reads what follows an element of the container that close closes:
// a comma (done is false; d.i is then at the next element) or close.
func (d *jsonDecoder) next(close byte) (done, ok bool) {
	d.i = d.skipWS(d.i)
	if d.i >= len(d.s) {
		return false, false
	}
	c := d.s[d.i]
	d.i++
	switch c {
	case close:
		return true, true
	case ',':
		d.i = d.skipWS(d.i)
		return false, true
	}
	return false, false
}

// object decodes the object at d.s[d.i] ('{').
func (d *jsonDecoder) object(depth int) (map[string]any, bool) {
	if depth >= fastDecodeDepth {
		return nil, false
	}
	base := len(d.members)
	d.i = d.skipWS(d.i + 1)
	if d.i < len(d.s) && d.s[d.i] == '}' {
		d.i++
		return map[string]any{}, true
	}
	for {
		if d.i >= len(d.s) || d.s[d.i] != '"' {
			return nil, false
		}
		key, ok := d.str()
		if !ok {
			return nil, false
		}
		d.i = d.skipWS(d.i)
		if d.i >= len(d.s) || d.s[d.i] != ':' {
			return nil, false
		}
		d.i = d.skipWS(d.i + 1)
		v, ok := d.value(depth)
		if !ok {
			return nil, false
		}
		d.members = append(d.members, jsonMember{key, v})
		if done, ok := d.next('}'); !ok {
			return nil, false
		} else if done {
			break
		}
	}
	ms := d.members[base:]
	m := make(map[string]any, len(ms))
	for _, kv := range ms {
		m[kv.key] = kv.val
	}
	clear(ms)
	d.members = d.members[:base]
	return m, true
}

// array decodes the array at d.s[d.i] ('[').
func (d *jsonDecoder) array(depth int) ([]any, bool) {
	if depth >= fastDecodeDepth {
		return nil, false
	}
	base := len(d.elems)
	d.i = d.skipWS(d.i + 1)
	if d.i < len(d.s) && d.s[d.i] == ']' {
		d.i++
		return []any{}, true
	}
	for {
		v, ok := d.value(depth)
		if !ok {
			return nil, false
		}
		d.elems = append(d.elems, v)
		if done, ok := d.next(']'); !ok {
			return nil, false
		} else if done {
			break
		}
	}
	es := d.elems[base:]
	a := make([]any, len(es))
	copy(a, es)
	clear(es)
	d.elems = d.elems[:base]
	return a, true
}

// value decodes the value at d.s[d.i] (whitespace skipped).
func (d *jsonDecoder) value(depth int) (any, bool) {
	if d.i >= len(d.s) {
		return nil, false
	}
	switch c := d.s[d.i]; c {
	case '"':
		s, ok := d.str()
		return s, ok
	case '{':
		m, ok := d.object(depth + 1)
		return m, ok
	case '[':
		a, ok := d.array(depth + 1)
		return a, ok
	case 't':
		if hasLitString(d.s, d.i, "true") {
			d.i += 4
			return true, true
		}
	case 'f':
		if hasLitString(d.s, d.i, "false") {
			d.i += 5
			return false, true
		}
	case 'n':
		if hasLitString(d.s, d.i, "null") {
			d.i += 4
			return nil, true
		}
	default:
		if c == '-' || c >= '0' && c <= '9' {
			end, ok := scanNumberString(d.s, d.i)
			if !ok {
				return nil, false
			}
			n := json.Number(d.s[d.i:end])
			d.i = end
			return n, true
		}
	}
	return nil, false
}

func hasLitString(s string, i int, lit string) bool {
	return len(s)-i >= len(lit) && s[i:i+len(lit)] == lit
}

// scanNumberString accepts JSON number syntax at s[i].
func scanNumberString(s string, i int) (int, bool) {
	if s[i] == '-' {
		i++
	}
	if i >= len(s) {
		return 0, false
	}
	switch {
	case s[i] == '0':
		i++
	case s[i] >= '1' && s[i] <= '9':
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
	default:
		return 0, false
	}
	if i < len(s) && s[i] == '.' {
		i++
		st := i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		if i == st {
			return 0, false
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		st := i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		if i == st {
			return 0, false
		}
	}
	return i, true
}

// str decodes the string at d.s[d.i] ('"'). Without escapes, it is a
// substring of the input.
func (d *jsonDecoder) str() (string, bool) {
	start := d.i + 1
	i := start
	for i < len(d.s) {
		// Eight bytes at a time up to a byte that is not plain text.
		for len(d.s)-i >= 8 {
			if m := jsonscan.SpecialOrNonASCII(loadUint64(d.s, i)); m != 0 {
				i += bits.TrailingZeros64(m) >> 3 // the lowest flag is exact
				break
			}
			i += 8
		}
		if i >= len(d.s) {
			break
		}
		c := d.s[i]
		switch {
		case c == '"':
			d.i = i + 1
			return d.s[start:i], true
		case c == '\\':
			return d.strEscaped(start, i)
		case c < 0x20:
			return "", false
		case c >= utf8.RuneSelf:
			r, n := utf8.DecodeRuneInString(d.s[i:])
			if r == utf8.RuneError && n == 1 {
				return "", false // encoding/json replaces it with U+FFFD
			}
			i += n
		default:
			i++
		}
	}
	return "", false
}

// strEscaped finishes a string with escapes: s[start:i] is plain, s[i] is
// the first backslash.
func (d *jsonDecoder) strEscaped(start, i int) (string, bool) {
	b := append(d.buf[:0], d.s[start:i]...)
	defer func() { d.buf = b[:0] }()
	for i < len(d.s) {
		c := d.s[i]
		switch {
		case c == '"':
			d.i = i + 1
			return string(b), true
		case c == '\\':
			if i+1 >= len(d.s) {
				return "", false
			}
			e := d.s[i+1]
			if c, ok := jsonscan.Unescape(e); ok {
				b = append(b, c)
				i += 2
				continue
			}
			if e != 'u' || len(d.s)-i < 6 {
				return "", false
			}
			var r rune
			for _, h := range []byte(d.s[i+2 : i+6]) {
				v, ok := jsonscan.Hex(h)
				if !ok {
					return "", false
				}
				r = r<<4 | v
			}
			if r >= 0xD800 && r < 0xE000 {
				return "", false // surrogates: encoding/json pairs or replaces them
			}
			b = utf8.AppendRune(b, r)
			i += 6
		case c < 0x20:
			return "", false
		case c >= utf8.RuneSelf:
			r, n := utf8.DecodeRuneInString(d.s[i:])
			if r == utf8.RuneError && n == 1 {
				return "", false
			}
			b = append(b, d.s[i:i+n]...)
			i += n
		default:
			// Copy the run up to the next special byte at once.
			j := i + 1
			for j < len(d.s) {
				if c := d.s[j]; c == '"' || c == '\\' || c < 0x20 || c >= utf8.RuneSelf {
					break
				}
				j++
			}
			b = append(b, d.s[i:j]...)
			i = j
		}
	}
	return "", false
}

// loadUint64 reads the eight bytes of s at i, little endian.
func loadUint64(s string, i int) uint64 {
	_ = s[i+7]
	return uint64(s[i]) | uint64(s[i+1])<<8 | uint64(s[i+2])<<16 | uint64(s[i+3])<<24 |
		uint64(s[i+4])<<32 | uint64(s[i+5])<<40 | uint64(s[i+6])<<48 | uint64(s[i+7])<<56
}
