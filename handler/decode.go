package handler

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

// maxUnquote bounds how many JSON-string layers are peeled off a value: the
// host encodes once, its own unit tests show twice (functions-host-protocol.md
// §0 "single vs double-encoded").
const maxUnquote = 2

// envelopeOptions read the envelope with encoding/json's leniency: the last
// of duplicate names kept, invalid UTF-8 let through.
var envelopeOptions = jsonv2.JoinOptions(jsontext.AllowDuplicateNames(true), jsontext.AllowInvalidUTF8(true))

// readEnvelope reads the request body with jsontext, which parses a
// bytes.Buffer in place: the values of Data and Metadata are slices of body,
// not copies, so a batch of a hundred megabytes is not held twice. Names
// are matched case-insensitively, as Newtonsoft does.
func readEnvelope(body []byte) (envelope, error) {
	var env envelope
	dec := jsontext.NewDecoder(bytes.NewBuffer(body), envelopeOptions)
	if tok, err := dec.ReadToken(); err != nil {
		return env, err
	} else if tok.Kind() != '{' {
		return env, errors.New("not a JSON object")
	}
	for dec.PeekKind() != '}' {
		name, err := dec.ReadToken()
		if err != nil {
			return env, err
		}
		switch key := name.String(); {
		case strings.EqualFold(key, "Data"):
			env.Data, err = readMembers(dec, body, "Data")
		case strings.EqualFold(key, "Metadata"):
			env.Metadata, err = readMembers(dec, body, "Metadata")
		default:
			err = dec.SkipValue()
		}
		if err != nil {
			return env, err
		}
	}
	if _, err := dec.ReadToken(); err != nil {
		return env, err
	}
	if _, err := dec.ReadToken(); err != io.EOF {
		return env, errors.New("data after the top-level object")
	}
	return env, nil
}

// readMembers reads an object's members as slices of body (null: none).
func readMembers(dec *jsontext.Decoder, body []byte, what string) (map[string]json.RawMessage, error) {
	switch dec.PeekKind() {
	case 'n':
		_, err := dec.ReadToken()
		return nil, err
	case '{':
	default:
		return nil, fmt.Errorf("%s is not a JSON object", what)
	}
	if _, err := dec.ReadToken(); err != nil {
		return nil, err
	}
	m := map[string]json.RawMessage{}
	for dec.PeekKind() != '}' {
		name, err := dec.ReadToken()
		if err != nil {
			return nil, err
		}
		key := name.String() // before the next read voids the token
		v, err := dec.ReadValue()
		if err != nil {
			return nil, err
		}
		end := int(dec.InputOffset())
		m[key] = body[end-len(v) : end : end]
	}
	_, err := dec.ReadToken()
	return m, err
}

// envelope is the host's request body: {"Data": {...}, "Metadata": {...}}.
// Its values alias the request body (readEnvelope).
type envelope struct {
	Data     map[string]json.RawMessage
	Metadata map[string]json.RawMessage
}

// metaWarning is a Metadata problem that does not stop the invocation: the
// bodies are what matters, and losing a batch over a malformed timestamp
// would be worse than a zero EnqueuedTime.
type metaWarning struct {
	key string
	err error
}

// decodeInvocation turns a request body into an Invocation for route r,
// with encoding/json: the one envelope decoder. Every body is a fresh copy,
// owned by the Invocation. The returned error describes what is wrong with
// the envelope (it becomes a 400); warnings describe ignored Metadata
// problems.
func decodeInvocation(r *Route, body []byte) (*Invocation, []metaWarning, error) {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 {
		return nil, nil, errors.New("empty request body: want a JSON object {\"Data\":{...},\"Metadata\":{...}}")
	}
	if trimmed[0] != '{' {
		return nil, nil, errors.New("request body is not a JSON object: want {\"Data\":{...},\"Metadata\":{...}}")
	}
	env, err := readEnvelope(trimmed)
	if err != nil {
		return nil, nil, fmt.Errorf("request body: %w", err)
	}
	inv := &Invocation{Function: r.Function, Trigger: r.Trigger}
	var warns []metaWarning
	warn := func(key string, err error) { warns = append(warns, metaWarning{key, err}) }

	if raw, ok := lookup(env.Metadata, "RetryContext"); ok {
		rc, err := decodeRetryContext(raw)
		if err != nil {
			warn("RetryContext", err)
		} else {
			inv.RetryCount, inv.MaxRetryCount = rc.count, rc.max
		}
	}

	switch r.Trigger {
	case EventHubBatch:
		raw, err := dataValue(env.Data, r.Binding)
		if err != nil {
			return nil, nil, err
		}
		bodies, err := decodeBatch(raw, r.DataType)
		if err != nil {
			return nil, nil, fmt.Errorf("value of Data.%s: %w", r.Binding, err)
		}
		inv.Messages = make([]Message, len(bodies))
		for i, b := range bodies {
			inv.Messages[i] = Message{Body: b, SequenceNumber: -1}
		}
		decodeBatchMetadata(inv, env.Metadata, warn)
	case EventGrid:
		raw, err := dataValue(env.Data, r.Binding)
		if err != nil {
			return nil, nil, err
		}
		ev, err := decodeEvent(raw)
		if err != nil {
			return nil, nil, fmt.Errorf("value of Data.%s: %w", r.Binding, err)
		}
		inv.Messages = []Message{{Body: ev, SequenceNumber: -1}}
	case Timer:
		// Data.<binding> is the TimerInfo object; nothing in it is needed.
	}
	return inv, warns, nil
}

