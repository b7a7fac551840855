package cosmos_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/data/azcosmos"

	"github.com/tripline/tripline/internal/cosmostest"
	"github.com/tripline/tripline/store"
	"github.com/tripline/tripline/store/cosmos"
)

// fault is what faultServer does with the nth request of a kind.
type fault struct {
	status  int               // 0: pass the request through unchanged
	header  map[string]string // response headers of the injected answer
	forward bool              // send the request to the server first, then answer status (a lost response)
}

// faultServer is an HTTP server in front of the Cosmos test server: it
// counts item requests by kind ("create", "replace", "read", "query"),
// passes them on, and answers some itself as plan chooses.
type faultServer struct {
	*httptest.Server
	proxy *httputil.ReverseProxy
	plan  func(kind string, n int) fault

	mu     sync.Mutex
	counts map[string]int
}

func newFaultServer(t *testing.T, endpoint string, plan func(kind string, n int) fault) *faultServer {
	t.Helper()
	target, err := url.Parse(endpoint)
	if err != nil {
		t.Fatal(err)
	}
	f := &faultServer{proxy: httputil.NewSingleHostReverseProxy(target), plan: plan, counts: map[string]int{}}
	f.Server = httptest.NewServer(f)
	t.Cleanup(f.Close)
	// The account (GET /) names the locations to send requests to: name
	// this server instead of the one behind it.
	f.proxy.ModifyResponse = func(resp *http.Response) error {
		if resp.Request.URL.Path != "/" {
			return nil
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return err
		}
		b = bytes.ReplaceAll(b, []byte(target.Host), []byte(strings.TrimPrefix(f.URL, "http://")))
		resp.Body = io.NopCloser(bytes.NewReader(b))
		resp.ContentLength = int64(len(b))
		resp.Header.Set("Content-Length", strconv.Itoa(len(b)))
		return nil
	}
	return f
}

func (f *faultServer) count(kind string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.counts[kind]
}

func kindOf(req *http.Request) string {
	parts := strings.Split(strings.Trim(req.URL.Path, "/"), "/")
	switch {
	case len(parts) == 5 && parts[4] == "docs" && req.Method == http.MethodPost:
		if strings.EqualFold(req.Header.Get("x-ms-documentdb-query"), "true") {
			return "query"
		}
		return "create"
	case len(parts) == 6 && parts[4] == "docs" && req.Method == http.MethodPut:
		return "replace"
	case len(parts) == 6 && parts[4] == "docs" && req.Method == http.MethodGet:
		return "read"
	}
	return "other"
}

func (f *faultServer) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	kind := kindOf(req)
	f.mu.Lock()
	f.counts[kind]++
	n := f.counts[kind]
	f.mu.Unlock()
	plan := f.plan(kind, n)
	if plan.status == 0 {
		f.proxy.ServeHTTP(w, req)
		return
	}
	if plan.forward {
		f.proxy.ServeHTTP(httptest.NewRecorder(), req) // the answer is lost
	}
	for k, v := range plan.header {
		w.Header().Set(k, v)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(plan.status)
	fmt.Fprintf(w, `{"code":"Injected","message":"injected %d"}`, plan.status)
}

