package detect

import (
	"encoding/binary"
	"math/bits"
	"sync"

	"github.com/tripline/tripline/internal/jsonscan"
)

// This file is the allocation-free record splitter of the hot path. It
// validates each top-level value of a message exactly as far as
// encoding/json's scanner would accept it and cuts it into the same records,
// at the same offsets, as SplitRecords. Whenever it meets anything outside
// the shapes it handles (an invalid byte, a key with escapes, a top-level
// scalar, deep nesting), it hands the rest of the message, from the end of
// the last value it emitted, to SplitRecords' decoder-based walk, so skips
// and their positions stay exactly those of SplitRecords.

// maxFastDepth bounds nesting on the fast path; deeper values go to the
// decoder-based walk (which applies encoding/json's own limit).
const maxFastDepth = 512

// span is one element cut out of a message: a record when obj, else a value
// that is not an object (reported as a skip).
type span struct {
	start, end int
	obj        bool
}

// splitter is the reusable state of one split; it lives in splitPool.
type splitter struct {
	spans []span
	stack []byte
	// may[i] says whether rule i may match somewhere in the message.
	may []bool
	// cur are the prefilter's literal cursors, order its clause orders
	// for the prefilter orderFor (engine.go).
	cur      []litCursor
	order    [][]uint8
	orderFor *prefilter
	// tail is the offset from which SplitRecords must take over, -1 when
	// the fast path covered the whole message; tailIndex is the record
	// index to continue from.
	tail, tailIndex int
}

var splitPool = sync.Pool{New: func() any { return &splitter{stack: make([]byte, 0, 32)} }}

// split fills sp.spans with the elements of every top-level value of msg
// that the fast path accepts, in order, and sets sp.tail.
func (sp *splitter) split(msg []byte) {
	sp.spans = sp.spans[:0]
	sp.tail = -1
	index := 0
	pos := 0
	for {
		prevEnd := pos
		pos = skipWS(msg, pos)
		if pos == len(msg) {
			return
		}
		c := msg[pos]
		n := len(sp.spans)
		end, whole, ok := -1, false, false
		if c == '{' || c == '[' {
			end, whole, ok = sp.scanTop(msg, pos)
		}
		if !ok {
			sp.spans = sp.spans[:n]
			sp.tail, sp.tailIndex = prevEnd, index
			return
		}
		if whole {
			sp.spans = append(sp.spans[:n], span{start: pos, end: end, obj: true})
		}
		index += len(sp.spans) - n
		pos = end
	}
}

func skipWS(b []byte, i int) int {
	for i < len(b) {
		switch b[i] {
		case ' ', '\t', '\n', '\r':
			i++
			continue
		}
		break
	}
	return i
}

