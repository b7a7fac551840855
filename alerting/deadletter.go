package alerting

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/tripline/tripline/alert"
	"github.com/tripline/tripline/store"
)

// The dead-letter place: what could not be recorded as an alert is kept in
// the same store, visibly, instead of failing the batch forever. Each dead
// letter is a document of its own ("dl-" and a hash: the same matches, or
// the same alert, always make the same id, so a retried invocation finds
// it written and writes nothing twice), and the index document
// deadLetterIndexID lists the newest maxDeadLetterIndex of them, which is
// what `tripline deadletter` reads: the store interface has no listing
// other than Pending, which is the retry pass's. Both live as long as the
// group documents (Pipeline.TTL after their last write).
const (
	deadLetterIndexID = "dead-letters"
	// maxDeadLetterIndex caps the index's entries (under 1 KB each, the
	// reason clipped), the oldest dropped first; Total keeps counting.
	maxDeadLetterIndex = 1000
	// maxDeadRecords caps the records a dead letter keeps, each event cut
	// to maxEventSize: with the alert and header, well under docBudget.
	maxDeadRecords = 16
	clipReason     = 512
	clipIdentity   = 512
)

// Dead-letter kinds.
const (
	// DeadMatches: matches of a group whose document could not be written
	// or read.
	DeadMatches = "matches"
	// DeadAlert: an alert still waiting for a delivery, pushed out of a
	// group document at its maxAlerts; its notification was not sent.
	DeadAlert = "alert"
)

// deadLetterDoc is one dead letter as stored.
type deadLetterDoc struct {
	ID  string `json:"id"`
	TTL int    `json:"ttl"`
	DeadLetter
	GroupDoc string       `json:"group_doc"`
	GroupKey string       `json:"group_key"`
	Records  []deadRecord `json:"records,omitempty"`
	Alert    *alert.Alert `json:"alert,omitempty"`
}

// deadRecord is one match kept in a dead letter.
type deadRecord struct {
	Identity  string          `json:"identity"`
	Time      time.Time       `json:"time"`
	Source    string          `json:"source"`
	Event     json.RawMessage `json:"event"`
	Truncated bool            `json:"truncated,omitempty"`
}

// DeadLetter is one entry of the dead-letter index.
type DeadLetter struct {
	// ID is the dead letter's document id (DeadLetterBody reads it).
	ID   string    `json:"dead_letter"`
	Kind string    `json:"kind"` // DeadMatches or DeadAlert
	At   time.Time `json:"at"`   // when it was written (wall clock)
	// RuleID is the rule of the matches or alert.
	RuleID string `json:"rule_id"`
	// Matches is how many matches it stands for (DeadMatches), or the
	// alert's count (DeadAlert).
	Matches int    `json:"matches"`
	Reason  string `json:"reason"`
}

// deadLetterIndex is the index document.
type deadLetterIndex struct {
	ID  string `json:"id"`
	TTL int    `json:"ttl"`
	// Total counts every dead letter listed since the index was created.
	Total   int          `json:"total"`
	Entries []DeadLetter `json:"entries"`
}

// deadLetterMatches writes a group's matches as a dead letter. It returns an
// error only when the store failed transiently (the invocation must then
// be retried); a dead letter the store refuses is logged and dropped, the
// last resort having no further one.
func (p *Pipeline) deadLetterMatches(ctx context.Context, st Store, g *group, docID, reason string, out *Outcome) error {
	var ids strings.Builder
	for _, m := range g.matches {
		ids.WriteString(recordHash(m.Event.Identity))
	}
	dl := &deadLetterDoc{
		ID: "dl-" + shortHash(docID+"\x00"+ids.String()),
		DeadLetter: DeadLetter{
			Kind: DeadMatches, RuleID: g.rule.ID, Matches: len(g.matches), Reason: reason,
		},
		GroupDoc: docID,
		GroupKey: g.key,
	}
	for _, m := range g.matches[:min(len(g.matches), maxDeadRecords)] {
		ev, truncated := trimEvent(m.Event.Doc, maxEventSize)
		dl.Records = append(dl.Records, deadRecord{
			Identity: clip(m.Event.Identity, clipIdentity), Time: m.Event.Time, Source: m.Event.Source, Event: ev, Truncated: truncated,
		})
	}
	return p.writeDeadLetter(ctx, st, dl, out)
}

// deadLetterAlert writes an alert pushed out of its group document.
func (p *Pipeline) deadLetterAlert(ctx context.Context, st Store, doc *groupDoc, sa *storedAlert, out *Outcome) error {
	a := sa.full()
	dl := &deadLetterDoc{
		ID: "dl-" + shortHash("alert\x00"+a.ID),
		DeadLetter: DeadLetter{
			Kind: DeadAlert, RuleID: doc.RuleID, Matches: a.Count,
			Reason: fmt.Sprintf("group document %s holds %d alerts at most; this one still waited for a delivery, which was not made", doc.ID, maxAlerts),
		},
		GroupDoc: doc.ID,
		GroupKey: doc.GroupKey,
		Alert:    &a,
	}
	return p.writeDeadLetter(ctx, st, dl, out)
}

