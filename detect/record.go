package detect

import (
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
// value that is not a JSON object is reported to skip and the walk goes on.
// Records are cut by their structure alone (walk.go): a record whose content
// is not valid JSON is still passed to fn, where decoding it fails, so a bad
// record costs only itself. A break in the structure (the message ends
// inside a string or container, brackets that do not match) stops the walk
// of the message after the records before it and is reported with its
// offset.
func SplitRecords(msg []byte, fn func(RawRecord), skip func(record int, offset int64, reason string)) {
	splitRecordsFrom(msg, 0, 0, fn, skip)
}

// splitRecordsFrom is SplitRecords on msg[from:], reporting offsets in msg
// and numbering records from index on: the same walk SplitRecords makes
// once it has reached from with index records behind it (from must be the
// end of a top-level value, or 0).
func splitRecordsFrom(msg []byte, from int64, index int, fn func(RawRecord), skip func(record int, offset int64, reason string)) {
	w := walker{}
	stop := w.walk(msg, int(from))
	for _, s := range w.spans {
		if s.obj {
			fn(RawRecord{Index: index, Offset: int64(s.start), Bytes: msg[s.start:s.end:s.end]})
		} else {
			skip(index, int64(s.start), "record is not a JSON object")
		}
		index++
	}
	if stop.errAt >= 0 {
		skip(-1, int64(stop.errAt), "not valid JSON: "+stop.reason)
	}
}

func jsonProblem(err error) string {
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return "unexpected end of input"
	}
	return err.Error()
}
