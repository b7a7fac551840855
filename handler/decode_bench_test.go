package handler

import (
	"bytes"
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
	r := fastRoute
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

// BenchmarkDecodeEventHubBatchGeneral is the general decoder, for
// comparison.
func BenchmarkDecodeEventHubBatchGeneral(b *testing.B) { benchDecode(b, decodeInvocationGeneral) }

// BenchmarkDecodeEventHubBatchInPlace decodes the same request for an
// InPlace route, which hands the batch over still escaped: what is left is
// the envelope, the Metadata and finding where the batch ends, with Data
// before Metadata and after it.
func BenchmarkDecodeEventHubBatchInPlace(b *testing.B) {
	c := corpus.Generate(corpus.Options{Messages: 100})
	done := map[bool]bool{}
	for seed := uint64(1); len(done) < 2 && seed < 64; seed++ {
		req, err := hostsim.EncodeEventHubBatch("..", "ActivityLogEvents", c.Bodies, hostsim.BatchOptions{Seed: seed})
		if err != nil {
			b.Fatal(err)
		}
		dataFirst := bytes.HasPrefix(req, []byte(`{"Data"`))
		if done[dataFirst] {
			continue
		}
		done[dataFirst] = true
		name := "DataLast"
		if dataFirst {
			name = "DataFirst"
		}
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(req)))
			b.ReportAllocs()
			r := fastRoute
			r.InPlace = true
			for b.Loop() {
				inv, _, err := decodeInvocation(&r, req)
				if err != nil {
					b.Fatal(err)
				}
				if _, ok := inv.Encoded(); !ok {
					b.Fatal("not handed over in place")
				}
			}
		})
	}
}
