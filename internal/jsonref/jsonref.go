// Package jsonref is the independent reference of Tripline's differential
// tests and fuzz targets: it cuts messages into records with encoding/json
// alone, sharing no code with the record cutter it checks (package input).
// Tests only: it is slow, and it accepts only valid JSON.
package jsonref

import (
	"bytes"
	"encoding/json"
	"io"
)

// Record is one record as the reference cuts it.
type Record struct {
	Message, Index int
	Offset         int64
	Raw            []byte // nil: not an object
}

// Cut cuts a message with encoding/json. ok is false when msg is
// not a sequence of valid JSON values (then the engine's cutting, which
// keeps what it can of a broken message, is not compared).
func Cut(message int, msg []byte) (recs []Record, ok bool) {
	base := 0
	if bytes.HasPrefix(msg, []byte("\xef\xbb\xbf")) {
		base = 3 // the engine, like many exporters' readers, skips a BOM
	}
	dec := json.NewDecoder(bytes.NewReader(msg[base:]))
	index := 0
	add := func(raw json.RawMessage, at int64) {
		r := Record{Message: message, Index: index, Offset: int64(base) + at}
		if len(raw) > 0 && raw[0] == '{' {
			r.Raw = raw
		}
		recs = append(recs, r)
		index++
	}
	for {
		at := startOf(msg[base:], dec.InputOffset())
		var v json.RawMessage
		if err := dec.Decode(&v); err == io.EOF {
			return recs, true
		} else if err != nil {
			return nil, false
		}
		switch v[0] {
		case '[':
			elems, ok := elements(v, 0)
			if !ok {
				return nil, false
			}
			for _, e := range elems {
				if inner, ok := envelope(e.raw); ok {
					for _, r := range inner {
						add(r.raw, at+e.off+r.off)
					}
					continue
				}
				add(e.raw, at+e.off)
			}
		case '{':
			if inner, ok := envelope(v); ok {
				for _, r := range inner {
					add(r.raw, at+r.off)
				}
				continue
			}
			add(v, at)
		default:
			add(v, at)
		}
	}
}

// element is a value inside another, at off.
type element struct {
	raw json.RawMessage
	off int64
}

// elements returns the elements of the array starting at v[from].
func elements(v json.RawMessage, from int64) ([]element, bool) {
	dec := json.NewDecoder(bytes.NewReader(v[from:]))
	if t, err := dec.Token(); err != nil || t != json.Delim('[') {
		return nil, false
	}
	var out []element
	for dec.More() {
		at := from + startOf(v[from:], dec.InputOffset())
		var e json.RawMessage
		if dec.Decode(&e) != nil {
			return nil, false
		}
		out = append(out, element{e, at})
	}
	return out, true
}

// envelope reports whether v is an object whose first key is "records"
// holding an array, and returns that array's elements.
func envelope(v json.RawMessage) ([]element, bool) {
	dec := json.NewDecoder(bytes.NewReader(v))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, false
	}
	// The key as written: "rec\u006frds" is not the envelope's key for the
	// engine, which compares the raw bytes (Azure writes it plainly).
	if !bytes.HasPrefix(v[startOf(v, dec.InputOffset()):], []byte(`"records"`)) {
		return nil, false
	}
	if _, err := dec.Token(); err != nil {
		return nil, false
	}
	at := startOf(v, dec.InputOffset())
	for at < int64(len(v)) && v[at] == ':' {
		at = startOf(v, at+1)
	}
	if at >= int64(len(v)) || v[at] != '[' {
		return nil, false
	}
	return elements(v, at)
}

// startOf returns where the next value starts at or after off.
func startOf(b []byte, off int64) int64 {
	for off < int64(len(b)) && bytes.IndexByte([]byte(" \t\r\n,"), b[off]) >= 0 {
		off++
	}
	return off
}
