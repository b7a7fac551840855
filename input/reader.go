// Package input reads files of Azure records for `scan` as a stream of
// messages, in constant memory whatever the file's size.
//
// A file may hold Event Hubs message bodies ({"records":[...]}), bare arrays
// of records or Event Grid events, JSON Lines, or several top-level values one
// after the other. The Reader cuts it into messages without decoding them:
// each element of a top-level array, each element of a top-level object's
// leading "records" array, and every other top-level value is one message.
// Messages are then split and decoded by detect.
//
// Caveat: the Reader checks only the structure it needs (brackets, strings);
// a syntax error inside a message is found when the message is decoded, and
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

// MaxMessageSize bounds one message (Event Hubs caps a body at 1 MB; exports
// may be larger). A larger value is skipped, not buffered.
const MaxMessageSize = 64 << 20

// Message is one unit of input.
type Message struct {
	// Body aliases the Reader's buffer and is valid until the next call to
	// Next.
	Body []byte
	// Offset is the byte offset of Body in the input.
	Offset int64
	// TooLarge is set (and Body nil) for a value over MaxMessageSize.
	TooLarge bool
}

// Reader cuts an input stream into messages.
type Reader struct {
	r   *bufio.Reader
	off int64 // bytes consumed
	buf bytes.Buffer
	// inArray is true while walking the elements of a top-level array
	// (closing is the byte that ends it), and recordsTail is true when that
	// array is the "records" of a top-level object whose rest must be
	// skipped after it.
	inArray     bool
	recordsTail bool
	err         error
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

// Offset is the number of bytes read so far (for progress).
func (r *Reader) Offset() int64 { return r.off }

// ErrTruncated means the input ended inside a value.
var ErrTruncated = errors.New("input ends inside a JSON value")

// Next returns the next message, io.EOF at the end, or an error that stops
// the stream (truncated input, a read error, or a broken structure); the
// error says where.
func (r *Reader) Next() (Message, error) {
	if r.err != nil {
		return Message{}, r.err
	}
	for {
		if r.inArray {
			c, err := r.skipSpaceAndCommas()
			if err != nil {
				return Message{}, r.fail(ErrTruncated)
			}
			if c == ']' {
				r.readByte()
				r.inArray = false
				if r.recordsTail {
					r.recordsTail = false
					if err := r.skipObjectRest(); err != nil {
						return Message{}, r.fail(err)
					}
				}
				continue
			}
			return r.value()
		}
		c, err := r.skipSpaceAndCommas()
		if err == io.EOF {
			r.err = io.EOF
			return Message{}, io.EOF
		}
		if err != nil {
			return Message{}, r.fail(err)
		}
		switch c {
		case '[':
			r.readByte()
			r.inArray = true
			continue
		case '{':
			m, streamed, err := r.object()
			if err != nil {
				return Message{}, r.fail(err)
			}
			if streamed {
				continue // now inside the records array
			}
			return m, nil
		default:
			return r.value()
		}
	}
}

func (r *Reader) fail(err error) error {
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		err = ErrTruncated
	}
	r.err = fmt.Errorf("at byte %d: %w", r.off, err)
	return r.err
}

// object reads a top-level object. When its first key is "records" holding an
// array, it positions the Reader inside that array and reports streamed;
// otherwise it returns the whole object as one message.
func (r *Reader) object() (Message, bool, error) {
	start := r.off
	r.buf.Reset()
	r.keep(r.readByte()) // '{'
	c, err := r.copySpace()
	if err != nil {
		return Message{}, false, err
	}
	if c == '"' {
		keyStart := r.buf.Len()
		if err := r.copyString(); err != nil {
			return Message{}, false, err
		}
		if string(r.buf.Bytes()[keyStart:]) == `"records"` {
			if c, err = r.copySpace(); err != nil {
				return Message{}, false, err
			}
			if c == ':' {
				r.keep(r.readByte())
				if c, err = r.copySpace(); err != nil {
					return Message{}, false, err
				}
				if c == '[' {
					r.readByte()
					r.inArray = true
					r.recordsTail = true
					return Message{}, true, nil
				}
			}
		}
	}
	// Not a records envelope: the rest of the object is the message.
	if err := r.copyNested(1); err != nil {
		return Message{}, false, err
	}
	return r.message(start), false, nil
}

