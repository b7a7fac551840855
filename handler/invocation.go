package handler

import (
	"context"
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
	Binding string
	Func    Func
}

// Func runs one invocation. It returns an error only when the invocation's
// work is not done (the host must retry); per-record problems are reported in
// Result.Logs instead.
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
	// Partition is the Event Hubs partition id, when the host sent it.
	Partition string
}

// Message is one Event Hubs body or one Event Grid event.
type Message struct {
	Body []byte
	// EnqueuedTime is the Event Hubs enqueued time (UTC), zero if unknown.
	EnqueuedTime time.Time
	// SequenceNumber is the Event Hubs sequence number, -1 if unknown.
	SequenceNumber int64
}

// Result is what the invocation reports to the host.
type Result struct {
	// Logs are written by the host at Information level on success.
	Logs []string
}
