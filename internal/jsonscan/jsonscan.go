// Package jsonscan checks and skips JSON without decoding it, allocating
// nothing: Valid answers as encoding/json.Valid does (the stores check every
// document they write with it; input checks scalars), and StringEnd and
// ContainerEnd skip a string or a container by its structure alone (how
// handler tells a captured host request from a message).
package jsonscan

import (
	"encoding/binary"
	"math/bits"
)

const (
	lo8 = 0x0101010101010101
	hi8 = 0x8080808080808080
)

// special has the high bit set in each byte of x (eight bytes, little
// endian) that is '"', '\\' or a control character (< 0x20). Only the lowest
// set byte is exact: bits above it may be false positives, so callers look
// at the first one and rescan from there.
func special(x uint64) uint64 {
	q := x ^ (lo8 * '"')
	s := x ^ (lo8 * '\\')
	return ((q-lo8)&^q | (s-lo8)&^s | (x-lo8*0x20)&^x) & hi8
}

// unescape returns the byte a one-character JSON escape stands for (the
// character after the backslash: " \ / b f n r t); ok is false for 'u' and
// for anything that is not a JSON escape.
func unescape(e byte) (c byte, ok bool) {
	switch e {
	case '"', '\\', '/':
		return e, true
	case 'b':
		return '\b', true
	case 'f':
		return '\f', true
	case 'n':
		return '\n', true
	case 'r':
		return '\r', true
	case 't':
		return '\t', true
	}
	return 0, false
}

// hexValue returns the value of one hexadecimal digit of a \u escape.
func hexValue(h byte) (v rune, ok bool) {
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

// StringEnd returns the offset after the JSON string whose opening quote is
// b[i], or -1 when it does not end. It reads only the structure: a
// backslash escapes the next byte, whatever it is (escapes are judged when
// the string is unquoted).
func StringEnd(b []byte, i int) int {
	for i++; i < len(b); {
		if i = skipPlain(b, i); i >= len(b) {
			break
		}
		switch b[i] {
		case '\\':
			i += 2
		case '"':
			return i + 1
		default:
			i++
		}
	}
	return -1
}

// skipPlain returns the first offset from i of a byte that is '"', '\\' or
// a control character, reading eight bytes at a time, or of the last
// bytes, fewer than eight, when none comes before them.
func skipPlain(b []byte, i int) int {
	for len(b)-i >= 8 {
		if m := special(binary.LittleEndian.Uint64(b[i:])); m != 0 {
			return i + bits.TrailingZeros64(m)>>3 // the lowest flag is exact
		}
		i += 8
	}
	return i
}

// ContainerEnd returns the offset after the JSON object or array opening at
// b[i], or -1 when it does not close. It reads only brackets and strings;
// the caller validates the value.
func ContainerEnd(b []byte, i int) int {
	depth := 0
	for ; i < len(b); i++ {
		switch b[i] {
		case '"':
			if i = StringEnd(b, i); i < 0 {
				return -1
			}
			i--
		case '{', '[':
			depth++
		case '}', ']':
			depth--
			if depth == 0 {
				return i + 1
			}
		}
	}
	return -1
}

// maxDepth is encoding/json's nesting limit: Valid, like json.Valid,
// rejects a value nested deeper.
const maxDepth = 10000

// Valid reports whether b is exactly one JSON value, with optional
// whitespace around it, answering as encoding/json.Valid does (strings are
// not checked for valid UTF-8, nesting deeper than 10,000 is refused). It
// allocates nothing and reads plain string text eight bytes at a time:
// the stores check every document they write with it.
func Valid(b []byte) bool {
	// open has bit d set when the container at depth d+1 is an object.
	var open [(maxDepth + 63) / 64]uint64
	depth := 0
	i := space(b, 0)
	for {
		// A value starts at b[i].
		if i >= len(b) {
			return false
		}
		switch c := b[i]; {
		case c == '{' || c == '[':
			if depth == maxDepth {
				return false
			}
			if c == '{' {
				open[depth/64] |= 1 << (depth % 64)
			} else {
				open[depth/64] &^= 1 << (depth % 64)
			}
			depth++
			i = space(b, i+1)
			if i < len(b) && b[i] == c+2 { // '}' or ']': empty
				i++
				depth--
				break
			}
			if c == '{' {
				if i = member(b, i); i < 0 {
					return false
				}
			}
			continue
		case c == '"':
			if i = validString(b, i); i < 0 {
				return false
			}
		case c == '-' || c >= '0' && c <= '9':
			if i = number(b, i); i < 0 {
				return false
			}
		case c == 't':
			if i = literal(b, i, "true"); i < 0 {
				return false
			}
		case c == 'f':
			if i = literal(b, i, "false"); i < 0 {
				return false
			}
		case c == 'n':
			if i = literal(b, i, "null"); i < 0 {
				return false
			}
		default:
			return false
		}
		// A value ended before b[i]: close containers, or go on to the
		// next element.
		for {
			i = space(b, i)
			if depth == 0 {
				return i == len(b)
			}
			if i >= len(b) {
				return false
			}
			obj := open[(depth-1)/64]&(1<<((depth-1)%64)) != 0
			c := b[i]
			if c == ',' {
				i = space(b, i+1)
				if obj {
					if i = member(b, i); i < 0 {
						return false
					}
				}
				break
			}
			if obj && c != '}' || !obj && c != ']' {
				return false
			}
			i++
			depth--
		}
	}
}

// member reads an object member's key and colon at b[i] and returns the
// offset of its value, or -1.
func member(b []byte, i int) int {
	if i >= len(b) || b[i] != '"' {
		return -1
	}
	if i = validString(b, i); i < 0 {
		return -1
	}
	if i = space(b, i); i >= len(b) || b[i] != ':' {
		return -1
	}
	return space(b, i+1)
}

func space(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\n' || b[i] == '\r' || b[i] == '\t') {
		i++
	}
	return i
}

// validString returns the offset after the valid JSON string whose opening
// quote is b[i], or -1.
func validString(b []byte, i int) int {
	for i++; ; {
		if i = skipPlain(b, i); i >= len(b) {
			return -1
		}
		switch c := b[i]; {
		case c == '"':
			return i + 1
		case c < 0x20:
			return -1
		case c == '\\':
			if i+1 >= len(b) {
				return -1
			}
			if b[i+1] != 'u' {
				if _, ok := unescape(b[i+1]); !ok {
					return -1
				}
				i += 2
				continue
			}
			if len(b)-i < 6 {
				return -1
			}
			for _, h := range b[i+2 : i+6] {
				if _, ok := hexValue(h); !ok {
					return -1
				}
			}
			i += 6
		default:
			i++
		}
	}
}

// number returns the offset after the JSON number at b[i], or -1.
func number(b []byte, i int) int {
	if b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && b[i] >= '1' && b[i] <= '9':
		i = digits(b, i+1)
	default:
		return -1
	}
	if i < len(b) && b[i] == '.' {
		if j := digits(b, i+1); j > i+1 {
			i = j
		} else {
			return -1
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if j := digits(b, i); j > i {
			i = j
		} else {
			return -1
		}
	}
	return i
}

func digits(b []byte, i int) int {
	for i < len(b) && b[i] >= '0' && b[i] <= '9' {
		i++
	}
	return i
}

// literal returns the offset after lit at b[i], or -1.
func literal(b []byte, i int, lit string) int {
	if len(b)-i < len(lit) || string(b[i:i+len(lit)]) != lit {
		return -1
	}
	return i + len(lit)
}
