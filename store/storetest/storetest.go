// Package storetest is the conformance suite for Tripline's document stores:
// every contract in package store, run against each implementation so that
// store/cosmos and store/bolt behave the same for their callers.
//
// Use it from an implementation's tests:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t testing.TB) storetest.Store { return openFresh(t) })
//	}
//
// open must return an empty store that the test owns; Run closes it. If the
// value open returns also implements [Clock], Run checks ttl expiry by
// moving that clock; otherwise (Cosmos DB emulators do not expire) it checks
// only that the ttl is stored. No subtest is ever skipped.
package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tripline/tripline/store"
)

// Store is the method set both stores provide (consumers declare their own
// subsets).
type Store interface {
	Get(ctx context.Context, id string) (store.Item, error)
	Create(ctx context.Context, id string, body []byte) (string, error)
	Replace(ctx context.Context, id string, body []byte, etag string) (string, error)
	Pending(ctx context.Context, limit int) ([]store.Item, error)
	Close() error
}

// Clock is implemented by test fixtures whose store reads an injected
// clock: Advance moves it forward.
type Clock interface {
	Advance(d time.Duration)
}

// FakeClock is a settable clock for store fixtures: pass its Now to the
// store and embed it in the fixture, which then implements Clock.
type FakeClock struct {
	mu  sync.Mutex
	now time.Time
}

// NewFakeClock starts a clock at t.
func NewFakeClock(t time.Time) *FakeClock { return &FakeClock{now: t} }

// Now reads the clock; safe for concurrent use.
func (c *FakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward by d.
func (c *FakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// Run runs the conformance suite, one subtest per contract. Each subtest
// calls open for a store of its own.
func Run(t *testing.T, open func(t testing.TB) Store) {
	t.Helper()
	fresh := func(t *testing.T) Store {
		s := open(t)
		t.Cleanup(func() {
			if err := s.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
		})
		return s
	}
	tests := []struct {
		name string
		fn   func(t *testing.T, s Store)
	}{
		{"CreateThenGet", testCreateThenGet},
		{"CreateExisting", testCreateExisting},
		{"GetMissing", testGetMissing},
		{"Replace", testReplace},
		{"ReplaceStale", testReplaceStale},
		{"ReplaceMissing", testReplaceMissing},
		{"InvalidInput", testInvalidInput},
		{"TTLStored", testTTLStored},
		{"Expiry", testExpiry},
		{"Pending", testPending},
		{"PendingLimit", testPendingLimit},
		{"BodyOwnership", testBodyOwnership},
		{"ConcurrentIncrements", testConcurrentIncrements},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, fresh(t)) })
	}
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

// doc builds a body: id, ttl and the extra members given as name, value
// pairs.
func doc(id string, ttl int, kv ...any) []byte {
	m := map[string]any{"id": id, "ttl": ttl}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i].(string)] = kv[i+1]
	}
	b, err := json.Marshal(m)
	if err != nil {
		panic(err) // only literal test values reach here
	}
	return b
}

// decode unmarshals a returned body, failing the test if it is not an
// object.
func decode(t *testing.T, body []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatalf("body %s is not a JSON object: %v", body, err)
	}
	return m
}

// sameJSON fails the test unless got is the JSON object want (semantically).
func sameJSON(t *testing.T, got, want []byte) {
	t.Helper()
	g, w := decode(t, got), decode(t, want)
	if !reflect.DeepEqual(g, w) {
		t.Fatalf("body = %s, want %s", got, want)
	}
}

// sentinel fails the test unless err matches want and no other sentinel.
func sentinel(t *testing.T, op string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("%s: error %v, want %v", op, err, want)
	}
	for _, other := range []error{store.ErrNotFound, store.ErrExists, store.ErrStale} {
		if other != want && errors.Is(err, other) {
			t.Fatalf("%s: error %v also matches %v", op, err, other)
		}
	}
}

func mustCreate(t *testing.T, s Store, id string, body []byte) string {
	t.Helper()
	etag, err := s.Create(ctx(t), id, body)
	if err != nil {
		t.Fatalf("Create(%q): %v", id, err)
	}
	if etag == "" {
		t.Fatalf("Create(%q) returned an empty ETag", id)
	}
	return etag
}

