// Package cosmos is Tripline's Azure Cosmos DB (NoSQL API) document store,
// with the semantics of store/bolt (see package store for the contract).
//
// There is one type, [Store], made by [New] from [Options]. Each document is
// one item in one container whose partition key is /id, so every call but
// Pending is a point operation on one partition: Get is a point read,
// Create a conditional create (409 → store.ErrExists), Replace a replace with
// If-Match (412 → store.ErrStale). Pending is a cross-partition query.
// Errors are translated once, here; no azcosmos or azcore type leaves the
// package except wrapped inside an unavailable error.
//
// Retries: throttling (429, honouring x-ms-retry-after-ms or Retry-After),
// 449, 408, 5xx and connection errors are retried with backoff within a
// budget of attempts ([Options.MaxRetries]) and time ([Options.RetryBudget],
// which also bounds the attempt in flight); 404, 409 and 412 never are. The
// azcore retry policy is switched off so that this is the only retry loop
// (azcosmos's own region failover policy still runs inside each attempt).
// A write retried after an ambiguous failure (408, 5xx, lost connection:
// the first attempt may have been applied) that then meets 409 or 412 reads
// the item back: if it holds exactly the body being written, the write is
// reported as done, with the item's ETag.
//
// Caveats: the account key and tokens never appear in errors or logs, but
// unavailable errors carry the request URL (endpoint, database, container,
// id) and the service's message. Expiry is Cosmos DB's: an item past its ttl
// is not returned, and is deleted in the background.
package cosmos

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/data/azcosmos"

	"github.com/tripline/tripline/store"
	"github.com/tripline/tripline/store/internal/doc"
)

// Defaults for Options; they match the Cosmos DB SDKs' defaults for
// throttled requests (9 retries, 30 seconds).
const (
	DefaultMaxRetries  = 9
	DefaultRetryBudget = 30 * time.Second
)

// maxPageSize caps the items asked for per query page.
const maxPageSize = 100

// pendingQuery selects the items the notification retry pass works on.
const pendingQuery = "SELECT * FROM c WHERE c.pending = true"

// Options configures New. Endpoint, Database, Container and one of Key or
// Credential are required; the zero value of every other field is a default.
type Options struct {
	// Endpoint is the account endpoint, e.g.
	// https://<account>.documents.azure.com:443/.
	Endpoint string
	// Database and Container name the container holding the documents.
	Database  string
	Container string
	// Key is the account key (base64), for local emulators only. When set,
	// New signs requests with it and creates the database and the container
	// (partition key /id, DefaultTimeToLive -1) if they are missing.
	Key string
	// Credential authenticates when Key is empty (in Azure: a managed
	// identity, see DefaultCredential). The container must then exist.
	Credential azcore.TokenCredential
	// HTTPClient sends the requests. Nil means azcosmos's default client.
	// Tests pass one whose Transport counts or injects failures.
	HTTPClient *http.Client
	// MaxRetries is how many times a failed call is retried. Zero means
	// DefaultMaxRetries; negative means no retries.
	MaxRetries int
	// RetryBudget bounds the total time of a call, retries and waits
	// included. Zero means DefaultRetryBudget. A sooner context deadline
	// wins.
	RetryBudget time.Duration
}

// String describes o without the key, so that printing Options (%v, %+v)
// cannot leak it.
func (o Options) String() string {
	key := ""
	if o.Key != "" {
		key = "[redacted]"
	}
	return fmt.Sprintf("{Endpoint:%s Database:%s Container:%s Key:%s Credential:%T MaxRetries:%d RetryBudget:%s}",
		o.Endpoint, o.Database, o.Container, key, o.Credential, o.MaxRetries, o.RetryBudget)
}

// GoString is String, for %#v.
func (o Options) GoString() string { return "cosmos.Options" + o.String() }

// Store is a document store in one Cosmos DB container. Its methods are safe
// for concurrent use.
type Store struct {
	client     *azcosmos.Client
	container  *azcosmos.ContainerClient
	name       string // database/container, for messages
	maxRetries int
	budget     time.Duration
}

