package detect

import (
	"bytes"
	"math/bits"
)

// This file cuts the messages of an in-place batch (depth 2, escaped.go)
// into records 64 bytes at a time, for the shape Azure's diagnostic
// settings export: {"records":[{...},{...},...]} in compact JSON. The
// walker (walk.go) reads one string at a time, and its branches on where
// each string ends cost more than the bytes; here every byte is classified
// at once (classifyBlocks, AVX2), strings are found for a whole block with
// bit arithmetic, and only the brackets outside strings are visited one by
// one (about ten a record). Anything it does not read exactly as the walker
// would (another shape, escapes outside strings, a quote escaped otherwise
// than a message quote or a quote inside a message string, a bracket that
// does not match, a text that ends first) makes it give up, and the walker
// reads the message instead: its spans and end are then the walker's
// (TestWalkVectorAgreesWithWalk, FuzzWalkVector). Its hazards may be more
// than the walker's (it notes them outside strings too), which only sends
// a message down the slower exact path.
//
// At depth 2 a quote of the message is written as a run of backslashes and
// a quote: 3 mod 8 backslashes for a quote that opens or closes a message
// string (3, plus 8 for each escaped backslash of the message just before
// it), 7 mod 8 for a quote inside one, exactly 1 for the quote that closes
// the element string holding the message. Other runs before a quote are
// left to the walker.

// recordsPrefix is what a message of the usual shape starts with, after
// its opening brace, escaped twice.
var recordsPrefix = []byte(`\\\"records\\\"`)

// vectorChunk is how many blocks are classified at a time.
const vectorChunk = 16

// walkVector is walk for a depth-2 message of the usual shape; ok is false
// when it leaves the message to walk (w.spans and w.hazards are then to be
// reset by walk).
func (w *walker) walkVector(b []byte, from int) (stop walkStop, ok bool) {
	if !vectorWalk || w.depth != 2 {
		return walkStop{}, false
	}
	w.spans = w.spans[:0]
	w.hazards = 0
	// {"records":[ with spaces between the tokens.
	i := skipSpaces(b, from)
	if i >= len(b) || b[i] != '{' {
		return walkStop{}, false
	}
	i = skipSpaces(b, i+1)
	if !bytes.HasPrefix(b[i:], recordsPrefix) {
		return walkStop{}, false
	}
	i = skipSpaces(b, i+len(recordsPrefix))
	if i >= len(b) || b[i] != ':' {
		return walkStop{}, false
	}
	i = skipSpaces(b, i+1)
	if i >= len(b) || b[i] != '[' {
		return walkStop{}, false
	}
	i++

	v := vecWalk{gapFrom: i, recStart: -1, closeAt: -1}
	// The backslashes of the 8 bytes before the first block, which
	// scanBlocks reads as bytes and vecState.block as bits: none can
	// touch the first block's runs (the byte before it is '['), but both
	// must read the same.
	v.st.prevBS = backslashesBefore(b, i)
	var (
		masks [6]uint64
		brs   [vectorChunk]uint64
		tail  [64]byte
	)
	for p := i; p < len(b); {
		n := min((len(b)-p)/64, vectorChunk)
		// Ordinary blocks first, all in assembly (scanBlocks); the
		// block it stops at, if any, here.
		done := 0
		if n > 0 && p >= 8 {
			// scanBlocks reads the 8 bytes before the first block too.
			done = scanBlocks(b[p-8:p+64*n], &v.st, brs[:n])
			if !v.visitBlocks(w, b, brs[:done], p) {
				return walkStop{}, false
			}
			p += 64 * done
		}
		if done == n && n > 0 {
			continue
		}
		src := b[p:min(p+64, len(b))]
		if len(src) < 64 {
			// The last bytes of the text, padded with spaces.
			k := copy(tail[:], src)
			for j := k; j < 64; j++ {
				tail[j] = ' '
			}
			src = tail[:]
		}
		classifyBlocks(src, masks[:])
		brackets, end, ok := v.st.block(masks, p)
		if !ok || !v.visit(w, b, brackets, p) {
			return walkStop{}, false
		}
		if end >= 0 {
			// The quote at end closes the element string; its
			// backslash at end-1 is where the message text ends.
			if v.level != -2 || !elementGap(b[v.closeAt+1:end-1], false) {
				return walkStop{}, false
			}
			if v.st.hazHi != 0 {
				w.hazards |= hazardNonASCII
			}
			if v.st.hazU != 0 {
				w.hazards |= hazardU
			}
			if v.st.hazSlash != 0 {
				w.hazards |= hazardSlash
			}
			return walkStop{end: end - 1, errAt: -1}, true
		}
		p += 64
	}
	return walkStop{}, false
}

