//go:build amd64 && !purego

#include "textflag.h"

// BCONST sets every byte of Y to the constant c, through X.
#define BCONST(c, X, Y) \
	MOVL c, AX \
	VMOVD AX, X \
	VPBROADCASTB X, Y

// STOREMASK stores at off(DI) the 64-bit map of the high bits of the
// bytes of LO (bytes 0-31) and HI (bytes 32-63).
#define STOREMASK(LO, HI, off) \
	VPMOVMSKB LO, AX \
	VPMOVMSKB HI, BX \
	SHLQ $32, BX \
	ORQ  BX, AX \
	MOVQ AX, off(DI)

// BRACKETS sets the bytes of Y2 and Y3 where those of the block (Y0, Y1)
// are brackets: each byte ORed with 0x20 (Y10) is '{' (Y11) or '}' (Y12).
// Y4 and Y5 are scratch.
#define BRACKETS \
	VPOR     Y10, Y0, Y2 \
	VPCMPEQB Y11, Y2, Y4 \
	VPCMPEQB Y12, Y2, Y5 \
	VPOR     Y4, Y5, Y2 \
	VPOR     Y10, Y1, Y3 \
	VPCMPEQB Y11, Y3, Y4 \
	VPCMPEQB Y12, Y3, Y5 \
	VPOR     Y4, Y5, Y3

// EQMASK stores at off(DI) the map of the block's bytes equal to those
// of C (the block is in Y0 and Y1).
#define EQMASK(C, off) \
	VPCMPEQB C, Y0, Y2 \
	VPCMPEQB C, Y1, Y3 \
	STOREMASK(Y2, Y3, off)

// func classifyBlocks(src []byte, out []uint64)
//
// For each 64-byte block k of src, out[6k:6k+6] gets the bitmaps (bit i
// for byte i of the block) of: backslashes, quotes, brackets ({}[]),
// bytes >= 0x80, 'u' and '/'. The caller guarantees len(src) is a
// multiple of 64 and len(out) >= 6*len(src)/64.
TEXT ·classifyBlocks(SB), NOSPLIT, $0-48
	MOVQ src_base+0(FP), SI
	MOVQ src_len+8(FP), CX
	MOVQ out_base+24(FP), DI
	SHRQ $6, CX

	BCONST($0x5c, X8, Y8) // '\\'
	BCONST($0x22, X9, Y9) // '"'
	BCONST($0x20, X10, Y10) // 0x20: '[' | 0x20 == '{', ']' | 0x20 == '}'
	BCONST($0x7b, X11, Y11) // '{'
	BCONST($0x7d, X12, Y12) // '}'
	BCONST($0x75, X13, Y13) // 'u'
	BCONST($0x2f, X14, Y14) // '/'

loop:
	TESTQ CX, CX
	JZ    done
	VMOVDQU (SI), Y0
	VMOVDQU 32(SI), Y1

	EQMASK(Y8, 0) // backslashes
	EQMASK(Y9, 8) // quotes
	BRACKETS
	STOREMASK(Y2, Y3, 16)
	STOREMASK(Y0, Y1, 24) // bytes >= 0x80: their own high bit
	EQMASK(Y13, 32) // 'u'
	EQMASK(Y14, 40) // '/'

	ADDQ $64, SI
	ADDQ $48, DI
	DECQ CX
	JMP  loop

done:
	VZEROUPPER
	RET

// ANDBS keeps in Y3 the bytes whose byte at the same place in the 32 bytes
// at at(SI) is a backslash; Y2 is scratch.
#define ANDBS(at) \
	VPCMPEQB at(SI), Y8, Y2 \
	VPAND    Y2, Y3, Y3

// RUNS reads the 32 bytes at off+8(SI), half of the block (the block's
// first byte is at 8(SI); the 8 bytes before it are readable), and sets:
// Y5 the quotes after exactly 3 backslashes (run3), Y6 those after
// exactly 7 (run7), Y1 the quotes that are neither and the bytes 'u' or
// '/' after a backslash (the block is not ordinary where any is set), Y0
// the backslashes. Bk, "the byte k before is a backslash", is a compare
// of the bytes loaded k earlier: loads cost less here than shifting the
// backslash map across blocks in general registers. Y2-Y4 are scratch.
#define RUNS(off) \
	VMOVDQU  off+8(SI), Y0 \
	VPCMPEQB Y9, Y0, Y1 \
	VPCMPEQB off+7(SI), Y8, Y2 \
	VPAND    Y2, Y1, Y3 \
	VPCMPEQB Y13, Y0, Y4 \
	VPCMPEQB Y14, Y0, Y5 \
	VPOR     Y4, Y5, Y4 \
	VPAND    Y2, Y4, Y4 \
	ANDBS(off+6) \
	ANDBS(off+5) \
	VPCMPEQB off+4(SI), Y8, Y2 \
	VPANDN   Y3, Y2, Y5 \
	VPAND    Y2, Y3, Y3 \
	ANDBS(off+3) \
	ANDBS(off+2) \
	ANDBS(off+1) \
	VPCMPEQB off+0(SI), Y8, Y2 \
	VPANDN   Y3, Y2, Y6 \
	VPXOR    Y5, Y1, Y1 \
	VPXOR    Y6, Y1, Y1 \
	VPOR     Y4, Y1, Y1 \
	VPCMPEQB Y8, Y0, Y0

