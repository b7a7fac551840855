// Package input is Tripline's one record cutter: it reads Azure records as a
// stream, in constant memory whatever the input's size, for `scan` over
// files and for the handler over each Event Hubs message body alike.
//
// An input is a sequence of messages, its top-level JSON values: Event Hubs
// message bodies ({"records":[...]}), bare arrays of records or Event Grid
// events, single records (JSON Lines), one after the other. Each element of a
// message's "records" array, each element of a top-level array (an element
// that is itself a records envelope gives its records) and every other
// top-level object is one record; a value that is not an object is reported
// as a record that is not one. Records are cut by their structure alone,
// without decoding them, and copied into a buffer the Reader reuses.
//
// Caveat: the Reader checks only the structure it needs (brackets, strings);
// a syntax error inside a record is found when the record is decoded, and
// reported there with its position.
package input

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/bits"

	"github.com/tripline/tripline/internal/jsonscan"
)

// MaxRecordSize bounds one record (Event Hubs caps a message at 1 MB;
// exports may hold larger values). A larger value is skipped, not buffered.
const MaxRecordSize = 64 << 20

// Record is one record cut out of the input.
type Record struct {
	// Message is the index of the top-level value the record belongs to;
	// Index is the record's position in it (both 0-based).
	Message, Index int
	// Bytes is the record's text. It aliases the Reader's buffer and is
	// valid until the next call to Next.
	Bytes []byte
	// Offset is the byte offset of Bytes in the input.
	Offset int64
	// Skip, when not empty, says why this value is not a record (Bytes is
	// then nil): it is not a JSON object, or it is over MaxRecordSize.
	Skip string
	// Hints says what the cut saw in the record's strings on its way, so
	// that a search for escapes need not read the record again.
	Hints Hints
}

// Hints are what cutting a record saw in its strings. A hint may be set
// when the record holds no such thing (a byte just past a string is looked
// at too), never missing when it does.
type Hints uint8

const (
	// EscapedU: a backslash followed by 'u' (\uXXXX, at any level of
	// string nesting: a nested one is \\u).
	EscapedU Hints = 1 << iota
	// EscapedSlash: a backslash followed by '/'.
	EscapedSlash
	// NonASCII: a byte over 0x7f.
	NonASCII
)

// Reasons of Record.Skip.
const (
	SkipNotObject = "record is not a JSON object"
)

// Reader cuts an input stream into records.
type Reader struct {
	r   *bufio.Reader
	off int64 // bytes consumed
	// buf holds the text of the value being read, when reading a stream.
	// In memory (ResetBytes) the text is src[keepFrom:off] instead: a
	// record is a slice of the message, never a copy.
	buf      bytes.Buffer
	src      []byte
	inMemory bool
	keepFrom int64
	// arrays holds one entry per array of records the Reader is inside:
	// a top-level array, and in it, or at the top level, the "records"
	// array of an envelope (true: the rest of that object must be skipped
	// after the array).
	arrays []bool
	// message and index number the next record.
	message, index int
	// hints gathers the Hints of the value being read.
	hints Hints
	// messageStart is the offset of the last top-level value begun, and
	// messageStartIndex its index.
	messageStart      int64
	messageStartIndex int
	err               error
}

// NewReader reads from r.
func NewReader(r io.Reader) *Reader {
	return newReaderSize(r, 256<<10)
}

// newReaderSize is NewReader with a buffer of size bytes (at least 16):
// tests use small ones to put buffer edges everywhere.
func newReaderSize(r io.Reader, size int) *Reader {
	return &Reader{r: bufio.NewReaderSize(r, size)}
}

// Reset makes the Reader read from src as if new, keeping its buffers.
func (r *Reader) Reset(src io.Reader) {
	if r.r == nil {
		r.r = bufio.NewReaderSize(src, 256<<10)
	}
	r.r.Reset(src)
	r.src, r.inMemory = nil, false
	r.off, r.arrays, r.message, r.index, r.err = 0, r.arrays[:0], 0, 0, nil
	r.messageStart, r.messageStartIndex = 0, 0
	r.buf.Reset()
}

