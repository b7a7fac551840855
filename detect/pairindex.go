package detect

// indexPair returns the smallest i with i+d < len(hay) such that
// hay[i]|m1 == c1 and hay[i+d]|m2 == c2, or -1. With m1 or m2 0x20 and
// c1 or c2 a lower-case letter, that byte matches both cases (ASCII only;
// other bytes may match too, so a hit is a candidate to verify, never a
// miss). It is the prefilter's search for a literal by two of its bytes
// (pfLit.pair): one byte of a literal (the anchor) recurs in the text far
// more often than the literal, mostly in near misses that share a prefix
// with it (Azure resource ids and operation names), and each recurrence
// cost a restart of bytes.IndexByte; two bytes far apart in the literal
// rarely recur together. Where the CPU has AVX2 (pairindex_amd64.s), 32
// positions are tested at once; pairSearch is false elsewhere and the
// prefilter searches by the anchor alone.
func indexPair(hay []byte, d int, c1, m1, c2, m2 byte) int {
	i := 0
	if pairSearch && len(hay) >= d+32 {
		j, next := indexPairAVX2(hay, d, c1, m1, c2, m2)
		if j >= 0 {
			return j
		}
		i = next
	}
	for ; i+d < len(hay); i++ {
		if hay[i]|m1 == c1 && hay[i+d]|m2 == c2 {
			return i
		}
	}
	return -1
}