// DefaultCredential returns the credential Tripline uses in Azure: the
// user-assigned managed identity with the given client id when clientID is
// non-empty, otherwise DefaultAzureCredential (environment, workload
// identity, managed identity, Azure CLI, ...).
func DefaultCredential(clientID string) (azcore.TokenCredential, error) {
	if clientID != "" {
		c, err := azidentity.NewManagedIdentityCredential(&azidentity.ManagedIdentityCredentialOptions{
			ID: azidentity.ClientID(clientID),
		})
		if err != nil {
			return nil, fmt.Errorf("cosmos: managed identity %s: %w", clientID, err)
		}
		return c, nil
	}
	c, err := azidentity.NewDefaultAzureCredential(nil)
	if err != nil {
		return nil, fmt.Errorf("cosmos: default Azure credential: %w", err)
	}
	return c, nil
}

// New connects to the container and checks it: its partition key must be
// /id and TTL must be on (DefaultTimeToLive set, -1 for per-item ttl). With
// a Key it first creates the database and container if missing. The error
// says what to fix; it never contains the key.
func New(ctx context.Context, o Options) (*Store, error) {
	switch {
	case o.Endpoint == "":
		return nil, errors.New("cosmos: no endpoint")
	case o.Database == "" || o.Container == "":
		return nil, errors.New("cosmos: database and container names are required")
	case o.Key == "" && o.Credential == nil:
		return nil, errors.New("cosmos: need a credential (managed identity) or, for an emulator, a key")
	}
	s := &Store{
		name:       o.Database + "/" + o.Container,
		maxRetries: o.MaxRetries,
		budget:     o.RetryBudget,
	}
	if s.maxRetries == 0 {
		s.maxRetries = DefaultMaxRetries
	} else if s.maxRetries < 0 {
		s.maxRetries = 0
	}
	if s.budget <= 0 {
		s.budget = DefaultRetryBudget
	}
	copts := &azcosmos.ClientOptions{ClientOptions: azcore.ClientOptions{
		// This package retries (see the package doc); one try per call.
		Retry: policy.RetryOptions{MaxRetries: -1},
	}}
	if o.HTTPClient != nil {
		copts.Transport = o.HTTPClient
	}
	var err error
	if o.Key != "" {
		cred, kerr := azcosmos.NewKeyCredential(o.Key)
		if kerr != nil {
			return nil, errors.New("cosmos: the account key is not valid base64")
		}
		s.client, err = azcosmos.NewClientWithKey(o.Endpoint, cred, copts)
	} else {
		s.client, err = azcosmos.NewClient(o.Endpoint, o.Credential, copts)
	}
	if err != nil {
		return nil, fmt.Errorf("cosmos: endpoint %s: %w", o.Endpoint, err)
	}
	if err := s.open(ctx, o); err != nil {
		s.client.Close()
		return nil, err
	}
	return s, nil
}

func (s *Store) open(ctx context.Context, o Options) error {
	if o.Key != "" {
		if err := s.ensure(ctx, o.Database, o.Container); err != nil {
			return err
		}
	}
	c, err := s.client.NewContainer(o.Database, o.Container)
	if err != nil {
		return fmt.Errorf("cosmos: container %s: %w", s.name, err)
	}
	s.container = c
	var props azcosmos.ContainerResponse
	err = s.retry(ctx, func(ctx context.Context) error {
		var err error
		props, err = c.Read(ctx, nil)
		return err
	})
	if status(err) == http.StatusNotFound {
		return fmt.Errorf("cosmos: container %s does not exist at %s; deploy it (infra) or set a key to create it in an emulator", s.name, o.Endpoint)
	}
	if err != nil {
		return fmt.Errorf("cosmos: read container %s: %w", s.name, err)
	}
	p := props.ContainerProperties
	if p == nil {
		return fmt.Errorf("cosmos: read container %s: no properties in the response", s.name)
	}
	if !slices.Equal(p.PartitionKeyDefinition.Paths, []string{"/id"}) {
		return fmt.Errorf("cosmos: container %s has partition key %v, want [/id]; recreate it", s.name, p.PartitionKeyDefinition.Paths)
	}
	if p.DefaultTimeToLive == nil {
		return fmt.Errorf("cosmos: container %s has TTL off, so documents would never expire; set its default time to live to -1", s.name)
	}
	return nil
}