// NewBytesReader reads the message b, held in memory: the records it
// returns are slices of b (which the caller must not change meanwhile).
func NewBytesReader(b []byte) *Reader {
	r := &Reader{}
	r.ResetBytes(b)
	return r
}

// ResetBytes makes the Reader read b as NewBytesReader does, keeping its
// buffers.
func (r *Reader) ResetBytes(b []byte) {
	r.src, r.inMemory = b, true
	r.off, r.arrays, r.message, r.index, r.err = 0, r.arrays[:0], 0, 0, nil
	r.keepFrom, r.messageStart, r.messageStartIndex = 0, 0, 0
	r.buf.Reset()
}

// startValue begins the text of a new value at the current offset.
func (r *Reader) startValue() {
	r.buf.Reset()
	r.keepFrom = r.off
	r.hints = 0
}

// kept is the text of the value read so far (up to MaxRecordSize+1 bytes
// when reading a stream).
func (r *Reader) kept() []byte {
	if r.inMemory {
		return r.src[r.keepFrom:r.off]
	}
	return r.buf.Bytes()
}

// keptLen is len(kept()) without building it.
func (r *Reader) keptLen() int {
	if r.inMemory {
		return int(r.off - r.keepFrom)
	}
	return r.buf.Len()
}

// Offset is the number of bytes read so far (for progress).
func (r *Reader) Offset() int64 { return r.off }

// MessageStart is the offset at which the last top-level value begun
// starts, and its index: where to read again from to have that message
// whole, when the input was cut short inside it.
func (r *Reader) MessageStart() (offset int64, index int) {
	return r.messageStart, r.messageStartIndex
}

// Message is the index of the top-level value being read, or of the next
// one between values.
func (r *Reader) Message() int { return r.message }

// Messages is the number of top-level values begun so far.
func (r *Reader) Messages() int {
	if len(r.arrays) > 0 {
		return r.message + 1
	}
	return r.message
}

// ErrTruncated means the input ended inside a value.
var ErrTruncated = errors.New("input ends inside a JSON value")

// Next returns the next record, io.EOF at the end, or an error that stops
// the stream (truncated input, a read error, or a broken structure); the
// error says where.
func (r *Reader) Next() (Record, error) {
	if r.err != nil {
		return Record{}, r.err
	}
	for {
		if n := len(r.arrays); n > 0 {
			c, err := r.skipSpaceAndCommas()
			if err != nil {
				return Record{}, r.fail(ErrTruncated)
			}
			if c == ']' {
				r.readByte()
				envelope := r.arrays[n-1]
				r.arrays = r.arrays[:n-1]
				if envelope {
					if err := r.skipObjectRest(); err != nil {
						return Record{}, r.fail(err)
					}
				}
				if len(r.arrays) == 0 {
					r.endMessage()
				}
				continue
			}
			if c == '{' && n == 1 && !r.arrays[0] {
				// An element of a top-level array may itself be an
				// envelope (an array of Event Hubs message bodies).
				rec, streamed, err := r.object()
				if err != nil {
					return Record{}, r.fail(err)
				}
				if streamed {
					continue
				}
				return r.number(rec), nil
			}
			rec, err := r.value()
			if err != nil {
				return Record{}, err
			}
			return r.number(rec), nil
		}
		c, err := r.skipSpaceAndCommas()
		if err == io.EOF {
			r.err = io.EOF
			return Record{}, io.EOF
		}
		if err != nil {
			return Record{}, r.fail(err)
		}
		r.messageStart, r.messageStartIndex = r.off, r.message
		var rec Record
		switch c {
		case '[':
			r.readByte()
			r.arrays = append(r.arrays, false)
			continue
		case '{':
			var streamed bool
			rec, streamed, err = r.object()
			if err != nil {
				return Record{}, r.fail(err)
			}
			if streamed {
				continue // now inside the records array
			}
		default:
			if rec, err = r.value(); err != nil {
				return Record{}, err
			}
		}
		rec = r.number(rec)
		r.endMessage()
		return rec, nil
	}
}

