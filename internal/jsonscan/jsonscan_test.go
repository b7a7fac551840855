package jsonscan

import (
	"encoding/binary"
	"encoding/json"
	"math/bits"
	"math/rand/v2"
	"strings"
	"testing"
)

func firstFlag(m uint64) int { return bits.TrailingZeros64(m) / 8 }

func TestSpecialFindsTheFirstSpecialByte(t *testing.T) {
	for _, tc := range []struct {
		in      string
		special int // index of the first flagged byte, 8 = none
	}{
		{"abcdefgh", 8},
		{`abc"efgh`, 3},
		{`a\cdefgh`, 1},
		{"abcdefg\n", 7},
		{"ab\xc3\xa9efgh", 8},
		{"\"\"\"\"\"\"\"\"", 0},
		{"ab\x1fdefgh", 2},
		{"ab defgh", 8},
	} {
		x := binary.LittleEndian.Uint64([]byte(tc.in))
		if got := firstFlag(special(x)); got != tc.special {
			t.Errorf("special(%q): first flag at %d, want %d", tc.in, got, tc.special)
		}
	}
}

func TestUnescape(t *testing.T) {
	want := map[byte]byte{'"': '"', '\\': '\\', '/': '/', 'b': '\b', 'f': '\f', 'n': '\n', 'r': '\r', 't': '\t'}
	for e := 0; e < 256; e++ {
		c, ok := unescape(byte(e))
		w, known := want[byte(e)]
		if ok != known || c != w {
			t.Errorf("unescape(%q) = %q, %v; want %q, %v", byte(e), c, ok, w, known)
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

// validCases are documents json.Valid and Valid must judge alike: every
// grammar rule on both sides of its edge.
var validCases = []string{
	``, ` `, `{}`, ` {} `, `[]`, `[ ]`, `{ }`, `"a"`, `1`, `-0`, `-`, `01`, `1.`, `1.5`, `1e`, `1e+`, `1E-7`, `.5`, `-.5`,
	`true`, `tru`, `truex`, `false`, `null`, `nul`, `[1,]`, `[,1]`, `[1 2]`, `{"a":1,}`, `{"a" 1}`, `{"a":}`, `{a:1}`,
	`{"a":1}x`, `{"a":1} {}`, `{"a":[1,{"b":null}],"c":"d"}`, `"\u00e9\n\t\"\\\/"`, `"\u00g0"`, `"\x"`, "\"\x01\"",
	"\"\xff\xfe\"", `"abc`, `"abcdefghijklmnopqrstuvwxyz\"`, `["abcdefgh\u0041abcdefgh"]`, `[}`, `{]`, `[[[]]]`, `[[[]]`,
	"\t[\r\n1\n]\t", `{"a":1,"a":2}`, `"\`, `"\u12`, `[-]`, `[1e5, -2.5E+3, 0.0]`,
}

func TestValidAgreesWithEncodingJSON(t *testing.T) {
	for _, c := range validCases {
		if got, want := Valid([]byte(c)), json.Valid([]byte(c)); got != want {
			t.Errorf("Valid(%q) = %v, json.Valid says %v", c, got, want)
		}
	}
	deep := func(n int) []byte {
		return []byte(strings.Repeat("[", n) + strings.Repeat("]", n))
	}
	for _, n := range []int{maxDepth, maxDepth + 1} {
		if got, want := Valid(deep(n)), json.Valid(deep(n)); got != want {
			t.Errorf("Valid of %d nested arrays = %v, json.Valid says %v", n, got, want)
		}
	}
}

func FuzzValid(f *testing.F) {
	for _, c := range validCases {
		f.Add([]byte(c))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if got, want := Valid(b), json.Valid(b); got != want {
			t.Fatalf("Valid(%q) = %v, json.Valid says %v", b, got, want)
		}
	})
}

// stringEndByByte is StringEnd one byte at a time, as it was written first.
func stringEndByByte(b []byte, i int) int {
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

// TestStringEndAgreesWithByteLoop: eight bytes at a time, StringEnd ends
// strings where a byte-by-byte reading does, wherever quotes and
// backslashes fall against the words it reads.
func TestStringEndAgreesWithByteLoop(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for trial := 0; trial < 20000; trial++ {
		b := make([]byte, 1+rng.IntN(40))
		b[0] = '"'
		for k := 1; k < len(b); k++ {
			b[k] = `aaaaaaa"\\é`[rng.IntN(10)]
		}
		if got, want := StringEnd(b, 0), stringEndByByte(b, 0); got != want {
			t.Fatalf("%q: StringEnd %d, byte by byte %d", b, got, want)
		}
	}
}

func FuzzStringEnd(f *testing.F) {
	f.Add([]byte(`"abcdefgh\"ijklmnop"`), 0)
	f.Fuzz(func(t *testing.T, b []byte, i int) {
		if i < 0 || i >= len(b) {
			return
		}
		if got, want := StringEnd(b, i), stringEndByByte(b, i); got != want {
			t.Fatalf("%q from %d: StringEnd %d, byte by byte %d", b, i, got, want)
		}
	})
}
