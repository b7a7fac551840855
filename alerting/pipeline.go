// Package alerting is one invocation's work: evaluate the messages (detect),
// group the matches, record every alert exactly once in the store with its
// suppression window, then deliver notifications. It also holds Tripline's
// configuration.
//
// Its few types: Pipeline (the work), Store and Notifier (what it needs from
// the store and the channels, declared here where they are used), Outcome
// (what one invocation did) and Config (settings).
//
// Caveat: a Pipeline returns an error only when some alert could not be made
// durable because the store failed transiently; the caller must then fail
// the invocation so the host retries. Malformed records, channel outages and
// what no retry can change (a group document the store refuses or cannot
// read: its matches are dead-lettered, deadletter.go) are reported in the
// Outcome, never as errors.
package alerting

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"sort"
	"time"

	"github.com/cenkalti/backoff/v5"

	"github.com/tripline/tripline/alert"
	"github.com/tripline/tripline/detect"
	"github.com/tripline/tripline/stateful"
	"github.com/tripline/tripline/store"
)

// Store is the document store the pipeline records alerts in. Both
// store/cosmos and store/bolt implement it; see package store for the
// contract of each method and its sentinel errors.
type Store interface {
	stateful.Store // Get, Create, Replace: what stateful decisions need too
	Pending(ctx context.Context, limit int) ([]store.Item, error)
}

// Notifier delivers alerts to the configured channels and keeps their
// per-channel state on the alert (notify.Dispatcher implements it).
type Notifier interface {
	// Prepare marks every channel pending on a new alert.
	Prepare(a *alert.Alert)
	// Due reports whether some pending channel is due for an attempt.
	Due(a *alert.Alert) bool
	// Attempt sends to every pending, due channel and updates the alert's
	// delivery state; it reports whether anything changed.
	Attempt(ctx context.Context, a *alert.Alert) bool
	// SendHeldBack tells every channel how many alerts of a rule were held
	// back by max_signals (best effort).
	SendHeldBack(ctx context.Context, h alert.HeldBack)
}

// Pipeline runs invocations. Its fields are set once by main; it is safe for
// concurrent use.
type Pipeline struct {
	Engine *detect.Engine
	Store  Store
	// Notifier is nil when no channel is configured.
	Notifier Notifier
	// TTL is how long a group document lives after its last change.
	TTL time.Duration
	// CheckEveryRecord decodes every record (detect.Result.DecodeAll)
	// instead of only those some rule may match, so that every record that
	// is not valid JSON or not an Azure record is reported as a skip. The
	// alerts are the same; it is several times slower (scan --check-records).
	CheckEveryRecord bool
	Now              func() time.Time
	Logger           *slog.Logger

	// Delivery shapes delivery passes (claims, inline budget).
	Delivery DeliveryOptions
	// Stateful decides threshold and new_terms rules (package stateful);
	// nil works, with one more store read per invocation for new_terms.
	Stateful *stateful.Decider
}

// Outcome is what one invocation did.
type Outcome struct {
	// Messages counts the messages of the batch; Records their records.
	Messages int
	Records  int
	Skips    []detect.Skip
	// Matched counts distinct (rule, record) matches after exceptions.
	Matched  int
	Excepted int
	// Alerts are the alerts this invocation touched, each with the state
	// the invocation gave it (new, suppressed or duplicate).
	Alerts []alert.Alert
	// New, Suppressed and Duplicates count matches by what they did.
	New, Suppressed, Duplicates int
	// HeldBack lists, per rule, new alerts beyond max_signals: recorded but
	// not notified one by one.
	HeldBack []alert.HeldBack
	// Undelivered counts new alerts still pending on some channel after the
	// inline attempt (the retry pass will take them).
	Undelivered int
	// StoreCalls counts store operations (reads, writes), those of
	// stateful rules included.
	StoreCalls int
	// Truncated counts the new alerts recorded with their event cut to fit
	// the store (Alert.Truncated).
	Truncated int
	// DeadLetters are the ids of the dead-letter documents this invocation
	// wrote: matches that no group document could take, and alerts still
	// waiting for a delivery pushed out of a full one (deadletter.go;
	// `tripline deadletter` lists them).
	DeadLetters []string
	// Stateful is what the threshold and new_terms decisions did.
	Stateful stateful.Stats
}

// maxApplyAttempts bounds optimistic-concurrency attempts per group; between
// attempts a short random pause lets the competing writer finish.
const maxApplyAttempts = 20

