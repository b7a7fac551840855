package handler

import (
	"context"
	"runtime"
	"testing"
)

// TestBuffersReused: a steady stream of invocations of megabytes reuses the
// server's request buffers instead of allocating (and zeroing) the request's
// size again on each one, whichever goroutine and P serve it. What decoding
// the invocation allocates (the bodies the Func owns) is measured apart and
// not counted.
func TestBuffersReused(t *testing.T) {
	req, _ := corpusRequest(t, 40)
	srv := testServer(t, &recorder{do: func(ctx context.Context, inv *Invocation) (Result, error) {
		return Result{}, nil
	}}, Options{})
	var before, after runtime.MemStats
	const warm, measured = 2, 12
	for i := range warm + measured {
		if i == warm {
			runtime.ReadMemStats(&before)
		}
		if a := do(t, srv, "POST", "/Batch", req, nil); a.status != 200 {
			t.Fatalf("status %d: %s", a.status, a.body)
		}
	}
	runtime.ReadMemStats(&after)
	served := (after.TotalAlloc - before.TotalAlloc) / measured
	route := Route{Function: "Batch", Trigger: EventHubBatch, Binding: "events"}
	runtime.ReadMemStats(&before)
	for range measured {
		if _, _, err := decodeInvocation(&route, req); err != nil {
			t.Fatal(err)
		}
	}
	runtime.ReadMemStats(&after)
	decoding := (after.TotalAlloc - before.TotalAlloc) / measured
	perInvocation := served - min(served, decoding)
	t.Logf("request %d bytes; allocated %d bytes per invocation, %d of them decoding it", len(req), served, decoding)
	// The client's side and the decoded invocation allocate too (75-92 KB
	// here), but nothing near the request's size. With the sync.Pool the
	// server had before, it was up to 1.2 MB (three runs in four failed).
	if perInvocation > uint64(len(req))/16 {
		t.Errorf("allocated %d bytes per invocation of %d bytes: the buffers were not reused", perInvocation, len(req))
	}
}
