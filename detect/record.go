package detect

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// Skip reports a record (or the rest of a message) that could not be used.
// Skips never fail a batch; they are counted and logged with their position.
type Skip struct {
	// Message is the index of the message in its batch or file (0-based).
	Message int
	// Record is the index of the record in its message (0-based), -1 when
	// the message itself could not be split.
	Record int
	// Offset is the byte offset in the message where the problem starts.
	Offset int64
	Reason string
}

// String renders "message 3, record 2 (byte 1042): reason".
func (s Skip) String() string {
	if s.Record < 0 {
		return fmt.Sprintf("message %d (byte %d): %s", s.Message, s.Offset, s.Reason)
	}
	return fmt.Sprintf("message %d, record %d (byte %d): %s", s.Message, s.Record, s.Offset, s.Reason)
}

// RawRecord is one record cut out of a message, not yet decoded.
type RawRecord struct {
	// Index is the record's position in the message.
	Index int
	// Offset is the byte offset of the record in the message.
	Offset int64
	// Bytes aliases the message; callers must not modify it.
	Bytes []byte
}

// SplitRecords cuts one message into records. It accepts every shape Azure
// produces: {"records":[...]} (diagnostic settings), a bare array (Event Grid
// deliveries, exports), a single record object, and several of those one
// after the other (JSON Lines). fn is called for each record in order; a
// record that is not a JSON object is reported to skip and the walk goes on;
// a syntax error stops the walk of the message (the stream is unusable past
// it) and is reported with its offset.
func SplitRecords(msg []byte, fn func(RawRecord), skip func(record int, offset int64, reason string)) {
	splitRecordsFrom(msg, 0, 0, fn, skip)
}

// splitRecordsFrom is SplitRecords on msg[from:], reporting offsets in msg
// and numbering records from index on: the same walk SplitRecords makes
// once it has reached from with index records behind it (from must be the
// end of a top-level value, or 0).
func splitRecordsFrom(msg []byte, from int64, index int, fn func(RawRecord), skip func(record int, offset int64, reason string)) {
	dec := json.NewDecoder(bytes.NewReader(msg[from:]))
	for {
		var top json.RawMessage
		start := from + dec.InputOffset()
		if err := dec.Decode(&top); err != nil {
			if err == io.EOF {
				return
			}
			skip(-1, syntaxOffset(err, start-from)+from, "not valid JSON: "+jsonProblem(err))
			return
		}
		start = skipSpace(msg, start)
		switch firstByte(top) {
		case '[':
			index = splitArray(top, start, index, fn, skip)
		case '{':
			if recs, off, ok := recordsArray(top); ok {
				index = splitArray(recs, start+off, index, fn, skip)
			} else {
				fn(RawRecord{Index: index, Offset: start, Bytes: top})
				index++
			}
		default:
			skip(index, start, "record is not a JSON object")
			index++
		}
	}
}

// splitArray walks a JSON array element by element.
func splitArray(arr []byte, base int64, index int, fn func(RawRecord), skip func(int, int64, string)) int {
	dec := json.NewDecoder(bytes.NewReader(arr))
	if _, err := dec.Token(); err != nil { // '['
		skip(-1, base, "not valid JSON: "+jsonProblem(err))
		return index
	}
	for dec.More() {
		start := skipSpace(arr, dec.InputOffset())
		if start < int64(len(arr)) && arr[start] == ',' {
			start = skipSpace(arr, start+1)
		}
		var el json.RawMessage
		if err := dec.Decode(&el); err != nil {
			skip(index, base+syntaxOffset(err, start), "not valid JSON: "+jsonProblem(err))
			return index + 1
		}
		if firstByte(el) != '{' {
			skip(index, base+start, "record is not a JSON object")
		} else {
			fn(RawRecord{Index: index, Offset: base + start, Bytes: el})
		}
		index++
	}
	return index
}

// recordsArray returns the value of a top-level "records" key when it is an
// array, with its offset inside obj.
func recordsArray(obj []byte) ([]byte, int64, bool) {
	dec := json.NewDecoder(bytes.NewReader(obj))
	if _, err := dec.Token(); err != nil {
		return nil, 0, false
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, 0, false
		}
		key, _ := tok.(string)
		start := dec.InputOffset()
		var val json.RawMessage
		if err := dec.Decode(&val); err != nil {
			return nil, 0, false
		}
		if key == "records" && firstByte(val) == '[' {
			off := bytes.Index(obj[start:], val)
			if off < 0 {
				off = 0
			}
			return val, start + int64(off), true
		}
	}
	return nil, 0, false
}

func firstByte(b []byte) byte {
	for _, c := range b {
		switch c {
		case ' ', '\t', '\r', '\n':
			continue
		}
		return c
	}
	return 0
}

func skipSpace(b []byte, off int64) int64 {
	for off < int64(len(b)) {
		switch b[off] {
		case ' ', '\t', '\r', '\n':
			off++
			continue
		}
		break
	}
	return off
}

func syntaxOffset(err error, fallback int64) int64 {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return se.Offset
	}
	return fallback
}

func jsonProblem(err error) string {
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return "unexpected end of input"
	}
	return err.Error()
}
