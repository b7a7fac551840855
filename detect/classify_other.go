//go:build !amd64 || purego

package detect

const vectorWalk = false

func classifyBlocks(src []byte, out []uint64) {}
