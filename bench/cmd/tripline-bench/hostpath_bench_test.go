package main

import (
	"path/filepath"
	"testing"

	"github.com/tripline/tripline/bench/corpus"
)

// BenchmarkHostPath is the in-process hot path of make bench (handler
// decode, pipeline, in-memory store) on ten 100-event invocations of the
// benchmark corpus, so that a regression shows in go test -bench.
func BenchmarkHostPath(b *testing.B) {
	c := corpus.Generate(corpus.Options{Messages: 1000})
	_, host, err := writeCorpus(filepath.Join("..", "..", ".."), b.TempDir(), c)
	if err != nil {
		b.Fatal(err)
	}
	engine, err := builtinEngine()
	if err != nil {
		b.Fatal(err)
	}
	var size int64
	for _, h := range host {
		size += int64(len(h))
	}
	b.SetBytes(size)
	b.ReportAllocs()
	found := 0
	for b.Loop() {
		if found, err = triplineHostPath(engine, host); err != nil {
			b.Fatal(err)
		}
	}
	if found != c.Planted {
		b.Fatalf("found %d matches, the corpus holds %d", found, c.Planted)
	}
	b.ReportMetric(float64(c.Records)*float64(b.N)/b.Elapsed().Seconds(), "records/s")
}