// ensure creates the database and container if missing (emulators).
func (s *Store) ensure(ctx context.Context, database, container string) error {
	err := s.retry(ctx, func(ctx context.Context) error {
		_, err := s.client.CreateDatabase(ctx, azcosmos.DatabaseProperties{ID: database}, nil)
		return err
	})
	if err != nil && status(err) != http.StatusConflict {
		return fmt.Errorf("cosmos: create database %s: %w", database, err)
	}
	db, err := s.client.NewDatabase(database)
	if err != nil {
		return fmt.Errorf("cosmos: database %s: %w", database, err)
	}
	ttl := int32(-1)
	err = s.retry(ctx, func(ctx context.Context) error {
		_, err := db.CreateContainer(ctx, azcosmos.ContainerProperties{
			ID:                     container,
			PartitionKeyDefinition: azcosmos.PartitionKeyDefinition{Paths: []string{"/id"}},
			DefaultTimeToLive:      &ttl,
		}, nil)
		return err
	})
	if err != nil && status(err) != http.StatusConflict {
		return fmt.Errorf("cosmos: create container %s: %w", s.name, err)
	}
	return nil
}

// Get returns the item with the given id (a point read). It returns an
// error matching store.ErrNotFound when there is none or it has expired.
func (s *Store) Get(ctx context.Context, id string) (store.Item, error) {
	if err := doc.CheckID(id); err != nil {
		return store.Item{}, fmt.Errorf("cosmos: get: %w", err)
	}
	it, err := s.read(ctx, id)
	if err != nil {
		return store.Item{}, fmt.Errorf("cosmos: get %q: %w", id, err)
	}
	return it, nil
}

func (s *Store) read(ctx context.Context, id string) (store.Item, error) {
	var resp azcosmos.ItemResponse
	err := s.retry(ctx, func(ctx context.Context) error {
		var err error
		resp, err = s.container.ReadItem(ctx, azcosmos.NewPartitionKeyString(id), id, nil)
		return err
	})
	if err != nil {
		return store.Item{}, translate(err)
	}
	body, err := stripSystem(resp.Value)
	if err != nil {
		return store.Item{}, err
	}
	return store.Item{ID: id, Body: body, ETag: string(resp.ETag)}, nil
}

// Create creates the item if no live item has the id, and returns its ETag.
// It returns an error matching store.ErrExists when one does.
func (s *Store) Create(ctx context.Context, id string, body []byte) (string, error) {
	if _, err := doc.Check(id, body); err != nil {
		return "", fmt.Errorf("cosmos: create: %w", err)
	}
	var resp azcosmos.ItemResponse
	ambiguous := false
	err := s.retry(ctx, func(ctx context.Context) error {
		var err error
		resp, err = s.container.CreateItem(ctx, azcosmos.NewPartitionKeyString(id), body, nil)
		if err != nil && isAmbiguous(err) {
			ambiguous = true
		}
		return err
	})
	if ambiguous && status(err) == http.StatusConflict {
		if etag, ok := s.reconcile(ctx, id, body); ok {
			return etag, nil
		}
	}
	if err != nil {
		return "", fmt.Errorf("cosmos: create %q: %w", id, translate(err))
	}
	return string(resp.ETag), nil
}

// Replace replaces the item if its current ETag equals etag, and returns
// the new ETag. It returns an error matching store.ErrNotFound when there is
// no live item, and store.ErrStale when its ETag differs.
func (s *Store) Replace(ctx context.Context, id string, body []byte, etag string) (string, error) {
	if _, err := doc.Check(id, body); err != nil {
		return "", fmt.Errorf("cosmos: replace: %w", err)
	}
	if etag == "" {
		return "", fmt.Errorf("cosmos: replace %q: empty ETag", id)
	}
	match := azcore.ETag(etag)
	var resp azcosmos.ItemResponse
	ambiguous := false
	err := s.retry(ctx, func(ctx context.Context) error {
		var err error
		resp, err = s.container.ReplaceItem(ctx, azcosmos.NewPartitionKeyString(id), id, body,
			&azcosmos.ItemOptions{IfMatchEtag: &match})
		if err != nil && isAmbiguous(err) {
			ambiguous = true
		}
		return err
	})
	if ambiguous && status(err) == http.StatusPreconditionFailed {
		if etag, ok := s.reconcile(ctx, id, body); ok {
			return etag, nil
		}
	}
	if err != nil {
		return "", fmt.Errorf("cosmos: replace %q: %w", id, translate(err))
	}
	return string(resp.ETag), nil
}