// number gives rec the next position in the current message.
func (r *Reader) number(rec Record) Record {
	rec.Message, rec.Index = r.message, r.index
	r.index++
	return rec
}

func (r *Reader) endMessage() { r.message, r.index = r.message+1, 0 }

func (r *Reader) fail(err error) error {
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		err = ErrTruncated
	}
	r.err = &Error{Offset: r.off, Err: err}
	return r.err
}

// Error is an error that stopped a Reader: where, and why.
type Error struct {
	Offset int64
	Err    error
}

func (e *Error) Error() string { return fmt.Sprintf("at byte %d: %v", e.Offset, e.Err) }

func (e *Error) Unwrap() error { return e.Err }

// object reads an object. When its first key is "records" holding an
// array, it positions the Reader inside that array and reports streamed;
// otherwise it returns the whole object as one record.
func (r *Reader) object() (Record, bool, error) {
	start := r.off
	r.startValue()
	r.keep(r.readByte()) // '{'
	c, err := r.copySpace()
	if err != nil {
		return Record{}, false, err
	}
	if c == '"' {
		keyStart := r.keptLen()
		if err := r.copyString(); err != nil {
			return Record{}, false, err
		}
		if k := r.kept(); len(k) >= keyStart && string(k[keyStart:]) == `"records"` {
			if c, err = r.copySpace(); err != nil {
				return Record{}, false, err
			}
			if c == ':' {
				r.keep(r.readByte())
				if c, err = r.copySpace(); err != nil {
					return Record{}, false, err
				}
				if c == '[' {
					r.readByte()
					r.arrays = append(r.arrays, true)
					return Record{}, true, nil
				}
			}
		}
	}
	// Not a records envelope: the rest of the object is the record.
	if err := r.copyNested(1); err != nil {
		return Record{}, false, err
	}
	return r.record(start, true), false, nil
}

// value reads one complete JSON value as a record (or a value that is
// not one).
func (r *Reader) value() (Record, error) {
	start := r.off
	r.startValue()
	c, err := r.peek()
	if err != nil {
		return Record{}, r.fail(err)
	}
	switch c {
	case '{', '[':
		r.keep(r.readByte())
		err = r.copyNested(1)
	case '"':
		err = r.copyString()
	case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9', 't', 'f', 'n':
		if err = r.copyScalar(); err == nil && !jsonscan.Valid(r.kept()) {
			r.err = &Error{Offset: start, Err: fmt.Errorf("%.20q is not a JSON value", r.kept())}
			return Record{}, r.err
		}
	default:
		// Not the start of any JSON value (plain text, a stray bracket):
		// the structure is broken, and nothing after it can be trusted.
		err = fmt.Errorf("invalid character %q where a JSON value should start", c)
	}
	if err != nil {
		return Record{}, r.fail(err)
	}
	return r.record(start, c == '{'), nil
}

func (r *Reader) record(start int64, object bool) Record {
	switch {
	case r.keptLen() > MaxRecordSize:
		return Record{Offset: start, Skip: fmt.Sprintf("larger than %d MB", MaxRecordSize>>20)}
	case !object:
		return Record{Offset: start, Skip: SkipNotObject}
	}
	b := r.kept()
	return Record{Bytes: b[:len(b):len(b)], Offset: start, Hints: r.hints}
}

// keep appends a byte to the record buffer, up to MaxRecordSize (beyond it
// the bytes are counted but dropped, and the message is reported too large).
func (r *Reader) keep(c byte) {
	if !r.inMemory && r.buf.Len() <= MaxRecordSize {
		r.buf.WriteByte(c)
	}
}

