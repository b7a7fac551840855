//go:build !amd64 || purego

package detect

const vectorWalk = false

func classifyBlocks(src []byte, out []uint64) {}

func scanBlocks(src []byte, st *vecState, out []uint64) int { return 0 }