// lookup finds key in m: exact match first, then case-insensitive (the host
// keeps the binding name's case, but a hand-edited function.json and a Go
// Route may disagree on it).
func lookup(m map[string]json.RawMessage, key string) (json.RawMessage, bool) {
	if v, ok := m[key]; ok {
		return v, true
	}
	for k, v := range m {
		if strings.EqualFold(k, key) {
			return v, true
		}
	}
	return nil, false
}

// dataValue returns Data.<binding>, or an error naming the keys that are there.
func dataValue(data map[string]json.RawMessage, binding string) (json.RawMessage, error) {
	raw, ok := lookup(data, binding)
	if !ok {
		keys := make([]string, 0, len(data))
		for k := range data {
			keys = append(keys, strconv.Quote(k))
		}
		sort.Strings(keys)
		return nil, fmt.Errorf("envelope key Data.%s is missing (Data has keys [%s]); check the binding name in function.json and the Route", binding, strings.Join(keys, ", "))
	}
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return nil, fmt.Errorf("envelope key Data.%s is null", binding)
	}
	return raw, nil
}

// unwrap peels up to maxUnquote JSON-string layers off raw until it holds a
// JSON value of the wanted kind ('[' or '{'). A value that is already of that
// kind is returned as is.
func unwrap(raw json.RawMessage, want byte) (json.RawMessage, error) {
	raw = bytes.TrimSpace(raw)
	for i := 0; ; i++ {
		if len(raw) == 0 {
			return nil, errors.New("empty value")
		}
		if raw[0] == want {
			return raw, nil
		}
		if raw[0] != '"' || i == maxUnquote {
			return nil, fmt.Errorf("want a JSON %s (bare or inside a JSON string), got %s", kindName(want), describe(raw))
		}
		s, err := unquote(raw)
		if err != nil {
			return nil, err
		}
		raw = bytes.TrimSpace(s)
	}
}

// unquote decodes a JSON string literal. jsontext does it in one pass; a
// string it refuses (invalid UTF-8, which it would replace and report) is
// left to encoding/json, which replaces it silently, as the host's own
// decoder does.
func unquote(raw []byte) ([]byte, error) {
	if s, err := jsontext.AppendUnquote(make([]byte, 0, len(raw)), raw); err == nil {
		return s, nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, err
	}
	return []byte(s), nil
}

func kindName(b byte) string {
	if b == '[' {
		return "array"
	}
	return "object"
}

// describe names the kind of a JSON value for error messages, with a short
// prefix of its text (never the whole body: it may be megabytes).
func describe(raw []byte) string {
	const max = 40
	kind := "invalid JSON"
	switch {
	case len(raw) == 0:
		return "nothing"
	case raw[0] == '"':
		kind = "a string"
	case raw[0] == '{':
		kind = "an object"
	case raw[0] == '[':
		kind = "an array"
	case raw[0] == 't' || raw[0] == 'f':
		kind = "a bool"
	case raw[0] == 'n':
		kind = "null"
	case raw[0] == '-' || (raw[0] >= '0' && raw[0] <= '9'):
		kind = "a number"
	}
	prefix := raw
	if len(prefix) > max {
		prefix = append(prefix[:max:max], "..."...)
	}
	return fmt.Sprintf("%s (%q)", kind, prefix)
}

