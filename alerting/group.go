package alerting

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/tripline/tripline/alert"
	"github.com/tripline/tripline/detect"
	"github.com/tripline/tripline/detect/ecs"
)

// The group document and its size budget.
//
// A group document holds one suppression group (one rule, one group key):
// its current alert, the recently closed ones, and the identities of the
// records last counted, so that a redelivered record is recognised. Cosmos
// DB refuses an item over 2 MB, and a refused write can never succeed on a
// retry, so a document must never reach it: its size is bounded by
// construction, each part capped on every write (bound), and the caps add
// up to less than docBudget (the constant below fails to compile when they
// do not). marshal still refuses a document over docBudget, which bound
// makes impossible; the pipeline treats that refusal, like any write no
// retry can fix, as permanent (recordGroup).
const (
	// docBudget is the hard limit of an encoded group document: well below
	// Cosmos DB's 2 MB so that a store's own fields and a future field
	// never push it over.
	docBudget = 1536 << 10
	// maxEventSize caps the JSON of one stored event (trimEvent).
	maxEventSize = 64 << 10
	// maxEvents is how many alerts of a document keep their event: the
	// newest (open) one and the newest ones still waiting for a delivery,
	// whose notification is rendered from it. A closed alert whose
	// deliveries are done keeps none.
	maxEvents = 8
	// maxClosedAlerts caps the closed alerts kept with no pending delivery;
	// maxAlerts caps all alerts. An alert with a pending delivery pushed out
	// by maxAlerts is dead-lettered (pipeline.go), never silently dropped.
	maxClosedAlerts = 20
	maxAlerts       = 48
	// maxSeen caps the record identities kept (a rolling set: the newest
	// maxSeen, whichever alert they were counted in). A redelivered record
	// still in the set counts nothing; one older than the set counts again.
	// See docs/store.md for how likely that is.
	maxSeen = 1000
	// seenEntry is one identity in the document: 32 hex digits, two quotes
	// and a comma.
	seenEntry = 35
	// alertMetaCap bounds one alert without its event: the clip limits
	// below (rule summary, group values, delivery errors) keep it under
	// this with the four channels Tripline has (TestWorstCaseDocumentFits).
	alertMetaCap = 16 << 10
	// headerCap bounds the document's own fields (id, ttl, rule id, group key).
	headerCap = 4 << 10
)

// The caps add up to less than the budget; a negative difference does not
// convert to uint64 and the build fails.
const _ = uint64(docBudget - headerCap - maxSeen*seenEntry - maxAlerts*alertMetaCap - maxEvents*(maxEventSize+len(`,"event":`)))

// Clip limits (encoded bytes) of the strings an alert copies from its rule
// and its first record.
const (
	clipRuleID      = 256
	clipName        = 384
	clipSeverity    = 64
	clipDescription = 1536
	maxSteps        = 5
	clipStep        = 384
	maxTechniques   = 8
	clipTechID      = 64
	clipTechName    = 160
	clipTechRef     = 192
	maxGroupFields  = 8
	clipGroupName   = 128
	clipGroupValue  = 256
	clipSource      = 64
	clipLastError   = 512
	clipGroupKey    = 1024
)

// groupDoc is the stored document of one suppression group: one rule, one
// group key. Its id is derived from both, so every instance and function
// that sees a match of that group reads and writes the same document. It
// is written and read with encoding/json.
type groupDoc struct {
	ID  string `json:"id"`
	TTL int    `json:"ttl"`
	// Pending is true while some alert of the document waits for a
	// delivery; the retry pass queries on it.
	Pending bool   `json:"pending"`
	RuleID  string `json:"rule_id"`
	// GroupKey is the group's values, for people reading the store; cut to
	// clipGroupKey (the id is derived from the whole key).
	GroupKey string        `json:"group_key"`
	Alerts   []storedAlert `json:"alerts"`
	// Seen is the rolling set of the identities (hashed) of the records
	// last counted into the group, oldest first, at most maxSeen.
	Seen []string `json:"seen"`
}

// storedAlert is an alert with its window.
type storedAlert struct {
	alert.Alert
	WindowStart time.Time `json:"window_start"`
	// HeldBack is true when the alert exceeded its rule's max_signals in the
	// invocation that created it: recorded, summarised, not notified alone.
	HeldBack bool `json:"held_back,omitempty"`
	// Event is Alert.Event in the document (it shadows it there): the JSON
	// trimEvent wrote when the alert was created, at most maxEventSize, or
	// absent once the alert no longer needs it (bound). Alert.Event is
	// decoded from it when the alert is handed out (full).
	Event json.RawMessage `json:"event,omitempty"`
	// Claim is the delivery pass holding the alert, if any (delivery.go).
	Claim *deliveryClaim `json:"claim,omitempty"`
	// Records are the identities counted into the alert in documents
	// written before the rolling set (Seen); decodeGroupDoc moves them
	// there, and they are never written again.
	Records []string `json:"records,omitempty"`
}

