package detect

import (
	"bytes"
	"math/rand/v2"
	"testing"
)

// TestFindAgreesWithBruteForce: the literal cursors answer every sequence
// of range queries as a fresh search of that range would, whatever the
// order of the queries and the overlaps of the literals.
func TestFindAgreesWithBruteForce(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, lit := range []string{"ab", "aba", "delete", "a"} {
		for fold := range 2 {
			l := pfLit{text: []byte(lit), fold: fold == 1}
			l.anchor = rarestByte(l.text, l.fold)
			pf := &prefilter{lits: []*pfLit{&l}}
			for trial := 0; trial < 300; trial++ {
				hay := make([]byte, rng.IntN(60))
				for i := range hay {
					hay[i] = "abdeltABDELT"[rng.IntN(12)]
				}
				c := candidates{pf: pf, msg: hay, cur: []litCursor{{from: len(hay) + 1, at: -1}}}
				s := 0
				for q := 0; q < 20; q++ {
					if rng.IntN(4) == 0 {
						s = rng.IntN(len(hay) + 1) // sometimes backwards
					} else {
						s = min(len(hay), s+rng.IntN(8))
					}
					e := s + rng.IntN(len(hay)-s+1)
					want := -1
					for i := s; i+len(lit) <= e; i++ {
						w := hay[i : i+len(lit)]
						if bytes.Equal(w, l.text) || l.fold && bytes.EqualFold(w, l.text) {
							want = i
							break
						}
					}
					if got := c.find(0, s, e); got != want {
						t.Fatalf("%q fold=%v in %q: find(%d,%d) = %d, want %d", lit, l.fold, hay, s, e, got, want)
					}
				}
			}
		}
	}
}
