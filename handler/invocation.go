package handler

import (
	"context"
	"fmt"
	"time"
)

// Trigger says how a route's request body is decoded.
type Trigger int

const (
	// EventHubBatch: eventHubTrigger with cardinality many; Data.<binding> is
	// a batch of message bodies (dataType string, binary or omitted).
	EventHubBatch Trigger = iota + 1
	// EventGrid: eventGridTrigger; Data.<binding> is one event, Event Grid or
	// CloudEvents schema.
	EventGrid
	// Timer: timerTrigger; the payload carries nothing Tripline needs.
	Timer
)

// Route binds one Azure Function (its function.json folder name) to the code
// that runs it.
type Route struct {
	// Function is the folder name of function.json, case preserved; the host
	// POSTs to /<Function>.
	Function string
	Trigger  Trigger
	// Binding is the trigger binding's "name" in function.json (Data key).
	// Required for EventHubBatch and EventGrid routes; ignored for Timer.
	Binding string
	// DataType is the trigger binding's "dataType" in function.json; it
	// matters only for EventHubBatch routes. The zero value is
	// DataTypeString, which Tripline's function.json files use.
	DataType DataType
	Func     Func
}

// DataType mirrors the "dataType" of an eventHubTrigger binding and decides
// how each element of the batch array becomes Message.Body
// (functions-host-protocol.md §2).
//
// Whatever the DataType, an element that is not a JSON string (an object,
// number, array, bool or null) can only come from the host's "dataType
// omitted" form, so its JSON text is used as the body; except that with
// DataTypeString and DataTypeBinary a JSON null gives an empty body.
type DataType int

const (
	// DataTypeString: "dataType": "string". Each element is a JSON string
	// holding one body, UTF-8 decoded by the host; Body is its content.
	DataTypeString DataType = iota
	// DataTypeBinary: "dataType": "binary". Each element is a JSON string
	// holding the body in standard base64; Body is the decoded bytes.
	DataTypeBinary
	// DataTypeOmitted: no "dataType". The host parsed each body as JSON;
	// Body is the element's JSON text (a JSON string element keeps its
	// quotes: the body was the JSON string literal).
	DataTypeOmitted
)

// String returns the function.json spelling ("string", "binary", "").
func (d DataType) String() string {
	switch d {
	case DataTypeString:
		return "string"
	case DataTypeBinary:
		return "binary"
	case DataTypeOmitted:
		return ""
	}
	return fmt.Sprintf("DataType(%d)", int(d))
}

// String names the trigger as function.json does.
func (t Trigger) String() string {
	switch t {
	case EventHubBatch:
		return "eventHubTrigger"
	case EventGrid:
		return "eventGridTrigger"
	case Timer:
		return "timerTrigger"
	}
	return fmt.Sprintf("Trigger(%d)", int(t))
}

// Func runs one invocation. It returns an error only when the invocation's
// work is not done (the host must retry); per-record problems are reported in
// Result.Logs instead. The Invocation and its message bodies belong to the
// Func: the Server keeps no reference to them (they are decoded into fresh
// memory, never into the request buffer it reuses).
type Func interface {
	Invoke(ctx context.Context, inv *Invocation) (Result, error)
}

// FuncOf adapts an ordinary function to Func, like http.HandlerFunc.
type FuncOf func(ctx context.Context, inv *Invocation) (Result, error)

// Invoke calls f.
func (f FuncOf) Invoke(ctx context.Context, inv *Invocation) (Result, error) { return f(ctx, inv) }

// Invocation is one decoded host request.
type Invocation struct {
	// ID is the X-Azure-Functions-InvocationId header (may be empty).
	ID       string
	Function string
	Trigger  Trigger
	// Messages are the Event Hubs bodies of the batch, in order, or the one
	// Event Grid event (its JSON object, re-serialized by the host). Empty
	// for timers.
	Messages []Message
	// RetryCount is Metadata.RetryContext.RetryCount (0 on the first try or
	// when the function has no retry policy).
	RetryCount int
	// MaxRetryCount is Metadata.RetryContext.MaxRetryCount: -1 retries
	// forever; 0 when the function has no retry policy.
	MaxRetryCount int
	// Partition is the Event Hubs partition id, when the host sent it.
	Partition string
}

// Bodies returns the message bodies in order.
func (inv *Invocation) Bodies() [][]byte {
	bodies := make([][]byte, len(inv.Messages))
	for i, m := range inv.Messages {
		bodies[i] = m.Body
	}
	return bodies
}

// Message is one Event Hubs body or one Event Grid event.
type Message struct {
	// Body is the message as sent (Event Hubs) or the event's JSON object
	// (Event Grid). It is not shared with the Server: a Func may keep it
	// after returning.
	Body []byte
	// EnqueuedTime is the Event Hubs enqueued time (UTC), zero if unknown
	// (always for Event Grid).
	EnqueuedTime time.Time
	// SequenceNumber is the Event Hubs sequence number, -1 if unknown
	// (always for Event Grid).
	SequenceNumber int64
}

// Result is what the invocation reports to the host.
type Result struct {
	// Logs are written by the host at Information level on success. On
	// failure the Server still sends them (followed by the error text), but
	// the host discards the body of a non-2xx response.
	Logs []string
}