func mustGet(t *testing.T, s Store, id string) store.Item {
	t.Helper()
	it, err := s.Get(ctx(t), id)
	if err != nil {
		t.Fatalf("Get(%q): %v", id, err)
	}
	return it
}

func testCreateThenGet(t *testing.T, s Store) {
	body := doc("a1", 3600, "rule", "r1", "count", 3, "nested", map[string]any{"k": []any{"x", 1.5, true, nil}})
	etag := mustCreate(t, s, "a1", body)
	it := mustGet(t, s, "a1")
	if it.ID != "a1" || it.ETag != etag {
		t.Fatalf("Get = {ID:%q ETag:%q}, want {ID:%q ETag:%q}", it.ID, it.ETag, "a1", etag)
	}
	sameJSON(t, it.Body, body)
}

func testCreateExisting(t *testing.T, s Store) {
	first := doc("a1", 3600, "n", 1)
	etag := mustCreate(t, s, "a1", first)
	_, err := s.Create(ctx(t), "a1", doc("a1", 3600, "n", 2))
	sentinel(t, "second Create", err, store.ErrExists)
	it := mustGet(t, s, "a1")
	if it.ETag != etag {
		t.Fatalf("ETag after failed Create = %q, want %q", it.ETag, etag)
	}
	sameJSON(t, it.Body, first)
}

func testGetMissing(t *testing.T, s Store) {
	_, err := s.Get(ctx(t), "nope")
	sentinel(t, "Get", err, store.ErrNotFound)
	if !strings.Contains(err.Error(), `"nope"`) {
		t.Fatalf("error %q does not name the id", err)
	}
}

func testReplace(t *testing.T, s Store) {
	etag1 := mustCreate(t, s, "a1", doc("a1", 3600, "n", 1))
	next := doc("a1", 3600, "n", 2, "added", "yes")
	etag2, err := s.Replace(ctx(t), "a1", next, etag1)
	if err != nil {
		t.Fatalf("Replace: %v", err)
	}
	if etag2 == "" || etag2 == etag1 {
		t.Fatalf("Replace ETag = %q, want new and different from %q", etag2, etag1)
	}
	it := mustGet(t, s, "a1")
	if it.ETag != etag2 {
		t.Fatalf("Get ETag = %q, want %q", it.ETag, etag2)
	}
	sameJSON(t, it.Body, next)
	// The new ETag works for the next replace.
	etag3, err := s.Replace(ctx(t), "a1", doc("a1", 3600, "n", 3), etag2)
	if err != nil {
		t.Fatalf("second Replace: %v", err)
	}
	if etag3 == etag1 || etag3 == etag2 {
		t.Fatalf("third ETag %q repeats an earlier one (%q, %q)", etag3, etag1, etag2)
	}
}

func testReplaceStale(t *testing.T, s Store) {
	etag1 := mustCreate(t, s, "a1", doc("a1", 3600, "n", 1))
	current := doc("a1", 3600, "n", 2)
	etag2, err := s.Replace(ctx(t), "a1", current, etag1)
	if err != nil {
		t.Fatalf("Replace: %v", err)
	}
	_, err = s.Replace(ctx(t), "a1", doc("a1", 3600, "n", 99), etag1)
	sentinel(t, "Replace with old ETag", err, store.ErrStale)
	_, err = s.Replace(ctx(t), "a1", doc("a1", 3600, "n", 99), "not-an-etag")
	sentinel(t, "Replace with made-up ETag", err, store.ErrStale)
	it := mustGet(t, s, "a1")
	if it.ETag != etag2 {
		t.Fatalf("ETag after stale Replace = %q, want %q", it.ETag, etag2)
	}
	sameJSON(t, it.Body, current)
}

func testReplaceMissing(t *testing.T, s Store) {
	etag := mustCreate(t, s, "other", doc("other", 3600))
	_, err := s.Replace(ctx(t), "a1", doc("a1", 3600), etag)
	sentinel(t, "Replace", err, store.ErrNotFound)
	_, err = s.Get(ctx(t), "a1")
	sentinel(t, "Get after failed Replace", err, store.ErrNotFound)
}

