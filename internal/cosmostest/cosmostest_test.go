package cosmostest

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestNewContainerName(t *testing.T) {
	db1, c1 := NewContainerName(t)
	db2, c2 := NewContainerName(t)
	if db1 == db2 || c1 == c2 {
		t.Fatalf("names repeat: %s/%s and %s/%s", db1, c1, db2, c2)
	}
	if !strings.HasPrefix(db1, "db-testnewcontainername-") {
		t.Errorf("database %q does not start with the test's name", db1)
	}
	for _, n := range []string{db1, c1} {
		if strings.ContainsAny(n, `/\?# `) || len(n) > 255 {
			t.Errorf("name %q is not a safe Cosmos DB id", n)
		}
	}
}

func TestHTTPClientFixesItemReadsOnly(t *testing.T) {
	var got []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = append(got, r.Method+" "+r.URL.Path+" "+r.Header.Get("x-ms-documentdb-query-enablecrosspartition"))
	}))
	defer srv.Close()
	c := HTTPClient(nil)
	for _, req := range []struct{ method, path string }{
		{"GET", "/dbs/d/colls/c/docs/a%20b"},
		{"PUT", "/dbs/d/colls/c/docs/a"},
		{"GET", "/dbs/d/colls/c"},
		{"POST", "/dbs/d/colls/c/docs"},
	} {
		r, err := http.NewRequest(req.method, srv.URL+req.path, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := c.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	want := []string{
		"GET /dbs/d/colls/c/docs/a b true",
		"PUT /dbs/d/colls/c/docs/a ",
		"GET /dbs/d/colls/c ",
		"POST /dbs/d/colls/c/docs ",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("requests:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
