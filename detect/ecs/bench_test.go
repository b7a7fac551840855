package ecs

import (
	"bytes"
	"testing"

	"github.com/tripline/tripline/bench/corpus"
	"github.com/tripline/tripline/input"
)

// corpusRecords returns records of the benchmark corpus that contain sub.
func corpusRecords(b *testing.B, sub string, n int) [][]byte {
	c := corpus.Generate(corpus.Options{Messages: 40})
	var out [][]byte
	for _, m := range c.Bodies {
		in := input.NewReader(bytes.NewReader(m))
		for {
			r, err := in.Next()
			if err != nil {
				break
			}
			if len(out) < n && bytes.Contains(r.Bytes, []byte(sub)) {
				out = append(out, bytes.Clone(r.Bytes))
			}
		}
	}
	if len(out) == 0 {
		b.Fatalf("no record holds %q", sub)
	}
	return out
}

func benchNormalize(b *testing.B, recs [][]byte) {
	var n int64
	for _, r := range recs {
		n += int64(len(r))
	}
	b.SetBytes(n / int64(len(recs)))
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, err := Normalize(recs[i%len(recs)]); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkNormalizeActivity normalizes Activity Log records of the
// benchmark corpus (about 1.2 KB each), one per op.
func BenchmarkNormalizeActivity(b *testing.B) {
	benchNormalize(b, corpusRecords(b, `"category":"Administrative"`, 64))
}

// BenchmarkNormalizeKubeAudit normalizes kube-audit-admin records (about
// 1.6 KB, the audit event as an escaped JSON string), one per op.
func BenchmarkNormalizeKubeAudit(b *testing.B) {
	benchNormalize(b, corpusRecords(b, `kube-audit-admin`, 64))
}
