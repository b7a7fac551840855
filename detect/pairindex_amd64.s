//go:build amd64 && !purego

#include "textflag.h"

// PAIRS leaves in B a byte of ones for each of the 32 positions from
// CX+off where hay's byte (SI) and the byte d further (DI) both match,
// ORed with their masks (Y1, Y3), c1 and c2 (Y0, Y2); A is scratch.
#define PAIRS(off, A, B) \
	VMOVDQU off(SI)(CX*1), A \
	VPOR    Y1, A, A \
	VPCMPEQB Y0, A, A \
	VMOVDQU off(DI)(CX*1), B \
	VPOR    Y3, B, B \
	VPCMPEQB Y2, B, B \
	VPAND   A, B, B

// TEST32 tests the 32 positions from CX, when they are all in range
// (CX <= R8), and jumps to found with their hits in AX, or to none.
#define TEST32 \
	CMPQ CX, R8 \
	JGT  none \
	PAIRS(0, Y4, Y5) \
	VPMOVMSKB Y5, AX \
	TESTL   AX, AX \
	JNZ     found

// BCAST sets every byte of Y to the byte argument at off(FP), through X.
#define BCAST(off, X, Y) \
	MOVBLZX off(FP), AX \
	VMOVD   AX, X \
	VPBROADCASTB X, Y

// func indexPairAVX2(hay []byte, d int, c1, m1, c2, m2 byte) (hit, next int)
TEXT ·indexPairAVX2(SB), NOSPLIT, $0-56
	MOVQ hay_base+0(FP), SI
	MOVQ hay_len+8(FP), BX
	MOVQ d+24(FP), DX
	// Y0, Y1: c1 and m1 in every byte; Y2, Y3: c2 and m2.
	BCAST(c1+32, X0, Y0)
	BCAST(m1+33, X1, Y1)
	BCAST(c2+34, X2, Y2)
	BCAST(m2+35, X3, Y3)
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
	TEST32
	MOVQ    SI, CX
	ANDQ    $31, CX
	NEGQ    CX
	ADDQ    $32, CX

loop64:
	CMPQ CX, R9
	JGT  loop
	PAIRS(0, Y4, Y5)
	PAIRS(32, Y6, Y7)
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
	TEST32
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
