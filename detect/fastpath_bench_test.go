package detect_test

import (
	"bytes"
	"encoding/json"
	"runtime"
	"testing"

	"github.com/tripline/tripline/bench/corpus"
	"github.com/tripline/tripline/detect"
	"github.com/tripline/tripline/detect/rules"
)

func benchEngine(b *testing.B) *detect.Engine {
	all, err := detect.LoadRules(rules.FS)
	if err != nil {
		b.Fatal(err)
	}
	e, err := detect.NewEngine(all, nil)
	if err != nil {
		b.Fatal(err)
	}
	return e
}

// benchEvaluate runs evaluate over one 100-event batch of the benchmark
// corpus and reports MB/s, allocations and allocs/record.
func benchEvaluate(b *testing.B, c *corpus.Corpus, evaluate func(e *detect.Engine, i int, msg []byte, res *detect.Result)) {
	e := benchEngine(b)
	measureBatch(b, c, c.Bytes, func(res *detect.Result) {
		for i, m := range c.Bodies {
			evaluate(e, i, m, res)
		}
	})
}

// measureBatch times run, which evaluates c's batch once into a fresh
// Result, with size bytes per run; it reports allocations per record and
// fails unless run finds exactly the planted matches.
func measureBatch(b *testing.B, c *corpus.Corpus, size int64, run func(res *detect.Result)) {
	b.SetBytes(size)
	b.ReportAllocs()
	var matches int
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for b.Loop() {
		var res detect.Result
		run(&res)
		matches = len(res.Matches)
	}
	runtime.ReadMemStats(&after)
	b.ReportMetric(float64(after.Mallocs-before.Mallocs)/float64(b.N)/float64(c.Records), "allocs/record")
	if matches != c.Planted {
		b.Fatalf("%d matches, corpus holds %d", matches, c.Planted)
	}
	b.ReportMetric(float64(c.Records), "records/op")
}

// BenchmarkEvaluate is the hot path on a 100-event batch of the benchmark
// corpus (0.5 % matching, near misses included).
func BenchmarkEvaluate(b *testing.B) {
	c := corpus.Generate(corpus.Options{Messages: 100})
	benchEvaluate(b, c, (*detect.Engine).Evaluate)
}

// BenchmarkEvaluateNonMatching measures what a record no rule can match
// costs: it must allocate nothing (allocs/op is per 5,000 records).
func BenchmarkEvaluateNonMatching(b *testing.B) {
	c := corpus.Generate(corpus.Options{Messages: 100, MatchPerMille: -1, NoNearMisses: true})
	benchEvaluate(b, c, (*detect.Engine).Evaluate)
}

// BenchmarkEvaluateReference is the straightforward path, for comparison.
func BenchmarkEvaluateReference(b *testing.B) {
	c := corpus.Generate(corpus.Options{Messages: 10})
	benchEvaluate(b, c, (*detect.Engine).EvaluateReference)
}

// BenchmarkSplitRecords is the decoder-based splitter the fast path falls
// back to.
func BenchmarkSplitRecords(b *testing.B) {
	c := corpus.Generate(corpus.Options{Messages: 20})
	b.SetBytes(c.Bytes)
	b.ReportAllocs()
	for b.Loop() {
		for _, m := range c.Bodies {
			detect.SplitRecords(m, func(detect.RawRecord) {}, func(int, int64, string) {})
		}
	}
}

// batchText writes bodies as the Functions host hands an Event Hubs batch
// over: the content of a JSON string holding a JSON array of JSON strings.
func batchText(b *testing.B, bodies [][]byte) []byte {
	quote := func(v any) []byte {
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false) // as Newtonsoft writes
		if err := enc.Encode(v); err != nil {
			b.Fatal(err)
		}
		return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
	}
	strs := make([]string, len(bodies))
	for i, m := range bodies {
		strs[i] = string(m)
	}
	outer := quote(string(quote(strs)))
	return outer[1 : len(outer)-1]
}

// benchEvaluateBatch runs EvaluateBatch over c as one host batch.
func benchEvaluateBatch(b *testing.B, c *corpus.Corpus) {
	e := benchEngine(b)
	text := batchText(b, c.Bodies)
	measureBatch(b, c, int64(len(text)), func(res *detect.Result) {
		if n, ok := e.EvaluateBatch(text, res); !ok || n != len(c.Bodies) {
			b.Fatalf("EvaluateBatch: %d messages, ok %v", n, ok)
		}
	})
}

// BenchmarkEvaluateBatch is the hot path on a 100-event batch as the host
// sends it (escaped twice), read in place. MB/s counts the escaped bytes.
func BenchmarkEvaluateBatch(b *testing.B) {
	benchEvaluateBatch(b, corpus.Generate(corpus.Options{Messages: 100}))
}

// BenchmarkEvaluateBatchNonMatching: records no rule can match, read in
// place, must allocate nothing.
func BenchmarkEvaluateBatchNonMatching(b *testing.B) {
	benchEvaluateBatch(b, corpus.Generate(corpus.Options{Messages: 100, MatchPerMille: -1, NoNearMisses: true}))
}
