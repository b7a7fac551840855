// Package cosmostest gives tests a Cosmos DB endpoint: the Cosmos-protocol
// server started by scripts/cosmos-server.sh (@vercel/cosmosdb-server over
// plain HTTP on loopback).
//
//	scripts/cosmos-server.sh run -- go test ./store/...
//
// runs the tests with TRIPLINE_TEST_COSMOS_ENDPOINT and
// TRIPLINE_TEST_COSMOS_KEY set. Without them [Endpoint] skips the test,
// unless TRIPLINE_TEST_REQUIRE_COSMOS=1 (CI sets it), which makes it fail:
// no Cosmos test is ever skipped silently in CI.
//
// Every test should pass [HTTPClient] to the store (store/cosmos
// Options.HTTPClient): it works around a bug of the server (see
// [HTTPClient]) without changing what the code under test sends otherwise.
// Use [NewContainerName] for a database and container of the test's own, so
// tests can run in parallel against one server, which keeps everything in
// memory until it stops.
//
// How @vercel/cosmosdb-server 1.0.1 differs from Cosmos DB, as seen through
// azcosmos v1.5.0 (create → 409, read, replace with If-Match → 412, replace
// of a missing item → 404 and cross-partition queries with
// max-item-count paging all behave like the service):
//   - a point read of a missing item answers 500 (worked around by
//     [HTTPClient]);
//   - no authentication: any base64 key is accepted;
//   - no TTL expiry (ttl is stored as an ordinary member), no RU accounting
//     (x-ms-request-charge is always 1), no 429 throttling, no sessions;
//   - ETags are bare UUIDs (Cosmos DB's are quoted);
//   - the account advertises https:// locations for its http:// endpoint;
//     azcosmos keeps using the endpoint it was given, so this is harmless.
package cosmostest

import (
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/tripline/tripline/store/cosmos"
)

// Environment variables read by Endpoint.
const (
	EnvEndpoint = "TRIPLINE_TEST_COSMOS_ENDPOINT"
	EnvKey      = "TRIPLINE_TEST_COSMOS_KEY"
	EnvRequire  = "TRIPLINE_TEST_REQUIRE_COSMOS"
)

// Endpoint returns the test server's endpoint and key. When they are not
// set it skips the test with the command that provides them, or fails it
// when TRIPLINE_TEST_REQUIRE_COSMOS=1.
func Endpoint(t testing.TB) (endpoint, key string) {
	t.Helper()
	endpoint, key = os.Getenv(EnvEndpoint), os.Getenv(EnvKey)
	if endpoint != "" && key != "" {
		return endpoint, key
	}
	const how = "no Cosmos DB test server: run the tests through `scripts/cosmos-server.sh run -- go test ...` " +
		"(it starts @vercel/cosmosdb-server and sets " + EnvEndpoint + " and " + EnvKey + ")"
	if os.Getenv(EnvRequire) == "1" {
		t.Fatal(how + "; " + EnvRequire + "=1 forbids skipping")
	}
	t.Skip(how)
	return "", ""
}

var unsafeChars = regexp.MustCompile(`[^a-z0-9-]+`)

// NewContainerName returns a database name and a container name that no
// other test uses: derived from the test's name (readable in the server's
// requests) plus random hex.
func NewContainerName(t testing.TB) (database, container string) {
	t.Helper()
	base := unsafeChars.ReplaceAllString(strings.ToLower(t.Name()), "-")
	base = strings.Trim(base, "-")
	if len(base) > 40 {
		base = base[len(base)-40:]
	}
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	suffix := hex.EncodeToString(b[:])
	return "db-" + base + "-" + suffix, "c-" + suffix
}

// HTTPClient returns the client tests should send Cosmos requests with:
// cosmos.EmulatorClient, which works around the emulator's 500 on a point
// read of a missing item.
func HTTPClient(next http.RoundTripper) *http.Client {
	return cosmos.EmulatorClient(next)
}
