//go:build amd64 && !purego

package detect

import "golang.org/x/sys/cpu"

var pairSearch = cpu.X86.HasAVX2

// indexPairAVX2 is indexPair over the positions i with i+d+32 <= len(hay),
// 32 at a time. It returns the first hit, or -1 and the first position it
// did not test.
//
//go:noescape
func indexPairAVX2(hay []byte, d int, c1, m1, c2, m2 byte) (hit, next int)