// vecState is what reading a block needs from the blocks before it. The
// assembly (scanBlocks) reads and writes it: keep its layout.
type vecState struct {
	prevBS   uint64 // backslashes of the previous block
	inString uint64 // all ones when the previous block ended inside a string
	pending  uint64 // backslashes outside strings in the previous block's last 3 bytes, not yet explained
	// Not 0 when hazards were seen: non-ASCII bytes, a backslash before
	// 'u', before '/'. block sets the bits where they were; scanBlocks
	// sets some bit (it gathers the high bits of every byte in a vector).
	hazHi, hazU, hazSlash uint64
}

// block reads the 64-byte block at p, given its bitmaps (classifyBlocks),
// and returns the brackets outside strings and, when the message ends in
// it, the offset of the quote that ends it (else -1). ok is false when the
// message is the walker's. scanBlocks is this for the ordinary blocks: no
// end, every quote after 3 or 7 backslashes.
func (st *vecState) block(m [6]uint64, p int) (brackets uint64, end int, ok bool) {
	bs, q, br, hi, us, sl := m[0], m[1], m[2], m[3], m[4], m[5]
	// bk: the byte k before is a backslash.
	before := st.prevBS
	b1 := bs<<1 | before>>63
	b2 := bs<<2 | before>>62
	b3 := bs<<3 | before>>61
	b4 := bs<<4 | before>>60
	st.prevBS = bs
	run1 := q & b1 &^ b2
	run3 := q & b1 & b2 & b3 &^ b4
	run7 := uint64(0)
	// Quotes after 4 or more backslashes are inside strings (7) or
	// stranger, and in few blocks.
	if q4 := q & b1 & b2 & b3 & b4; q4 != 0 {
		b5 := bs<<5 | before>>59
		b6 := bs<<6 | before>>58
		b7 := bs<<7 | before>>57
		b8 := bs<<8 | before>>56
		run7 = q4 & b5 & b6 & b7 &^ b8
		if run3, run7, ok = longRuns(q4&b5&b6&b7&b8, bs, before, run3, run7); !ok {
			return 0, -1, false
		}
	}
	// valid: the bits before the quote that ends the message, if it is
	// in this block.
	valid, endBit, end := ^uint64(0), uint64(0), -1
	if run1 != 0 {
		e := bits.TrailingZeros64(run1)
		valid, endBit, end = 1<<e-1, 1<<e, p+e
	}
	if q&valid&^(run1|run3|run7) != 0 {
		return 0, -1, false // a quote escaped some other way
	}
	delim := run3 & valid
	str := prefixXor(delim) ^ st.inString
	st.inString = uint64(int64(str) >> 63)
	if str&endBit != 0 || run7&valid&^str != 0 {
		// The message ends inside a string, or a quote of a string's
		// content stands outside one.
		return 0, -1, false
	}
	st.hazHi |= hi & valid
	st.hazU |= us & b1 & valid
	st.hazSlash |= sl & b1 & valid
	// Outside strings, the only backslashes are the three before a quote
	// that opens a string and the one before the quote that ends the
	// message.
	opening := delim & str
	explained := opening>>1 | opening>>2 | opening>>3 | endBit>>1
	if st.pending&^(opening<<61|opening<<62|opening<<63|endBit<<63) != 0 {
		return 0, -1, false
	}
	// Those of the last three bytes may be explained by the next block,
	// unless the message ends in this one.
	outside := bs &^ str & valid &^ explained
	if end >= 0 && outside != 0 || outside&(1<<61-1) != 0 {
		return 0, -1, false
	}
	st.pending = outside
	return br & valid &^ str, end, true
}

// vecWalk is where walkVector stands in the message's structure.
type vecWalk struct {
	st       vecState
	level    int // 0: in the records array; 1..: inside a record; -1: after the array; -2: after the object
	recStart int // offset of the current record's '{'
	gapFrom  int // where the bytes between two elements start
	closeAt  int // offset of the message's '}'
	// open holds the brackets open inside the record, one bit each, the
	// innermost lowest: 1 for '{', 0 for '['. A record nested deeper than
	// maxVecDepth is the walker's (past 64 bits the record's own '{'
	// would be shifted out first, so its '}' could never match anyway).
	open uint64
}

