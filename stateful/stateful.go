// Package stateful decides Elastic's threshold and new_terms rules on a
// stream, with their state in the document store (store/cosmos or
// store/bolt). detect matches the query of such a rule like any other; this
// package turns those candidate matches into the matches that alert: the
// record that makes a group cross its threshold, the record that carries a
// term not seen within the history window. The alerting pipeline records the
// result like the matches of query rules.
//
// Its few types: Decider (the decisions, with a per-process cache), Store
// (what it needs from the store) and Stats (what one call did).
//
// State documents:
//   - thr-…: one per (threshold rule, group, window), holding the hashed
//     identities counted, the distinct cardinality values, and whether and by
//     which record the threshold was crossed. It is written until the
//     threshold is crossed, then only read.
//   - ntt-…: one per (new_terms rule, term combination), holding the
//     combination's last-seen event time and the record that made it new. It
//     expires (store ttl) a history window after it was last seen.
//   - ntc-…: one per new_terms rule, the start of the time its terms have
//     been recorded ("covered"); until a history window is covered the rule
//     records terms without alerting.
//
// Exactly once: a term document is created if absent (a conflict means
// another writer saw the term first), a threshold document is replaced only
// on its ETag, and the record that made a term new or crossed a threshold is
// stored in the document, so a redelivery of that record yields the same
// match again (the pipeline recognises it by its identity) and any other
// record yields none.
//
// Caveat: the decisions are made in the order records reach the store, not
// in event time: a record arriving late does not undo an alert raised by a
// later record.
package stateful

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v5"

	"github.com/tripline/tripline/detect"
	"github.com/tripline/tripline/detect/ecs"
	"github.com/tripline/tripline/store"
)

// Store is the part of a document store the decisions need; package store
// states the contract (store.ErrNotFound, ErrExists, ErrStale).
type Store interface {
	Get(ctx context.Context, id string) (store.Item, error)
	Create(ctx context.Context, id string, body []byte) (etag string, err error)
	Replace(ctx context.Context, id string, body []byte, etag string) (newEtag string, err error)
}

// Decider makes the decisions. Its zero value works; one Decider should
// live as long as the process so its cache of armed new_terms rules saves a
// read per invocation. It is safe for concurrent use.
type Decider struct {
	// Now is the clock for store ttls and for records without an event
	// time; nil means time.Now.
	Now func() time.Time
	// AssumeCovered treats every new_terms rule's history window as covered
	// (rules test): terms alert from the first record.
	AssumeCovered bool

	// armed caches, per new_terms rule id, the start of its covered time
	// once a record has been decided after covered+window: from then on the
	// rule alerts and its coverage need not be read again.
	armed sync.Map
}

// Stats is what one Decide or Learn call did.
type Stats struct {
	// Reads and Writes count store calls (Get; Create and Replace).
	Reads, Writes int
	// NewTerms counts terms found new and alerting; LearnedTerms terms
	// recorded without alerting (learning, or a rule whose history window is
	// not yet covered).
	NewTerms, LearnedTerms int
	// Crossed counts thresholds crossed by this call.
	Crossed int
}

// maxAttempts bounds optimistic-concurrency attempts on one document.
const maxAttempts = 20

func (d *Decider) now() time.Time {
	if d != nil && d.Now != nil {
		return d.Now().UTC()
	}
	return time.Now().UTC()
}

// Decide returns matches with those of stateful rules replaced by the
// matches that alert, in the order given, and records the state those
// decisions need in st. Matches of other rules pass through unchanged; when
// there are no stateful matches Decide makes no store call. An error means
// the store could not answer: nothing returned may be used and the
// invocation must fail so the host retries (what was written is recognised
// on the retry). d may be nil.
func (d *Decider) Decide(ctx context.Context, st Store, matches []detect.Match, stats *Stats) ([]detect.Match, error) {
	return d.decide(ctx, st, matches, false, stats)
}

// Learn records the terms of new_terms rules' matches without alerting
// (tripline learn); matches of other rules are ignored.
func (d *Decider) Learn(ctx context.Context, st Store, matches []detect.Match, stats *Stats) error {
	_, err := d.decide(ctx, st, matches, true, stats)
	return err
}

func (d *Decider) decide(ctx context.Context, st Store, matches []detect.Match, learn bool, stats *Stats) ([]detect.Match, error) {
	if d == nil {
		d = &Decider{}
	}
	if stats == nil {
		stats = &Stats{}
	}
	var stateful []int
	for i, m := range matches {
		if m.Rule.Stateful() {
			stateful = append(stateful, i)
		}
	}
	if len(stateful) == 0 {
		if learn {
			return nil, nil
		}
		return matches, nil
	}
	// Candidates by rule, in event-time order, so that the earliest record
	// opens a term or counts first.
	byRule := map[*detect.Rule][]detect.Match{}
	var rules []*detect.Rule
	for _, i := range stateful {
		m := matches[i]
		if m.Event.Time.IsZero() {
			ev := *m.Event
			ev.Time = d.now()
			m.Event = &ev
		}
		if _, ok := byRule[m.Rule]; !ok {
			rules = append(rules, m.Rule)
		}
		byRule[m.Rule] = append(byRule[m.Rule], m)
	}
	emitted := map[*detect.Rule][]detect.Match{}
	for _, r := range rules {
		ms := byRule[r]
		sort.SliceStable(ms, func(i, j int) bool { return ms[i].Event.Time.Before(ms[j].Event.Time) })
		var out []detect.Match
		var err error
		switch {
		case r.NewTerms != nil:
			out, err = d.newTerms(ctx, st, r, ms, learn, stats)
		case r.Threshold != nil && !learn:
			out, err = d.threshold(ctx, st, r, ms, stats)
		}
		if err != nil {
			return nil, err
		}
		emitted[r] = out
	}
	if learn {
		return nil, nil
	}
	// Keep the input order: query matches where they were, each stateful
	// rule's alerts where its first candidate was.
	result := make([]detect.Match, 0, len(matches))
	done := map[*detect.Rule]bool{}
	for _, m := range matches {
		if !m.Rule.Stateful() {
			result = append(result, m)
			continue
		}
		if !done[m.Rule] {
			done[m.Rule] = true
			result = append(result, emitted[m.Rule]...)
		}
	}
	return result, nil
}

