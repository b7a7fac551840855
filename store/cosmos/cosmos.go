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
// Retries are the SDK's, configured by New; this package has no retry loop.
// azcore's retry policy (policy.RetryOptions) retries throttling (429,
// waiting what x-ms-retry-after-ms, retry-after-ms or Retry-After asks, up
// to [MaxRetryWait]) and 449, reads and writes alike, with exponential
// backoff from 100 ms otherwise, up to [Options.MaxRetries] times, within
// [Options.RetryBudget] for the whole call (a context deadline, so it
// bounds the request in flight too). Inside it, azcosmos's own policy
// decides about failures that may have been applied: it retries a read's
// 500, 502, 504 or 408 once, and a read's lost connection up to three
// times, but never replays a write after a 408, a 5xx or a connection lost
// mid-request (nor a read after a 503, which it retries only in another
// region), and marks them not retriable for azcore. Such a call fails with an error
// that is none of the sentinels, so the invocation fails and the host
// retries it; the caller's next read shows whether the write took effect.
// 404, 409 and 412 are answers, never retried.
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
	"net"
	"net/http"
	"slices"
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

// Backoff between tries, as azcore computes it: (2^try - 1) × retryDelay
// with ±25 % jitter, at most MaxRetryWait.
const retryDelay = 100 * time.Millisecond

// MaxRetryWait is the longest wait between tries, and the longest wait a
// throttled request's x-ms-retry-after-ms (or Retry-After) may ask for:
// when it asks for more, or for more than the RetryBudget when that is
// shorter, the call is not retried and fails at once (the host retries the
// invocation later).
const MaxRetryWait = 5 * time.Second

// retryStatuses are the statuses azcore retries: its defaults (408, 429,
// 500, 502, 503, 504) and Cosmos DB's 449 (retry with). azcosmos marks
// the 408s and 5xx it will not retry as not retriable (see the package
// doc), so azcore's list matters for 429 and 449.
var retryStatuses = []int{http.StatusRequestTimeout, http.StatusTooManyRequests, statusRetryWith,
	http.StatusInternalServerError, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout}

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
	// MaxRetries is how many times a failed request is retried
	// (policy.RetryOptions.MaxRetries). Zero means DefaultMaxRetries;
	// negative means no retries.
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
	retries := s.maxRetries
	if retries == 0 {
		retries = -1 // azcore's "none"; its 0 means its default, 3
	}
	copts := &azcosmos.ClientOptions{ClientOptions: azcore.ClientOptions{
		Retry: policy.RetryOptions{
			MaxRetries:    int32(retries),
			RetryDelay:    retryDelay,
			MaxRetryDelay: min(MaxRetryWait, s.budget),
			StatusCodes:   retryStatuses,
		},
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
	err = s.call(ctx, func(ctx context.Context) error {
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
	err := s.call(ctx, func(ctx context.Context) error {
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
	err = s.call(ctx, func(ctx context.Context) error {
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
	err := s.call(ctx, func(ctx context.Context) error {
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
	err := s.call(ctx, func(ctx context.Context) error {
		var err error
		resp, err = s.container.CreateItem(ctx, azcosmos.NewPartitionKeyString(id), body, nil)
		return err
	})
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
	err := s.call(ctx, func(ctx context.Context) error {
		var err error
		resp, err = s.container.ReplaceItem(ctx, azcosmos.NewPartitionKeyString(id), id, body,
			&azcosmos.ItemOptions{IfMatchEtag: &match})
		return err
	})
	if err != nil {
		return "", fmt.Errorf("cosmos: replace %q: %w", id, translate(err))
	}
	return string(resp.ETag), nil
}

// Pending returns up to limit live items whose top-level "pending" is true,
// in no particular order, from a cross-partition query. It returns an empty
// slice when there are none, and an error when limit < 1. Each item's ETag
// can be passed to Replace.
func (s *Store) Pending(ctx context.Context, limit int) ([]store.Item, error) {
	if limit < 1 {
		return nil, fmt.Errorf("cosmos: pending: limit %d is less than 1", limit)
	}
	items := []store.Item{}
	err := s.call(ctx, func(ctx context.Context) error {
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

// statusRetryWith is Cosmos DB's 449: a conflicting concurrent operation,
// retry the request.
const statusRetryWith = 449

// retryable reports whether err is one that the SDK's policies may retry:
// when the call still ends with it, they gave up (retries spent, a longer
// wait asked than allowed, or a failure azcosmos will not replay).
func retryable(err error) bool {
	if st := status(err); st != 0 {
		return slices.Contains(retryStatuses, st)
	}
	return isTransport(err)
}

func isTransport(err error) bool {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var ne net.Error
	return errors.As(err, &ne) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF)
}

// call runs op, whose requests the SDK retries, within the retry budget,
// and explains a failure that retries could not end: budget spent, or
// retries given up.
func (s *Store) call(ctx context.Context, op func(context.Context) error) error {
	bctx, cancel := context.WithTimeout(ctx, s.budget)
	defer cancel()
	err := op(bctx)
	switch {
	case err == nil:
		return nil
	case ctx.Err() != nil:
		if errors.Is(err, ctx.Err()) {
			return err
		}
		return fmt.Errorf("%w (%s)", ctx.Err(), oneLine(err))
	case bctx.Err() != nil:
		return &unavailableError{why: fmt.Sprintf("retry budget of %s spent", s.budget), err: err}
	case retryable(err):
		return &unavailableError{why: fmt.Sprintf("not retried further (at most %d retries, waiting at most %s each)",
			max(s.maxRetries, 0), min(MaxRetryWait, s.budget)), err: err}
	}
	return err
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
