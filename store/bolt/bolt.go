// Package bolt is Tripline's embedded document store: one local bbolt file
// with the semantics of store/cosmos (see package store for the contract).
// It is the default when no Cosmos DB endpoint is configured, e.g. for
// `tripline scan`.
//
// There are two types: [Store], made by [Open], and [Tx], the store inside a
// [Store.Batch]. Several processes may use the same file at once (two `scan`
// runs, say): the store opens the file for each operation, or each Batch,
// and closes it before returning, so it holds bbolt's file lock (flock) only
// for that long: shared for Get and Pending, exclusive for Create, Replace
// and Batch. bbolt waits for a lock held by another process, polling, for
// [Options.LockTimeout] (bbolt.Options.Timeout); then the error matches
// [ErrBusy] and names the file. Within a process, a Store queues its
// goroutines on a read-write mutex before they take the file lock.
//
// ETags are decimal versions from one counter per file, so they increase
// with every write and are never reused, not even after a document expires
// and its id is created again. (An ETag handed out inside a Batch that
// failed was never written; its number may come again.)
//
// [Store.Batch] makes several operations one unit: the file is opened and
// locked exclusively once, and the writes commit together, with one pair of
// fsyncs, or not at all. Tripline's pipeline records each invocation's
// alerts in one Batch.
//
// A damaged file (truncated, overwritten, not a bbolt file) makes bbolt
// return an error or panic; every operation turns both into an error
// matching [ErrCorrupt] that names the file and says to move it aside, and
// releases the file before returning. A panic of the function given to
// Batch rolls the batch back and releases the file, then goes on.
//
// Caveats: every operation outside a Batch pays for opening and mapping the
// file, and every write for two fsyncs (a few milliseconds on most disks):
// it is built for a CLI and tests, not for thousands of writes a second.
// Expired documents are invisible at once and removed lazily, a bounded
// number per write. The file lock is advisory (flock); tools that ignore it
// can corrupt the file. bbolt polls for a held lock every 50 ms, so a
// process writing without pause can keep another waiting, up to its
// LockTimeout; a context's cancellation does not end that wait early, its
// deadline does. After bbolt panicked on a damaged file, the file's memory
// map stays mapped until the process ends (bbolt's state is then unknown,
// so the store only closes the file).
package bolt

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/tripline/tripline/store"
	"github.com/tripline/tripline/store/internal/doc"
)

// DefaultLockTimeout is how long an operation waits for another process to
// release the state file when Options.LockTimeout is zero.
const DefaultLockTimeout = 10 * time.Second

// purgePerWrite bounds how many expired documents one write removes.
const purgePerWrite = 64

// ErrBusy matches (errors.Is) the error returned when another process held
// the state file's lock for longer than the lock timeout. Its message names
// the file: "state file <path> is busy: ...".
var ErrBusy = errors.New("state file is busy")

// ErrCorrupt matches (errors.Is) the error every operation, and Open,
// returns when the state file is not a readable bbolt database: truncated,
// with damaged pages, not a bbolt file, or a directory. Its message is one
// line that names the file and says to move it aside: "state file <path> is
// damaged (<what bbolt said>): move it aside ...". No retry changes it.
var ErrCorrupt = errors.New("state file is damaged")

// Options configures Open. A nil *Options means all defaults.
type Options struct {
	// LockTimeout bounds the wait for the file lock held by another
	// process. Zero means DefaultLockTimeout. The context's deadline, when
	// sooner, bounds it too.
	LockTimeout time.Duration
	// Now is the clock used for ttl expiry. Nil means time.Now. Tests
	// inject a fake clock here.
	Now func() time.Time
}

// Store is a document store in one bbolt file. Its methods are safe for
// concurrent use by goroutines and by other processes using the same file.
type Store struct {
	path        string
	lockTimeout time.Duration
	now         func() time.Time

	// mu serializes this process's access: readers share, writers exclude,
	// mirroring the file lock so goroutines queue here instead of polling
	// the file lock.
	mu     sync.RWMutex
	closed bool
}

var (
	bucketItems   = []byte("items")   // id -> record
	bucketPending = []byte("pending") // id -> empty, for items whose body has "pending": true
	bucketExpiry  = []byte("expiry")  // expires (8 bytes, big endian unix nanoseconds) + id -> empty
)

