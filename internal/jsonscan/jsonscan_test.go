package jsonscan

import (
	"encoding/binary"
	"math/bits"
	"testing"
)

func firstFlag(m uint64) int { return bits.TrailingZeros64(m) / 8 }

func TestSpecialFindsTheFirstSpecialByte(t *testing.T) {
	for _, tc := range []struct {
		in        string
		special   int // index of the first flagged byte, 8 = none
		nonASCIIs int
	}{
		{"abcdefgh", 8, 8},
		{`abc"efgh`, 3, 3},
		{`a\cdefgh`, 1, 1},
		{"abcdefg\n", 7, 7},
		{"ab\xc3\xa9efgh", 8, 2},
		{"\"\"\"\"\"\"\"\"", 0, 0},
		{"ab\x1fdefgh", 2, 2},
		{"ab defgh", 8, 8},
	} {
		x := binary.LittleEndian.Uint64([]byte(tc.in))
		if got := firstFlag(Special(x)); got != tc.special {
			t.Errorf("Special(%q): first flag at %d, want %d", tc.in, got, tc.special)
		}
		if got := firstFlag(SpecialOrNonASCII(x)); got != tc.nonASCIIs {
			t.Errorf("SpecialOrNonASCII(%q): first flag at %d, want %d", tc.in, got, tc.nonASCIIs)
		}
	}
}

func TestUnescape(t *testing.T) {
	want := map[byte]byte{'"': '"', '\\': '\\', '/': '/', 'b': '\b', 'f': '\f', 'n': '\n', 'r': '\r', 't': '\t'}
	for e := 0; e < 256; e++ {
		c, ok := Unescape(byte(e))
		w, known := want[byte(e)]
		if ok != known || c != w {
			t.Errorf("Unescape(%q) = %q, %v; want %q, %v", byte(e), c, ok, w, known)
		}
	}
}

func TestStringAndContainerEnd(t *testing.T) {
	for _, c := range []struct {
		in   string
		at   int
		want int
		f    func([]byte, int) int
	}{
		{`"ab"x`, 0, 4, StringEnd},
		{`"a\"b"x`, 0, 6, StringEnd},
		{`"a\\"x`, 0, 5, StringEnd},
		{`"ab`, 0, -1, StringEnd},
		{`{"a":[1,"]}"]}x`, 0, 14, ContainerEnd},
		{`[{"a":"\""}]`, 0, 12, ContainerEnd},
		{`{"a":[1]`, 0, -1, ContainerEnd},
	} {
		if got := c.f([]byte(c.in), c.at); got != c.want {
			t.Errorf("%q: got %d, want %d", c.in, got, c.want)
		}
	}
}
