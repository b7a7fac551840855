package hostsim

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Schema is the event schema of an Event Grid subscription.
type Schema int

const (
	// EventGridSchema: a JSON array of events with id, eventType, subject,
	// eventTime, data, dataVersion, topic.
	EventGridSchema Schema = iota + 1
	// CloudEventsSchema: CloudEvents 1.0, one object (structured mode) or
	// an array (batch mode); events carry specversion.
	CloudEventsSchema
)

// EventGridDelivery plays the host's Event Grid webhook receiving one
// delivery (§3): it splits deliveryBody (an array, or for CloudEvents a
// single object) into events and invokes function once per event, all in
// parallel, with Data.<binding> the event object and Metadata data + sys.
// The event goes through the host's Newtonsoft round trip (date strings
// re-formatted, floats re-printed; see roundTrip).
//
// status is what the host answers Event Grid: 202 when every invocation
// succeeded, 500 otherwise (Event Grid then redelivers the whole delivery).
// outcomes are in event order; Event Grid functions take no retry policy.
// The error is non-nil when the function is not an eventGridTrigger, when
// the delivery does not parse or an event does not match schema, and when
// ctx ends.
func (h *Host) EventGridDelivery(ctx context.Context, function string, deliveryBody []byte, schema Schema) (status int, outcomes []*Outcome, err error) {
	fc, err := h.function(function)
	if err != nil {
		return 0, nil, err
	}
	if !strings.EqualFold(fc.triggerType, "eventGridTrigger") {
		return 0, nil, fmt.Errorf("hostsim: function %s: EventGridDelivery needs an eventGridTrigger, function.json has %s", function, fc.triggerType)
	}
	events, err := splitDelivery(deliveryBody, schema)
	if err != nil {
		return 0, nil, fmt.Errorf("hostsim: delivery for %s: %w", function, err)
	}
	bodies := make([][]byte, len(events))
	for i, ev := range events {
		seed := h.nextSeed()
		if bodies[i], err = encodeEvent(fc, ev, time.Now(), seed); err != nil {
			return 0, nil, fmt.Errorf("hostsim: delivery for %s: event %d: %w", function, i, err)
		}
	}
	outcomes = make([]*Outcome, len(events))
	errs := make([]error, len(events))
	var wg sync.WaitGroup
	for i := range events {
		wg.Go(func() {
			a, err := h.invoke(ctx, fc.name, bodies[i], newGUID(nil))
			outcomes[i] = &Outcome{Attempt: a, Attempts: []Attempt{a}}
			errs[i] = err
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return 0, outcomes, err
	}
	status = http.StatusAccepted
	for _, o := range outcomes {
		if !o.Success {
			status = http.StatusInternalServerError
		}
	}
	return status, outcomes, nil
}

// splitDelivery parses a delivery into its events' JSON texts and checks
// each against schema.
func splitDelivery(body []byte, schema Schema) ([]json.RawMessage, error) {
	trimmed := bytes.TrimSpace(body)
	var events []json.RawMessage
	switch {
	case len(trimmed) > 0 && trimmed[0] == '[':
		if err := json.Unmarshal(trimmed, &events); err != nil {
			return nil, err
		}
	case len(trimmed) > 0 && trimmed[0] == '{' && schema == CloudEventsSchema:
		events = []json.RawMessage{trimmed}
	case schema == CloudEventsSchema:
		return nil, errors.New("want a CloudEvents object or array")
	default:
		return nil, errors.New("want a JSON array of events (Event Grid always delivers an array)")
	}
	if len(events) == 0 {
		return nil, errors.New("no events")
	}
	want := "eventType"
	switch schema {
	case EventGridSchema:
	case CloudEventsSchema:
		want = "specversion"
	default:
		return nil, fmt.Errorf("unknown schema %d", int(schema))
	}
	for i, ev := range events {
		var m map[string]json.RawMessage
		if err := json.Unmarshal(ev, &m); err != nil {
			return nil, fmt.Errorf("event %d: not a JSON object: %w", i, err)
		}
		if _, ok := m[want]; !ok {
			return nil, fmt.Errorf("event %d has no %q: wrong schema?", i, want)
		}
	}
	return events, nil
}

// encodeEvent builds the request for one Event Grid event.
func encodeEvent(fc *functionConfig, ev json.RawMessage, now time.Time, seed uint64) ([]byte, error) {
	obj, err := roundTrip(ev)
	if err != nil {
		return nil, err
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(obj, &fields); err != nil {
		return nil, err
	}
	rng := mrand.New(mrand.NewPCG(seed, 0x67756964))
	var meta []member
	// Binding data {"data": event["data"]}: an object stays an object,
	// other values become JSON text in a string, null/absent is omitted.
	if d, ok := fields["data"]; ok {
		d = bytes.TrimSpace(d)
		switch {
		case bytes.Equal(d, []byte("null")):
		case d[0] == '{':
			meta = append(meta, member{"data", d})
		default:
			meta = append(meta, member{"data", jsonString(string(d))})
		}
	}
	meta = append(meta, member{"sys", sysObject(fc.name, now, rng)})
	shuffle(meta, seed)
	return envelope(fc.binding, obj, meta, seed), nil
}

// Timer invokes a timerTrigger function once, as a schedule tick, and
// applies its retry policy like EventHubBatch (without sleeping between
// attempts). Data.<binding> is the TimerInfo object (DERIVED shape:
// Schedule, ScheduleStatus, IsPastDue); Metadata is sys (+ RetryContext).
// The error is non-nil when the function is not a timerTrigger or ctx ends.
func (h *Host) Timer(ctx context.Context, function string) (*Outcome, error) {
	fc, err := h.function(function)
	if err != nil {
		return nil, err
	}
	if !strings.EqualFold(fc.triggerType, "timerTrigger") {
		return nil, fmt.Errorf("hostsim: function %s: Timer needs a timerTrigger, function.json has %s", function, fc.triggerType)
	}
	seed := h.nextSeed()
	encode := func(n int, prev *Attempt) ([]byte, error) {
		now := time.Now()
		info := objectText([]member{
			{"Schedule", []byte(`{"AdjustForDST":true}`)},
			{"ScheduleStatus", objectText([]member{
				{"Last", jsonString(dotnetTime(now.Add(-5*time.Minute), layoutLocal))},
				{"Next", jsonString(dotnetTime(now.Add(5*time.Minute), layoutLocal))},
				{"LastUpdated", jsonString(dotnetTime(now.Add(-5*time.Minute), layoutLocal))},
			})},
			{"IsPastDue", []byte("false")},
		})
		meta := []member{{"sys", sysObject(fc.name, now, mrand.New(mrand.NewPCG(seed, uint64(n))))}}
		if fc.retry != nil {
			meta = append(meta, member{"RetryContext", retryContextObject(fc, n, prev)})
		}
		shuffle(meta, seed)
		return envelope(fc.binding, info, meta, seed), nil
	}
	return h.withRetries(ctx, fc, 0, 0, seed, encode)
}
