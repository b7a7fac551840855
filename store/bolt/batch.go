package bolt

// Batches: several store operations as one bbolt write transaction.

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/tripline/tripline/store"
	bbolt "go.etcd.io/bbolt"
)

// Batch runs fn with the file opened once and locked exclusively, and makes
// the operations fn calls on tx one write transaction: they see each other's
// writes, and they commit together when fn returns nil, with one pair of
// fsyncs instead of a pair per write, or not at all. Batch returns fn's
// error, or else the first error of an operation on tx other than the
// sentinels (store.ErrExists, ErrStale, ErrNotFound, which change nothing),
// or else the commit's; in each case nothing of the batch was written, and
// ETags it handed out must be dropped. If fn panics, the batch is rolled
// back and the file released, and the panic goes on.
//
// tx is valid only until fn returns; it is safe for concurrent use by fn's
// goroutines. The lock is held for the whole of fn: fn should make its store
// calls and return, not wait on the network. fn must not call the Store's
// own methods: they wait for the batch to end, as another process does, so
// from inside fn they would wait forever.
func (s *Store) Batch(ctx context.Context, fn func(tx store.Tx) error) error {
	var t *Tx
	err := s.update(ctx, func(btx *bbolt.Tx) error {
		t = &Tx{s: s, tx: btx}
		defer t.end()
		if err := callFn(fn, t); err != nil {
			return err
		}
		return t.err
	})
	if err != nil && t != nil && t.err != nil && !errors.Is(err, t.err) {
		// fn's own error explains the failure; keep the operation's in
		// the message all the same.
		return fmt.Errorf("%w (and inside the batch: %v)", err, t.err)
	}
	return err
}

// Tx is the store inside a [Store.Batch]: its methods are the Store's, with
// the same contract, on the batch's write transaction.
type Tx struct {
	s *Store
	// mu serializes the operations: a bbolt transaction is not safe for
	// concurrent use.
	mu   sync.Mutex
	tx   *bbolt.Tx
	done bool
	// err is the first failure of an operation that may have changed the
	// transaction: the batch must not commit.
	err error
}

// Get is Store.Get inside the batch.
func (t *Tx) Get(ctx context.Context, id string) (store.Item, error) {
	return t.s.getWith(ctx, t.run, id)
}

// Create is Store.Create inside the batch.
func (t *Tx) Create(ctx context.Context, id string, body []byte) (string, error) {
	return t.s.createWith(ctx, t.run, id, body)
}

// Replace is Store.Replace inside the batch.
func (t *Tx) Replace(ctx context.Context, id string, body []byte, etag string) (string, error) {
	return t.s.replaceWith(ctx, t.run, id, body, etag)
}

// Pending is Store.Pending inside the batch.
func (t *Tx) Pending(ctx context.Context, limit int) ([]store.Item, error) {
	return t.s.pendingWith(ctx, t.run, limit)
}

// end marks the batch over: later operations on t are refused.
func (t *Tx) end() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.done = true
}

// run runs fn in the batch's transaction. A panic of bbolt on a damaged
// page becomes an ErrCorrupt error, and like any other failure that is not
// a sentinel it stops the batch from committing.
func (t *Tx) run(ctx context.Context, fn func(*bbolt.Tx) error) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.done {
		return errors.New("bolt: the batch this Tx belongs to has ended")
	}
	if t.err != nil {
		return fmt.Errorf("bolt: an earlier operation of the batch failed: %w", t.err)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	err := t.s.guard(func() error { return fn(t.tx) })
	if err != nil && !errors.Is(err, store.ErrExists) && !errors.Is(err, store.ErrStale) && !errors.Is(err, store.ErrNotFound) {
		t.err = err
	}
	return err
}