// openFaulty opens a store that reaches the Cosmos test server through a
// faultServer following plan.
func openFaulty(t *testing.T, o cosmos.Options, plan func(kind string, n int) fault) (*cosmos.Store, *faultServer) {
	t.Helper()
	endpoint, key := cosmostest.Endpoint(t)
	fs := newFaultServer(t, endpoint, plan)
	db, container := cosmostest.NewContainerName(t)
	o.Endpoint, o.Key, o.Database, o.Container = fs.URL+"/", key, db, container
	o.HTTPClient = cosmostest.HTTPClient(nil)
	s, err := cosmos.New(t.Context(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, fs
}

func body(id string, n int) []byte {
	return fmt.Appendf(nil, `{"id":%q,"ttl":3600,"n":%d}`, id, n)
}

func wantCount(t *testing.T, ft *faultServer, kind string, want int) {
	t.Helper()
	if got := ft.count(kind); got != want {
		t.Errorf("%s requests = %d, want %d", kind, got, want)
	}
}

func notSentinel(t *testing.T, err error) {
	t.Helper()
	if err == nil {
		t.Fatal("no error")
	}
	for _, s := range []error{store.ErrNotFound, store.ErrExists, store.ErrStale} {
		if errors.Is(err, s) {
			t.Fatalf("error %v matches %v", err, s)
		}
	}
}

func throttled(ms string) fault {
	return fault{status: http.StatusTooManyRequests, header: map[string]string{"x-ms-retry-after-ms": ms}}
}

func TestThrottlingIsRetried(t *testing.T) {
	s, ft := openFaulty(t, cosmos.Options{}, func(kind string, n int) fault {
		if n <= 2 && kind != "other" {
			return throttled("1")
		}
		return fault{}
	})
	ctx := t.Context()
	etag, err := s.Create(ctx, "a", body("a", 1))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Replace(ctx, "a", body("a", 2), etag); err != nil {
		t.Fatal(err)
	}
	it, err := s.Get(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(it.Body), `"n":2`) {
		t.Fatalf("body = %s", it.Body)
	}
	items, err := s.Pending(ctx, 5)
	if err != nil || len(items) != 0 {
		t.Fatalf("Pending = %v, %v", items, err)
	}
	for _, kind := range []string{"create", "replace", "read", "query"} {
		wantCount(t, ft, kind, 3)
	}
}

func TestThrottlingBeyondMaxRetries(t *testing.T) {
	s, ft := openFaulty(t, cosmos.Options{MaxRetries: 2}, func(kind string, n int) fault {
		if kind == "create" {
			return throttled("1")
		}
		return fault{}
	})
	_, err := s.Create(t.Context(), "a", body("a", 1))
	notSentinel(t, err)
	for _, want := range []string{`cosmos: create "a": not retried further (at most 2 retries`, "429"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not contain %q", err, want)
		}
	}
	if strings.Contains(err.Error(), "\n") {
		t.Errorf("error has several lines: %q", err)
	}
	wantCount(t, ft, "create", 3)
}

func TestRetryAfterBeyondBudget(t *testing.T) {
	s, ft := openFaulty(t, cosmos.Options{RetryBudget: time.Second}, func(kind string, n int) fault {
		if kind == "read" {
			return throttled("5000")
		}
		return fault{}
	})
	_, err := s.Get(t.Context(), "a")
	notSentinel(t, err)
	// The service asks for a longer wait than the budget: no retry.
	if want := "not retried further (at most 9 retries, waiting at most 1s each)"; !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not contain %q", err, want)
	}
	wantCount(t, ft, "read", 1)
}

func TestNoRetries(t *testing.T) {
	s, ft := openFaulty(t, cosmos.Options{MaxRetries: -1}, func(kind string, n int) fault {
		if kind == "read" {
			return throttled("1")
		}
		return fault{}
	})
	_, err := s.Get(t.Context(), "a")
	notSentinel(t, err)
	wantCount(t, ft, "read", 1)
}

// TestSentinelsAreNotRetried: 404, 409 and 412 are answers, sent once.
func TestSentinelsAreNotRetried(t *testing.T) {
	s, ft := openFaulty(t, cosmos.Options{}, func(string, int) fault { return fault{} })
	ctx := t.Context()
	etag, err := s.Create(ctx, "a", body("a", 1))
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.Create(ctx, "a", body("a", 2))
	if !errors.Is(err, store.ErrExists) {
		t.Fatalf("Create existing: %v", err)
	}
	if _, err := s.Replace(ctx, "a", body("a", 2), etag); err != nil {
		t.Fatal(err)
	}
	_, err = s.Replace(ctx, "a", body("a", 3), etag)
	if !errors.Is(err, store.ErrStale) {
		t.Fatalf("Replace stale: %v", err)
	}
	_, err = s.Replace(ctx, "b", body("b", 1), etag)
	if !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Replace missing: %v", err)
	}
	_, err = s.Get(ctx, "b")
	if !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Get missing: %v", err)
	}
	wantCount(t, ft, "create", 2)
	wantCount(t, ft, "replace", 3)
	wantCount(t, ft, "read", 1)
}

// TestTransientErrors: 449 (retry with: nothing was applied) is retried
// by reads and writes alike. The failures after which the request may have
// been applied are azcosmos's to retry: a read's 500, 502, 504 or 408 once,
// and never a write's, nor a read's 503 in a single-region account. What
// is not retried fails the call with an error that is none of the
// sentinels, after exactly one request.
func TestTransientErrors(t *testing.T) {
	for _, tc := range []struct {
		status       int
		readRetried  bool
		writeRetried bool
	}{
		{449, true, true},
		{500, true, false}, {502, true, false}, {504, true, false},
		{408, true, false}, {503, false, false},
	} {
		t.Run(fmt.Sprint(tc.status), func(t *testing.T) {
			s, ft := openFaulty(t, cosmos.Options{}, func(kind string, n int) fault {
				if (kind == "create" || kind == "read") && n == 1 {
					return fault{status: tc.status}
				}
				return fault{}
			})
			ctx := t.Context()
			_, err := s.Create(ctx, "a", body("a", 1))
			if tc.writeRetried {
				if err != nil {
					t.Fatal(err)
				}
				wantCount(t, ft, "create", 2)
			} else {
				notSentinel(t, err)
				if !strings.Contains(err.Error(), fmt.Sprint(tc.status)) {
					t.Errorf("Create: %v does not name the status", err)
				}
				wantCount(t, ft, "create", 1)
				if _, err := s.Create(ctx, "a", body("a", 1)); err != nil {
					t.Fatal(err)
				}
			}
			_, err = s.Get(ctx, "a")
			if tc.readRetried {
				if err != nil {
					t.Fatal(err)
				}
				wantCount(t, ft, "read", 2)
			} else {
				notSentinel(t, err)
				wantCount(t, ft, "read", 1)
			}
		})
	}
}

