package memory_test

import (
	"sync"
	"testing"
	"time"

	"github.com/tripline/tripline/store/memory"
	"github.com/tripline/tripline/store/storetest"
)

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

type fixture struct {
	*memory.Store
	*fakeClock
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t testing.TB) storetest.Store {
		c := &fakeClock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
		return fixture{memory.New(&memory.Options{Now: c.Now}), c}
	})
}
