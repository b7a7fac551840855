package handler

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"math/bits"
	"unicode/utf8"

	jsonv2 "github.com/go-json-experiment/json"
	jsonv1 "github.com/go-json-experiment/json/v1"

	"github.com/tripline/tripline/internal/jsonscan"
)

// This file is the fast path for the request Tripline receives most: an
// Event Hubs batch with dataType string, whose Data.<binding> is a JSON
// string holding a JSON array of JSON strings, one per body (the message
// bodies are therefore escaped twice; functions-host-protocol.md §0, §2).
//
// Instead of decoding the envelope into maps, unquoting Data.<binding> into
// a string, converting it to bytes and unmarshalling that into []string (one
// allocation and copy per layer and per element), it walks the request body
// once and writes each body, with both escape layers removed in the same
// pass, into one buffer shared by the invocation's messages. Plain runs of
// text are copied as runs.
//
// It accepts only the exact shape the host sends and gives up (ok false) on
// anything else (other keys, escapes in keys, \u escapes in the outer
// layers, invalid UTF-8, null elements...): decodeInvocation then takes the
// general path, so the result is always what the general path gives.

// decodeEventHubFast decodes an EventHubBatch request of a DataTypeString
// route, or reports ok false.
func decodeEventHubFast(r *Route, body []byte) (inv *Invocation, warns []metaWarning, ok bool) {
	return decodeEventHubFastInto(r, body, nil)
}

// decodeEventHubFastInto is decodeEventHubFast writing the bodies into dst
// when it is large enough (the server passes a pooled buffer); the bodies
// then alias dst.
func decodeEventHubFastInto(r *Route, body, dst []byte) (inv *Invocation, warns []metaWarning, ok bool) {
	i := skipWS(body, 0)
	if i >= len(body) || body[i] != '{' {
		return nil, nil, false
	}
	i = skipWS(body, i+1)
	var bodies [][]byte // from Data.<binding>
	var encoded []byte  // Data.<binding> still escaped (Route.InPlace)
	seenData := false
	var meta []byte // Metadata's JSON object
	for {
		if i >= len(body) || body[i] != '"' {
			return nil, nil, false
		}
		key, end, plain := plainString(body, i)
		if !plain {
			return nil, nil, false
		}
		i = skipWS(body, end)
		if i >= len(body) || body[i] != ':' {
			return nil, nil, false
		}
		i = skipWS(body, i+1)
		switch {
		case string(key) == "Data" && !seenData:
			seenData = true
			if r.InPlace {
				if text, next, ok := dataText(body, i, r.Binding, meta != nil); ok {
					encoded, i = text, next
					break
				}
			}
			if bodies, i, ok = dataBodies(body, i, r.Binding, dst); !ok {
				return nil, nil, false
			}
		case string(key) == "Metadata" && meta == nil:
			end := jsonscan.ContainerEnd(body, i)
			if end < 0 || body[i] != '{' {
				return nil, nil, false
			}
			meta, i = body[i:end], end
		default:
			return nil, nil, false
		}
		i = skipWS(body, i)
		if i >= len(body) {
			return nil, nil, false
		}
		if body[i] == '}' {
			break
		}
		if body[i] != ',' {
			return nil, nil, false
		}
		i = skipWS(body, i+1)
	}
	if !seenData || skipWS(body, i+1) != len(body) {
		return nil, nil, false
	}
	var metadata map[string]json.RawMessage
	if meta != nil {
		// go-json-experiment/json as encoding/json (v1 options), in a
		// third of its time: the Metadata of 100 events is about 30 KB.
		if err := jsonv2.Unmarshal(meta, &metadata, jsonv1.DefaultOptionsV1()); err != nil {
			return nil, nil, false
		}
	}

	inv = &Invocation{Function: r.Function, Trigger: r.Trigger}
	warn := func(key string, err error) { warns = append(warns, metaWarning{key, err}) }
	if raw, ok := lookup(metadata, "RetryContext"); ok {
		rc, err := decodeRetryContext(raw)
		if err != nil {
			warn("RetryContext", err)
		} else {
			inv.RetryCount, inv.MaxRetryCount = rc.count, rc.max
		}
	}
	if encoded != nil {
		inv.encoded = encoded
		whole := *r
		whole.InPlace = false
		inv.decode = func() (*Invocation, error) {
			full, _, err := decodeInvocation(&whole, body)
			return full, err
		}
		// The Metadata arrays fill Messages, which Bodies decodes later;
		// the rest (partition, warnings) is read now.
	} else {
		inv.Messages = make([]Message, len(bodies))
		for k, b := range bodies {
			inv.Messages[k] = Message{Body: b, SequenceNumber: -1}
		}
	}
	decodeBatchMetadata(inv, metadata, warn)
	return inv, warns, true
}