func testInvalidInput(t *testing.T, s Store) {
	etag := mustCreate(t, s, "ok", doc("ok", 3600))
	long := strings.Repeat("x", 1024)
	cases := []struct {
		name string
		id   string
		body []byte
	}{
		{"empty id", "", []byte(`{"id":"","ttl":60}`)},
		{"id with slash", "a/b", []byte(`{"id":"a/b","ttl":60}`)},
		{"id with backslash", `a\b`, []byte(`{"id":"a\\b","ttl":60}`)},
		{"id with question mark", "a?b", []byte(`{"id":"a?b","ttl":60}`)},
		{"id with hash", "a#b", []byte(`{"id":"a#b","ttl":60}`)},
		{"id too long", long, []byte(`{"id":"` + long + `","ttl":60}`)},
		{"not JSON", "x", []byte(`{"id":"x",`)},
		{"array", "x", []byte(`[{"id":"x","ttl":60}]`)},
		{"null", "x", []byte(`null`)},
		{"empty body", "x", nil},
		{"missing id", "x", []byte(`{"ttl":60}`)},
		{"numeric id", "1", []byte(`{"id":1,"ttl":60}`)},
		{"other id", "x", []byte(`{"id":"y","ttl":60}`)},
		{"missing ttl", "x", []byte(`{"id":"x"}`)},
		{"zero ttl", "x", []byte(`{"id":"x","ttl":0}`)},
		{"ttl below -1", "x", []byte(`{"id":"x","ttl":-2}`)},
		{"fractional ttl", "x", []byte(`{"id":"x","ttl":1.5}`)},
		{"string ttl", "x", []byte(`{"id":"x","ttl":"60"}`)},
		{"ttl over int32", "x", []byte(`{"id":"x","ttl":2147483648}`)},
		{"too big", "x", []byte(`{"id":"x","ttl":60,"pad":"` + strings.Repeat("p", store.MaxBodySize) + `"}`)},
	}
	noSentinel := func(t *testing.T, op string, err error) {
		t.Helper()
		if err == nil {
			t.Fatalf("%s succeeded, want an error", op)
		}
		for _, s := range []error{store.ErrNotFound, store.ErrExists, store.ErrStale} {
			if errors.Is(err, s) {
				t.Fatalf("%s: error %v matches sentinel %v", op, err, s)
			}
		}
	}
	// A broken document rule is permanent: callers tell it by ErrInvalid.
	invalid := func(t *testing.T, op string, err error) {
		t.Helper()
		noSentinel(t, op, err)
		if !errors.Is(err, store.ErrInvalid) {
			t.Fatalf("%s: error %v does not match store.ErrInvalid", op, err)
		}
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.Create(ctx(t), tc.id, tc.body)
			invalid(t, "Create", err)
			if tc.id != "" {
				_, err = s.Replace(ctx(t), tc.id, tc.body, etag)
				invalid(t, "Replace", err)
			}
		})
	}
	t.Run("replace with empty ETag", func(t *testing.T) {
		_, err := s.Replace(ctx(t), "ok", doc("ok", 3600, "n", 1), "")
		noSentinel(t, "Replace", err)
	})
	t.Run("get with invalid id", func(t *testing.T) {
		_, err := s.Get(ctx(t), "a/b")
		invalid(t, "Get", err)
	})
	t.Run("pending with limit 0", func(t *testing.T) {
		_, err := s.Pending(ctx(t), 0)
		noSentinel(t, "Pending", err)
	})
	// Nothing above changed the valid document.
	if it := mustGet(t, s, "ok"); it.ETag != etag {
		t.Fatalf("ETag of ok = %q after invalid calls, want %q", it.ETag, etag)
	}
	// Accepted edge values.
	mustCreate(t, s, "forever", doc("forever", -1))
	mustCreate(t, s, "max-ttl", doc("max-ttl", 1<<31-1))
	mustCreate(t, s, "unicode é 雪 +=&", doc("unicode é 雪 +=&", 60))
	mustGet(t, s, "unicode é 雪 +=&")
}

func testTTLStored(t *testing.T, s Store) {
	mustCreate(t, s, "a1", doc("a1", 120))
	if got := decode(t, mustGet(t, s, "a1").Body)["ttl"]; got != float64(120) {
		t.Fatalf("ttl = %v, want 120", got)
	}
}

