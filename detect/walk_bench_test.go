package detect

import (
	"encoding/json"
	"testing"

	"github.com/tripline/tripline/bench/corpus"
	"github.com/tripline/tripline/detect/rules"
)

// BenchmarkWalkBatch reads a 100-event batch of the benchmark corpus as the
// host sends it (escaped twice); MB/s counts the escaped bytes.
//   - walk and vector only cut every message into records, nothing searched
//     or decoded, byte by byte and 64 bytes at a time: the ceiling of
//     EvaluateBatch, which does this and more;
//   - candidates is EvaluateBatch up to unescaping the records the
//     prefilter keeps: cutting, the literal search and the unescaping, with
//     decoding, the rules and everything after them free;
//   - floor is make bench's floor on the same bytes (a bytes.Index count of
//     the seed operation name), so that one run gives each one's share of
//     it: candidates' is the bound on what the whole hot path can reach
//     (bench/README.md, "Status").
func BenchmarkWalkBatch(b *testing.B) {
	b.Run("floor", benchFloorBatch)
	b.Run("candidates", benchCandidatesBatch)
	b.Run("walk", func(b *testing.B) { benchWalkBatch(b, (*walker).walk) })
	if vectorWalk {
		b.Run("vector", func(b *testing.B) {
			benchWalkBatch(b, func(w *walker, text []byte, start int) walkStop {
				stop, ok := w.walkVector(text, start)
				if !ok {
					b.Fatal("a message was left to walk")
				}
				return stop
			})
		})
	}
}

// hostBatch is a 100-event batch of the benchmark corpus as Data.events
// carries it, without its quotes.
func hostBatch() (*corpus.Corpus, []byte) {
	c := corpus.Generate(corpus.Options{Messages: 100})
	strs := make([]string, len(c.Bodies))
	for i, m := range c.Bodies {
		strs[i] = string(m)
	}
	inner, _ := json.Marshal(strs)
	outer, _ := json.Marshal(string(inner))
	return c, outer[1 : len(outer)-1]
}

func benchFloorBatch(b *testing.B) {
	c, text := hostBatch()
	b.SetBytes(int64(len(text)))
	for b.Loop() {
		found := corpus.CountSeedOperation(text)
		if found < c.PlantedSeed {
			b.Fatalf("found the seed operation %d times, the batch holds %d of its matches", found, c.PlantedSeed)
		}
	}
}

func benchCandidatesBatch(b *testing.B) {
	c, text := hostBatch()
	all, err := LoadRules(rules.FS)
	if err != nil {
		b.Fatal(err)
	}
	e, err := NewEngine(all, nil)
	if err != nil {
		b.Fatal(err)
	}
	e.untilDecode = true
	b.SetBytes(int64(len(text)))
	for b.Loop() {
		var res Result
		n, ok := e.EvaluateBatch(text, &res)
		if !ok || n != len(c.Bodies) || res.Records != c.Records {
			b.Fatalf("EvaluateBatch: %d messages of %d, %d records of %d, ok %v", n, len(c.Bodies), res.Records, c.Records, ok)
		}
		// A message evaluated any other way than in place decodes its
		// candidates, and the planted ones would match.
		if len(res.Matches) != 0 {
			b.Fatalf("%d matches: a message was not evaluated in place", len(res.Matches))
		}
	}
}

func benchWalkBatch(b *testing.B, walk func(w *walker, text []byte, start int) walkStop) {
	c, text := hostBatch()
	arr := walker{depth: 1}
	w := &walker{depth: 2}
	b.SetBytes(int64(len(text)))
	for b.Loop() {
		records := 0
		_, _, i, _, _ := arr.skipWS(text, 0) // past '['
		for {
			_, _, start, _, _ := arr.skipWS(text, i) // past the message's opening quote
			stop := walk(w, text, start)
			if stop.errAt >= 0 {
				b.Fatalf("walk: %s at %d", stop.reason, stop.errAt)
			}
			records += len(w.spans)
			_, _, after, _, _ := arr.skipWS(text, stop.end) // past its closing quote
			c, _, next, _, _ := arr.skipWS(text, after)
			if c != ',' {
				break
			}
			i = next
		}
		if records != c.Records {
			b.Fatalf("%d records, the batch holds %d", records, c.Records)
		}
	}
}

// BenchmarkUnquoteLevels unescapes messages of the benchmark corpus from
// the host's two escape layers, as every candidate record is before it is
// decoded. MB/s counts the escaped bytes.
func BenchmarkUnquoteLevels(b *testing.B) {
	c := corpus.Generate(corpus.Options{Messages: 20})
	var escaped [][]byte
	var size int64
	for _, m := range c.Bodies {
		once, _ := json.Marshal(string(m))
		twice, _ := json.Marshal(string(once[1 : len(once)-1]))
		escaped = append(escaped, twice[1:len(twice)-1])
		size += int64(len(twice) - 2)
	}
	b.SetBytes(size)
	var dst []byte
	for b.Loop() {
		for k, e := range escaped {
			var ok bool
			if dst, ok = unquoteLevels(dst[:0], e, 2); !ok || len(dst) != len(c.Bodies[k]) {
				b.Fatalf("message %d: ok %v, %d bytes, want %d", k, ok, len(dst), len(c.Bodies[k]))
			}
		}
	}
}
