package detect

import (
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/tripline/tripline/bench/corpus"
)

// classifyScan is classifyBlocks one byte at a time.
func classifyScan(src []byte, out []uint64) {
	for i, c := range src {
		k, bit := i/64*6, uint64(1)<<(i%64)
		for m, hit := range []bool{c == '\\', c == '"', c == '{' || c == '}' || c == '[' || c == ']', c >= 0x80, c == 'u', c == '/'} {
			if hit {
				out[k+m] |= bit
			}
		}
	}
}

// TestClassifyBlocks: the vector classifier gives the bitmaps a byte by
// byte scan gives.
func TestClassifyBlocks(t *testing.T) {
	if !vectorWalk {
		t.Skip("no AVX2 here: classifyBlocks is not used")
	}
	rng := rand.New(rand.NewPCG(5, 6))
	for trial := 0; trial < 200; trial++ {
		src := make([]byte, 64*(1+rng.IntN(5)))
		for i := range src {
			if rng.IntN(2) == 0 {
				src[i] = `\"{}[]u/ax`[rng.IntN(10)]
			} else {
				src[i] = byte(rng.IntN(256))
			}
		}
		got, want := make([]uint64, len(src)/64*6), make([]uint64, len(src)/64*6)
		classifyBlocks(src, got)
		classifyScan(src, want)
		for k := range want {
			if got[k] != want[k] {
				t.Fatalf("block %d, map %d: %064b, want %064b", k/6, k%6, got[k], want[k])
			}
		}
	}
}

// BenchmarkClassifyBlocks classifies 1 KB at a time, as walkVector does.
func BenchmarkClassifyBlocks(b *testing.B) {
	if !vectorWalk {
		b.Skip("no AVX2")
	}
	src := make([]byte, 64<<10)
	for i := range src {
		src[i] = `abc\"{}[]u/xyz`[i%14]
	}
	var out [6 * 16]uint64
	b.SetBytes(int64(len(src)))
	for b.Loop() {
		for p := 0; p < len(src); p += 1024 {
			classifyBlocks(src[p:p+1024], out[:])
		}
	}
}

func BenchmarkClassifyBlocksOneCall(b *testing.B) {
	src := make([]byte, 64<<10)
	for i := range src {
		src[i] = `abc\"{}[]u/xyz`[i%14]
	}
	out := make([]uint64, 6*1024)
	b.SetBytes(int64(len(src)))
	for b.Loop() {
		classifyBlocks(src, out)
	}
}

// scanBlocksRef is scanBlocks in Go: vecState.block over the blocks, up to
// the first that is not ordinary.
func scanBlocksRef(src []byte, st *vecState, out []uint64) int {
	for k := 0; k < len(src)/64; k++ {
		var m [6]uint64
		classifyScan(src[64*k:64*k+64], m[:])
		bs, q := m[0], m[1]
		b := func(n uint) uint64 { return bs<<n | st.prevBS>>(64-n) }
		if q&b(1)&^b(2) != 0 || q&b(1)&b(2)&b(3)&b(4)&b(5)&b(6)&b(7)&b(8) != 0 || (m[4]|m[5])&b(1) != 0 {
			return k // the end, quotes after 8 or more backslashes, \u or \/
		}
		saved := *st
		br, end, ok := st.block(m, 64*k)
		if !ok || end >= 0 {
			*st = saved
			return k
		}
		out[k] = br
	}
	return len(src) / 64
}

// summary is the state with each hazard map reduced to whether it is set:
// scanBlocks says only that (vecState).
func (st vecState) summary() vecState {
	for _, h := range []*uint64{&st.hazHi, &st.hazU, &st.hazSlash} {
		if *h != 0 {
			*h = 1
		}
	}
	return st
}