func testExpiry(t *testing.T, s Store) {
	clock, ok := s.(Clock)
	if !ok {
		// A Cosmos DB emulator does not expire items and its clock cannot
		// be moved: check only that each write stores its own ttl.
		t.Log("store has no movable clock: checking that ttl is stored, not that it expires")
		etag := mustCreate(t, s, "a1", doc("a1", 10))
		if _, err := s.Replace(ctx(t), "a1", doc("a1", 20), etag); err != nil {
			t.Fatalf("Replace: %v", err)
		}
		mustCreate(t, s, "never", doc("never", -1))
		for id, want := range map[string]float64{"a1": 20, "never": -1} {
			if got := decode(t, mustGet(t, s, id).Body)["ttl"]; got != want {
				t.Fatalf("ttl of %s = %v, want %v", id, got, want)
			}
		}
		return
	}
	old := mustCreate(t, s, "a1", doc("a1", 10, "pending", true))
	mustCreate(t, s, "long", doc("long", 100, "pending", true))
	mustCreate(t, s, "never", doc("never", -1, "pending", true))

	clock.Advance(9 * time.Second)
	mustGet(t, s, "a1")

	clock.Advance(time.Second) // exactly write time + ttl: gone
	_, err := s.Get(ctx(t), "a1")
	sentinel(t, "Get after ttl", err, store.ErrNotFound)
	_, err = s.Replace(ctx(t), "a1", doc("a1", 10), old)
	sentinel(t, "Replace after ttl", err, store.ErrNotFound)
	assertPendingIDs(t, s, 10, "long", "never")

	// The id can be created again, with an ETag never seen before.
	again := mustCreate(t, s, "a1", doc("a1", 10, "n", 2))
	if again == old {
		t.Fatalf("re-created document reuses ETag %q", old)
	}
	sameJSON(t, mustGet(t, s, "a1").Body, doc("a1", 10, "n", 2))

	// A write restarts the ttl.
	clock.Advance(8 * time.Second)
	etag, err := s.Replace(ctx(t), "a1", doc("a1", 10, "n", 3), again)
	if err != nil {
		t.Fatalf("Replace: %v", err)
	}
	clock.Advance(8 * time.Second) // 16 s after create, 8 s after replace
	if it := mustGet(t, s, "a1"); it.ETag != etag {
		t.Fatalf("ETag = %q, want %q", it.ETag, etag)
	}
	clock.Advance(2 * time.Second)
	_, err = s.Get(ctx(t), "a1")
	sentinel(t, "Get after renewed ttl", err, store.ErrNotFound)

	clock.Advance(1000 * time.Hour)
	mustGet(t, s, "never")
	_, err = s.Get(ctx(t), "long")
	sentinel(t, "Get long after 1000h", err, store.ErrNotFound)
	assertPendingIDs(t, s, 10, "never")
}

func assertPendingIDs(t *testing.T, s Store, limit int, want ...string) []store.Item {
	t.Helper()
	items, err := s.Pending(ctx(t), limit)
	if err != nil {
		t.Fatalf("Pending(%d): %v", limit, err)
	}
	if items == nil {
		t.Fatalf("Pending(%d) returned a nil slice, want non-nil", limit)
	}
	var got []string
	for _, it := range items {
		got = append(got, it.ID)
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("Pending(%d) ids = %q, want %q", limit, got, want)
	}
	return items
}

func testPending(t *testing.T, s Store) {
	assertPendingIDs(t, s, 10)
	mustCreate(t, s, "p1", doc("p1", 3600, "pending", true))
	mustCreate(t, s, "p2", doc("p2", 3600, "pending", true, "channels", map[string]any{"webhook": "pending"}))
	mustCreate(t, s, "sent", doc("sent", 3600, "pending", false))
	mustCreate(t, s, "none", doc("none", 3600))
	mustCreate(t, s, "string", doc("string", 3600, "pending", "true"))
	mustCreate(t, s, "one", doc("one", 3600, "pending", 1))
	mustCreate(t, s, "nested", doc("nested", 3600, "state", map[string]any{"pending": true}))
	mustCreate(t, s, "case", doc("case", 3600, "Pending", true))

	items := assertPendingIDs(t, s, 10, "p1", "p2")
	for _, it := range items {
		got := mustGet(t, s, it.ID)
		if it.ETag != got.ETag {
			t.Fatalf("Pending ETag of %s = %q, Get says %q", it.ID, it.ETag, got.ETag)
		}
		sameJSON(t, it.Body, got.Body)
	}

	// A replace that clears the flag removes the item; one that sets it adds it.
	p1 := mustGet(t, s, "p1")
	if _, err := s.Replace(ctx(t), "p1", doc("p1", 3600, "pending", false), p1.ETag); err != nil {
		t.Fatalf("Replace p1: %v", err)
	}
	sent := mustGet(t, s, "sent")
	if _, err := s.Replace(ctx(t), "sent", doc("sent", 3600, "pending", true), sent.ETag); err != nil {
		t.Fatalf("Replace sent: %v", err)
	}
	assertPendingIDs(t, s, 10, "p2", "sent")
}

