//go:build amd64 && !purego

package detect

import "golang.org/x/sys/cpu"

// vectorWalk says whether walkVector can run here.
var vectorWalk = cpu.X86.HasAVX2

// classifyBlocks writes, for each 64-byte block k of src, the bitmaps of
// its backslashes, quotes, brackets, bytes >= 0x80, 'u' and '/' into
// out[6k:6k+6]. len(src) is a multiple of 64.
//
//go:noescape
func classifyBlocks(src []byte, out []uint64)
