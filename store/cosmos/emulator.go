package cosmos

import (
	"net/http"
	"strings"
)

// EmulatorClient returns an HTTP client for local Cosmos-protocol emulators.
// It wraps next (nil: http.DefaultTransport) to work around one bug of
// @vercel/cosmosdb-server 1.0.1: a point read of a missing item answers 500
// "Cannot read properties of undefined (reading 'id')" instead of 404, unless
// the request carries x-ms-documentdb-query-enablecrosspartition: true, which
// makes the server skip its broken partition check. The header is added to
// item reads (GET .../docs/<id>) only; real Cosmos DB ignores it there.
// main uses it whenever a key is configured (key auth is for emulators).
func EmulatorClient(next http.RoundTripper) *http.Client {
	if next == nil {
		next = http.DefaultTransport
	}
	return &http.Client{Transport: fixReads{next}}
}

type fixReads struct{ next http.RoundTripper }

func (f fixReads) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Method == http.MethodGet && isItemPath(req.URL.Path) {
		req = req.Clone(req.Context())
		req.Header.Set("x-ms-documentdb-query-enablecrosspartition", "true")
	}
	return f.next.RoundTrip(req)
}

// isItemPath reports whether p is /dbs/<db>/colls/<coll>/docs/<id>.
func isItemPath(p string) bool {
	parts := strings.Split(strings.Trim(p, "/"), "/")
	return len(parts) == 6 && parts[0] == "dbs" && parts[2] == "colls" && parts[4] == "docs"
}