func (p *Pipeline) now() time.Time {
	if p.Now != nil {
		return p.Now().UTC()
	}
	return time.Now().UTC()
}

func (p *Pipeline) logger() *slog.Logger {
	if p.Logger != nil {
		return p.Logger
	}
	return slog.New(slog.DiscardHandler)
}

// Process evaluates a batch of messages and records its alerts. It returns an
// error only when an alert could not be recorded durably (store failure); a
// batch with no match makes no store call at all.
func (p *Pipeline) Process(ctx context.Context, messages [][]byte) (*Outcome, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	// The messages of a batch are evaluated on every core: an
	// invocation's latency, not only its throughput.
	res := detect.Result{DecodeAll: p.CheckEveryRecord}
	p.Engine.EvaluateMessages(messages, runtime.GOMAXPROCS(0), &res)
	return p.Record(ctx, len(messages), &res)
}

// Record records the alerts of evaluated messages (scan evaluates its
// records itself, cut once as it reads them). Like Process, it fails only
// when an alert could not be made durable.
func (p *Pipeline) Record(ctx context.Context, messages int, res *detect.Result) (*Outcome, error) {
	out := &Outcome{Messages: messages, Records: res.Records, Skips: res.Skips, Matched: len(res.Matches), Excepted: res.Excepted}
	if len(res.Matches) == 0 {
		return out, nil
	}

	newPerRule := map[string]int{}
	heldBack := map[string]*alert.HeldBack{}
	var fresh []freshAlert
	err := p.batch(ctx, func(st Store) error {
		// In the same unit as the alerts, so that a failed invocation
		// leaves no state in the embedded store (Cosmos: see stateful).
		var sts stateful.Stats
		matches, err := p.Stateful.Decide(ctx, st, res.Matches, &sts)
		out.Stateful = sts
		out.StoreCalls += sts.Reads + sts.Writes
		if err != nil {
			return err
		}
		for _, g := range groupMatches(matches) {
			created, err := p.recordGroup(ctx, st, g, newPerRule, out)
			if err != nil {
				return err
			}
			for _, c := range created {
				if c.held {
					h := heldBack[g.rule.ID]
					if h == nil {
						h = &alert.HeldBack{Rule: ruleInfo(g.rule)}
						heldBack[g.rule.ID] = h
					}
					h.Count++
					continue
				}
				fresh = append(fresh, c)
			}
		}
		return nil
	})
	if err != nil {
		return out, err
	}
	for _, r := range p.Engine.Rules() {
		if h := heldBack[r.ID]; h != nil {
			out.HeldBack = append(out.HeldBack, *h)
		}
	}
	if p.Notifier != nil {
		p.deliverInline(ctx, fresh, out)
		for _, h := range out.HeldBack {
			p.Notifier.SendHeldBack(ctx, h)
		}
	}
	return out, nil
}

// batchStore is a Store that can make several operations one unit, which
// commits whole or not at all (store/bolt: one pair of fsyncs for an
// invocation's alerts instead of a pair per group).
type batchStore interface {
	Batch(ctx context.Context, fn func(tx store.Tx) error) error
}

// batch runs fn with the store it must use: one unit of the store (a
// store.Tx) when the store can do that, else the store itself. If it fails,
// nothing fn wrote is kept, so the retried invocation records everything
// again.
func (p *Pipeline) batch(ctx context.Context, fn func(st Store) error) error {
	if b, ok := p.Store.(batchStore); ok {
		return b.Batch(ctx, func(tx store.Tx) error { return fn(tx) })
	}
	return fn(p.Store)
}

// groupMatches groups matches by rule and group key, in order of first
// appearance, each group's matches sorted by event time so windows open at
// the earliest match.
func groupMatches(matches []detect.Match) []*group {
	var groups []*group
	index := map[string]*group{}
	for _, m := range matches {
		key, values := groupKey(m.Rule, m.Event)
		k := m.Rule.ID + "\x00" + key
		g := index[k]
		if g == nil {
			g = &group{rule: m.Rule, key: key, values: values}
			index[k] = g
			groups = append(groups, g)
		}
		g.matches = append(g.matches, m)
	}
	for _, g := range groups {
		sort.SliceStable(g.matches, func(i, j int) bool {
			return g.matches[i].Event.Time.Before(g.matches[j].Event.Time)
		})
	}
	return groups
}

