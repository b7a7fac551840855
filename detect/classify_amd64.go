//go:build amd64 && !purego

package detect

import "golang.org/x/sys/cpu"

// vectorWalk says whether walkVector can run here.
var vectorWalk = cpu.X86.HasAVX2 && cpu.X86.HasPCLMULQDQ && cpu.X86.HasBMI1

// classifyBlocks writes, for each 64-byte block k of src, the bitmaps of
// its backslashes, quotes, brackets, bytes >= 0x80, 'u' and '/' into
// out[6k:6k+6]. len(src) is a multiple of 64.
//
//go:noescape
func classifyBlocks(src []byte, out []uint64)

// scanBlocks reads the 64-byte blocks of src[8:] as vecState.block does, for
// as long as they are ordinary (every quote after 3 or 7 backslashes, not
// the message's end, no backslash before 'u' or '/', nothing that makes
// the message the walker's): it
// writes each one's brackets outside strings to out, carries st through
// them, and returns how many it read. The block it stops at is left to
// vecState.block, with st as it was before that block. src[:8] are the
// bytes before the first block: their backslashes must be the top 8 bits
// of st.prevBS (the assembly reads them where block reads prevBS).
// len(src)-8 is a multiple of 64 and len(out) >= (len(src)-8)/64.
//
//go:noescape
func scanBlocks(src []byte, st *vecState, out []uint64) int