const maxVecDepth = 64

// Brackets by their bits: '{' 0x7b, '[' 0x5b, '}' 0x7d, ']' 0x5d. Bit 1
// is set in the opening ones, bit 5 in the braces.
const (
	bracketOpens = 0x02
	bracketBrace = 5
)

// visitBlocks is visit for consecutive blocks from p, in one call: a call
// per block cost more than the brackets of most blocks.
func (v *vecWalk) visitBlocks(w *walker, b []byte, brackets []uint64, p int) bool {
	for k, br := range brackets {
		if br != 0 && !v.visit(w, b, br, p+64*k) {
			return false
		}
	}
	return true
}

// visit reads the brackets outside strings of the block at p, given as a
// bitmap; it reports false when the message is the walker's.
func (v *vecWalk) visit(w *walker, b []byte, brackets uint64, p int) bool {
	for s := brackets; s != 0; s &= s - 1 {
		at := p + bits.TrailingZeros64(s)
		c := b[at]
		switch {
		case v.level > 0:
			brace := uint64(c>>bracketBrace) & 1
			if c&bracketOpens != 0 {
				if v.level == maxVecDepth {
					return false
				}
				v.open = v.open<<1 | brace
				v.level++
				continue
			}
			if v.open&1 != brace {
				return false // '}' closing a '[', or ']' a '{'
			}
			v.open >>= 1
			if v.level--; v.level == 0 {
				w.spans = append(w.spans, span{start: v.recStart, end: at + 1, obj: true})
				v.gapFrom = at + 1
			}
		case v.level == 0 && c == '{':
			// A record: after '[' only spaces, after a record one comma
			// and spaces.
			if !elementGap(b[v.gapFrom:at], len(w.spans) > 0) {
				return false
			}
			v.recStart, v.level, v.open = at, 1, 1
		case v.level == 0 && c == ']':
			if !elementGap(b[v.gapFrom:at], false) {
				return false
			}
			v.level, v.gapFrom = -1, at+1
		case v.level == -1 && c == '}':
			if !elementGap(b[v.gapFrom:at], false) {
				return false
			}
			v.level, v.closeAt = -2, at
		default:
			return false
		}
	}
	return true
}

// longRuns adds to run3 and run7 the quotes of long (those after 8 or more
// backslashes) whose run is 3 or 7 mod 8, reading the run's length in bs
// and the block before. Few, so counted one by one. ok is false for a run
// longer than the block before.
func longRuns(long, bs, before, run3, run7 uint64) (r3, r7 uint64, ok bool) {
	for ; long != 0; long &= long - 1 {
		pos := bits.TrailingZeros64(long)
		var n int
		if zeros := ^bs & (1<<pos - 1); zeros != 0 {
			n = pos - 1 - (63 - bits.LeadingZeros64(zeros))
		} else if before == ^uint64(0) {
			return 0, 0, false
		} else {
			n = pos + bits.LeadingZeros64(^before)
		}
		switch n % 8 {
		case 3:
			run3 |= 1 << pos
		case 7:
			run7 |= 1 << pos
		}
	}
	return run3, run7, true
}

// elementGap reports whether gap, the bytes between two elements of an
// array (or after the last), holds only spaces and, when comma, exactly
// one comma.
func elementGap(gap []byte, comma bool) bool {
	seen := false
	for _, c := range gap {
		switch {
		case c == ' ':
		case c == ',' && comma && !seen:
			seen = true
		default:
			return false
		}
	}
	return seen == comma
}

// backslashesBefore is the backslash map of the 64 bytes before b[p] as a
// block's map would be (bit 63 for b[p-1]), from the 8 bytes before it.
func backslashesBefore(b []byte, p int) uint64 {
	var m uint64
	for k := 1; k <= 8 && p-k >= 0; k++ {
		if b[p-k] == '\\' {
			m |= 1 << (64 - k)
		}
	}
	return m
}

func skipSpaces(b []byte, i int) int {
	for i < len(b) && b[i] == ' ' {
		i++
	}
	return i
}

// prefixXor sets bit i of the result to the XOR of bits 0..i of x: with
// x the quotes that open or close strings, the bits inside strings (the
// opening quote included, the closing one not).
func prefixXor(x uint64) uint64 {
	x ^= x << 1
	x ^= x << 2
	x ^= x << 4
	x ^= x << 8
	x ^= x << 16
	x ^= x << 32
	return x
}
