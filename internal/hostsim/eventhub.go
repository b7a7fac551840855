package hostsim

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// ErrBinding is returned (wrapped) when the host would fail an invocation
// while binding the trigger, before calling the handler: with dataType
// omitted, a body that is not JSON (§2).
var ErrBinding = errors.New("hostsim: trigger binding failed before the handler was called")

// DefaultMaxAttempts caps attempts for maxRetryCount -1 when
// BatchOptions.MaxAttempts is zero, so a failing test cannot retry forever.
const DefaultMaxAttempts = 10

// BatchOptions describe one Event Hubs batch. The zero value is usable.
type BatchOptions struct {
	// PartitionContext fields. Defaults: "tripline-sim.servicebus.windows.net",
	// "insights-activity-logs", "$Default", "0".
	Namespace, EventHubName, ConsumerGroup, PartitionID string
	// FirstSequenceNumber is the sequence number of bodies[0]; the others
	// follow by one.
	FirstSequenceNumber int64
	// FirstOffset is the offset of bodies[0]; each next offset adds the
	// previous body's length. Offsets, when it has an entry for a body,
	// overrides that.
	FirstOffset int64
	Offsets     []int64
	// EnqueuedTimes gives each body's enqueued time. Bodies without one get
	// EnqueuedTime plus their index in milliseconds.
	EnqueuedTimes []time.Time
	// EnqueuedTime is the base enqueued time; zero means Now.
	EnqueuedTime time.Time
	// PartitionKeys gives each body's partition key; "" or missing is null.
	PartitionKeys []string
	// Properties gives each body's application properties; nil or missing
	// is {}.
	Properties []map[string]any
	// Now is sys.UtcNow; zero means the time of encoding.
	Now time.Time
	// Seed fixes the key order of Data and Metadata and sys.RandGuid.
	Seed uint64
	// MaxAttempts, when positive, caps the attempts (first one included)
	// whatever the retry policy says. Zero: the policy decides, except that
	// maxRetryCount -1 is capped at DefaultMaxAttempts.
	MaxAttempts int
	// IntervalScale multiplies retry delays before sleeping: 1 sleeps the
	// policy's real delays, 0 (the default) does not sleep. Attempt.Delay
	// always holds the unscaled delay.
	IntervalScale float64
}

// EncodeEventHubBatch encodes the request body the host would send to
// function (appRoot/<function>/function.json must be an eventHubTrigger with
// cardinality many) for bodies, as a first attempt (RetryContext.RetryCount 0
// when the function has a retry policy). It returns an error wrapping
// ErrBinding when dataType is omitted and a body is not JSON.
func EncodeEventHubBatch(appRoot, function string, bodies [][]byte, opts BatchOptions) ([]byte, error) {
	fc, err := readFunction(appRoot, function)
	if err != nil {
		return nil, fmt.Errorf("hostsim: %w", err)
	}
	return encodeBatch(fc, bodies, &opts, 0, nil)
}

// EncodeEventHubBatch is the package function for this Host's app root.
func (h *Host) EncodeEventHubBatch(function string, bodies [][]byte, opts BatchOptions) ([]byte, error) {
	fc, err := h.function(function)
	if err != nil {
		return nil, err
	}
	return encodeBatch(fc, bodies, &opts, 0, nil)
}