// freshAlert is an alert this invocation created.
type freshAlert struct {
	docID string
	id    string
	held  bool
}

// recordGroup applies one group's matches to its document in st: one read
// and one write, repeated only when another writer got there first, after a
// short random pause (conflictBackOff) so that competing writers do not
// retry in lockstep.
//
// Failures are of two kinds. A transient one (the store unavailable,
// throttled or timed out) is returned, so the invocation fails and the
// host retries it. A permanent one, which no retry can change (a document
// the store refuses as invalid, one that cannot be encoded under its
// budget, a stored document that cannot be read), is never returned: with
// maxRetryCount -1 the host would retry the batch forever and stall the
// partition. The group is written once more in its smallest form (every
// event dropped, alerts marked truncated); if that fails too, its matches
// are dead-lettered (deadletter.go) and the batch goes on.
func (p *Pipeline) recordGroup(ctx context.Context, st Store, g *group, newPerRule map[string]int, out *Outcome) ([]freshAlert, error) {
	docID := groupDocID(g.rule.ID, g.key)
	minimal := false
	pause := conflictBackOff()
	for attempt := 0; attempt < maxApplyAttempts; attempt++ {
		if attempt > 0 {
			if err := pauseAfterConflict(ctx, pause); err != nil {
				return nil, err
			}
		}
		doc, etag, err := p.load(ctx, st, docID, out)
		if errors.Is(err, errUnreadable) {
			return nil, p.deadLetterMatches(ctx, st, g, docID, err.Error(), out)
		}
		if err != nil {
			return nil, err
		}
		if doc == nil {
			doc = &groupDoc{ID: docID, RuleID: g.rule.ID, GroupKey: g.key}
		}
		ap := p.apply(doc, g, newPerRule[g.rule.ID])
		if !ap.changed {
			p.report(doc, ap, out)
			return nil, nil
		}
		doc.TTL = int(p.TTL / time.Second)
		pushedOut := doc.trim()
		doc.refreshPending()
		if minimal {
			doc.dropEvents()
		}
		body, err := doc.marshal()
		if err == nil {
			// Before the write that drops them, so that a failure in
			// between leaves the alerts in one place or both, never none.
			for i := range pushedOut {
				if pushedOut[i].Pending() {
					if err := p.deadLetterAlert(ctx, st, doc, &pushedOut[i], out); err != nil {
						return nil, err
					}
				}
			}
			out.StoreCalls++
			if etag == "" {
				_, err = st.Create(ctx, docID, body)
			} else {
				_, err = st.Replace(ctx, docID, body, etag)
			}
			if errors.Is(err, store.ErrExists) || errors.Is(err, store.ErrStale) || errors.Is(err, store.ErrNotFound) {
				continue // someone else wrote the group; apply again on their version
			}
			if err != nil && !errors.Is(err, store.ErrInvalid) {
				return nil, fmt.Errorf("record alert of rule %s: %w", g.rule.ID, err)
			}
		}
		if err != nil { // permanent: marshal refused it, or the store did
			if !minimal {
				p.logger().Warn("group document refused; writing it without events", "rule", g.rule.ID, "document", docID, "error", err)
				minimal = true
				continue
			}
			return nil, p.deadLetterMatches(ctx, st, g, docID, fmt.Sprintf("group document %s refused: %v", docID, err), out)
		}
		newPerRule[g.rule.ID] += len(ap.created)
		for _, c := range ap.created {
			if sa := doc.find(c.id); sa != nil && sa.Truncated {
				out.Truncated++
			}
		}
		p.report(doc, ap, out)
		return ap.created, nil
	}
	return nil, fmt.Errorf("record alert of rule %s: document %s kept changing under %d attempts", g.rule.ID, docID, maxApplyAttempts)
}

// conflictBackOff paces the retries of a write lost to another writer: a
// short random pause, exponential from a few milliseconds up to 250 ms, so
// that competing writers do not retry in lockstep.
func conflictBackOff() *backoff.ExponentialBackOff {
	return &backoff.ExponentialBackOff{
		InitialInterval:     2 * time.Millisecond,
		RandomizationFactor: 1, // 0 to twice the interval
		Multiplier:          2,
		MaxInterval:         125 * time.Millisecond,
	}
}