// decodeGroupDoc reads a stored group document; the events stay JSON. A
// document of the earlier layout (identities per alert, events in every
// alert) is brought to the current one; bound then shrinks it on write.
func decodeGroupDoc(body []byte) (*groupDoc, error) {
	var doc groupDoc
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, err
	}
	var legacy []string
	for i := range doc.Alerts {
		legacy = append(legacy, doc.Alerts[i].Records...)
		doc.Alerts[i].Records = nil
	}
	if len(legacy) > 0 {
		doc.Seen = append(legacy, doc.Seen...)
		doc.capSeen()
	}
	return &doc, nil
}

// errOverBudget is marshal's refusal of a document over docBudget.
var errOverBudget = errors.New("group document over its size budget")

// marshal bounds the document (bound) and encodes it. It fails only on a
// document bound could not bring under docBudget (errOverBudget, which the
// caps make impossible) or a value encoding/json refuses; both are
// permanent.
func (d *groupDoc) marshal() ([]byte, error) {
	d.bound()
	b, err := json.Marshal(d)
	if err != nil {
		return nil, err
	}
	if len(b) > docBudget {
		return nil, fmt.Errorf("%w: %d bytes, budget %d", errOverBudget, len(b), docBudget)
	}
	return b, nil
}

// bound applies the caps: header strings, the rolling set, each alert's
// strings and which alerts keep an event. It is idempotent, and cheap on a
// document already bounded.
func (d *groupDoc) bound() {
	d.RuleID = clip(d.RuleID, clipRuleID)
	d.GroupKey = clip(d.GroupKey, clipGroupKey)
	d.capSeen()
	keep := d.eventKeepers()
	for i := range d.Alerts {
		a := &d.Alerts[i]
		a.clipMeta()
		if !keep[i] {
			a.Event = nil
			continue
		}
		if len(a.Event) > maxEventSize {
			// Only a document of the earlier layout has one.
			var ev map[string]any
			dec := json.NewDecoder(bytes.NewReader(a.Event))
			dec.UseNumber()
			if dec.Decode(&ev) != nil {
				ev = nil
			}
			a.Event, _ = trimEvent(ev, maxEventSize)
			a.Truncated = true
		}
	}
}

// eventKeepers marks the alerts that keep their event: the newest one by
// window start, then the newest pending ones, maxEvents in all.
func (d *groupDoc) eventKeepers() []bool {
	keep := make([]bool, len(d.Alerts))
	order := make([]int, len(d.Alerts))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(x, y int) bool {
		return d.Alerts[order[x]].WindowStart.After(d.Alerts[order[y]].WindowStart)
	})
	n := 0
	for k, i := range order {
		if n < maxEvents && (k == 0 || d.Alerts[i].Pending()) {
			keep[i] = true
			n++
		}
	}
	return keep
}

// clipMeta applies the clip limits to the strings the alert copies from
// its rule and its first record.
func (a *storedAlert) clipMeta() {
	r := &a.Rule
	r.ID = clip(r.ID, clipRuleID)
	r.Name = clip(r.Name, clipName)
	r.Severity = clip(r.Severity, clipSeverity)
	r.Description = clip(r.Description, clipDescription)
	if len(r.Steps) > maxSteps {
		r.Steps = r.Steps[:maxSteps]
	}
	for i := range r.Steps {
		r.Steps[i] = clip(r.Steps[i], clipStep)
	}
	if len(r.Techniques) > maxTechniques {
		r.Techniques = r.Techniques[:maxTechniques]
	}
	for i := range r.Techniques {
		t := &r.Techniques[i]
		t.ID, t.Name, t.Reference = clip(t.ID, clipTechID), clip(t.Name, clipTechName), clip(t.Reference, clipTechRef)
	}
	a.Source = clip(a.Source, clipSource)
	if len(a.Group) > 0 {
		clipped := make(map[string]string, len(a.Group))
		for _, k := range slices.Sorted(maps.Keys(a.Group)) {
			if len(clipped) == maxGroupFields {
				break
			}
			clipped[clip(k, clipGroupName)] = clip(a.Group[k], clipGroupValue)
		}
		a.Group = clipped
	}
	for _, dl := range a.Deliveries {
		if dl != nil {
			dl.LastError = clip(dl.LastError, clipLastError)
		}
	}
}

// capSeen keeps the newest maxSeen identities.
func (d *groupDoc) capSeen() {
	if n := len(d.Seen) - maxSeen; n > 0 {
		d.Seen = slices.Clone(d.Seen[n:])
	}
}

// full returns the alert with its event decoded.
func (a *storedAlert) full() alert.Alert {
	out := a.Alert
	if out.Event == nil && len(a.Event) > 0 {
		// Valid JSON: decodeGroupDoc read it, or trimEvent wrote it.
		_ = json.Unmarshal(a.Event, &out.Event)
	}
	return out
}