// EventHubBatch delivers bodies to function as one batch, as the Event Hubs
// trigger does (§2), then applies the function.json retry policy (§4): on
// failure it waits the policy's delay (times IntervalScale) and sends the
// same batch again with RetryContext.RetryCount 1, 2, …, until success, the
// policy's maxRetryCount, or opts.MaxAttempts. Then the batch counts as
// checkpointed whatever the result.
//
// A failed invocation is reported in the Outcome, not as an error. The error
// is non-nil when the function cannot be read or is not an Event Hubs batch
// trigger, when the batch cannot be encoded, when binding fails (wrapping
// ErrBinding; the handler is not called and the Outcome shows the lost
// batch), and when ctx ends (the Outcome then has Checkpointed false).
func (h *Host) EventHubBatch(ctx context.Context, function string, bodies [][]byte, opts BatchOptions) (*Outcome, error) {
	fc, err := h.function(function)
	if err != nil {
		return nil, err
	}
	if !strings.EqualFold(fc.triggerType, "eventHubTrigger") || fc.cardinality != "many" {
		return nil, fmt.Errorf("hostsim: function %s: EventHubBatch needs an eventHubTrigger with cardinality many, function.json has %s cardinality %q", function, fc.triggerType, fc.cardinality)
	}
	encode := func(attempt int, prev *Attempt) ([]byte, error) {
		return encodeBatch(fc, bodies, &opts, attempt, prev)
	}
	out, err := h.withRetries(ctx, fc, opts.MaxAttempts, opts.IntervalScale, opts.Seed, encode)
	if errors.Is(err, ErrBinding) {
		out.Checkpointed = true // the batch is lost
	}
	return out, err
}

// withRetries runs attempts per fc.retry. encode builds the request body of
// attempt n (0-based) given the previous failed attempt.
func (h *Host) withRetries(ctx context.Context, fc *functionConfig, maxAttempts int, scale float64, seed uint64,
	encode func(attempt int, prev *Attempt) ([]byte, error)) (*Outcome, error) {
	out := &Outcome{}
	limit := 1 // attempts allowed by the policy; 0 means unbounded
	if p := fc.retry; p != nil {
		limit = p.maxRetryCount + 1
		if p.maxRetryCount == -1 {
			limit = 0
		}
	}
	capAt := maxAttempts
	if capAt <= 0 && limit == 0 {
		capAt = DefaultMaxAttempts
	}
	backoff := newBackoff(fc.retry, seed)
	var delay time.Duration
	for n := 0; ; n++ {
		var prev *Attempt
		if n > 0 {
			prev = &out.Attempts[n-1]
		}
		body, err := encode(n, prev)
		if err != nil {
			out.Attempt = Attempt{Failure: err.Error()}
			out.Attempts = append(out.Attempts, out.Attempt)
			return out, err
		}
		a, err := h.invoke(ctx, fc.name, body, newGUID(nil))
		a.Delay = delay
		if fc.retry != nil {
			a.RetryCount = n
		}
		out.Attempts = append(out.Attempts, a)
		out.Attempt = a
		if err != nil {
			return out, err
		}
		if a.Success {
			break
		}
		if limit != 0 && n+1 >= limit {
			break
		}
		if capAt > 0 && n+1 >= capAt {
			out.Capped = true
			break
		}
		delay = backoff()
		if d := time.Duration(float64(delay) * scale); d > 0 {
			t := time.NewTimer(d)
			select {
			case <-ctx.Done():
				t.Stop()
				return out, fmt.Errorf("hostsim: retry %s: %w", fc.name, ctx.Err())
			case <-t.C:
			}
		}
		if err := ctx.Err(); err != nil {
			return out, fmt.Errorf("hostsim: retry %s: %w", fc.name, err)
		}
	}
	out.Checkpointed = !out.Capped
	return out, nil
}

// newBackoff returns the delay generator of one retry sequence: fixed, or
// the SDK's RandomizedExponentialBackoffStrategy (first retry after the
// minimum, then minimum + r·2^(k-1)·minimum with r uniform in [0.8, 1.2),
// until the maximum, which then stays).
func newBackoff(p *retryPolicy, seed uint64) func() time.Duration {
	if p == nil {
		return func() time.Duration { return 0 }
	}
	if !p.exponential {
		return func() time.Duration { return p.delay }
	}
	rng := mrand.New(mrand.NewPCG(seed, 0x6261636b)) // "back"
	var cur time.Duration
	exp := 0
	return func() time.Duration {
		if cur == p.max {
			return cur
		}
		next := p.min
		if exp > 0 {
			r := 0.8 + 0.4*rng.Float64()
			next += time.Duration(r * float64(int64(1)<<(exp-1)) * float64(p.min))
		}
		if next < p.max {
			cur = next
			exp++
		} else {
			cur = p.max
		}
		return cur
	}
}

