package bolt_test

import (
	"context"
	"errors"
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
	err = f.Batch(ctx, func(ctx context.Context) error {
		var err error
		if etagA, err = f.Create(ctx, "a", docBody("a", "1")); err != nil {
			return err
		}
		it, err := f.Get(ctx, "a")
		if err != nil || it.ETag != etagA || string(it.Body) != string(docBody("a", "1")) {
			t.Errorf("inside the batch, Get(a) = %q %q, %v; want its own write", it.ETag, it.Body, err)
		}
		if etagA, err = f.Replace(ctx, "a", docBody("a", "2"), etagA); err != nil {
			return err
		}
		if _, err := f.Replace(ctx, "before", docBody("before", "1"), "999"); !errors.Is(err, store.ErrStale) {
			t.Errorf("stale Replace inside the batch: %v, want ErrStale", err)
		}
		if _, err := f.Create(ctx, "b", docBody("b", "1")); err != nil {
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
	err = f.Batch(ctx, func(ctx context.Context) error {
		if _, err := f.Create(ctx, "new", docBody("new", "1")); err != nil {
			return err
		}
		if _, err := f.Replace(ctx, "kept", docBody("kept", "1"), etag); err != nil {
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

// TestBatchNestedAndEnded: a batch inside a batch joins it, and a context
// kept from an ended batch is refused rather than writing outside it.
func TestBatchNestedAndEnded(t *testing.T) {
	f := openFixture(t)
	ctx := t.Context()
	var kept context.Context
	err := f.Batch(ctx, func(ctx context.Context) error {
		kept = ctx
		return f.Batch(ctx, func(ctx context.Context) error {
			_, err := f.Create(ctx, "inner", docBody("inner", "1"))
			return err
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Get(ctx, "inner"); err != nil {
		t.Errorf("Get(inner) after the outer batch: %v", err)
	}
	if _, err := f.Create(kept, "late", docBody("late", "1")); err == nil {
		t.Error("Create with the context of an ended batch succeeded")
	}
	if _, err := f.Get(ctx, "late"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Get(late): %v, want ErrNotFound", err)
	}
}

// TestBatchCancelled: a cancelled context fails the operations of the batch
// and the batch writes nothing.
func TestBatchCancelled(t *testing.T) {
	f := openFixture(t)
	ctx, cancel := context.WithCancel(t.Context())
	err := f.Batch(ctx, func(ctx context.Context) error {
		if _, err := f.Create(ctx, "first", docBody("first", "1")); err != nil {
			return err
		}
		cancel()
		_, err := f.Create(ctx, "second", docBody("second", "1"))
		return err
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Batch = %v, want context.Canceled", err)
	}
	if _, err := f.Get(t.Context(), "first"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Get(first): %v, want ErrNotFound", err)
	}
}
