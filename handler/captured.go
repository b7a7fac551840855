package handler

import (
	"encoding/json"
	"errors"
)

// DecodeRequest decodes a request body as the host would send it to route
// (for example a body captured with Core Tools' Trace logging), exactly as the
// server does. Metadata problems are ignored, as the server ignores them.
func DecodeRequest(route Route, body []byte) (*Invocation, error) {
	inv, _, err := decodeInvocation(&route, body)
	return inv, err
}

// IsHostRequest reports whether a JSON object looks like a host request body:
// an object with a "Data" object and a "Metadata" object. When it does, it
// returns the Data keys, which name the trigger binding ("events" for
// Tripline's Event Hubs function, "event" for Event Grid).
func IsHostRequest(body []byte) (dataKeys []string, ok bool) {
	var env struct {
		Data     map[string]json.RawMessage `json:"Data"`
		Metadata map[string]json.RawMessage `json:"Metadata"`
	}
	if err := json.Unmarshal(body, &env); err != nil || env.Data == nil || env.Metadata == nil {
		return nil, false
	}
	for k := range env.Data {
		dataKeys = append(dataKeys, k)
	}
	return dataKeys, true
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