// Open prepares the store at path, creating missing parent directories
// (0700) and the file (0600), and checks that the file is a usable bbolt
// database. It does not keep the file open. opts may be nil.
func Open(path string, opts *Options) (*Store, error) {
	if path == "" {
		return nil, errors.New("bolt: empty state file path")
	}
	s := &Store{path: path, lockTimeout: DefaultLockTimeout, now: time.Now}
	if opts != nil {
		if opts.LockTimeout > 0 {
			s.lockTimeout = opts.LockTimeout
		}
		if opts.Now != nil {
			s.now = opts.Now
		}
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("state file %s: create directory: %w", path, err)
	}
	err := s.update(context.Background(), func(tx *bbolt.Tx) error {
		for _, b := range [][]byte{bucketItems, bucketPending, bucketExpiry} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return s, nil
}

// Path returns the state file's path.
func (s *Store) Path() string { return s.path }

// Get returns the document with the given id. It returns an error matching
// store.ErrNotFound when there is none or it has expired.
func (s *Store) Get(ctx context.Context, id string) (store.Item, error) {
	return s.getWith(ctx, s.view, id)
}

// Create stores body under id if no live document has that id, and returns
// its ETag. It returns an error matching store.ErrExists when one does.
func (s *Store) Create(ctx context.Context, id string, body []byte) (string, error) {
	return s.createWith(ctx, s.update, id, body)
}

// Replace stores body under id if the live document's ETag equals etag, and
// returns the new ETag. It returns an error matching store.ErrNotFound when
// there is no live document, and store.ErrStale when its ETag differs.
func (s *Store) Replace(ctx context.Context, id string, body []byte, etag string) (string, error) {
	return s.replaceWith(ctx, s.update, id, body, etag)
}

// Pending returns up to limit live documents whose top-level "pending" is
// true, in no particular order (in practice by id). It returns an empty
// slice when there are none, and an error when limit < 1.
func (s *Store) Pending(ctx context.Context, limit int) ([]store.Item, error) {
	return s.pendingWith(ctx, s.view, limit)
}

// runner runs fn in a bbolt transaction: a read (Store.view) or write
// (Store.update) transaction of its own, or a batch's (Tx.run).
type runner func(ctx context.Context, fn func(*bbolt.Tx) error) error

// The methods of Store and Tx, with the transaction left to run.

func (s *Store) getWith(ctx context.Context, run runner, id string) (store.Item, error) {
	if err := doc.CheckID(id); err != nil {
		return store.Item{}, fmt.Errorf("bolt: get: %w", err)
	}
	var it store.Item
	err := run(ctx, func(tx *bbolt.Tx) (err error) {
		it, err = s.get(tx, id)
		return err
	})
	if err != nil {
		return store.Item{}, fmt.Errorf("bolt: get %q: %w", id, err)
	}
	return it, nil
}

func (s *Store) createWith(ctx context.Context, run runner, id string, body []byte) (string, error) {
	f, err := doc.Check(id, body)
	if err != nil {
		return "", fmt.Errorf("bolt: create: %w", err)
	}
	var etag string
	err = run(ctx, func(tx *bbolt.Tx) (err error) {
		etag, err = s.create(tx, id, body, f)
		return err
	})
	if err != nil {
		return "", fmt.Errorf("bolt: create %q: %w", id, err)
	}
	return etag, nil
}

func (s *Store) replaceWith(ctx context.Context, run runner, id string, body []byte, etag string) (string, error) {
	f, err := doc.Check(id, body)
	if err != nil {
		return "", fmt.Errorf("bolt: replace: %w", err)
	}
	if etag == "" {
		return "", fmt.Errorf("bolt: replace %q: empty ETag", id)
	}
	var newETag string
	err = run(ctx, func(tx *bbolt.Tx) (err error) {
		newETag, err = s.replace(tx, id, body, f, etag)
		return err
	})
	if err != nil {
		return "", fmt.Errorf("bolt: replace %q: %w", id, err)
	}
	return newETag, nil
}

func (s *Store) pendingWith(ctx context.Context, run runner, limit int) ([]store.Item, error) {
	if limit < 1 {
		return nil, fmt.Errorf("bolt: pending: limit %d is less than 1", limit)
	}
	var items []store.Item
	err := run(ctx, func(tx *bbolt.Tx) error {
		items = s.pending(tx, limit)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("bolt: pending: %w", err)
	}
	return items, nil
}

// The operations proper, shared by Store and Tx. tx is nil when the file
// is missing (removed since Open): it reads as empty.

func (s *Store) get(tx *bbolt.Tx, id string) (store.Item, error) {
	r, ok := readRecord(tx, id)
	if !ok || r.expired(s.now()) {
		return store.Item{}, store.ErrNotFound
	}
	return store.Item{ID: id, Body: bytes.Clone(r.body), ETag: formatETag(r.version)}, nil
}

func (s *Store) create(tx *bbolt.Tx, id string, body []byte, f doc.Fields) (string, error) {
	now := s.now()
	old, ok := readRecord(tx, id)
	if ok && !old.expired(now) {
		return "", store.ErrExists
	}
	version, err := write(tx, id, body, f, now, old, ok)
	return formatETag(version), err
}

func (s *Store) replace(tx *bbolt.Tx, id string, body []byte, f doc.Fields, etag string) (string, error) {
	now := s.now()
	old, ok := readRecord(tx, id)
	if !ok || old.expired(now) {
		return "", store.ErrNotFound
	}
	if formatETag(old.version) != etag {
		return "", store.ErrStale
	}
	version, err := write(tx, id, body, f, now, old, ok)
	return formatETag(version), err
}

func (s *Store) pending(tx *bbolt.Tx, limit int) []store.Item {
	items := []store.Item{}
	if tx == nil {
		return items
	}
	b := tx.Bucket(bucketPending)
	if b == nil {
		return items
	}
	now := s.now()
	c := b.Cursor()
	for k, _ := c.First(); k != nil && len(items) < limit; k, _ = c.Next() {
		r, ok := readRecord(tx, string(k))
		if !ok || r.expired(now) {
			continue
		}
		items = append(items, store.Item{ID: string(k), Body: bytes.Clone(r.body), ETag: formatETag(r.version)})
	}
	return items
}

// Close marks the store closed; later calls fail. The file is not held open
// between operations, so there is nothing else to release. Close is
// idempotent and waits for operations in progress.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	return nil
}

// formatETag formats a version as an ETag.
func formatETag(v uint64) string { return strconv.FormatUint(v, 10) }

// record is the stored form of a document: version (8 bytes, big endian),
// expiry (8 bytes, big endian unix nanoseconds; 0 for never), then the body.
type record struct {
	version uint64
	expires int64
	body    []byte // valid only during the transaction
}

const headerSize = 16

func (r record) expired(now time.Time) bool {
	return r.expires != 0 && now.UnixNano() >= r.expires
}

func readRecord(tx *bbolt.Tx, id string) (record, bool) {
	if tx == nil {
		return record{}, false
	}
	b := tx.Bucket(bucketItems)
	if b == nil {
		return record{}, false
	}
	v := b.Get([]byte(id))
	if len(v) < headerSize {
		return record{}, false
	}
	return record{
		version: binary.BigEndian.Uint64(v[0:8]),
		expires: int64(binary.BigEndian.Uint64(v[8:16])),
		body:    v[headerSize:],
	}, true
}

func expiryKey(expires int64, id string) []byte {
	k := make([]byte, 8, 8+len(id))
	binary.BigEndian.PutUint64(k, uint64(expires))
	return append(k, id...)
}

// write stores body as the next version of id, keeping the pending and
// expiry indexes in step, then purges a few expired documents. old/hadOld
// describe the record being overwritten, if any.
func write(tx *bbolt.Tx, id string, body []byte, f doc.Fields, now time.Time, old record, hadOld bool) (uint64, error) {
	// The buckets exist unless the file was removed and recreated since Open.
	var bs [3]*bbolt.Bucket
	for i, name := range [][]byte{bucketItems, bucketPending, bucketExpiry} {
		b, err := tx.CreateBucketIfNotExists(name)
		if err != nil {
			return 0, err
		}
		bs[i] = b
	}
	items, pending, expiry := bs[0], bs[1], bs[2]
	if hadOld && old.expires != 0 {
		if err := expiry.Delete(expiryKey(old.expires, id)); err != nil {
			return 0, err
		}
	}
	version, err := items.NextSequence()
	if err != nil {
		return 0, err
	}
	var expires int64
	if f.TTL > 0 {
		expires = now.Add(time.Duration(f.TTL) * time.Second).UnixNano()
	}
	v := make([]byte, headerSize, headerSize+len(body))
	binary.BigEndian.PutUint64(v[0:8], version)
	binary.BigEndian.PutUint64(v[8:16], uint64(expires))
	v = append(v, body...)
	if err := items.Put([]byte(id), v); err != nil {
		return 0, err
	}
	if f.Pending {
		err = pending.Put([]byte(id), nil)
	} else {
		err = pending.Delete([]byte(id))
	}
	if err != nil {
		return 0, err
	}
	if expires != 0 {
		if err := expiry.Put(expiryKey(expires, id), nil); err != nil {
			return 0, err
		}
	}
	return version, purge(items, pending, expiry, now, id)
}

// purge deletes up to purgePerWrite expired documents other than keep.
func purge(items, pending, expiry *bbolt.Bucket, now time.Time, keep string) error {
	var keys [][]byte
	c := expiry.Cursor()
	for k, _ := c.First(); k != nil && len(keys) < purgePerWrite; k, _ = c.Next() {
		if len(k) < 8 || int64(binary.BigEndian.Uint64(k[:8])) > now.UnixNano() {
			break
		}
		keys = append(keys, bytes.Clone(k))
	}
	for _, k := range keys {
		id := k[8:]
		if string(id) != keep {
			if err := items.Delete(id); err != nil {
				return err
			}
			if err := pending.Delete(id); err != nil {
				return err
			}
		}
		if err := expiry.Delete(k); err != nil {
			return err
		}
	}
	return nil
}