// decodeBatch decodes Data.<binding> of an Event Hubs batch: a JSON string
// (once or twice encoded) or a bare JSON array; elements per dt.
func decodeBatch(raw json.RawMessage, dt DataType) ([][]byte, error) {
	arr, err := unwrap(raw, '[')
	if err != nil {
		return nil, err
	}
	// Fast paths for the forms the host sends with dataType string/binary:
	// every element a JSON string. Any error (an element that is not a
	// string, bad base64) falls through to the general path, which tolerates
	// what can be tolerated and names the element that cannot.
	switch dt {
	case DataTypeString:
		owned := arr
		if raw[0] == '[' {
			owned = bytes.Clone(arr) // a bare array aliases the request
		}
		if out, ok := stringElements(owned); ok {
			return out, nil
		}
		// stringElements may have overwritten arr: start again from raw.
		if arr, err = unwrap(raw, '['); err != nil {
			return nil, err
		}
	case DataTypeBinary:
		var bs [][]byte // encoding/json decodes standard base64 into []byte
		if err := json.Unmarshal(arr, &bs); err == nil {
			return bs, nil
		}
	}
	var elems []json.RawMessage
	if err := json.Unmarshal(arr, &elems); err != nil {
		return nil, err
	}
	out := make([][]byte, len(elems))
	for i, e := range elems {
		b, err := decodeElement(e, dt)
		if err != nil {
			return nil, fmt.Errorf("element %d: %w", i, err)
		}
		out[i] = b
	}
	return out, nil
}

// stringElements decodes an array of JSON strings into bodies; ok is false
// when some element is not a plain JSON string. arr must be the caller's to
// overwrite: each body is unquoted into arr itself, behind the element
// being read (a string's content is never longer than its quoted form), so
// the bodies take no memory of their own.
func stringElements(arr []byte) (out [][]byte, ok bool) {
	dec := jsontext.NewDecoder(bytes.NewBuffer(arr))
	if tok, err := dec.ReadToken(); err != nil || tok.Kind() != '[' {
		return nil, false
	}
	var scratch []byte
	w := 0
	for dec.PeekKind() == '"' {
		v, err := dec.ReadValue()
		if err != nil {
			return nil, false
		}
		if scratch, err = jsontext.AppendUnquote(scratch[:0], v); err != nil {
			return nil, false
		}
		// v starts at or after w: everything before it has been read.
		n := copy(arr[w:], scratch)
		out = append(out, arr[w:w+n:w+n])
		w += n
	}
	if tok, err := dec.ReadToken(); err != nil || tok.Kind() != ']' {
		return nil, false
	}
	if _, err := dec.ReadToken(); err != io.EOF {
		return nil, false
	}
	return out, true
}

// decodeElement turns one batch element into a body.
func decodeElement(e json.RawMessage, dt DataType) ([]byte, error) {
	e = bytes.TrimSpace(e)
	if dt != DataTypeOmitted && bytes.Equal(e, []byte("null")) {
		return []byte{}, nil // as the fast paths decode it
	}
	if len(e) == 0 || e[0] != '"' || dt == DataTypeOmitted {
		// Parsed JSON value (dataType omitted): its JSON text is the body.
		return []byte(e), nil
	}
	if dt == DataTypeBinary {
		var b []byte
		if err := json.Unmarshal(e, &b); err != nil {
			return nil, fmt.Errorf("dataType binary: not a base64 string: %w", err)
		}
		return b, nil
	}
	var s string
	if err := json.Unmarshal(e, &s); err != nil {
		return nil, err
	}
	return []byte(s), nil
}

// decodeEvent decodes Data.<binding> of an Event Grid invocation: the event
// object, or a JSON string holding it.
func decodeEvent(raw json.RawMessage) ([]byte, error) {
	obj, err := unwrap(raw, '{')
	if err != nil {
		return nil, err
	}
	if !json.Valid(obj) {
		return nil, fmt.Errorf("event is not valid JSON: %s", describe(obj))
	}
	return bytes.Clone(obj), nil // obj may alias the request
}

// retryContext is the part of Metadata.RetryContext the handler uses.
type retryContext struct{ count, max int }

