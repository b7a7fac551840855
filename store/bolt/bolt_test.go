package bolt_test

import (
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/tripline/tripline/store/bolt"
	"github.com/tripline/tripline/store/storetest"
)

// fakeClock is a settable clock; Advance makes the fixture a storetest.Clock.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// fixture is a store with its clock.
type fixture struct {
	*bolt.Store
	*fakeClock
}

func openFixture(t testing.TB) fixture {
	t.Helper()
	clock := &fakeClock{now: time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)}
	s, err := bolt.Open(filepath.Join(t.TempDir(), "state", "state.db"), &bolt.Options{Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	return fixture{s, clock}
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t testing.TB) storetest.Store { return openFixture(t) })
}
