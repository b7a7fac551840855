// Package jsonscan holds the byte-level pieces shared by Tripline's
// hand-written JSON scanners (detect's record splitter and decoder, handler's
// batch decoder, the stores' document check): an eight-bytes-at-a-time test
// for the bytes that end a plain run of string text, the one-character
// escapes, and skipping a string or container by its structure alone.
package jsonscan

const (
	lo8 = 0x0101010101010101
	hi8 = 0x8080808080808080
)

// Special has the high bit set in each byte of x (eight bytes, little
// endian) that is '"', '\\' or a control character (< 0x20). Only the lowest
// set byte is exact: bits above it may be false positives, so callers look
// at the first one and rescan from there.
func Special(x uint64) uint64 {
	q := x ^ (lo8 * '"')
	s := x ^ (lo8 * '\\')
	return ((q-lo8)&^q | (s-lo8)&^s | (x-lo8*0x20)&^x) & hi8
}

// SpecialOrNonASCII is Special that also flags bytes >= 0x80.
func SpecialOrNonASCII(x uint64) uint64 {
	return Special(x) | x&hi8
}

// Unescape returns the byte a one-character JSON escape stands for (the
// character after the backslash: " \ / b f n r t); ok is false for 'u' and
// for anything that is not a JSON escape.
func Unescape(e byte) (c byte, ok bool) {
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

// Hex returns the value of one hexadecimal digit of a \u escape.
func Hex(h byte) (v rune, ok bool) {
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
	for i++; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return -1
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