// writeDeadLetter creates the dead letter in st (the store, or the
// invocation's transaction on it) and lists it in the index.
func (p *Pipeline) writeDeadLetter(ctx context.Context, st Store, dl *deadLetterDoc, out *Outcome) error {
	dl.TTL = int(p.TTL / time.Second)
	dl.DeadLetter.ID = dl.ID
	dl.At = p.now()
	dl.Reason = clip(dl.Reason, clipReason)
	dl.RuleID = clip(dl.RuleID, clipRuleID)
	dl.GroupKey = clip(dl.GroupKey, clipGroupKey)
	body, err := json.Marshal(dl)
	if err == nil && len(body) > docBudget {
		err = fmt.Errorf("%w: dead letter of %d bytes", errOverBudget, len(body))
	}
	if err == nil {
		out.StoreCalls++
		_, err = st.Create(ctx, dl.ID, body)
		if errors.Is(err, store.ErrExists) {
			err = nil // an earlier attempt of this invocation wrote it
		} else if err != nil && !errors.Is(err, store.ErrInvalid) {
			return fmt.Errorf("write dead letter %s: %w", dl.ID, err)
		}
	}
	if err != nil {
		p.logger().Error("dead letter not written", "dead_letter", dl.ID, "rule", dl.RuleID, "matches", dl.Matches, "reason", dl.Reason, "error", err)
		return nil
	}
	p.logger().Error("dead-lettered", "dead_letter", dl.ID, "kind", dl.Kind, "rule", dl.RuleID, "matches", dl.Matches, "reason", dl.Reason)
	out.DeadLetters = append(out.DeadLetters, dl.ID)
	return p.indexDeadLetter(ctx, st, dl.DeadLetter, dl.ID, out)
}

// indexDeadLetter adds an entry to the index, once.
func (p *Pipeline) indexDeadLetter(ctx context.Context, st Store, e DeadLetter, id string, out *Outcome) error {
	e.ID = id
	pause := conflictBackOff()
	for attempt := 0; attempt < maxApplyAttempts; attempt++ {
		if attempt > 0 {
			if err := pauseAfterConflict(ctx, pause); err != nil {
				return err
			}
		}
		idx, etag, err := p.loadIndex(ctx, st, out)
		if err != nil {
			return err
		}
		for _, have := range idx.Entries {
			if have.ID == id {
				return nil
			}
		}
		idx.Total++
		idx.Entries = append(idx.Entries, e)
		if n := len(idx.Entries) - maxDeadLetterIndex; n > 0 {
			idx.Entries = append([]DeadLetter(nil), idx.Entries[n:]...)
		}
		idx.TTL = int(p.TTL / time.Second)
		body, err := json.Marshal(idx)
		if err != nil {
			return fmt.Errorf("encode dead-letter index: %w", err)
		}
		out.StoreCalls++
		if etag == "" {
			_, err = st.Create(ctx, deadLetterIndexID, body)
		} else {
			_, err = st.Replace(ctx, deadLetterIndexID, body, etag)
		}
		if errors.Is(err, store.ErrExists) || errors.Is(err, store.ErrStale) || errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return fmt.Errorf("list dead letter %s: %w", id, err)
		}
		return nil
	}
	return fmt.Errorf("list dead letter %s: the index kept changing under %d attempts", id, maxApplyAttempts)
}

// loadIndex reads the index; an absent one is empty (etag ""). One that
// cannot be read is started afresh, replacing it: it only lists documents
// that stay in the store.
func (p *Pipeline) loadIndex(ctx context.Context, st Store, out *Outcome) (*deadLetterIndex, string, error) {
	out.StoreCalls++
	item, err := st.Get(ctx, deadLetterIndexID)
	if errors.Is(err, store.ErrNotFound) {
		return &deadLetterIndex{ID: deadLetterIndexID}, "", nil
	}
	if err != nil {
		return nil, "", fmt.Errorf("read dead-letter index: %w", err)
	}
	var idx deadLetterIndex
	if err := json.Unmarshal(item.Body, &idx); err != nil {
		p.logger().Error("dead-letter index unreadable; starting a new one", "error", err)
		idx = deadLetterIndex{}
	}
	idx.ID = deadLetterIndexID
	return &idx, item.ETag, nil
}

// DeadLetters returns the dead-letter index: its entries, oldest first, and
// the number of dead letters it has ever listed (more than the entries once
// the oldest were dropped). An empty store has none.
func (p *Pipeline) DeadLetters(ctx context.Context) (entries []DeadLetter, total int, err error) {
	var scratch Outcome
	idx, _, err := p.loadIndex(ctx, p.Store, &scratch)
	if err != nil {
		return nil, 0, err
	}
	return idx.Entries, idx.Total, nil
}

// DeadLetterBody returns a dead letter's stored document (the matches'
// records, or the alert), as JSON. It returns an error matching
// store.ErrNotFound once the document has expired.
func (p *Pipeline) DeadLetterBody(ctx context.Context, id string) ([]byte, error) {
	if !strings.HasPrefix(id, "dl-") {
		return nil, fmt.Errorf("%q is not a dead-letter id (they start with dl-)", id)
	}
	item, err := p.Store.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	return item.Body, nil
}