// buffered returns the bytes read ahead and not yet consumed, reading more
// when there are none; never empty without an error.
func (r *Reader) buffered() ([]byte, error) {
	if r.inMemory {
		if r.off >= int64(len(r.src)) {
			return nil, io.EOF
		}
		return r.src[r.off:], nil
	}
	if r.r.Buffered() == 0 {
		if _, err := r.r.Peek(1); err != nil {
			return nil, err
		}
	}
	return r.r.Peek(r.r.Buffered())
}

// take consumes the first n bytes of b, the bytes buffered returned, and
// keeps them as keep would, one by one: the buffer grows to
// MaxRecordSize+1 bytes at most.
func (r *Reader) take(b []byte, n int) {
	if r.inMemory {
		r.off += int64(n)
		return
	}
	if room := MaxRecordSize + 1 - r.buf.Len(); room > 0 {
		r.buf.Write(b[:min(n, room)])
	}
	r.r.Discard(n) // buffered bytes: cannot fail
	r.off += int64(n)
}

func (r *Reader) peek() (byte, error) {
	if r.inMemory {
		if r.off >= int64(len(r.src)) {
			return 0, io.EOF
		}
		return r.src[r.off], nil
	}
	b, err := r.r.Peek(1)
	if err != nil {
		return 0, err
	}
	return b[0], nil
}