// scanTop validates the top-level value starting at b[pos] ('{' or '[') and
// appends its records to sp.spans: the elements of a top-level array, or of
// the first "records" array of a top-level object. whole is true when the
// value is an object without such an array (the object itself is the record).
func (sp *splitter) scanTop(b []byte, pos int) (end int, whole, ok bool) {
	stack := sp.stack[:0]
	defer func() { sp.stack = stack[:0] }()
	recDepth := -1 // depth whose container is the records array
	if b[pos] == '[' {
		recDepth = 1
	}
	found := b[pos] == '['
	pendingRecords := false
	elemStart := -1
	i := pos

value:
	i = skipWS(b, i)
	if i >= len(b) {
		return 0, false, false
	}
	if len(stack) == recDepth {
		elemStart = i
	}
	switch c := b[i]; c {
	case '{', '[':
		if len(stack) >= maxFastDepth {
			return 0, false, false
		}
		if pendingRecords && c == '[' {
			recDepth = len(stack) + 1
			found = true
		}
		pendingRecords = false
		stack = append(stack, c)
		i = skipWS(b, i+1)
		if i >= len(b) {
			return 0, false, false
		}
		if c == '{' {
			if b[i] == '}' {
				i++
				stack = stack[:len(stack)-1]
				goto after
			}
			goto key
		}
		if b[i] == ']' {
			i++
			stack = stack[:len(stack)-1]
			if recDepth == len(stack)+1 {
				recDepth = -1
			}
			goto after
		}
		goto value
	case '"':
		pendingRecords = false
		if i, _, ok = scanString(b, i); !ok {
			return 0, false, false
		}
		goto after
	case 't':
		pendingRecords = false
		if !hasLit(b, i, "true") {
			return 0, false, false
		}
		i += 4
		goto after
	case 'f':
		pendingRecords = false
		if !hasLit(b, i, "false") {
			return 0, false, false
		}
		i += 5
		goto after
	case 'n':
		pendingRecords = false
		if !hasLit(b, i, "null") {
			return 0, false, false
		}
		i += 4
		goto after
	default:
		pendingRecords = false
		if i, ok = scanNumber(b, i); !ok {
			return 0, false, false
		}
		goto after
	}

key:
	if b[i] != '"' {
		return 0, false, false
	}
	{
		ks := i
		var esc bool
		if i, esc, ok = scanString(b, i); !ok {
			return 0, false, false
		}
		if len(stack) == 1 && !found {
			if esc {
				return 0, false, false // might decode to "records"
			}
			pendingRecords = string(b[ks+1:i-1]) == "records"
		}
	}
	i = skipWS(b, i)
	if i >= len(b) || b[i] != ':' {
		return 0, false, false
	}
	i++
	goto value

after:
	// A value ended at i.
	if len(stack) == recDepth && elemStart >= 0 {
		sp.spans = append(sp.spans, span{start: elemStart, end: i, obj: b[elemStart] == '{'})
		elemStart = -1
	}
	if len(stack) == 0 {
		return i, !found, true
	}
	i = skipWS(b, i)
	if i >= len(b) {
		return 0, false, false
	}
	switch b[i] {
	case ',':
		i = skipWS(b, i+1)
		if i >= len(b) {
			return 0, false, false
		}
		if stack[len(stack)-1] == '{' {
			goto key
		}
		goto value
	case '}':
		if stack[len(stack)-1] != '{' {
			return 0, false, false
		}
	case ']':
		if stack[len(stack)-1] != '[' {
			return 0, false, false
		}
		if recDepth == len(stack) {
			recDepth = -1
		}
	default:
		return 0, false, false
	}
	i++
	stack = stack[:len(stack)-1]
	goto after
}

func hasLit(b []byte, i int, lit string) bool {
	return len(b)-i >= len(lit) && string(b[i:i+len(lit)]) == lit
}

// scanNumber accepts JSON number syntax at b[i].
func scanNumber(b []byte, i int) (int, bool) {
	if i < len(b) && b[i] == '-' {
		i++
	}
	if i >= len(b) {
		return 0, false
	}
	switch {
	case b[i] == '0':
		i++
	case b[i] >= '1' && b[i] <= '9':
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
	default:
		return 0, false
	}
	if i < len(b) && b[i] == '.' {
		i++
		st := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		if i == st {
			return 0, false
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		st := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		if i == st {
			return 0, false
		}
	}
	return i, true
}

// scanString validates the JSON string starting at b[i] (its opening
// quote) and returns the offset after its closing quote; esc reports
// whether it holds escapes.
func scanString(b []byte, i int) (end int, esc, ok bool) {
	i++
	for {
		for len(b)-i >= 8 {
			m := jsonscan.Special(binary.LittleEndian.Uint64(b[i:]))
			if m != 0 {
				i += bits.TrailingZeros64(m) >> 3
				break
			}
			i += 8
		}
		if i >= len(b) {
			return 0, esc, false
		}
		switch c := b[i]; {
		case c == '"':
			return i + 1, esc, true
		case c == '\\':
			esc = true
			if i+1 >= len(b) {
				return 0, esc, false
			}
			switch b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if len(b)-i < 6 || !isHex(b[i+2]) || !isHex(b[i+3]) || !isHex(b[i+4]) || !isHex(b[i+5]) {
					return 0, esc, false
				}
				i += 6
			default:
				return 0, esc, false
			}
		case c < 0x20:
			return 0, esc, false
		default:
			i++
		}
	}
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}