func (d *groupDoc) refreshPending() {
	d.Pending = false
	for i := range d.Alerts {
		if d.Alerts[i].Pending() {
			d.Pending = true
			return
		}
	}
}

func (d *groupDoc) find(alertID string) *storedAlert {
	for i := range d.Alerts {
		if d.Alerts[i].ID == alertID {
			return &d.Alerts[i]
		}
	}
	return nil
}

// seenSet returns the rolling set as a set, for one apply.
func (d *groupDoc) seenSet() map[string]bool {
	s := make(map[string]bool, len(d.Seen))
	for _, h := range d.Seen {
		s[h] = true
	}
	return s
}

// windowFor returns the alert a match at time t joins: the one whose window
// [start, start+duration) contains t, or one whose window starts less than a
// duration after t (an out-of-order match moves first_seen back). nil means
// the match opens a new alert.
func (d *groupDoc) windowFor(t time.Time, duration time.Duration) *storedAlert {
	for i := len(d.Alerts) - 1; i >= 0; i-- {
		a := &d.Alerts[i]
		if !t.Before(a.WindowStart) && t.Before(a.WindowEnd) {
			return a
		}
	}
	for i := range d.Alerts {
		a := &d.Alerts[i]
		if t.Before(a.WindowStart) && a.WindowStart.Sub(t) < duration {
			return a
		}
	}
	return nil
}

// trim drops the oldest closed alerts beyond maxClosedAlerts that have no
// pending delivery, then, beyond maxAlerts, the oldest alerts even with a
// pending delivery; it returns those, which the caller must dead-letter.
// The newest alert is never dropped.
func (d *groupDoc) trim() (pushedOut []storedAlert) {
	for len(d.Alerts) > maxClosedAlerts+1 {
		i := slices.IndexFunc(d.Alerts[:len(d.Alerts)-1], func(a storedAlert) bool { return !a.Pending() })
		if i < 0 {
			break
		}
		d.Alerts = slices.Delete(d.Alerts, i, i+1)
	}
	for len(d.Alerts) > maxAlerts {
		pushedOut = append(pushedOut, d.Alerts[0])
		d.Alerts = slices.Delete(d.Alerts, 0, 1)
	}
	return pushedOut
}

// group is the matches of one rule and one group key in one invocation.
type group struct {
	rule    *detect.Rule
	key     string
	values  map[string]string
	matches []detect.Match
}

// groupKey computes a match's suppression group. Values are compared
// case-insensitively because Azure does not keep the case of resource ids
// stable between the Activity Log and Event Grid. A rule without group_by
// groups by record identity (every distinct record is its own alert, and a
// redelivery of it is recognised).
func groupKey(r *detect.Rule, ev *ecs.Event) (key string, values map[string]string) {
	values = map[string]string{}
	s := r.Suppression
	if len(s.GroupBy) == 0 {
		return "record:" + ev.Identity, values
	}
	var parts []string
	for _, f := range s.GroupBy {
		v, ok := fieldString(ev.Doc, f)
		if !ok {
			if !s.SuppressMissing {
				return "record:" + ev.Identity, values
			}
			parts = append(parts, f+"=\x00missing")
			continue
		}
		values[f] = v
		parts = append(parts, f+"="+strings.ToUpper(v))
	}
	return strings.Join(parts, "\x1f"), values
}

// fieldString reads a field by its dotted path (keys containing dots are
// found too); arrays are joined with commas in sorted order.
func fieldString(doc map[string]any, path string) (string, bool) {
	v, ok := ecs.Lookup(doc, path)
	if !ok || v == nil {
		return "", false
	}
	switch t := v.(type) {
	case string:
		return t, true
	case json.Number:
		return t.String(), true
	case bool:
		if t {
			return "true", true
		}
		return "false", true
	case []any:
		var ss []string
		for _, e := range t {
			if s, ok := e.(string); ok {
				ss = append(ss, s)
			}
		}
		if len(ss) == 0 {
			return "", false
		}
		sort.Strings(ss)
		return strings.Join(ss, ","), true
	}
	return "", false
}

func groupDocID(ruleID, key string) string {
	return "grp-" + shortHash(ruleID+"\x00"+key)
}

func recordHash(identity string) string { return shortHash(identity) }

func shortHash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:16])
}

// alertID names an alert: its group document and the start of its window,
// stable across retries and instances.
func alertID(docID string, windowStart time.Time) string {
	return "alt-" + shortHash(docID+"\x00"+windowStart.UTC().Format(time.RFC3339Nano))
}

// dropEvents removes every stored event, marking the alerts truncated: the
// smallest form of the document, for a write refused as it was.
func (d *groupDoc) dropEvents() {
	for i := range d.Alerts {
		if a := &d.Alerts[i]; len(a.Event) > 0 || a.Alert.Event != nil {
			a.Event, a.Alert.Event, a.Truncated = nil, nil, true
		}
	}
}
