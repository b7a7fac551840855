package handler

import (
	"testing"

	"github.com/tripline/tripline/bench/corpus"
	"github.com/tripline/tripline/internal/hostsim"
)

// corpusRequest is the host's request body for an ActivityLogEvents
// invocation carrying the first messages bodies of the benchmark corpus,
// and those bodies.
func corpusRequest(tb testing.TB, messages int) (req []byte, bodies [][]byte) {
	tb.Helper()
	c := corpus.Generate(corpus.Options{Messages: messages})
	req, err := hostsim.EncodeEventHubBatch("..", "ActivityLogEvents", c.Bodies, hostsim.BatchOptions{Seed: 1})
	if err != nil {
		tb.Fatal(err)
	}
	return req, c.Bodies
}

func benchDecode(b *testing.B, decode func(*Route, []byte) (*Invocation, []metaWarning, error)) {
	req, bodies := corpusRequest(b, 100)
	b.SetBytes(int64(len(req)))
	b.ReportAllocs()
	r := Route{Function: "ActivityLogEvents", Trigger: EventHubBatch, Binding: "events", DataType: DataTypeString}
	for b.Loop() {
		inv, _, err := decode(&r, req)
		if err != nil || len(inv.Messages) != len(bodies) {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeEventHubBatch decodes a host request of 100 Event Hubs
// bodies (about 8 MB) the way the server does.
func BenchmarkDecodeEventHubBatch(b *testing.B) { benchDecode(b, decodeInvocation) }
