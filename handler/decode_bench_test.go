package handler

import (
	"testing"

	"github.com/tripline/tripline/bench/corpus"
	"github.com/tripline/tripline/internal/hostsim"
)

func benchDecode(b *testing.B, decode func(*Route, []byte) (*Invocation, []metaWarning, error)) {
	c := corpus.Generate(corpus.Options{Messages: 100})
	req, err := hostsim.EncodeEventHubBatch("..", "ActivityLogEvents", c.Bodies, hostsim.BatchOptions{Seed: 1})
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(req)))
	b.ReportAllocs()
	r := fastRoute
	for b.Loop() {
		inv, _, err := decode(&r, req)
		if err != nil || len(inv.Messages) != len(c.Bodies) {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeEventHubBatch decodes a host request of 100 Event Hubs
// bodies (about 8 MB) the way the server does.
func BenchmarkDecodeEventHubBatch(b *testing.B) { benchDecode(b, decodeInvocation) }

// BenchmarkDecodeEventHubBatchGeneral is the general decoder, for
// comparison.
func BenchmarkDecodeEventHubBatchGeneral(b *testing.B) { benchDecode(b, decodeInvocationGeneral) }