// value reads one complete JSON value as a message.
func (r *Reader) value() (Message, error) {
	start := r.off
	r.buf.Reset()
	c, err := r.peek()
	if err != nil {
		return Message{}, r.fail(err)
	}
	switch c {
	case '{', '[':
		r.keep(r.readByte())
		err = r.copyNested(1)
	case '"':
		err = r.copyString()
	default:
		err = r.copyScalar()
	}
	if err != nil {
		return Message{}, r.fail(err)
	}
	return r.message(start), nil
}

func (r *Reader) message(start int64) Message {
	if r.buf.Len() > MaxMessageSize {
		return Message{Offset: start, TooLarge: true}
	}
	return Message{Body: r.buf.Bytes(), Offset: start}
}

// keep appends a byte to the message buffer, up to MaxMessageSize (beyond it
// the bytes are counted but dropped, and the message is reported too large).
func (r *Reader) keep(c byte) {
	if r.buf.Len() <= MaxMessageSize {
		r.buf.WriteByte(c)
	}
}

// buffered returns the bytes read ahead and not yet consumed, reading more
// when there are none; never empty without an error.
func (r *Reader) buffered() ([]byte, error) {
	if r.r.Buffered() == 0 {
		if _, err := r.r.Peek(1); err != nil {
			return nil, err
		}
	}
	return r.r.Peek(r.r.Buffered())
}

// take consumes the first n bytes of b, the bytes buffered returned, and
// keeps them as keep would, one by one: the buffer grows to
// MaxMessageSize+1 bytes at most.
func (r *Reader) take(b []byte, n int) {
	if room := MaxMessageSize + 1 - r.buf.Len(); room > 0 {
		r.buf.Write(b[:min(n, room)])
	}
	r.r.Discard(n) // buffered bytes: cannot fail
	r.off += int64(n)
}

func (r *Reader) peek() (byte, error) {
	b, err := r.r.Peek(1)
	if err != nil {
		return 0, err
	}
	return b[0], nil
}

func (r *Reader) readByte() byte {
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
}

// scan reads b from where s stands and returns how many bytes belong to
// the value and whether it ends with them: when its brackets close, or, for
// a string that is the whole value, at its closing quote.
func (s *valueScan) scan(b []byte) (n int, done bool) {
	depth, inString, i := s.depth, s.inString, 0
	defer func() { s.depth, s.inString = depth, inString }()
	if s.escaped && len(b) > 0 {
		s.escaped, i = false, 1
	}
	for i < len(b) {
		if inString {
			j := indexQuoteOrBackslash(b[i:])
			if j < 0 {
				return len(b), false
			}
			if i += j; b[i] == '\\' {
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

// indexQuoteOrBackslash returns the offset of the first '"' or '\\' in b, or
// -1, eight bytes at a time.
func indexQuoteOrBackslash(b []byte) int {
	i := 0
	for len(b)-i >= 8 {
		if m := jsonscan.Special(binary.LittleEndian.Uint64(b[i:])); m != 0 {
			// The lowest flag is exact; it may be a control character,
			// which a string here may hold (detect reports it).
			j := i + bits.TrailingZeros64(m)>>3
			if b[j] == '"' || b[j] == '\\' {
				return j
			}
			i = j + 1
			continue
		}
		i += 8
	}
	for ; i < len(b); i++ {
		if b[i] == '"' || b[i] == '\\' {
			return i
		}
	}
	return -1
}

// copyScalar copies a number, true, false or null (or junk, which detect
// then reports): everything up to the next separator.
func (r *Reader) copyScalar() error {
	for {
		c, err := r.peek()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if isSpace(c) || c == ',' || c == ']' || c == '}' || c == '[' || c == '{' {
			if r.buf.Len() == 0 {
				// A stray closing bracket: consume it so the walk goes on.
				r.keep(r.readByte())
			}
			return nil
		}
		r.keep(r.readByte())
	}
}

// skipObjectRest discards the rest of a top-level object after its records
// array (other keys of the envelope are of no use).
func (r *Reader) skipObjectRest() error {
	r.buf.Reset()
	if err := r.copyNested(1); err != nil {
		return err
	}
	r.buf.Reset()
	return nil
}
