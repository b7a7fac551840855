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
	// Brackets: each byte ORed with 0x20, compared with '{' and '}'.
	VPOR     Y10, Y0, Y2
	VPCMPEQB Y11, Y2, Y4
	VPCMPEQB Y12, Y2, Y5
	VPOR     Y4, Y5, Y2
	VPOR     Y10, Y1, Y3
	VPCMPEQB Y11, Y3, Y4
	VPCMPEQB Y12, Y3, Y5
	VPOR     Y4, Y5, Y3
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