// dataString reads the start of the Data object at body[i], which must hold
// exactly the binding's key with a JSON string value, and returns the
// offset of that string's opening quote.
func dataString(body []byte, i int, binding string) (int, bool) {
	if i >= len(body) || body[i] != '{' {
		return 0, false
	}
	i = skipWS(body, i+1)
	if i >= len(body) || body[i] != '"' {
		return 0, false
	}
	key, end, plain := plainString(body, i)
	if !plain || string(key) != binding {
		return 0, false
	}
	i = skipWS(body, end)
	if i >= len(body) || body[i] != ':' {
		return 0, false
	}
	i = skipWS(body, i+1)
	if i >= len(body) || body[i] != '"' {
		return 0, false
	}
	return i, true
}

// dataText reads the Data object at body[i], which must hold exactly the
// binding's key with a JSON string value, and returns that string's content
// still escaped, and the offset after the object. last says that Data is
// the envelope's last member (Metadata came before it).
//
// It presumes that the string ends at a `]"` (an array's end, then a quote
// with no backslash before it, which no string content can hold): the one
// before the envelope's end when Data is last, the one before
// `},"Metadata":` otherwise (the host writes compact JSON), or else the
// first one. The first two are found from the end of the body, so the
// batch (most of the body) is not read twice; reading it is the caller's
// job. Whoever reads the text must check that it is one JSON array of JSON
// strings with no unescaped quote in it (detect.Engine.EvaluateBatch
// does), which proves the presumption; when it does not hold (a Metadata
// holding `},"Metadata":` in an object of its own), the caller decodes the
// request in full (Invocation.Bodies).
func dataText(body []byte, i int, binding string, last bool) (text []byte, next int, ok bool) {
	if i, ok = dataString(body, i, binding); !ok {
		return nil, 0, false
	}
	start := i + 1
	quote := -1
	if last {
		// body ends with `]"}}`, give or take whitespace.
		j, braces := len(body)-1, 0
		for ; braces < 2; braces++ {
			if j = skipWSBack(body, j); j < start || body[j] != '}' {
				break
			}
			j--
		}
		if j = skipWSBack(body, j); braces == 2 && j > start && body[j] == '"' {
			quote = j
		}
	} else if p := bytes.LastIndex(body[start:], []byte(`]"},"Metadata":`)); p >= 0 {
		quote = start + p + 1
	}
	if quote <= start || body[quote-1] != ']' {
		q := bytes.Index(body[start:], []byte(`]"`))
		if q < 0 {
			return nil, 0, false
		}
		quote = start + q + 1
	}
	i = skipWS(body, quote+1)
	if i >= len(body) || body[i] != '}' {
		return nil, 0, false
	}
	return body[start:quote], i + 1, true
}

// skipWSBack returns the offset of the last byte at or before b[i] that is
// not whitespace, or -1.
func skipWSBack(b []byte, i int) int {
	for i >= 0 && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i--
	}
	return i
}

