package detect_test

import (
	"testing"

	"github.com/tripline/tripline/bench/corpus"
	"github.com/tripline/tripline/detect"
	"github.com/tripline/tripline/detect/rules"
)

// BenchmarkEvaluate evaluates the benchmark corpus's message bodies with
// the built-in rules, as the handler does once it has decoded a batch.
func BenchmarkEvaluate(b *testing.B) {
	builtin, err := detect.LoadRules(rules.FS)
	if err != nil {
		b.Fatal(err)
	}
	e, err := detect.NewEngine(builtin, nil)
	if err != nil {
		b.Fatal(err)
	}
	c := corpus.Generate(corpus.Options{Messages: 100})
	b.SetBytes(c.Bytes)
	b.ReportAllocs()
	for b.Loop() {
		var res detect.Result
		for i, m := range c.Bodies {
			e.Evaluate(i, m, &res)
		}
		if len(res.Matches) != c.Planted {
			b.Fatalf("%d matches, want %d", len(res.Matches), c.Planted)
		}
	}
	b.ReportMetric(float64(c.Records)*float64(b.N)/b.Elapsed().Seconds(), "records/s")
}
