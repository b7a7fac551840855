package handler

import (
	"encoding/json"
	"errors"
	"strings"
	"unicode/utf8"

	"github.com/tripline/tripline/internal/jsonscan"
)

// DecodeRequest decodes a request body as the host would send it to route
// (for example a body captured with Core Tools' Trace logging), exactly as the
// server does. Metadata problems are ignored, as the server ignores them.
func DecodeRequest(route Route, body []byte) (*Invocation, error) {
	inv, _, err := decodeInvocation(&route, body)
	return inv, err
}

// IsHostRequest reports whether a JSON object looks like a host request body:
// an object with a "Data" object and a "Metadata" object, as encoding/json
// reads them into a struct (names matched without regard to case, a later
// null clearing an earlier object, invalid UTF-8 let through). When it does,
// it returns the Data keys, which name the trigger binding ("events" for
// Tripline's Event Hubs function, "event" for Event Grid).
//
// A captured Event Hubs request is one string of megabytes, which
// encoding/json checked whole, then read again and copied (a third of
// scanning such files). Here the body is checked once, eight bytes at a
// time (jsonscan.Valid), and the envelope is then read by its structure
// alone; TestIsHostRequestIsEncodingJSON and FuzzIsHostRequest hold the
// answers to encoding/json's.
func IsHostRequest(body []byte) (dataKeys []string, ok bool) {
	if !jsonscan.Valid(body) {
		return nil, false
	}
	i := skipSpace(body, 0)
	if body[i] != '{' {
		return nil, false // an array or a scalar; or null, which sets nothing
	}
	var data, metadata, mismatch bool
	var keys map[string]bool
	eachMember(body, i, func(name []byte, v int) int {
		key := memberName(name)
		switch {
		case strings.EqualFold(key, "Data"):
			switch body[v] {
			case '{':
				// encoding/json fills the map it has, if any.
				data = true
				if keys == nil {
					keys = map[string]bool{}
				}
				return eachMember(body, v, func(name []byte, _ int) int {
					keys[memberName(name)] = true
					return -1
				})
			case 'n':
				data, keys = false, nil
			default:
				mismatch = true
			}
		case strings.EqualFold(key, "Metadata"):
			switch body[v] {
			case '{':
				metadata = true
			case 'n':
				metadata = false
			default:
				mismatch = true
			}
		}
		return -1
	})
	if mismatch || !data || !metadata {
		return nil, false
	}
	for k := range keys {
		dataKeys = append(dataKeys, k)
	}
	return dataKeys, true
}

// eachMember calls fn with each member of the object opening at b[i], in
// order: its name (the string with its quotes) and where its value starts.
// fn returns where the value ends, or -1 to leave finding that to
// eachMember. eachMember returns the offset after the object. b must be
// valid JSON.
func eachMember(b []byte, i int, fn func(name []byte, start int) (end int)) int {
	i = skipSpace(b, i+1)
	for b[i] == '"' {
		nameEnd := jsonscan.StringEnd(b, i)
		start := skipSpace(b, skipSpace(b, nameEnd)+1) // past the colon
		end := fn(b[i:nameEnd], start)
		if end < 0 {
			end = valueEnd(b, start)
		}
		if i = skipSpace(b, end); b[i] == ',' {
			i = skipSpace(b, i+1)
		}
	}
	return i + 1 // past the closing brace
}

// valueEnd returns the offset after the value starting at b[i]; b must be
// valid JSON.
func valueEnd(b []byte, i int) int {
	switch b[i] {
	case '"':
		return jsonscan.StringEnd(b, i)
	case '{', '[':
		return jsonscan.ContainerEnd(b, i)
	}
	for i < len(b) && !strings.ContainsRune(",}] \t\r\n", rune(b[i])) {
		i++
	}
	return i
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\r' || b[i] == '\n') {
		i++
	}
	return i
}

// memberName unquotes a member name as encoding/json does, invalid UTF-8
// becoming U+FFFD.
func memberName(quoted []byte) string {
	plain := true
	for _, c := range quoted {
		if c == '\\' || c >= utf8.RuneSelf {
			plain = false
			break
		}
	}
	if plain {
		return string(quoted[1 : len(quoted)-1])
	}
	var s string
	_ = json.Unmarshal(quoted, &s) // valid: the body was checked
	return s
}

// ErrNotHostRequest is returned by DecodeCaptured for a body that is not a
// host request.
var ErrNotHostRequest = errors.New("not a Functions host request body")

// DecodeCaptured decodes a captured host request without knowing its route:
// Data.events is taken as an Event Hubs batch (dataType string, binary
// bodies are not told apart from text ones), Data.event as an Event Grid
// event.
func DecodeCaptured(body []byte) (*Invocation, error) {
	keys, ok := IsHostRequest(body)
	if !ok {
		return nil, ErrNotHostRequest
	}
	for _, k := range keys {
		switch k {
		case "events":
			return DecodeRequest(Route{Function: "captured", Trigger: EventHubBatch, Binding: k}, body)
		case "event":
			return DecodeRequest(Route{Function: "captured", Trigger: EventGrid, Binding: k}, body)
		}
	}
	return nil, errors.New(`host request has neither Data.events (Event Hubs) nor Data.event (Event Grid)`)
}
