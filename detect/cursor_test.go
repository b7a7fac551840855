package detect

import (
	"bytes"
	"math/rand/v2"
	"strings"
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

// TestGuardedFindAgreesWithBruteForce: literals that share a long prefix
// are searched behind a guard (the prefix); the answers stay those of a
// fresh search, whichever literal is asked first.
func TestGuardedFindAgreesWithBruteForce(t *testing.T) {
	prefix := "microsoft.kubernetes/connectedclusters/events"
	pf := newPrefilterLits([]string{prefix + ".k8s.io/events/delete", prefix + "/delete"}, true)
	if pf.lits[0].guard == 0 || pf.lits[1].guard == 0 || string(pf.lits[pf.lits[0].guard-1].text) != prefix {
		t.Fatalf("no guard for two literals sharing %q: %+v", prefix, pf.lits)
	}
	rng := rand.New(rand.NewPCG(9, 10))
	pieces := []string{prefix, prefix[:30], strings.ToUpper(prefix), "/delete", ".k8s.io/events/delete", "/DELETE", "x", "k"}
	for trial := 0; trial < 500; trial++ {
		var sb strings.Builder
		for n := rng.IntN(12); n > 0; n-- {
			sb.WriteString(pieces[rng.IntN(len(pieces))])
		}
		hay := []byte(sb.String())
		c := candidates{pf: pf, msg: hay, cur: make([]litCursor, len(pf.lits))}
		for k := range c.cur {
			c.cur[k] = litCursor{from: len(hay) + 1, at: -1}
		}
		s := 0
		for q := 0; q < 20; q++ {
			s = min(len(hay), s+rng.IntN(40))
			e := s + rng.IntN(len(hay)-s+1)
			k := rng.IntN(2)
			lit := pf.lits[k].text
			want := -1
			for i := s; i+len(lit) <= e; i++ {
				if bytes.EqualFold(hay[i:i+len(lit)], lit) {
					want = i
					break
				}
			}
			if got := c.find(k, s, e); got != want {
				t.Fatalf("%q in %q: find(%d,%d) = %d, want %d", lit, hay, s, e, got, want)
			}
		}
	}
}

// newPrefilterLits is a prefilter with just these literals.
func newPrefilterLits(texts []string, fold bool) *prefilter {
	pf := &prefilter{}
	for _, x := range texts {
		l := pfLit{text: []byte(x), fold: fold}
		l.anchor = rarestByte(l.text, fold)
		pf.litIndex(&l)
	}
	pf.guardLiterals()
	return pf
}

// TestMessageCheckTriesCheapClausesFirst: over a whole message, the clause
// searched first is the cheapest one, whatever the rule's order (a
// case-insensitive anchor counts both its cases and a second search); ties
// keep the rule's order.
func TestMessageCheckTriesCheapClausesFirst(t *testing.T) {
	pf := &prefilter{}
	for _, l := range []pfLit{
		{text: []byte("microsoft.containerservice/managedclusters/diagnosticlogs/read"), fold: true},
		{text: []byte("kube-audit")},
		{text: []byte("delete")},
	} {
		l.anchor = rarestByte(l.text, l.fold)
		pf.litIndex(&l)
	}
	got := pf.clausesByCost([][]int{{0}, {1}, {2}})
	want := []int{1, 0, 2} // 'k' (231), 'g' and 'G' (383 + 266, two searches), 'l' (1069)
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("clauses by cost = %v, want %v", got, want)
		}
	}
	if got := pf.clausesByCost([][]int{{2}, {2}}); got[0] != 0 || got[1] != 1 {
		t.Fatalf("equal clauses reordered: %v", got)
	}
}

// TestNextFoldedAgreesWithBruteForce: the search of a case-insensitive
// literal on its anchor letter in both cases (or on it and a second byte,
// pfLit.pair) finds the first occurrence at
// or after from, as comparing at every offset would, bytes that differ
// from a letter only in bit 0x20 without being its other case ('.' and
// 0x0e, '@' and '`') in the mix.
func TestNextFoldedAgreesWithBruteForce(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	const alphabet = "kKuUbB.\x0e@`/e"
	for trial := 0; trial < 3000; trial++ {
		lit := make([]byte, 2+rng.IntN(5))
		for i := range lit {
			lit[i] = lower(alphabet[rng.IntN(len(alphabet))])
		}
		l := pfLit{text: lit, fold: true, anchor: rng.IntN(len(lit))}
		if c := lit[l.anchor]; c < 'a' || c > 'z' {
			continue // next takes the plain path for such an anchor
		}
		hay := make([]byte, rng.IntN(300))
		for i := range hay {
			hay[i] = alphabet[rng.IntN(len(alphabet))]
		}
		from := rng.IntN(len(hay) + 1)
		want := -1
		for s := from; s+len(lit) <= len(hay); s++ {
			k := 0
			for k < len(lit) && lower(hay[s+k]) == lit[k] {
				k++
			}
			if k == len(lit) {
				want = s
				break
			}
		}
		if got := l.next(hay, from); got != want {
			t.Fatalf("%q (anchor %d) in %q from %d: %d, want %d", lit, l.anchor, hay, from, got, want)
		}
		// Searched by the anchor and any second byte (indexPair), the
		// answer is the same.
		p := l
		p.paired, p.second = true, rng.IntN(len(lit))
		if got := p.next(hay, from); got != want {
			t.Fatalf("%q (anchor %d, second %d) in %q from %d: %d, want %d", lit, p.anchor, p.second, hay, from, got, want)
		}
	}
}
