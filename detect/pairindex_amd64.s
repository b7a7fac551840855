//go:build amd64 && !purego

#include "textflag.h"

// func indexPairAVX2(hay []byte, d int, c1, m1, c2, m2 byte) (hit, next int)
TEXT ·indexPairAVX2(SB), NOSPLIT, $0-56
	MOVQ hay_base+0(FP), SI
	MOVQ hay_len+8(FP), BX
	MOVQ d+24(FP), DX
	// Y0, Y1: c1 and m1 in every byte; Y2, Y3: c2 and m2.
	MOVBLZX c1+32(FP), AX
	VMOVD AX, X0
	VPBROADCASTB X0, Y0
	MOVBLZX m1+33(FP), AX
	VMOVD AX, X1
	VPBROADCASTB X1, Y1
	MOVBLZX c2+34(FP), AX
	VMOVD AX, X2
	VPBROADCASTB X2, Y2
	MOVBLZX m2+35(FP), AX
	VMOVD AX, X3
	VPBROADCASTB X3, Y3
	// R8: the last i with i+d+32 <= len; DI: hay + d.
	MOVQ BX, R8
	SUBQ DX, R8
	SUBQ $32, R8
	LEAQ (SI)(DX*1), DI
	XORQ CX, CX
	// R9: the last i with i+d+64 <= len, for 64 positions a turn.
	MOVQ R8, R9
	SUBQ $32, R9
	// Loads that straddle cache lines cost about twice as much: after
	// the first 32 positions, go on from where hay+i is 32-byte aligned
	// (re-testing up to 31 positions, which hold no hit).
	CMPQ CX, R8
	JGT  none
	VMOVDQU (SI), Y4
	VPOR    Y1, Y4, Y4
	VPCMPEQB Y0, Y4, Y4
	VMOVDQU (DI), Y5
	VPOR    Y3, Y5, Y5
	VPCMPEQB Y2, Y5, Y5
	VPAND   Y4, Y5, Y5
	VPMOVMSKB Y5, AX
	TESTL   AX, AX
	JNZ     found
	MOVQ    SI, CX
	ANDQ    $31, CX
	NEGQ    CX
	ADDQ    $32, CX

loop64:
	CMPQ CX, R9
	JGT  loop
	VMOVDQU (SI)(CX*1), Y4
	VPOR    Y1, Y4, Y4
	VPCMPEQB Y0, Y4, Y4
	VMOVDQU (DI)(CX*1), Y5
	VPOR    Y3, Y5, Y5
	VPCMPEQB Y2, Y5, Y5
	VPAND   Y4, Y5, Y5
	VMOVDQU 32(SI)(CX*1), Y6
	VPOR    Y1, Y6, Y6
	VPCMPEQB Y0, Y6, Y6
	VMOVDQU 32(DI)(CX*1), Y7
	VPOR    Y3, Y7, Y7
	VPCMPEQB Y2, Y7, Y7
	VPAND   Y6, Y7, Y7
	VPOR    Y5, Y7, Y8
	VPTEST  Y8, Y8
	JNZ     found64
	ADDQ    $64, CX
	JMP     loop64

found64:
	VPMOVMSKB Y5, AX
	TESTL   AX, AX
	JNZ     found
	VPMOVMSKB Y7, AX
	ADDQ    $32, CX
	JMP     found

loop:
	CMPQ CX, R8
	JGT  none
	VMOVDQU (SI)(CX*1), Y4
	VPOR    Y1, Y4, Y4
	VPCMPEQB Y0, Y4, Y4
	VMOVDQU (DI)(CX*1), Y5
	VPOR    Y3, Y5, Y5
	VPCMPEQB Y2, Y5, Y5
	VPAND   Y4, Y5, Y5
	VPMOVMSKB Y5, AX
	TESTL   AX, AX
	JNZ     found
	ADDQ    $32, CX
	JMP     loop

found:
	BSFL AX, AX
	ADDQ AX, CX
	MOVQ CX, hit+40(FP)
	MOVQ CX, next+48(FP)
	VZEROUPPER
	RET

none:
	MOVQ $-1, hit+40(FP)
	MOVQ CX, next+48(FP)
	VZEROUPPER
	RET
