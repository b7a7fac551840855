package bolt

import (
	"errors"
	"path/filepath"
	"testing"

	bbolt "go.etcd.io/bbolt"

	"github.com/tripline/tripline/store"
)

// TestBatchOperationFailureStopsCommit: an operation of a batch that fails
// with anything but a sentinel may have changed the transaction halfway, so
// the batch does not commit even when fn ignores the error, and later
// operations of the batch are refused.
func TestBatchOperationFailureStopsCommit(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "state.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	broken := errors.New("disk trouble")
	err = s.Batch(ctx, func(tx store.Tx) error {
		if _, err := tx.Create(ctx, "a", []byte(`{"id":"a","ttl":-1}`)); err != nil {
			return err
		}
		// A write that fails after changing the transaction.
		err := tx.(*Tx).run(ctx, func(tx *bbolt.Tx) error {
			if err := tx.Bucket(bucketItems).Put([]byte("half"), make([]byte, headerSize)); err != nil {
				return err
			}
			return broken
		})
		if !errors.Is(err, broken) {
			t.Errorf("the failing operation returned %v", err)
		}
		if _, err := tx.Create(ctx, "b", []byte(`{"id":"b","ttl":-1}`)); !errors.Is(err, broken) {
			t.Errorf("an operation after the failure: %v, want it refused naming the failure", err)
		}
		return nil // ignores the failure
	})
	if !errors.Is(err, broken) {
		t.Fatalf("Batch = %v, want the operation's failure", err)
	}
	for _, id := range []string{"a", "b", "half"} {
		if _, err := s.Get(ctx, id); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Get(%s) after the failed batch: %v, want ErrNotFound", id, err)
		}
	}
}