func (r *Reader) readByte() byte {
	if r.inMemory {
		c := r.src[r.off]
		r.off++
		return c
	}
	c, _ := r.r.ReadByte()
	r.off++
	return c
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// skipSpaceAndCommas discards whitespace and separators between values and
// returns the next byte without consuming it.
func (r *Reader) skipSpaceAndCommas() (byte, error) {
	for {
		c, err := r.peek()
		if err != nil {
			return 0, err
		}
		if !isSpace(c) && c != ',' && c != 0xEF && c != 0xBB && c != 0xBF { // BOM bytes too
			return c, nil
		}
		r.readByte()
	}
}

// copySpace copies whitespace and returns the next byte unconsumed.
func (r *Reader) copySpace() (byte, error) {
	for {
		c, err := r.peek()
		if err != nil {
			return 0, err
		}
		if !isSpace(c) {
			return c, nil
		}
		r.keep(r.readByte())
	}
}

// copyString copies a JSON string, the opening quote next in the input.
func (r *Reader) copyString() error {
	r.keep(r.readByte()) // opening quote
	return r.copyValue(valueScan{inString: true})
}

// copyNested copies until the brackets opened so far (depth) are closed.
func (r *Reader) copyNested(depth int) error {
	return r.copyValue(valueScan{depth: depth})
}

// copyValue copies the rest of a value, read from where s stands, a run of
// buffered bytes at a time: reading and keeping a byte at a time, and
// calling into the bufio.Reader for every string, was most of a scan.
func (r *Reader) copyValue(s valueScan) error {
	for {
		b, err := r.buffered()
		if err != nil {
			return err
		}
		n, done := s.scan(b)
		r.take(b, n)
		r.hints |= s.hints
		if done {
			return nil
		}
	}
}

// valueScan is where a copy stands in a value's structure.
type valueScan struct {
	depth    int  // brackets open
	inString bool // inside a string
	escaped  bool // inside a string, just after a backslash
	hints    Hints
}

// scan reads b from where s stands and returns how many bytes belong to
// the value and whether it ends with them: when its brackets close, or, for
// a string that is the whole value, at its closing quote.
func (s *valueScan) scan(b []byte) (n int, done bool) {
	const lo, hi = 0x0101010101010101, 0x8080808080808080
	depth, inString, hints, i := s.depth, s.inString, s.hints, 0
	// seen gathers the bytes of strings read (and a few after), for
	// NonASCII.
	var seen uint64
	defer func() {
		if seen&hi != 0 {
			hints |= NonASCII
		}
		s.depth, s.inString, s.hints = depth, inString, hints
	}()
	if s.escaped && len(b) > 0 {
		s.escaped, i = false, 1
	}
	for i < len(b) {
		if inString {
			// The next quote or backslash, eight bytes at a time,
			// here rather than in a function: strings are short, and
			// a call for each was a fifth of the cut.
			j := -1
			for ; len(b)-i >= 8; i += 8 {
				x := binary.LittleEndian.Uint64(b[i:])
				seen |= x
				q, s := x^(lo*'"'), x^(lo*'\\')
				// The lowest flagged byte is exact (higher ones
				// may be false positives, never looked at).
				if m := ((q-lo)&^q | (s-lo)&^s) & hi; m != 0 {
					j = i + bits.TrailingZeros64(m)>>3
					break
				}
			}
			for ; j < 0 && i < len(b); i++ {
				seen |= uint64(b[i])
				if b[i] == '"' || b[i] == '\\' {
					j = i
				}
			}
			if j < 0 {
				return len(b), false
			}
			if i = j; b[i] == '\\' {
				hints |= escapeHints(b[i+1:])
				if i+1 == len(b) {
					s.escaped = true // the escaped byte is in the next run
					return len(b), false
				}
				i += 2
				continue
			}
			i++
			if inString = false; depth == 0 {
				return i, true
			}
			continue
		}
		switch b[i] {
		case '"':
			inString = true
		case '{', '[':
			depth++
		case '}', ']':
			if depth--; depth == 0 {
				return i + 1, true
			}
		}
		i++
	}
	return len(b), false
}

// escapeHints gives the Hints of an escape, rest being what follows its
// backslash. Every backslash of a string either begins an escape or is
// the escaped byte of one, so a backslash followed by u or / in the raw
// text is found either here (\u) or as an escaped backslash (\\u). Where
// the run ends too soon to tell, both are reported.
func escapeHints(rest []byte) Hints {
	if len(rest) > 0 && rest[0] == '\\' {
		rest = rest[1:]
	}
	if len(rest) == 0 {
		return EscapedU | EscapedSlash
	}
	switch rest[0] {
	case 'u':
		return EscapedU
	case '/':
		return EscapedSlash
	}
	return 0
}

// copyScalar copies a number, true, false or null as JSON's grammar reads
// it, so that a value that follows without a separator ("1\"a\"", "1true")
// is the next value, as for encoding/json. Letters that spell no literal are
// copied whole, and the caller's check reports them.
func (r *Reader) copyScalar() error {
	c, err := r.peek()
	if err != nil {
		return err
	}
	if c == '-' || c >= '0' && c <= '9' {
		return r.copyNumber()
	}
	for {
		c, err := r.peek()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if c < 'a' || c > 'z' {
			return nil
		}
		r.keep(r.readByte())
	}
}

// copyNumber copies the longest JSON number at the input: -?(0|[1-9][0-9]*)
// (.[0-9]+)?([eE][+-]?[0-9]+)?, or what of it is there.
func (r *Reader) copyNumber() error {
	var ioErr error
	accept := func(ok func(c byte) bool) bool {
		c, err := r.peek()
		if err != nil {
			if err != io.EOF {
				ioErr = err
			}
			return false
		}
		if !ok(c) {
			return false
		}
		r.keep(r.readByte())
		return true
	}
	digit := func(c byte) bool { return c >= '0' && c <= '9' }
	digits := func() {
		for accept(digit) {
		}
	}
	accept(func(c byte) bool { return c == '-' })
	if !accept(func(c byte) bool { return c == '0' }) && accept(digit) {
		digits()
	}
	if accept(func(c byte) bool { return c == '.' }) {
		digits()
	}
	if accept(func(c byte) bool { return c == 'e' || c == 'E' }) {
		accept(func(c byte) bool { return c == '+' || c == '-' })
		digits()
	}
	return ioErr
}

// skipObjectRest discards the rest of a top-level object after its records
// array (other keys of the envelope are of no use).
func (r *Reader) skipObjectRest() error {
	r.startValue()
	if err := r.copyNested(1); err != nil {
		return err
	}
	r.startValue()
	return nil
}