// TestLostWriteResponse: a write reaches the service but its answer is
// lost (503). It is not replayed, so it cannot be applied twice or
// answered 409/412 by its own first attempt: the call fails, and the
// caller's next read shows the write took effect.
func TestLostWriteResponse(t *testing.T) {
	s, ft := openFaulty(t, cosmos.Options{}, func(kind string, n int) fault {
		if (kind == "create" && n == 2) || (kind == "replace" && n == 1) {
			return fault{status: http.StatusServiceUnavailable, forward: true}
		}
		return fault{}
	})
	ctx := t.Context()
	etag, err := s.Create(ctx, "a", body("a", 1))
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.Replace(ctx, "a", body("a", 2), etag)
	notSentinel(t, err)
	_, err = s.Create(ctx, "b", body("b", 1))
	notSentinel(t, err)
	wantCount(t, ft, "replace", 1)
	wantCount(t, ft, "create", 2)
	for id, want := range map[string]string{"a": `"n":2`, "b": `"n":1`} {
		it, err := s.Get(ctx, id)
		if err != nil || !strings.Contains(string(it.Body), want) {
			t.Errorf("Get(%s) after the lost answer: %s, %v; want the write applied (%s)", id, it.Body, err, want)
		}
	}
}

// TestPendingPages: more pending items than one page holds.
func TestPendingPages(t *testing.T) {
	s, ft := openFaulty(t, cosmos.Options{}, func(string, int) fault { return fault{} })
	ctx := t.Context()
	const n = 230
	for i := range n {
		id := fmt.Sprintf("p%03d", i)
		if _, err := s.Create(ctx, id, fmt.Appendf(nil, `{"id":%q,"ttl":3600,"pending":%t}`, id, i%10 != 0)); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct{ limit, want, pages int }{{150, 150, 2}, {1000, 207, 3}} {
		before := ft.count("query")
		items, err := s.Pending(ctx, tc.limit)
		if err != nil {
			t.Fatal(err)
		}
		seen := map[string]bool{}
		for _, it := range items {
			if seen[it.ID] || it.ETag == "" {
				t.Fatalf("item %q repeated or without ETag", it.ID)
			}
			seen[it.ID] = true
		}
		if len(items) != tc.want {
			t.Errorf("Pending(%d) = %d items, want %d", tc.limit, len(items), tc.want)
		}
		if pages := ft.count("query") - before; pages != tc.pages {
			t.Errorf("Pending(%d) took %d pages, want %d", tc.limit, pages, tc.pages)
		}
	}
}

func TestContainerCreatedWithTTL(t *testing.T) {
	endpoint, key := cosmostest.Endpoint(t)
	db, container := cosmostest.NewContainerName(t)
	ctx := t.Context()
	o := cosmos.Options{Endpoint: endpoint, Key: key, Database: db, Container: container, HTTPClient: cosmostest.HTTPClient(nil)}
	for range 2 { // the second New finds both and keeps them
		s, err := cosmos.New(ctx, o)
		if err != nil {
			t.Fatal(err)
		}
		s.Close()
	}
	c := rawContainer(t, endpoint, key, db, container)
	resp, err := c.Read(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	p := resp.ContainerProperties
	if got := p.PartitionKeyDefinition.Paths; len(got) != 1 || got[0] != "/id" {
		t.Errorf("partition key = %v, want [/id]", got)
	}
	if p.DefaultTimeToLive == nil || *p.DefaultTimeToLive != -1 {
		t.Errorf("DefaultTimeToLive = %v, want -1", p.DefaultTimeToLive)
	}
}

func rawContainer(t *testing.T, endpoint, key, db, container string) *azcosmos.ContainerClient {
	t.Helper()
	cred, err := azcosmos.NewKeyCredential(key)
	if err != nil {
		t.Fatal(err)
	}
	client, err := azcosmos.NewClientWithKey(endpoint, cred, &azcosmos.ClientOptions{
		ClientOptions: azcore.ClientOptions{Transport: cosmostest.HTTPClient(nil)},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(client.Close)
	c, err := client.NewContainer(db, container)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestNewRejectsMisconfiguredContainer: a container New did not create is
// checked for partition key /id and TTL on.
func TestNewRejectsMisconfiguredContainer(t *testing.T) {
	endpoint, key := cosmostest.Endpoint(t)
	ctx := t.Context()
	cred, err := azcosmos.NewKeyCredential(key)
	if err != nil {
		t.Fatal(err)
	}
	client, err := azcosmos.NewClientWithKey(endpoint, cred, &azcosmos.ClientOptions{
		ClientOptions: azcore.ClientOptions{Transport: cosmostest.HTTPClient(nil)},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	db, _ := cosmostest.NewContainerName(t)
	if _, err := client.CreateDatabase(ctx, azcosmos.DatabaseProperties{ID: db}, nil); err != nil {
		t.Fatal(err)
	}
	dbc, err := client.NewDatabase(db)
	if err != nil {
		t.Fatal(err)
	}
	ttl := int32(-1)
	for _, tc := range []struct {
		name  string
		props azcosmos.ContainerProperties
		want  string
	}{
		{"pk", azcosmos.ContainerProperties{ID: "pk", DefaultTimeToLive: &ttl,
			PartitionKeyDefinition: azcosmos.PartitionKeyDefinition{Paths: []string{"/rule"}}},
			"container " + db + "/pk has partition key [/rule], want [/id]"},
		{"nottl", azcosmos.ContainerProperties{ID: "nottl",
			PartitionKeyDefinition: azcosmos.PartitionKeyDefinition{Paths: []string{"/id"}}},
			"container " + db + "/nottl has TTL off"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := dbc.CreateContainer(ctx, tc.props, nil); err != nil {
				t.Fatal(err)
			}
			_, err := cosmos.New(ctx, cosmos.Options{Endpoint: endpoint, Key: key, Database: db, Container: tc.props.ID, HTTPClient: cosmostest.HTTPClient(nil)})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New: %v, want %q", err, tc.want)
			}
		})
	}
}

// TestKeyNeverInErrors: neither a bad key nor a failing request puts the
// key into an error.
func TestKeyNeverInErrors(t *testing.T) {
	endpoint, key := cosmostest.Endpoint(t)
	ctx := t.Context()
	bad := "not base64 but secret-ish!"
	_, err := cosmos.New(ctx, cosmos.Options{Endpoint: endpoint, Key: bad, Database: "d", Container: "c"})
	if err == nil || strings.Contains(err.Error(), bad) {
		t.Fatalf("New with a bad key: %v", err)
	}
	o := cosmos.Options{Endpoint: endpoint, Key: key}
	for _, format := range []string{"%v", "%+v", "%#v", "%s"} {
		if s := fmt.Sprintf(format, o); strings.Contains(s, key) || !strings.Contains(s, "[redacted]") {
			t.Errorf("Sprintf(%q, options) = %s", format, s)
		}
	}
	s, _ := openFaulty(t, cosmos.Options{MaxRetries: 1}, func(kind string, n int) fault {
		if kind == "create" {
			return fault{status: http.StatusUnauthorized}
		}
		if kind == "read" {
			return throttled("1")
		}
		return fault{}
	})
	_, err1 := s.Create(ctx, "a", body("a", 1))
	_, err2 := s.Get(ctx, "a")
	for _, err := range []error{err1, err2} {
		notSentinel(t, err)
		if strings.Contains(err.Error(), key) {
			t.Fatalf("error contains the key: %v", err)
		}
	}
}

func TestNewValidatesOptions(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		o    cosmos.Options
		want string
	}{
		{cosmos.Options{Database: "d", Container: "c", Key: "a2V5"}, "no endpoint"},
		{cosmos.Options{Endpoint: "http://127.0.0.1:1/", Container: "c", Key: "a2V5"}, "database and container"},
		{cosmos.Options{Endpoint: "http://127.0.0.1:1/", Database: "d", Container: "c"}, "need a credential"},
	} {
		if _, err := cosmos.New(ctx, tc.o); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("New(%+v): %v, want %q", tc.o, err, tc.want)
		}
	}
}

func TestDefaultCredential(t *testing.T) {
	for _, id := range []string{"", "00000000-0000-0000-0000-000000000001"} {
		c, err := cosmos.DefaultCredential(id)
		if err != nil || c == nil {
			t.Errorf("DefaultCredential(%q) = %v, %v", id, c, err)
		}
	}
}