func testPendingLimit(t *testing.T, s Store) {
	var all []string
	for i := range 7 {
		id := fmt.Sprintf("p%d", i)
		all = append(all, id)
		mustCreate(t, s, id, doc(id, 3600, "pending", true))
		mustCreate(t, s, "done"+id, doc("done"+id, 3600, "pending", false))
	}
	for _, limit := range []int{1, 3, 7, 100} {
		items, err := s.Pending(ctx(t), limit)
		if err != nil {
			t.Fatalf("Pending(%d): %v", limit, err)
		}
		if want := min(limit, len(all)); len(items) != want {
			t.Fatalf("Pending(%d) returned %d items, want %d", limit, len(items), want)
		}
		seen := map[string]bool{}
		for _, it := range items {
			if !slices.Contains(all, it.ID) || seen[it.ID] {
				t.Fatalf("Pending(%d) returned %q (unexpected or repeated)", limit, it.ID)
			}
			seen[it.ID] = true
		}
	}
}

func testBodyOwnership(t *testing.T, s Store) {
	body := doc("a1", 3600, "n", 1)
	want := append([]byte(nil), body...)
	mustCreate(t, s, "a1", body)
	clear(body) // the store must not keep the caller's slice
	got := mustGet(t, s, "a1")
	sameJSON(t, got.Body, want)
	clear(got.Body) // nor hand out its own
	sameJSON(t, mustGet(t, s, "a1").Body, want)
}

// testConcurrentIncrements runs goroutines that each add 1 to a counter a
// number of times by read, modify, replace-if-match, retrying on ErrStale.
// No increment may be lost or doubled.
func testConcurrentIncrements(t *testing.T, s Store) {
	const workers, perWorker = 6, 10
	mustCreate(t, s, "counter", doc("counter", 3600, "n", 0))
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	var mu sync.Mutex
	stale := 0
	for range workers {
		wg.Go(func() {
			for range perWorker {
				retries, err := Increment(ctx(t), s, "counter")
				if err != nil {
					errs <- err
					return
				}
				mu.Lock()
				stale += retries
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	var got struct{ N int }
	if err := json.Unmarshal(mustGet(t, s, "counter").Body, &got); err != nil {
		t.Fatal(err)
	}
	if got.N != workers*perWorker {
		t.Fatalf("counter = %d, want %d", got.N, workers*perWorker)
	}
	t.Logf("%d increments, %d stale retries", workers*perWorker, stale)
}

// Increment adds 1 to the numeric member "n" of the document id by read,
// modify, replace-if-match, retrying on store.ErrStale (up to 1000 times).
// It returns how many times it retried. Tests of both stores, including the
// cross-process test of store/bolt, use it.
func Increment(ctx context.Context, s interface {
	Get(ctx context.Context, id string) (store.Item, error)
	Replace(ctx context.Context, id string, body []byte, etag string) (string, error)
}, id string) (int, error) {
	for retries := 0; retries < 1000; retries++ {
		it, err := s.Get(ctx, id)
		if err != nil {
			return retries, err
		}
		var m map[string]any
		if err := json.Unmarshal(it.Body, &m); err != nil {
			return retries, err
		}
		n, _ := m["n"].(float64)
		m["n"] = n + 1
		body, err := json.Marshal(m)
		if err != nil {
			return retries, err
		}
		_, err = s.Replace(ctx, id, body, it.ETag)
		if errors.Is(err, store.ErrStale) {
			continue
		}
		return retries, err
	}
	return 1000, fmt.Errorf("increment %q: still stale after 1000 retries", id)
}
