package bolt_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tripline/tripline/store"
	"github.com/tripline/tripline/store/bolt"
)

func docBody(id, v string) []byte {
	return []byte(`{"id":"` + id + `","ttl":-1,"v":"` + v + `"}`)
}

// TestBatchCommitsTogether: the operations of a batch see each other's
// writes, nobody else sees them before the batch ends, and all of them are
// there after it.
func TestBatchCommitsTogether(t *testing.T) {
	f := openFixture(t)
	ctx := t.Context()
	if _, err := f.Create(ctx, "before", docBody("before", "0")); err != nil {
		t.Fatal(err)
	}
	// Another Store on the same file is another process as far as the
	// file lock goes.
	other, err := bolt.Open(f.Path(), &bolt.Options{LockTimeout: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	waiting := make(chan error, 1)
	var etagA string
	err = f.Batch(ctx, func(tx store.Tx) error {
		var err error
		if etagA, err = tx.Create(ctx, "a", docBody("a", "1")); err != nil {
			return err
		}
		it, err := tx.Get(ctx, "a")
		if err != nil || it.ETag != etagA || string(it.Body) != string(docBody("a", "1")) {
			t.Errorf("inside the batch, Get(a) = %q %q, %v; want its own write", it.ETag, it.Body, err)
		}
		if etagA, err = tx.Replace(ctx, "a", docBody("a", "2"), etagA); err != nil {
			return err
		}
		if _, err := tx.Replace(ctx, "before", docBody("before", "1"), "999"); !errors.Is(err, store.ErrStale) {
			t.Errorf("stale Replace inside the batch: %v, want ErrStale", err)
		}
		if _, err := tx.Create(ctx, "b", docBody("b", "1")); err != nil {
			return err
		}
		// This process, outside the batch: it waits for the batch.
		go func() {
			_, err := f.Get(context.Background(), "b")
			waiting <- err
		}()
		// Another process: busy until the batch ends.
		if _, err := other.Get(context.Background(), "before"); !errors.Is(err, bolt.ErrBusy) {
			t.Errorf("another store on the file during the batch: %v, want ErrBusy", err)
		}
		select {
		case err := <-waiting:
			t.Errorf("a Get outside the batch returned (%v) before the batch ended", err)
			waiting <- err
		case <-time.After(20 * time.Millisecond):
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := <-waiting; err != nil {
		t.Errorf("the Get that waited for the batch: %v, want b found", err)
	}
	it, err := other.Get(ctx, "a")
	if err != nil || it.ETag != etagA || string(it.Body) != string(docBody("a", "2")) {
		t.Errorf("after the batch, Get(a) = %q %q, %v; want the batch's last write, ETag %s", it.ETag, it.Body, err, etagA)
	}
	if it, err := other.Get(ctx, "before"); err != nil || string(it.Body) != string(docBody("before", "0")) {
		t.Errorf("the document the stale Replace aimed at: %q, %v; want it unchanged", it.Body, err)
	}
}

// TestBatchRollsBack: when fn fails, nothing it wrote is kept.
func TestBatchRollsBack(t *testing.T) {
	f := openFixture(t)
	ctx := t.Context()
	etag, err := f.Create(ctx, "kept", docBody("kept", "0"))
	if err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	err = f.Batch(ctx, func(tx store.Tx) error {
		if _, err := tx.Create(ctx, "new", docBody("new", "1")); err != nil {
			return err
		}
		if _, err := tx.Replace(ctx, "kept", docBody("kept", "1"), etag); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Batch = %v, want fn's error", err)
	}
	if _, err := f.Get(ctx, "new"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Get(new) after a failed batch: %v, want ErrNotFound", err)
	}
	it, err := f.Get(ctx, "kept")
	if err != nil || it.ETag != etag || string(it.Body) != string(docBody("kept", "0")) {
		t.Errorf("Get(kept) after a failed batch = %q %q, %v; want the version before it", it.ETag, it.Body, err)
	}
	// The store is usable after it.
	if _, err := f.Replace(ctx, "kept", docBody("kept", "2"), etag); err != nil {
		t.Errorf("Replace after a failed batch: %v", err)
	}
}

// TestBatchTxEnded: a Tx kept after its batch ended is refused rather
// than writing outside the batch.
func TestBatchTxEnded(t *testing.T) {
	f := openFixture(t)
	ctx := t.Context()
	var kept store.Tx
	err := f.Batch(ctx, func(tx store.Tx) error {
		kept = tx
		_, err := tx.Create(ctx, "inner", docBody("inner", "1"))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Get(ctx, "inner"); err != nil {
		t.Errorf("Get(inner) after the batch: %v", err)
	}
	if _, err := kept.Create(ctx, "late", docBody("late", "1")); err == nil || !strings.Contains(err.Error(), "ended") {
		t.Errorf("Create on the Tx of an ended batch: %v, want it refused", err)
	}
	if _, err := f.Get(ctx, "late"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Get(late): %v, want ErrNotFound", err)
	}
}

// TestBatchPanicReleasesFile: a panic of the batch's function rolls the
// batch back, releases the file (another process can take its lock at
// once) and reaches the caller with its value.
func TestBatchPanicReleasesFile(t *testing.T) {
	f := openFixture(t)
	ctx := t.Context()
	type boom struct{}
	func() {
		defer func() {
			if r := recover(); r != (boom{}) {
				t.Errorf("recovered %v, want the function's panic", r)
			}
		}()
		f.Batch(ctx, func(tx store.Tx) error {
			if _, err := tx.Create(ctx, "a", docBody("a", "1")); err != nil {
				return err
			}
			panic(boom{})
		})
		t.Error("Batch returned after its function panicked")
	}()
	other, err := bolt.Open(f.Path(), &bolt.Options{LockTimeout: 50 * time.Millisecond})
	if err != nil {
		t.Fatalf("another store on the file after the panic: %v", err)
	}
	if _, err := other.Create(ctx, "b", docBody("b", "1")); err != nil {
		t.Errorf("a write of another store after the panic: %v, want the lock free", err)
	}
	if _, err := f.Get(ctx, "a"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Get(a) after the panicked batch: %v, want ErrNotFound", err)
	}
}

// TestBatchCancelled: a cancelled context fails the operations of the batch
// and the batch writes nothing.
func TestBatchCancelled(t *testing.T) {
	f := openFixture(t)
	ctx, cancel := context.WithCancel(t.Context())
	err := f.Batch(ctx, func(tx store.Tx) error {
		if _, err := tx.Create(ctx, "first", docBody("first", "1")); err != nil {
			return err
		}
		cancel()
		_, err := tx.Create(ctx, "second", docBody("second", "1"))
		return err
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Batch = %v, want context.Canceled", err)
	}
	if _, err := f.Get(t.Context(), "first"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Get(first): %v, want ErrNotFound", err)
	}
}
