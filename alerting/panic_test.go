package alerting_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/tripline/tripline/alert"
	"github.com/tripline/tripline/store/bolt"
)

// panickingNotifier panics where the pipeline calls it inside the store's
// batch (Prepare, for each new alert), as a bug would.
type panickingNotifier struct{}

func (panickingNotifier) Prepare(*alert.Alert)                         { panic("bug in Prepare") }
func (panickingNotifier) Due(*alert.Alert) bool                        { return false }
func (panickingNotifier) Attempt(context.Context, *alert.Alert) bool   { return false }
func (panickingNotifier) SendHeldBack(context.Context, alert.HeldBack) {}

// TestPanicInInvocationReleasesStateFile: an invocation that panics while
// recording (the handler recovers it and fails the invocation) leaves the
// embedded store's file unlocked and nothing of the batch written, so the
// next invocation, in this process or another, does not wait and report
// the file busy.
func TestPanicInInvocationReleasesStateFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	st, err := bolt.Open(path, &bolt.Options{LockTimeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	p := newPipeline(t, st)
	p.Notifier = panickingNotifier{}
	batch := body(seedRecord("r1", t0, "p1", "arc-1"))
	func() {
		defer func() {
			if r := recover(); r != "bug in Prepare" {
				t.Errorf("recovered %v, want the notifier's panic", r)
			}
		}()
		p.Process(context.Background(), [][]byte{batch})
		t.Error("Process returned though the notifier panicked")
	}()

	other, err := bolt.Open(path, &bolt.Options{LockTimeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatalf("another process's store after the panic: %v", err)
	}
	defer other.Close()
	out := mustProcess(t, newPipeline(t, other), batch)
	if states(out) != "new:1" {
		t.Errorf("the next invocation: %s, want the alert new (nothing of the panicked one kept)", states(out))
	}
	if _, err := st.Pending(context.Background(), 10); err != nil {
		t.Errorf("the store of the panicked invocation: %v", err)
	}
}
