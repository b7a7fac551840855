package stateful_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/tripline/tripline/store/memory"
)

// BenchmarkStatefulPipeline runs batches of 1,000 Activity Log records, 1 %
// of them storage account and snapshot deletions (matching the project's
// threshold and new_terms test rules, 20 users), through the pipeline on
// the in-memory store, and reports store calls per 1,000 records. Speed
// targets live in make bench; this reports, it asserts nothing timed.
func BenchmarkStatefulPipeline(b *testing.B) {
	st := memory.New(nil)
	p := pipeline(b, st, true)
	now := time.Now().UTC()
	p.Now, p.Stateful.Now = nil, nil
	var calls, records int
	b.ReportAllocs()
	b.ResetTimer()
	for n := 0; n < b.N; n++ {
		b.StopTimer() // building the records is not the pipeline's work
		var recs []string
		for i := range 1000 {
			id := n*1000 + i
			at := now.Add(time.Duration(id) * time.Millisecond)
			switch {
			case i%200 == 0:
				recs = append(recs, rec(id, opStorageDelete, fmt.Sprintf("u%d@contoso.example", id%20), "RG", fmt.Sprintf("A%d", id%7), at))
			case i%200 == 100:
				recs = append(recs, rec(id, opSnapDelete, fmt.Sprintf("u%d@contoso.example", id%20), fmt.Sprintf("RG%d", id%3), "S", at))
			default:
				recs = append(recs, rec(id, "MICROSOFT.COMPUTE/VIRTUALMACHINES/WRITE", "w@contoso.example", "RG", "VM", at))
			}
		}
		msgs := batch(recs...)
		b.StartTimer()
		out, err := p.Process(context.Background(), msgs)
		if err != nil {
			b.Fatal(err)
		}
		calls += out.StoreCalls
		records += out.Records
	}
	b.ReportMetric(float64(calls)*1000/float64(records), "store-calls/1000rec")
	b.ReportMetric(float64(records)/b.Elapsed().Seconds(), "records/s")
}