func decodeRetryContext(raw json.RawMessage) (retryContext, error) {
	obj, err := unwrap(raw, '{')
	if err != nil {
		return retryContext{}, err
	}
	var rc struct {
		RetryCount    json.Number
		MaxRetryCount json.Number
	}
	if err := json.Unmarshal(obj, &rc); err != nil {
		return retryContext{}, err
	}
	var out retryContext
	if rc.RetryCount != "" {
		n, err := strconv.Atoi(rc.RetryCount.String())
		if err != nil {
			return retryContext{}, fmt.Errorf("RetryCount: %w", err)
		}
		out.count = n
	}
	if rc.MaxRetryCount != "" {
		n, err := strconv.Atoi(rc.MaxRetryCount.String())
		if err != nil {
			return retryContext{}, fmt.Errorf("MaxRetryCount: %w", err)
		}
		out.max = n
	}
	return out, nil
}

// decodeBatchMetadata fills Partition, EnqueuedTime and SequenceNumber from
// the batch Metadata. Missing keys leave the defaults; malformed ones are
// reported through warn and otherwise ignored. Arrays shorter or longer than
// the batch fill what they can.
func decodeBatchMetadata(inv *Invocation, meta map[string]json.RawMessage, warn func(string, error)) {
	if raw, ok := lookup(meta, "PartitionContext"); ok {
		if obj, err := unwrap(raw, '{'); err != nil {
			warn("PartitionContext", err)
		} else {
			var pc struct{ PartitionId json.RawMessage }
			if err := json.Unmarshal(obj, &pc); err != nil {
				warn("PartitionContext", err)
			} else if id, err := scalarString(pc.PartitionId); err != nil {
				warn("PartitionContext.PartitionId", err)
			} else {
				inv.Partition = id
			}
		}
	}
	if len(inv.Messages) == 0 {
		// Nothing to fill (an empty batch, or one handed over in place,
		// whose Messages Bodies decodes later, metadata arrays included).
		return
	}
	if raw, ok := lookup(meta, "SequenceNumberArray"); ok {
		var nums []json.Number
		if err := unmarshalArray(raw, &nums); err != nil {
			warn("SequenceNumberArray", err)
		} else {
			for i := 0; i < len(nums) && i < len(inv.Messages); i++ {
				n, err := strconv.ParseInt(nums[i].String(), 10, 64)
				if err != nil {
					warn("SequenceNumberArray", fmt.Errorf("element %d: %w", i, err))
					continue
				}
				inv.Messages[i].SequenceNumber = n
			}
		}
	}
	if raw, ok := lookup(meta, "EnqueuedTimeUtcArray"); ok {
		var times []string
		if err := unmarshalArray(raw, &times); err != nil {
			warn("EnqueuedTimeUtcArray", err)
		} else {
			for i := 0; i < len(times) && i < len(inv.Messages); i++ {
				t, err := ParseHostTime(times[i])
				if err != nil {
					warn("EnqueuedTimeUtcArray", fmt.Errorf("element %d: %w", i, err))
					continue
				}
				inv.Messages[i].EnqueuedTime = t
			}
		}
	}
}

// unmarshalArray decodes a Metadata array value: a JSON string holding a JSON
// array (the host's form), possibly encoded twice, or a bare array.
func unmarshalArray(raw json.RawMessage, v any) error {
	arr, err := unwrap(raw, '[')
	if err != nil {
		return err
	}
	return json.Unmarshal(arr, v)
}

// scalarString returns a JSON string's content or a number's text.
func scalarString(raw json.RawMessage) (string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return "", nil
	}
	if raw[0] == '"' {
		var s string
		err := json.Unmarshal(raw, &s)
		return s, err
	}
	var n json.Number
	if err := json.Unmarshal(raw, &n); err != nil {
		return "", fmt.Errorf("want a string or number, got %s", describe(raw))
	}
	return n.String(), nil
}

// ParseHostTime parses a timestamp as the host writes them in Metadata:
// without a zone ("2025-01-15T10:20:30.123", read as UTC; the host drops the
// Z of UTC times), with Z, or with an offset ("…+00:00"); with or without
// fractional seconds. The result is in UTC.
func ParseHostTime(s string) (time.Time, error) {
	if t, err := time.ParseInLocation("2006-01-02T15:04:05", s, time.UTC); err == nil {
		return t, nil // fractional seconds are accepted by Parse without a layout field
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("timestamp %q: want 2006-01-02T15:04:05[.fff][Z|±hh:mm]", s)
	}
	return t.UTC(), nil
}
