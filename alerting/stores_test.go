package alerting_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/tripline/tripline/alerting"
	"github.com/tripline/tripline/internal/cosmostest"
	"github.com/tripline/tripline/store/cosmos"
)

// storeFactories lists the stores the pipeline tests run against: the
// embedded file store, and Cosmos DB through the Cosmos-protocol server that
// `make test` starts (without it the Cosmos subtests skip, saying how to run
// them, unless TRIPLINE_TEST_REQUIRE_COSMOS=1 makes that a failure).
func storeFactories() []storeFactory {
	return []storeFactory{boltFactory(), cosmosFactory(nil)}
}

// cosmosFactory opens a fresh container per test; rt, when set, sees every
// request (counting, failure injection).
func cosmosFactory(rt http.RoundTripper) storeFactory {
	return storeFactory{"cosmos", func(t *testing.T) alerting.Store {
		endpoint, key := cosmostest.Endpoint(t)
		db, container := cosmostest.NewContainerName(t)
		s, err := cosmos.New(context.Background(), cosmos.Options{
			Endpoint: endpoint, Key: key, Database: db, Container: container,
			HTTPClient: cosmostest.HTTPClient(rt),
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}}
}