// dataBodies reads the Data object at body[i], which must hold exactly the
// binding's key with a JSON string value, and returns the bodies that string
// holds and the offset after the object.
func dataBodies(body []byte, i int, binding string, dst []byte) ([][]byte, int, bool) {
	i, ok := dataString(body, i, binding)
	if !ok {
		return nil, 0, false
	}
	bodies, n, ok := unquoteBatch(body[i+1:], dst)
	if !ok {
		return nil, 0, false
	}
	i = skipWS(body, i+1+n+1)
	if i >= len(body) || body[i] != '}' {
		return nil, 0, false
	}
	return bodies, i + 1, true
}

func skipWS(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// plainString returns the content of the JSON string at b[i] when it has no
// escapes and no control or non-ASCII bytes.
func plainString(b []byte, i int) (content []byte, end int, plain bool) {
	for j := i + 1; j < len(b); j++ {
		switch c := b[j]; {
		case c == '"':
			return b[i+1 : j], j + 1, true
		case c == '\\' || c < 0x20 || c >= 0x80:
			return nil, 0, false
		}
	}
	return nil, 0, false
}

// plainRun returns the end of the run of bytes at b[i:] that stand for
// themselves at every string level: printable ASCII other than '"' and '\'.
func plainRun(b []byte, i int) int {
	for len(b)-i >= 8 {
		if m := jsonscan.SpecialOrNonASCII(binary.LittleEndian.Uint64(b[i:])); m != 0 {
			return i + bits.TrailingZeros64(m)>>3
		}
		i += 8
	}
	for i < len(b) {
		if c := b[i]; c == '"' || c == '\\' || c < 0x20 || c >= 0x80 {
			return i
		}
		i++
	}
	return i
}

// run appends the run of plain bytes at o.s[o.i:] (see plainRun) to buf
// and advances past it. It moves 8 bytes at a time, storing each word
// before testing it: buf's capacity is at least len(o.s) and the output never
// gets ahead of the input (len(buf) <= o.i), so the store stays inside buf
// and past its length, where the following bytes overwrite it.
func (o *outer) run(buf []byte) []byte {
	s, i, w := o.s, o.i, len(buf)
	if cap(buf) < len(s) {
		end := plainRun(s, i)
		o.i = end
		return append(buf, s[i:end]...)
	}
	out := buf[:cap(buf)]
	for len(s)-i >= 8 && len(out)-w >= 8 {
		x := binary.LittleEndian.Uint64(s[i:])
		binary.LittleEndian.PutUint64(out[w:], x)
		if m := jsonscan.SpecialOrNonASCII(x); m != 0 {
			k := bits.TrailingZeros64(m) >> 3
			o.i = i + k
			return out[:w+k]
		}
		i += 8
		w += 8
	}
	end := plainRun(s, i)
	o.i = end
	return append(out[:w], s[i:end]...)
}

// outer reads the text the outer JSON string s (without its quotes) stands
// for, one character at a time, except for runs.
type outer struct {
	s []byte
	i int
}

// next returns the next character of the unquoted text. ok is false at the end or on anything the fast path
// does not take (\u escapes, raw control characters, a raw quote).
func (o *outer) next() (c byte, ok bool) {
	if o.i >= len(o.s) {
		return 0, false
	}
	c = o.s[o.i]
	switch {
	case c == '\\':
		if o.i+1 >= len(o.s) {
			return 0, false
		}
		e, ok := jsonscan.Unescape(o.s[o.i+1])
		if !ok {
			return 0, false
		}
		c = e
		o.i += 2
		return c, true
	case c == '"' || c < 0x20:
		return 0, false
	}
	o.i++
	return c, true
}

// ws skips JSON whitespace of the unquoted text and returns the next
// character, unconsumed.
func (o *outer) ws() (byte, bool) {
	for {
		save := o.i
		c, ok := o.next()
		if !ok {
			return 0, false
		}
		if c != ' ' && c != '\t' && c != '\n' && c != '\r' {
			o.i = save
			return c, true
		}
	}
}

// unquoteBatch turns Data.<binding> (a JSON string holding a JSON array of
// JSON strings; s starts after its opening quote) into the bodies, in one
// pass, all in one buffer: dst when its capacity suffices (the bodies are
// never longer than s), else a new one. n is the offset of the closing quote
// in s.
func unquoteBatch(s, dst []byte) (bodies [][]byte, n int, ok bool) {
	o := outer{s: s}
	if c, ok := o.ws(); !ok || c != '[' {
		return nil, 0, false
	}
	o.next()
	buf := dst[:0]
	if cap(dst) < len(s) {
		// A fresh buffer is zeroed by the runtime: that is a measurable share
		// of decoding a 10 MB batch, hence the pooled dst.
		buf = make([]byte, 0, len(s))
	}
	c, ok := o.ws()
	if !ok {
		return nil, 0, false
	}
	if c == ']' {
		o.next()
		bodies = [][]byte{}
	} else {
		for {
			if c, ok = o.next(); !ok || c != '"' {
				return nil, 0, false
			}
			start := len(buf)
			if buf, ok = o.element(buf); !ok {
				return nil, 0, false
			}
			bodies = append(bodies, buf[start:len(buf):len(buf)])
			if c, ok = o.ws(); !ok {
				return nil, 0, false
			}
			o.next()
			if c == ']' {
				break
			}
			if c != ',' {
				return nil, 0, false
			}
			if _, ok = o.ws(); !ok {
				return nil, 0, false
			}
		}
	}
	// Only whitespace may follow the array inside the string.
	for o.i < len(o.s) && o.s[o.i] != '"' {
		c, ok := o.next()
		if !ok || c != ' ' && c != '\t' && c != '\n' && c != '\r' {
			return nil, 0, false
		}
	}
	if o.i >= len(o.s) {
		return nil, 0, false
	}
	return bodies, o.i, true
}

// element appends the body of one array element to buf, its opening quote
// already read, up to and including its closing quote.
func (o *outer) element(buf []byte) ([]byte, bool) {
	for {
		buf = o.run(buf)
		if o.i >= len(o.s) {
			return nil, false
		}
		if len(o.s)-o.i >= 4 && string(o.s[o.i:o.i+4]) == `\\\\` {
			buf = append(buf, '\\') // a backslash of the body
			o.i += 4
			continue
		}
		if c := o.s[o.i]; c >= 0x80 {
			r, n := utf8.DecodeRune(o.s[o.i:])
			if r == utf8.RuneError && n <= 1 {
				return nil, false // the general path replaces it with U+FFFD
			}
			buf = append(buf, o.s[o.i:o.i+n]...)
			o.i += n
			continue
		}
		if len(o.s)-o.i >= 4 && string(o.s[o.i:o.i+4]) == `\\\"` {
			buf = append(buf, '"') // a quote of the body
			o.i += 4
			continue
		}
		c, ok := o.next()
		if !ok {
			return nil, false
		}
		switch {
		case c == '"':
			return buf, true
		case c == '\\':
			e, ok := o.next()
			if !ok {
				return nil, false
			}
			if c, ok := jsonscan.Unescape(e); ok {
				buf = append(buf, c)
				continue
			}
			switch e {
			case 'u':
				var r rune
				for k := 0; k < 4; k++ {
					h, ok := o.next()
					if !ok {
						return nil, false
					}
					v, ok := jsonscan.Hex(h)
					if !ok {
						return nil, false
					}
					r = r<<4 | v
				}
				if r >= 0xD800 && r < 0xE000 {
					return nil, false // surrogates: the general path pairs them
				}
				buf = utf8.AppendRune(buf, r)
			default:
				return nil, false
			}
		case c < 0x20:
			return nil, false
		default:
			buf = append(buf, c) // '/' written as \/ in the outer layer
		}
	}
}