// encodeBatch builds the request body of attempt n (RetryContext.RetryCount
// n; prev is the failed attempt before it, nil for n == 0).
func encodeBatch(fc *functionConfig, bodies [][]byte, opts *BatchOptions, n int, prev *Attempt) ([]byte, error) {
	if len(bodies) == 0 {
		return nil, errors.New("hostsim: an Event Hubs batch has at least one event")
	}
	// Data.<binding>: the batch array, serialized to text and carried as a
	// JSON string (the "anything else" rule, §0/§2).
	var arr bytes.Buffer
	arr.WriteByte('[')
	for i, b := range bodies {
		if i > 0 {
			arr.WriteByte(',')
		}
		switch fc.dataType {
		case "string":
			arr.Write(jsonString(decodeUTF8(b)))
		case "binary":
			text, _ := marshal(b) // []byte marshals as standard base64
			arr.Write(text)
		default:
			v, err := parseBody(b)
			if err != nil {
				return nil, fmt.Errorf("%w: function %s: body %d: Binding parameters to complex objects (such as 'Object') uses Json.NET serialization: %v",
					ErrBinding, fc.name, i, err)
			}
			arr.Write(v)
		}
	}
	arr.WriteByte(']')

	now := opts.Now
	if now.IsZero() {
		now = time.Now()
	}
	base := opts.EnqueuedTime
	if base.IsZero() {
		base = now
	}
	rng := mrand.New(mrand.NewPCG(opts.Seed, 0x67756964)) // "guid"
	ns := orDefault(opts.Namespace, "tripline-sim.servicebus.windows.net")
	hub := orDefault(opts.EventHubName, "insights-activity-logs")
	cg := orDefault(opts.ConsumerGroup, "$Default")
	pid := orDefault(opts.PartitionID, "0")

	pkeys := make([]any, len(bodies))
	offsets := make([]string, len(bodies))
	seqs := make([]int64, len(bodies))
	times := make([]string, len(bodies))
	props := make([]any, len(bodies))
	sysProps := make([]json.RawMessage, len(bodies))
	off := opts.FirstOffset
	for i, b := range bodies {
		var pk any // null
		if i < len(opts.PartitionKeys) && opts.PartitionKeys[i] != "" {
			pk = opts.PartitionKeys[i]
		}
		pkeys[i] = pk
		t := base.Add(time.Duration(i) * time.Millisecond)
		if i < len(opts.EnqueuedTimes) && !opts.EnqueuedTimes[i].IsZero() {
			t = opts.EnqueuedTimes[i]
		}
		if i < len(opts.Offsets) {
			off = opts.Offsets[i]
		}
		seq := opts.FirstSequenceNumber + int64(i)
		seqs[i] = seq
		offsets[i] = strconv.FormatInt(off, 10)
		times[i] = dotnetTime(t, layoutUnspecified)
		props[i] = map[string]any{}
		if i < len(opts.Properties) && opts.Properties[i] != nil {
			props[i] = opts.Properties[i]
		}
		sp := []member{
			{"x-opt-sequence-number", []byte(strconv.FormatInt(seq, 10))},
			{"x-opt-offset", []byte(strconv.FormatInt(off, 10))},
			{"x-opt-enqueued-time", jsonString(dotnetTime(t, layoutUTC))},
		}
		if pk != nil {
			sp = append(sp, member{"x-opt-partition-key", jsonString(pk.(string))})
		}
		pkText, _ := marshal(pk)
		sp = append(sp,
			member{"SequenceNumber", []byte(strconv.FormatInt(seq, 10))},
			member{"Offset", []byte(strconv.FormatInt(off, 10))},
			member{"PartitionKey", pkText},
			member{"EnqueuedTimeUtc", jsonString(dotnetTime(t, layoutUnspecified))},
		)
		sysProps[i] = objectText(sp)
		off += int64(len(b))
	}

	meta := []member{{"PartitionContext", objectText([]member{
		{"FullyQualifiedNamespace", jsonString(ns)},
		{"EventHubName", jsonString(hub)},
		{"ConsumerGroup", jsonString(cg)},
		{"PartitionId", jsonString(pid)},
	})}}
	for _, kv := range []struct {
		key string
		val any
	}{
		{"PartitionKeyArray", pkeys},
		{"OffsetArray", offsets},
		{"SequenceNumberArray", seqs},
		{"EnqueuedTimeUtcArray", times},
		{"PropertiesArray", props},
		{"SystemPropertiesArray", sysProps},
	} {
		text, err := serializeObject(kv.val)
		if err != nil {
			return nil, fmt.Errorf("hostsim: encode %s: %w", kv.key, err)
		}
		meta = append(meta, member{kv.key, text})
	}
	meta = append(meta, member{"sys", sysObject(fc.name, now, rng)})
	if fc.retry != nil {
		meta = append(meta, member{"RetryContext", retryContextObject(fc, n, prev)})
	}
	shuffle(meta, opts.Seed)
	return envelope(fc.binding, jsonString(arr.String()), meta, opts.Seed), nil
}

