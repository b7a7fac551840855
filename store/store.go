// Package store defines the document model shared by Tripline's two stores:
// store/cosmos (Azure Cosmos DB, used in Azure) and store/bolt (a single local
// file, used when no Cosmos endpoint is configured). Both are thin generic
// JSON-document stores with optimistic concurrency; what the documents mean
// (alerts, suppression windows, delivery state) is up to the caller.
//
// There are only a few names here: [Item], [Tx], and the sentinel errors
// [ErrNotFound], [ErrExists], [ErrStale] and [ErrInvalid]. The stores have the same methods
// with the same semantics, and consumers declare the interface they need:
//
//	Get(ctx, id) (Item, error)                       // ErrNotFound, ErrInvalid
//	Create(ctx, id, body) (etag, error)              // ErrExists, ErrInvalid
//	Replace(ctx, id, body, etag) (newEtag, error)    // ErrStale, ErrNotFound, ErrInvalid
//	Pending(ctx, limit) ([]Item, error)
//	Close() error
//
// The package store/storetest checks both against one conformance suite.
// [Tx] names the first four methods, as store/bolt's Batch hands them to its
// function.
//
// # Documents
//
// A body is a JSON object of at most [MaxBodySize] bytes with a top-level
// string "id" equal to the id argument and a top-level integer "ttl": the
// number of seconds the document lives after its last write (Cosmos DB
// per-item TTL), or -1 for never. An id is 1 to 1023 bytes of UTF-8 without
// '/', '\', '?' or '#' (Cosmos DB's rules, applied by both stores). A call
// that breaks these rules fails before any I/O with an error matching
// [ErrInvalid]. Replace with an empty ETag, and Pending with a limit below
// 1, fail before any I/O too, with an error that is none of the sentinels
// (a programming error, not a document). An expired document is absent: Get and Replace say
// ErrNotFound, Create succeeds, Pending skips it.
//
// A returned Body is semantically the JSON the caller wrote, not necessarily
// the same bytes: key order and whitespace may differ, and Cosmos DB's system
// properties (_rid, _self, _etag, _attachments, _ts) are removed.
//
// ETags are opaque: compare them only for equality and pass them back to
// Replace. A store never gives the same ETag to two different writes of an
// id.
//
// # Errors
//
// The sentinels are returned wrapped with the operation and id; test them
// with errors.Is. Any other error means the store could not answer (network,
// service errors after bounded retries, throttling beyond the retry budget, a
// busy state file, a cancelled context): the caller should fail the
// invocation so that the host retries it. One exception no retry changes: a
// damaged state file (store/bolt's ErrCorrupt) fails every call until an
// operator moves it aside. A write that failed in a way that leaves open
// whether it took effect (a timeout, a lost response) is not retried, so it
// is never applied twice: its error is none of the sentinels, and the
// caller's next read shows what happened.
//
// # Caveats
//
// Pending returns items in no particular order. Cosmos DB expires documents
// in the background; the local store purges them lazily on writes. Neither
// store is a queue: two processes calling Pending may get the same items and
// must coordinate through Replace with ETags.
package store

import (
	"context"
	"errors"

	"github.com/tripline/tripline/store/internal/doc"
)

// MaxBodySize is the largest body either store accepts: Cosmos DB's item size
// limit (2 MiB).
const MaxBodySize = doc.MaxBodySize

// Item is one document as read from a store.
type Item struct {
	// ID is the document id, equal to the body's "id".
	ID string
	// Body is the JSON object, owned by the caller (the store keeps no
	// reference to it).
	Body []byte
	// ETag identifies this version of the document; pass it to Replace.
	ETag string
}

// Tx is the document operations of a store inside a transaction: store/bolt's
// Batch passes one to its function. The methods are those of the stores, with
// the same contract.
type Tx interface {
	Get(ctx context.Context, id string) (Item, error)
	Create(ctx context.Context, id string, body []byte) (etag string, err error)
	Replace(ctx context.Context, id string, body []byte, etag string) (newEtag string, err error)
	Pending(ctx context.Context, limit int) ([]Item, error)
}

// Sentinel errors. Each is returned wrapped (test with errors.Is) and only by
// the calls listed.
var (
	// ErrNotFound is returned by Get and Replace when no document has the id,
	// or the one that had it has expired (its ttl elapsed since its last
	// write).
	ErrNotFound = errors.New("store: document not found")

	// ErrExists is returned by Create when a document with the id exists and
	// has not expired. The existing document is unchanged.
	ErrExists = errors.New("store: document already exists")

	// ErrStale is returned by Replace when the document exists but its
	// current ETag differs from the one given: another write happened since
	// that ETag was read. The document is unchanged; read it again and retry.
	ErrStale = errors.New("store: document changed since it was read (stale ETag)")

	// ErrInvalid is returned by Get, Create and Replace when the id or the
	// body breaks the document rules above (too large, not an object, no
	// "id" or "ttl", a bad id), before any I/O. It is permanent: the same
	// call can never succeed, so a caller must not fail an invocation on it
	// (the host would retry it forever).
	ErrInvalid = doc.ErrInvalid
)
