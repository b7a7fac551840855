package detect

import "fmt"

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