// envelope writes {"Data":{binding:data},"Metadata":{...}} in a seeded order.
func envelope(binding string, data []byte, meta []member, seed uint64) []byte {
	top := []member{
		{"Data", objectText([]member{{binding, data}})},
		{"Metadata", objectText(meta)},
	}
	shuffle(top, seed^0x746f70) // "top"
	return objectText(top)
}

// decodeUTF8 is .NET's Encoding.UTF8.GetString: each invalid byte becomes
// U+FFFD (.NET replaces a truncated multi-byte sequence with one U+FFFD
// where this gives one per byte).
func decodeUTF8(b []byte) string {
	if utf8.Valid(b) {
		return string(b)
	}
	var sb strings.Builder
	sb.Grow(len(b) + 8)
	for len(b) > 0 {
		r, n := utf8.DecodeRune(b)
		sb.WriteRune(r) // utf8.RuneError is U+FFFD
		b = b[n:]
	}
	return sb.String()
}

// parseBody is the host's JsonConvert.DeserializeObject(text, typeof(object))
// followed by re-serialization: an empty body becomes null, JSON is
// re-printed per roundTrip, anything else is an error.
func parseBody(b []byte) ([]byte, error) {
	s := decodeUTF8(b)
	if strings.TrimSpace(s) == "" {
		return []byte("null"), nil
	}
	if !json.Valid([]byte(s)) {
		return nil, errors.New("not valid JSON")
	}
	return roundTrip([]byte(s))
}

// sysObject is Metadata.sys (SystemBindingData).
func sysObject(function string, now time.Time, rng *mrand.Rand) []byte {
	return objectText([]member{
		{"MethodName", jsonString(function)},
		{"UtcNow", jsonString(dotnetTime(now, layoutUTC))},
		{"RandGuid", jsonString(newGUID(rng))},
	})
}

// retryContextObject is Metadata.RetryContext for attempt n. Exception is
// null on the first attempt and the previous failure afterwards, in the
// shape Newtonsoft gives an Exception (ISerializable); exact property set
// UNCERTAIN (§0).
func retryContextObject(fc *functionConfig, n int, prev *Attempt) []byte {
	exc := []byte("null")
	if prev != nil {
		inner := objectText([]member{
			{"ClassName", jsonString("System.Net.Http.HttpRequestException")},
			{"Message", jsonString(prev.Failure)},
			{"Data", []byte("null")},
			{"InnerException", []byte("null")},
			{"HResult", []byte("-2146233088")},
		})
		exc = objectText([]member{
			{"ClassName", jsonString("Microsoft.Azure.WebJobs.Host.FunctionInvocationException")},
			{"Message", jsonString("Exception while executing function: Functions." + fc.name)},
			{"Data", []byte("null")},
			{"InnerException", inner},
			{"HResult", []byte("-2146233088")},
		})
	}
	return objectText([]member{
		{"RetryCount", []byte(strconv.Itoa(n))},
		{"MaxRetryCount", []byte(strconv.Itoa(fc.retry.maxRetryCount))},
		{"Exception", exc},
		{"Instance", []byte("null")},
		{"State", []byte("{}")},
	})
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
