package memory_test

import (
	"testing"
	"time"

	"github.com/tripline/tripline/store/memory"
	"github.com/tripline/tripline/store/storetest"
)

type fixture struct {
	*memory.Store
	*storetest.FakeClock
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t testing.TB) storetest.Store {
		c := storetest.NewFakeClock(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
		return fixture{memory.New(&memory.Options{Now: c.Now}), c}
	})
}
