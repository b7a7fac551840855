package cosmos_test

import (
	"context"
	"testing"

	"github.com/tripline/tripline/internal/cosmostest"
	"github.com/tripline/tripline/store/cosmos"
	"github.com/tripline/tripline/store/storetest"
)

// open returns a store on a container of the test's own.
func open(t testing.TB, o cosmos.Options) *cosmos.Store {
	t.Helper()
	endpoint, key := cosmostest.Endpoint(t)
	db, container := cosmostest.NewContainerName(t)
	o.Endpoint, o.Key, o.Database, o.Container = endpoint, key, db, container
	if o.HTTPClient == nil {
		o.HTTPClient = cosmostest.HTTPClient(nil)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30e9)
	defer cancel()
	s, err := cosmos.New(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t testing.TB) storetest.Store { return open(t, cosmos.Options{}) })
}
