package detect

import (
	"math/rand/v2"
	"testing"
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