// reconcile reads id back after a write that may have been applied by an
// attempt whose answer was lost; ok means the item holds exactly body.
func (s *Store) reconcile(ctx context.Context, id string, body []byte) (etag string, ok bool) {
	it, err := s.read(ctx, id)
	if err != nil {
		return "", false
	}
	return it.ETag, sameJSON(it.Body, body)
}

// Pending returns up to limit live items whose top-level "pending" is true,
// in no particular order, from a cross-partition query. It returns an empty
// slice when there are none, and an error when limit < 1. Each item's ETag
// can be passed to Replace.
func (s *Store) Pending(ctx context.Context, limit int) ([]store.Item, error) {
	if limit < 1 {
		return nil, fmt.Errorf("cosmos: pending: limit %d is less than 1", limit)
	}
	var items []store.Item
	err := s.retry(ctx, func(ctx context.Context) error {
		items = []store.Item{} // a retry starts the query again
		pager := s.container.NewQueryItemsPager(pendingQuery, azcosmos.NewPartitionKey(),
			&azcosmos.QueryOptions{PageSizeHint: int32(min(limit, maxPageSize))})
		// Cross-partition pages may be short or empty before the last one.
		for pager.More() && len(items) < limit {
			page, err := pager.NextPage(ctx)
			if err != nil {
				return err
			}
			for _, raw := range page.Items {
				if len(items) == limit {
					break
				}
				it, err := pendingItem(raw)
				if err != nil {
					return err
				}
				items = append(items, it)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("cosmos: pending: %w", translate(err))
	}
	return items, nil
}

func pendingItem(raw []byte) (store.Item, error) {
	var sys struct {
		ID   string `json:"id"`
		ETag string `json:"_etag"`
	}
	if err := json.Unmarshal(raw, &sys); err != nil {
		return store.Item{}, fmt.Errorf("query result is not a JSON object: %w", err)
	}
	body, err := stripSystem(raw)
	if err != nil {
		return store.Item{}, err
	}
	return store.Item{ID: sys.ID, Body: body, ETag: sys.ETag}, nil
}

// Close releases the client's shared caches. The Store must not be used
// afterwards. It always returns nil.
func (s *Store) Close() error {
	s.client.Close()
	return nil
}

// systemProperties are the members Cosmos DB adds to every item.
var systemProperties = []string{"_rid", "_self", "_etag", "_attachments", "_ts"}

// stripSystem returns body without Cosmos DB's system properties.
func stripSystem(body []byte) ([]byte, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(body, &m); err != nil || m == nil {
		return nil, fmt.Errorf("item is not a JSON object: %v", err)
	}
	for _, k := range systemProperties {
		delete(m, k)
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(m); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// sameJSON reports whether a and b are the same JSON value.
func sameJSON(a, b []byte) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	return reflect.DeepEqual(x, y)
}

// translate maps the status codes with a meaning in package store to its
// sentinels and leaves every other error as it is.
func translate(err error) error {
	switch status(err) {
	case http.StatusNotFound:
		return store.ErrNotFound
	case http.StatusConflict:
		return store.ErrExists
	case http.StatusPreconditionFailed:
		return store.ErrStale
	}
	return err
}

// status is the HTTP status of a Cosmos DB error, or 0.
func status(err error) int {
	var re *azcore.ResponseError
	if errors.As(err, &re) {
		return re.StatusCode
	}
	return 0
}

// StatusRetryWith is Cosmos DB's 449: a conflicting concurrent operation,
// retry the request.
const statusRetryWith = 449

// retryable reports whether err is worth another attempt.
func retryable(err error) bool {
	switch status(err) {
	case http.StatusTooManyRequests, statusRetryWith:
		return true
	case 0:
		return isTransport(err)
	}
	return isAmbiguous(err)
}

// isAmbiguous reports whether a failed write may nevertheless have been
// applied: a timeout, a server error or a connection lost mid-request.
func isAmbiguous(err error) bool {
	switch status(err) {
	case http.StatusRequestTimeout, http.StatusInternalServerError, http.StatusBadGateway,
		http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	case 0:
		return isTransport(err)
	}
	return false
}

func isTransport(err error) bool {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var ne net.Error
	return errors.As(err, &ne) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF)
}

// retry runs call until it succeeds, fails for good, or the retry budget
// (attempts and time) is spent. The returned error is call's last one,
// wrapped with the attempt count when retries were given up.
func (s *Store) retry(ctx context.Context, call func(context.Context) error) error {
	start := time.Now()
	// The budget bounds the attempt in flight too.
	bctx, cancel := context.WithDeadline(ctx, start.Add(s.budget))
	defer cancel()
	for attempt := 1; ; attempt++ {
		err := call(bctx)
		if err == nil || !retryable(err) {
			if err != nil && ctx.Err() == nil && bctx.Err() != nil {
				return &unavailableError{why: fmt.Sprintf("retry budget of %s spent after %d attempts", s.budget, attempt), err: err}
			}
			return err
		}
		if attempt > s.maxRetries {
			return &unavailableError{why: fmt.Sprintf("gave up after %d attempts", attempt), err: err}
		}
		wait := backoff(err, attempt)
		if deadline, _ := bctx.Deadline(); time.Now().Add(wait).After(deadline) {
			return &unavailableError{why: fmt.Sprintf("retry budget of %s would be spent waiting %s after %d attempts", s.budget, wait.Round(time.Millisecond), attempt), err: err}
		}
		t := time.NewTimer(wait)
		select {
		case <-bctx.Done():
			t.Stop()
			if ctx.Err() != nil {
				return fmt.Errorf("%w (after %d attempts: %v)", ctx.Err(), attempt, oneLine(err))
			}
			return &unavailableError{why: fmt.Sprintf("retry budget of %s spent after %d attempts", s.budget, attempt), err: err}
		case <-t.C:
		}
	}
}

// backoff is the wait before the next attempt: what the service asked for
// (x-ms-retry-after-ms, retry-after-ms, Retry-After), else exponential from
// 100 ms, capped at 5 s, with jitter.
func backoff(err error, attempt int) time.Duration {
	var re *azcore.ResponseError
	if errors.As(err, &re) && re.RawResponse != nil {
		h := re.RawResponse.Header
		for _, name := range []string{"x-ms-retry-after-ms", "retry-after-ms"} {
			if ms, perr := strconv.ParseFloat(h.Get(name), 64); perr == nil && ms >= 0 {
				return time.Duration(ms * float64(time.Millisecond))
			}
		}
		if v := h.Get("Retry-After"); v != "" {
			if sec, perr := strconv.Atoi(v); perr == nil && sec >= 0 {
				return time.Duration(sec) * time.Second
			}
			if t, perr := http.ParseTime(v); perr == nil {
				return max(time.Until(t), 0)
			}
		}
	}
	d := min(100*time.Millisecond<<min(attempt-1, 6), 5*time.Second)
	return d/2 + rand.N(d/2+1)
}

// unavailableError is the error of a call that could not get an answer.
// Its message is one line; Unwrap gives the last attempt's error.
type unavailableError struct {
	why string
	err error
}

func (e *unavailableError) Error() string { return e.why + ": " + oneLine(e.err) }
func (e *unavailableError) Unwrap() error { return e.err }

// oneLine condenses azcore's multi-line error text.
func oneLine(err error) string {
	var parts []string
	for _, line := range strings.Split(err.Error(), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.Trim(line, "-") == "" {
			continue
		}
		parts = append(parts, line)
	}
	s := strings.Join(parts, " ")
	if len(s) > 600 {
		s = s[:600] + "..."
	}
	return s
}