// TestScanBlocksAgreesWithBlock: the assembly reads ordinary blocks as
// vecState.block does, stops where it would stop, and carries the same
// state, on text made of backslashes, quotes and brackets in runs.
func TestScanBlocksAgreesWithBlock(t *testing.T) {
	if !vectorWalk {
		t.Skip("no AVX2 here: scanBlocks is not used")
	}
	rng := rand.New(rand.NewPCG(7, 8))
	read, stopped := 0, 0
	pieces := []string{`\\\"`, `\\\"`, `\\\"`, `\\\\\\\"`, `\"`, `\\`, `{`, `}`, `[`, `]`, `u`, `/`, `é`, `abc`, `,`, `:`, `\\\\\\\\\\\\\\\\\\\\\\\"`}
	// Messages of the benchmark corpus as the host escapes them, read
	// from anywhere and sometimes spoiled with a piece above.
	c := corpus.Generate(corpus.Options{Messages: 20})
	var real []byte
	for _, m := range c.Bodies {
		text, _ := escapedTwice(m)
		real = append(real, text...)
	}
	for trial := 0; trial < 6000; trial++ {
		var src []byte
		blocks := 1 + rng.IntN(6)
		if trial%2 == 0 {
			from := rng.IntN(len(real) - 64*blocks)
			src = append(src, real[from:from+64*blocks]...)
			for k := rng.IntN(3); k > 0; k-- {
				at := rng.IntN(len(src))
				copy(src[at:], pieces[rng.IntN(len(pieces))])
			}
		}
		for len(src) < 64*blocks {
			src = append(src, pieces[rng.IntN(len(pieces))]...)
		}
		src = src[:64*blocks]
		start := vecState{prevBS: rng.Uint64() & rng.Uint64(), inString: -uint64(rng.IntN(2)), pending: rng.Uint64() & 0xe000000000000000 & -uint64(rng.IntN(2))}
		got, want := start, start
		gotOut, wantOut := make([]uint64, blocks), make([]uint64, blocks)
		// The 8 bytes before the blocks, as start.prevBS says they are.
		lead := make([]byte, 8, 8+len(src))
		for k := range lead {
			if start.prevBS>>(56+k)&1 != 0 {
				lead[k] = '\\'
			} else {
				lead[k] = 'x'
			}
		}
		n, wantN := scanBlocks(append(lead, src...), &got, gotOut), scanBlocksRef(src, &want, wantOut)
		if n != wantN || got.summary() != want.summary() || !reflect.DeepEqual(gotOut[:n], wantOut[:wantN]) {
			t.Fatalf("%q from %+v:\nscanBlocks %d blocks, state %+v, brackets %x\nblock      %d blocks, state %+v, brackets %x", src, start, n, got, gotOut[:n], wantN, want, wantOut[:wantN])
		}
		read += n
		if n < blocks {
			stopped++
		}
	}
	// Both outcomes are exercised: blocks read, and stops.
	if read < 1000 || stopped < 1000 {
		t.Fatalf("%d blocks read, %d stops: the text exercises too little", read, stopped)
	}
}

// scanOnly is walkVector's block loop without visiting brackets, up to
// the message's end; it returns how many blocks it read.
func scanOnly(b []byte, from int) int {
	st := vecState{prevBS: backslashesBefore(b, from)}
	var brs [vectorChunk]uint64
	var masks [6]uint64
	blocks := 0
	for p := from; p+64 <= len(b); {
		n := min((len(b)-p)/64, vectorChunk)
		done := scanBlocks(b[p-8:p+64*n], &st, brs[:n])
		p += 64 * done
		blocks += done
		if done == n {
			continue
		}
		classifyBlocks(b[p:p+64], masks[:])
		_, end, ok := st.block(masks, p)
		if !ok || end >= 0 {
			return blocks
		}
		p += 64
		blocks++
	}
	return blocks
}

// BenchmarkScanBlocks reads the messages of the benchmark corpus as the
// host escapes them through scanBlocks (and vecState.block where it
// stops), without visiting brackets: the share of walkVector that is
// classification. MB/s counts the escaped bytes.
func BenchmarkScanBlocks(b *testing.B) {
	if !vectorWalk {
		b.Skip("no AVX2")
	}
	c := corpus.Generate(corpus.Options{Messages: 20})
	var texts [][]byte
	var size int64
	for _, m := range c.Bodies {
		t, start := escapedTwice(m)
		texts = append(texts, t[start:])
		size += int64(len(t))
	}
	// Each text from its message's first record, as walkVector reads it.
	prefix := len(`{\\\"records\\\":[`)
	b.SetBytes(size)
	for b.Loop() {
		read := 0
		for _, t := range texts {
			read += scanOnly(t, prefix)
		}
		// All but the blocks after each message's end.
		if int64(read) < size/64-int64(len(texts)) {
			b.Fatalf("read %d blocks of %d", read, size/64)
		}
	}
}

// TestBackslashesBefore: the bits are those a block's backslash map would
// have for the bytes before p, bit 63 the byte just before.
func TestBackslashesBefore(t *testing.T) {
	for _, c := range []struct {
		b    string
		p    int
		want uint64
	}{
		{`{\\\"records\\\":[{`, 18, 0b0001_1100 << 56},
		{`\\x`, 2, 0b11 << 62},
		{`\\x`, 3, 0b0110 << 60},
		{`\\\\\\\\\\x`, 10, 0xff << 56},
		{`ab`, 0, 0},
	} {
		if got := backslashesBefore([]byte(c.b), c.p); got != c.want {
			t.Errorf("backslashesBefore(%q, %d) = %064b, want %064b", c.b, c.p, got, c.want)
		}
	}
}
