//go:build !amd64 || purego

package detect

const pairSearch = false

func indexPairAVX2(hay []byte, d int, c1, m1, c2, m2 byte) (hit, next int) {
	return -1, 0
}