// pauseAfterConflict waits b's next interval, or until ctx ends.
func pauseAfterConflict(ctx context.Context, b backoff.BackOff) error {
	t := time.NewTimer(b.NextBackOff())
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func (p *Pipeline) load(ctx context.Context, st Store, id string, out *Outcome) (*groupDoc, string, error) {
	out.StoreCalls++
	item, err := st.Get(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, "", nil
	}
	if err != nil {
		return nil, "", fmt.Errorf("read alert document: %w", err)
	}
	doc, err := decodeGroupDoc(item.Body)
	if err != nil {
		return nil, "", fmt.Errorf("%w: %s: %v", errUnreadable, id, err)
	}
	return doc, item.ETag, nil
}

// errUnreadable is load's error for a stored document that is not a group
// document: permanent, as no retry changes the stored bytes.
var errUnreadable = errors.New("unreadable alert document")

// applied is what applying a group's matches did to its document.
type applied struct {
	changed bool
	created []freshAlert
	// states maps alert id to what this invocation did to it.
	states map[string]alert.State
	order  []string
	newN   int
	suppN  int
	dupN   int
}

// apply counts a group's matches into its document. It is pure: it may run
// again on a newer version of the document after a conflict.
func (p *Pipeline) apply(doc *groupDoc, g *group, alreadyNew int) applied {
	ap := applied{states: map[string]alert.State{}}
	mark := func(id string, s alert.State) {
		prev, seen := ap.states[id]
		if !seen {
			ap.order = append(ap.order, id)
		}
		// new beats suppressed beats duplicate
		if !seen || s == alert.StateNew || (s == alert.StateSuppressed && prev == alert.StateDuplicate) {
			ap.states[id] = s
		}
	}
	dur := g.rule.Suppression.Duration
	seen := doc.seenSet()
	for _, m := range g.matches {
		h := recordHash(m.Event.Identity)
		t := m.Event.Time
		if t.IsZero() {
			t = p.now()
		}
		if m.Event.Identity != "" && seen[h] {
			ap.dupN++
			if a := doc.windowFor(t, dur); a != nil {
				mark(a.ID, alert.StateDuplicate)
			} else if len(doc.Alerts) > 0 {
				mark(doc.Alerts[len(doc.Alerts)-1].ID, alert.StateDuplicate)
			}
			continue
		}
		ap.changed = true
		if m.Event.Identity != "" {
			// Only the newest maxSeen stay (bound): see groupDoc.Seen.
			seen[h] = true
			doc.Seen = append(doc.Seen, h)
		}
		if a := doc.windowFor(t, dur); a != nil {
			a.Count++
			if t.Before(a.FirstSeen) {
				a.FirstSeen = t
			}
			if t.After(a.LastSeen) {
				a.LastSeen = t
			}
			ap.suppN++
			mark(a.ID, alert.StateSuppressed)
			continue
		}
		id := alertID(doc.ID, t)
		ev, truncated := trimEvent(m.Event.Doc, maxEventSize)
		sa := storedAlert{
			Alert: alert.Alert{
				ID:        id,
				Rule:      ruleInfo(g.rule),
				State:     alert.StateNew,
				Count:     1,
				FirstSeen: t,
				LastSeen:  t,
				WindowEnd: t.Add(dur),
				Group:     g.values,
				Source:    m.Event.Source,
				Truncated: truncated,
			},
			WindowStart: t,
			Event:       ev,
		}
		held := g.rule.MaxSignals > 0 && alreadyNew+len(ap.created) >= g.rule.MaxSignals
		sa.HeldBack = held
		if !held && p.Notifier != nil {
			p.Notifier.Prepare(&sa.Alert)
			// Keep the retry pass away while the inline attempt runs.
			for _, d := range sa.Deliveries {
				d.NextAttempt = p.now().Add(p.Delivery.lease())
			}
		}
		doc.Alerts = append(doc.Alerts, sa)
		ap.created = append(ap.created, freshAlert{docID: doc.ID, id: id, held: held})
		ap.newN++
		mark(id, alert.StateNew)
	}
	return ap
}

// report adds what a group's application did to the outcome.
func (p *Pipeline) report(doc *groupDoc, ap applied, out *Outcome) {
	out.New += ap.newN
	out.Suppressed += ap.suppN
	out.Duplicates += ap.dupN
	for _, id := range ap.order {
		sa := doc.find(id)
		if sa == nil {
			continue
		}
		a := sa.full()
		a.State = ap.states[id]
		out.Alerts = append(out.Alerts, a)
	}
}
