// Package memory is a document store held in process memory, with the
// semantics of package store (ETags, conditional create, replace-if-match,
// per-document ttl, Pending). It keeps nothing across restarts: it is for
// benchmarks and tests that must not measure a disk or a network.
//
// Its one type is Store; New makes one. A Store is safe for concurrent use.
package memory

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/tripline/tripline/store"
	"github.com/tripline/tripline/store/internal/doc"
)

// Options configure a Store. The zero value (and nil) is usable.
type Options struct {
	// Now is the clock ttl is measured with; nil means time.Now.
	Now func() time.Time
}

// Store is an in-memory document store.
type Store struct {
	now     func() time.Time
	mu      sync.Mutex
	docs    map[string]entry
	version uint64 // source of ETags, never reused
	closed  bool
}

type entry struct {
	body    []byte
	etag    string
	expires time.Time // zero: never
	pending bool
}

// New returns an empty Store.
func New(opts *Options) *Store {
	s := &Store{now: time.Now, docs: map[string]entry{}}
	if opts != nil && opts.Now != nil {
		s.now = opts.Now
	}
	return s
}

func (e entry) expired(now time.Time) bool { return !e.expires.IsZero() && !now.Before(e.expires) }

func (s *Store) live(id string, now time.Time) (entry, bool) {
	e, ok := s.docs[id]
	if ok && e.expired(now) {
		delete(s.docs, id)
		return entry{}, false
	}
	return e, ok
}

func (s *Store) check(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if s.closed {
		return fmt.Errorf("memory store: closed")
	}
	return nil
}

func (s *Store) newEntry(body []byte, f doc.Fields, now time.Time) entry {
	s.version++
	e := entry{body: bytes.Clone(body), etag: `"` + strconv.FormatUint(s.version, 10) + `"`, pending: f.Pending}
	if f.TTL > 0 {
		e.expires = now.Add(time.Duration(f.TTL) * time.Second)
	}
	return e
}

// Get returns the document id, or an error wrapping store.ErrNotFound.
func (s *Store) Get(ctx context.Context, id string) (store.Item, error) {
	if err := doc.CheckID(id); err != nil {
		return store.Item{}, fmt.Errorf("get %q: %w", id, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.check(ctx); err != nil {
		return store.Item{}, err
	}
	e, ok := s.live(id, s.now())
	if !ok {
		return store.Item{}, fmt.Errorf("get %q: %w", id, store.ErrNotFound)
	}
	return store.Item{ID: id, Body: bytes.Clone(e.body), ETag: e.etag}, nil
}

// Create stores a new document, or returns an error wrapping
// store.ErrExists when a live one has the id.
func (s *Store) Create(ctx context.Context, id string, body []byte) (string, error) {
	f, err := doc.Check(id, body)
	if err != nil {
		return "", fmt.Errorf("create %q: %w", id, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.check(ctx); err != nil {
		return "", err
	}
	now := s.now()
	if _, ok := s.live(id, now); ok {
		return "", fmt.Errorf("create %q: %w", id, store.ErrExists)
	}
	e := s.newEntry(body, f, now)
	s.docs[id] = e
	return e.etag, nil
}

// Replace overwrites the document when its ETag is etag; otherwise it
// returns an error wrapping store.ErrStale, or store.ErrNotFound.
func (s *Store) Replace(ctx context.Context, id string, body []byte, etag string) (string, error) {
	f, err := doc.Check(id, body)
	if err != nil {
		return "", fmt.Errorf("replace %q: %w", id, err)
	}
	if etag == "" {
		return "", fmt.Errorf("replace %q: empty ETag", id)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.check(ctx); err != nil {
		return "", err
	}
	now := s.now()
	old, ok := s.live(id, now)
	switch {
	case !ok:
		return "", fmt.Errorf("replace %q: %w", id, store.ErrNotFound)
	case old.etag != etag:
		return "", fmt.Errorf("replace %q: %w", id, store.ErrStale)
	}
	e := s.newEntry(body, f, now)
	s.docs[id] = e
	return e.etag, nil
}

// Pending returns up to limit live documents whose top-level "pending" is
// true, in no particular order.
func (s *Store) Pending(ctx context.Context, limit int) ([]store.Item, error) {
	if limit < 1 {
		return nil, fmt.Errorf("pending: limit %d is below 1", limit)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	now := s.now()
	items := []store.Item{}
	for id, e := range s.docs {
		if len(items) == limit {
			break
		}
		if e.expired(now) {
			delete(s.docs, id)
			continue
		}
		if e.pending {
			items = append(items, store.Item{ID: id, Body: bytes.Clone(e.body), ETag: e.etag})
		}
	}
	return items, nil
}

// Close releases the documents; later calls fail.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	s.docs = nil
	return nil
}
