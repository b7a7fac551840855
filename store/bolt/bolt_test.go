package bolt_test

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/tripline/tripline/store/bolt"
	"github.com/tripline/tripline/store/storetest"
)

// fixture is a store with its clock.
type fixture struct {
	*bolt.Store
	*storetest.FakeClock
}

func openFixture(t testing.TB) fixture {
	t.Helper()
	clock := storetest.NewFakeClock(time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC))
	s, err := bolt.Open(filepath.Join(t.TempDir(), "state", "state.db"), &bolt.Options{Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	return fixture{s, clock}
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t testing.TB) storetest.Store { return openFixture(t) })
}

// TestPurge: expired documents leave the file, a bounded number per write.
func TestPurge(t *testing.T) {
	f := openFixture(t)
	ctx := t.Context()
	for i := range 100 {
		id := fmt.Sprintf("old%03d", i)
		if _, err := f.Create(ctx, id, fmt.Appendf(nil, `{"id":%q,"ttl":10,"pending":true}`, id)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := f.Create(ctx, "keep", []byte(`{"id":"keep","ttl":-1,"pending":true}`)); err != nil {
		t.Fatal(err)
	}
	f.Advance(time.Hour)
	counts := func() [3]int {
		t.Helper()
		db, err := bbolt.Open(f.Path(), 0o600, &bbolt.Options{ReadOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		var n [3]int
		db.View(func(tx *bbolt.Tx) error {
			for i, b := range []string{"items", "pending", "expiry"} {
				n[i] = tx.Bucket([]byte(b)).Stats().KeyN
			}
			return nil
		})
		return n
	}
	if got, want := counts(), [3]int{101, 101, 100}; got != want {
		t.Fatalf("before purge: items, pending, expiry = %v, want %v", got, want)
	}
	write := func(id string) {
		if _, err := f.Create(ctx, id, fmt.Appendf(nil, `{"id":%q,"ttl":-1}`, id)); err != nil {
			t.Fatal(err)
		}
	}
	write("new1") // purges 64
	if got, want := counts(), [3]int{101 - 64 + 1, 101 - 64, 100 - 64}; got != want {
		t.Fatalf("after one write: %v, want %v", got, want)
	}
	write("new2") // purges the other 36
	if got, want := counts(), [3]int{3, 1, 0}; got != want {
		t.Fatalf("after two writes: %v, want %v", got, want)
	}
}
