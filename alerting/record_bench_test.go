package alerting_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/tripline/tripline/store/memory"
)

// BenchmarkRecordIntoBusyGroup records one match into a group whose
// document already holds the most delivered alerts it keeps (20 closed and
// the open one, the open one with the normalized event of a realistic
// Activity Log record): the read, the change and the write that a busy
// group costs per invocation.
func BenchmarkRecordIntoBusyGroup(b *testing.B) {
	p := newPipeline(b, memory.New(nil))
	ctx := context.Background()
	day := 24 * time.Hour
	msg := func(n int) []byte {
		rec := seedRecord(fmt.Sprintf("corr-%d", n), t0.Add(time.Duration(n)*day), "p1", "arc-1")
		claims := map[string]any{}
		for k := 0; k < 20; k++ {
			claims[fmt.Sprintf("http://schemas.xmlsoap.org/ws/2005/05/identity/claims/c%d", k)] = fmt.Sprintf("value-%d-of-the-claim", k)
		}
		rec["identity"] = map[string]any{"authorization": map[string]any{"scope": rec["resourceId"], "action": seedOp}, "claims": claims}
		rec["properties"] = map[string]any{"eventCategory": "Administrative", "entity": rec["resourceId"], "message": seedOp, "hierarchy": "tenant/mg-root/3f2b9c41"}
		return body(rec)
	}
	n := 0
	for ; n < 21; n++ {
		if _, err := p.Process(ctx, [][]byte{msg(n)}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		out, err := p.Process(ctx, [][]byte{msg(n)})
		if err != nil || out.New != 1 {
			b.Fatalf("%v, %d new", err, out.New)
		}
		n++
	}
}
