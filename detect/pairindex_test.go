package detect

import (
	"bytes"
	"math/rand/v2"
	"testing"
)

// indexPairScan is indexPair one position at a time.
func indexPairScan(hay []byte, d int, c1, m1, c2, m2 byte) int {
	for i := 0; i+d < len(hay); i++ {
		if hay[i]|m1 == c1 && hay[i+d]|m2 == c2 {
			return i
		}
	}
	return -1
}

// TestIndexPairAgreesWithScan: the vector search finds the first pair a
// byte-by-byte scan finds, at every length and offset around its 32-byte
// blocks, with and without case folding.
func TestIndexPairAgreesWithScan(t *testing.T) {
	if !pairSearch {
		t.Log("no AVX2 here: indexPair is the scan itself")
	}
	rng := rand.New(rand.NewPCG(1, 2))
	alphabet := []byte("kKvV.-/ae")
	for n := 0; n < 200; n++ {
		for d := 0; d < 70; d += 1 + d/8 {
			for trial := 0; trial < 4; trial++ {
				hay := make([]byte, n)
				for i := range hay {
					hay[i] = alphabet[rng.IntN(len(alphabet))]
				}
				for _, m := range [][2]byte{{0, 0}, {0x20, 0x20}, {0x20, 0}} {
					c1, c2 := byte('k'), byte('v')
					if m[1] == 0 {
						c2 = 'V'
					}
					got, want := indexPair(hay, d, c1, m[0], c2, m[1]), indexPairScan(hay, d, c1, m[0], c2, m[1])
					if got != want {
						t.Fatalf("len %d, d %d, masks %v: indexPair %d, scan %d in %q", n, d, m, got, want, hay)
					}
				}
			}
		}
	}
	// No byte of hay past its length is read: a hit placed just past the
	// end of a slice of a longer array is not found.
	buf := make([]byte, 200)
	for i := range buf {
		buf[i] = 'k'
	}
	for n := 0; n < 100; n++ {
		if got := indexPair(buf[:n], 5, 'k', 0, 'v', 0); got != -1 {
			t.Fatalf("len %d: found %d with no 'v'", n, got)
		}
		buf[n+5] = 'v'
		if got, want := indexPair(buf[:n], 5, 'k', 0, 'v', 0), indexPairScan(buf[:n], 5, 'k', 0, 'v', 0); got != want {
			t.Fatalf("len %d, 'v' at %d: found %d, want %d", n, n+5, got, want)
		}
		buf[n+5] = 'k'
	}
}

// FuzzIndexPair: the vector search and the scan agree on any input.
func FuzzIndexPair(f *testing.F) {
	f.Add([]byte("microsoft.kubernetes/connectedclusters/events"), 6, byte('k'), byte(0x20), byte('v'), byte(0x20))
	f.Add(make([]byte, 100), 31, byte(0), byte(0), byte(0), byte(0))
	f.Fuzz(func(t *testing.T, hay []byte, d int, c1, m1, c2, m2 byte) {
		if d < 0 || d > 1<<16 {
			return
		}
		if got, want := indexPair(hay, d, c1, m1, c2, m2), indexPairScan(hay, d, c1, m1, c2, m2); got != want {
			t.Fatalf("indexPair %d, scan %d", got, want)
		}
	})
}

// BenchmarkIndexPair searches 64 KB (a message, in cache) holding no pair.
func BenchmarkIndexPair(b *testing.B) {
	hay := benchHay(b)
	for b.Loop() {
		if indexPair(hay, 29, 'k', 0x20, 'v', 0x20) >= 0 {
			b.Fatal("found")
		}
	}
}

// BenchmarkIndexByte is bytes.IndexByte over the same bytes, for scale.
func BenchmarkIndexByte(b *testing.B) {
	hay := benchHay(b)
	for b.Loop() {
		if bytes.IndexByte(hay, 'z') >= 0 {
			b.Fatal("found")
		}
	}
}

// benchHay is 64 KB (a message, in cache) of text with no 'k', 'v' or 'z'.
func benchHay(b *testing.B) []byte {
	hay := make([]byte, 64<<10)
	for i := range hay {
		hay[i] = "abcdefghij/.-KV"[i%15]
	}
	b.SetBytes(int64(len(hay)))
	return hay
}