// HALFBRACKETS sets Y2 where the 32 bytes at off+8(SI) are brackets (see
// BRACKETS); Y0, Y3 and Y4 are scratch.
#define HALFBRACKETS(off) \
	VMOVDQU  off+8(SI), Y0 \
	VPOR     Y10, Y0, Y2 \
	VPCMPEQB Y11, Y2, Y3 \
	VPCMPEQB Y12, Y2, Y4 \
	VPOR     Y3, Y4, Y2

// func scanBlocks(src []byte, st *vecState, out []uint64) int
//
// The blocks start at src[8]; src[:8] are the bytes before the first one,
// whose backslashes are the top 8 bits of st.prevBS.
//
// ANDNQ a, b, c sets c to a &^ b (BMI1); VPANDN a, b, c sets c to a &^ b.
//
// Registers across blocks: SI src (the block at 8(SI)), CX blocks left,
// DI out, R8 prevBS, R9 inString, R10 pending, Y7 the OR of every byte
// (its high bit is the non-ASCII hazard). Per block: AX bs, BX str, R14
// run3, R15 run7, DX scratch.
TEXT ·scanBlocks(SB), NOSPLIT, $0-64
	MOVQ src_base+0(FP), SI
	MOVQ src_len+8(FP), CX
	MOVQ out_base+32(FP), DI
	SUBQ $8, CX
	SHRQ $6, CX
	MOVQ st+24(FP), AX
	MOVQ 0(AX), R8
	MOVQ 8(AX), R9
	MOVQ 16(AX), R10

	BCONST($0x5c, X8, Y8) // '\\'
	BCONST($0x22, X9, Y9) // '"'
	BCONST($0x20, X10, Y10)
	BCONST($0x7b, X11, Y11) // '{'
	BCONST($0x7d, X12, Y12) // '}'
	BCONST($0x75, X13, Y13) // 'u'
	BCONST($0x2f, X14, Y14) // '/'
	VPCMPEQB Y15, Y15, Y15 // all ones: the prefix XOR multiplies by it
	VPXOR    Y7, Y7, Y7

scan:
	TESTQ CX, CX
	JZ    scandone

	// Bytes 0-31, then 32-63: every quote must be run3 or run7 (not the
	// message's end, nor after 8 or more backslashes: counted one by one,
	// in Go), and no backslash before 'u' or '/' (rare; vecState.block
	// notes the hazard).
	RUNS(0)
	VPMOVMSKB Y1, DX
	TESTL     DX, DX
	JNZ       scandone
	VPMOVMSKB Y0, AX
	VPMOVMSKB Y5, R14
	VPMOVMSKB Y6, R15
	RUNS(32)
	VPMOVMSKB Y1, DX
	TESTL     DX, DX
	JNZ       scandone
	VPMOVMSKB Y0, DX
	SHLQ      $32, DX
	ORQ       DX, AX
	VPMOVMSKB Y5, DX
	SHLQ      $32, DX
	ORQ       DX, R14
	VPMOVMSKB Y6, DX
	SHLQ      $32, DX
	ORQ       DX, R15

	// BX: str, the prefix XOR of run3, after the carry.
	VMOVQ R14, X2
	VPCLMULQDQ $0x00, X15, X2, X2
	VMOVQ X2, BX
	XORQ R9, BX
	// A quote of a string's content outside one: the walker's.
	ANDNQ R15, BX, DX
	JNZ   scandone
	ANDQ BX, R14 // opening quotes

	// Backslashes of the previous block's last 3 bytes outside strings
	// must be those before an opening quote at bits 0-2. Most blocks
	// have none to explain.
	TESTQ R10, R10
	JZ    explained
	MOVQ R14, DX
	SHLQ $61, DX
	MOVQ DX, R15
	SHLQ $1, R15
	ORQ  R15, DX
	SHLQ $1, R15
	ORQ  R15, DX
	ANDNQ R10, DX, DX
	JNZ   scandone

explained:
	// R15: backslashes outside strings not before an opening quote.
	MOVQ R14, DX
	SHRQ $1, DX
	MOVQ DX, R15
	SHRQ $1, R15
	ORQ  R15, DX
	SHRQ $1, R15
	ORQ  R15, DX
	ORQ   BX, DX
	ANDNQ AX, DX, R15
	MOVQ  R15, DX
	SHLQ $3, DX
	JNZ  scandone

	// An ordinary block: state, brackets outside strings.
	MOVQ R15, R10
	VPOR 8(SI), Y7, Y7
	VPOR 40(SI), Y7, Y7
	MOVQ AX, R8
	MOVQ BX, R9
	SARQ $63, R9
	HALFBRACKETS(0)
	VPMOVMSKB Y2, DX
	HALFBRACKETS(32)
	VPMOVMSKB Y2, R14
	SHLQ $32, R14
	ORQ  R14, DX
	ANDNQ DX, BX, DX
	MOVQ  DX, (DI)
	ADDQ $64, SI
	ADDQ $8, DI
	DECQ CX
	JMP  scan

scandone:
	MOVQ st+24(FP), AX
	MOVQ R8, 0(AX)
	MOVQ R9, 8(AX)
	MOVQ R10, 16(AX)
	VPMOVMSKB Y7, DX
	ORQ  DX, 24(AX) // hazHi: some bit where some byte >= 0x80
	MOVQ out_base+32(FP), AX
	SUBQ AX, DI
	SHRQ $3, DI
	MOVQ DI, ret+56(FP)
	VZEROUPPER
	RET