// errConflict is a write lost to another writer; the decision is made
// again on the newer document.
var errConflict = errors.New("conflict")

// retry runs fn until it does not return errConflict, at most maxAttempts
// times, pausing a short random time between attempts.
func retry(ctx context.Context, what string, fn func() error) error {
	_, err := backoff.Retry(ctx, func() (struct{}, error) {
		err := fn()
		if err != nil && !errors.Is(err, errConflict) {
			return struct{}{}, backoff.Permanent(err)
		}
		return struct{}{}, err
	}, backoff.WithBackOff(&backoff.ExponentialBackOff{
		InitialInterval: 2 * time.Millisecond, RandomizationFactor: 1, Multiplier: 2, MaxInterval: 125 * time.Millisecond,
	}), backoff.WithMaxTries(maxAttempts), backoff.WithMaxElapsedTime(0))
	if errors.Is(err, errConflict) {
		return fmt.Errorf("%s: document kept changing under %d attempts", what, maxAttempts)
	}
	return err
}

// write encodes doc and creates it (etag empty) or replaces it; a lost race
// is errConflict.
func write(ctx context.Context, st Store, id string, doc any, etag string, stats *Stats) error {
	body, err := json.Marshal(doc)
	if err != nil {
		// An event time outside years 0-9999 cannot be encoded.
		return fmt.Errorf("encode state document %s: %w", id, err)
	}
	stats.Writes++
	if etag == "" {
		_, err = st.Create(ctx, id, body)
	} else {
		_, err = st.Replace(ctx, id, body, etag)
	}
	if errors.Is(err, store.ErrExists) || errors.Is(err, store.ErrStale) || errors.Is(err, store.ErrNotFound) {
		return errConflict
	}
	return err
}

// read gets a document; absent is (nil, "", nil).
func read(ctx context.Context, st Store, id string, stats *Stats) ([]byte, string, error) {
	stats.Reads++
	item, err := st.Get(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, "", nil
	}
	if err != nil {
		return nil, "", err
	}
	return item.Body, item.ETag, nil
}

// maxCombinations caps the term combinations one record yields (arrays in
// several fields multiply).
const maxCombinations = 100

// combinations returns the value combinations of fields in doc, as Elastic
// expands arrays: every value of an array is a term of its own, and several
// fields combine every value of each. A field missing, null or empty yields
// none (Elastic's aggregations skip documents without the field).
func combinations(doc map[string]any, fields []string) [][]string {
	combos := [][]string{{}}
	for _, f := range fields {
		vals := values(doc, f)
		if len(vals) == 0 {
			return nil
		}
		var next [][]string
		for _, c := range combos {
			for _, v := range vals {
				if len(next) == maxCombinations {
					break
				}
				next = append(next, append(append([]string(nil), c...), v))
			}
		}
		combos = next
	}
	return combos
}

// values reads the scalar values of a field, each element of an array
// (once, in order).
func values(doc map[string]any, path string) []string {
	v, ok := ecs.Lookup(doc, path)
	if !ok {
		return nil
	}
	var out []string
	seen := map[string]bool{}
	var add func(v any)
	add = func(v any) {
		s := ""
		switch t := v.(type) {
		case string:
			s = t
		case bool:
			s = fmt.Sprint(t)
		case fmt.Stringer: // json.Number
			s = t.String()
		case []any:
			for _, e := range t {
				add(e)
			}
			return
		default:
			return
		}
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	add(v)
	return out
}

// key joins a combination unambiguously.
func key(combo []string) string { return strings.Join(combo, "\x1f") }

func hash(parts ...string) string {
	sum := sha256.Sum256([]byte(strings.Join(parts, "\x00")))
	return hex.EncodeToString(sum[:16])
}

// identityHash is the stored form of a record identity; empty stays empty
// (a record without identity cannot be recognised again).
func identityHash(identity string) string {
	if identity == "" {
		return ""
	}
	return hash(identity)
}

// withField returns a copy of m whose event carries one more top-level
// field and a new identity (the pipeline keys records by it).
func withField(m detect.Match, field string, value any, identity string) detect.Match {
	ev := *m.Event
	ev.Doc = maps.Clone(m.Event.Doc)
	ev.Doc[field] = value
	ev.Identity = identity
	m.Event = &ev
	return m
}

func ttlSeconds(d time.Duration) int {
	s := int(d / time.Second)
	if s < 1 {
		s = 1
	}
	return s
}

func isNotFound(err error) bool { return errors.Is(err, store.ErrNotFound) }
