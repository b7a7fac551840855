//go:build amd64 && !purego

#include "textflag.h"

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

	MOVL $0x5c, AX
	VMOVD AX, X8
	VPBROADCASTB X8, Y8 // '\\'
	MOVL $0x22, AX
	VMOVD AX, X9
	VPBROADCASTB X9, Y9 // '"'
	MOVL $0x20, AX
	VMOVD AX, X10
	VPBROADCASTB X10, Y10 // 0x20: '[' | 0x20 == '{', ']' | 0x20 == '}'
	MOVL $0x7b, AX
	VMOVD AX, X11
	VPBROADCASTB X11, Y11 // '{'
	MOVL $0x7d, AX
	VMOVD AX, X12
	VPBROADCASTB X12, Y12 // '}'
	MOVL $0x75, AX
	VMOVD AX, X13
	VPBROADCASTB X13, Y13 // 'u'
	MOVL $0x2f, AX
	VMOVD AX, X14
	VPBROADCASTB X14, Y14 // '/'

loop:
	TESTQ CX, CX
	JZ    done
	VMOVDQU (SI), Y0
	VMOVDQU 32(SI), Y1

	VPCMPEQB Y8, Y0, Y2
	VPCMPEQB Y8, Y1, Y3
	VPMOVMSKB Y2, AX
	VPMOVMSKB Y3, BX
	SHLQ $32, BX
	ORQ  BX, AX
	MOVQ AX, 0(DI)

	VPCMPEQB Y9, Y0, Y2
	VPCMPEQB Y9, Y1, Y3
	VPMOVMSKB Y2, AX
	VPMOVMSKB Y3, BX
	SHLQ $32, BX
	ORQ  BX, AX
	MOVQ AX, 8(DI)

	VPOR     Y10, Y0, Y2
	VPCMPEQB Y11, Y2, Y4
	VPCMPEQB Y12, Y2, Y5
	VPOR     Y4, Y5, Y2
	VPOR     Y10, Y1, Y3
	VPCMPEQB Y11, Y3, Y4
	VPCMPEQB Y12, Y3, Y5
	VPOR     Y4, Y5, Y3
	VPMOVMSKB Y2, AX
	VPMOVMSKB Y3, BX
	SHLQ $32, BX
	ORQ  BX, AX
	MOVQ AX, 16(DI)

	VPMOVMSKB Y0, AX
	VPMOVMSKB Y1, BX
	SHLQ $32, BX
	ORQ  BX, AX
	MOVQ AX, 24(DI)

	VPCMPEQB Y13, Y0, Y2
	VPCMPEQB Y13, Y1, Y3
	VPMOVMSKB Y2, AX
	VPMOVMSKB Y3, BX
	SHLQ $32, BX
	ORQ  BX, AX
	MOVQ AX, 32(DI)

	VPCMPEQB Y14, Y0, Y2
	VPCMPEQB Y14, Y1, Y3
	VPMOVMSKB Y2, AX
	VPMOVMSKB Y3, BX
	SHLQ $32, BX
	ORQ  BX, AX
	MOVQ AX, 40(DI)

	ADDQ $64, SI
	ADDQ $48, DI
	DECQ CX
	JMP  loop

done:
	VZEROUPPER
	RET
