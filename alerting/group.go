package alerting

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"sort"
	"strings"
	"time"

	jsonv2 "github.com/go-json-experiment/json"
	jsonv1 "github.com/go-json-experiment/json/v1"

	"github.com/tripline/tripline/alert"
	"github.com/tripline/tripline/detect"
	"github.com/tripline/tripline/detect/ecs"
)

// Limits of one group document. A document holds the current alert of its
// suppression group and the recently closed ones, with the identities of the
// records counted in each, so that a redelivered record is recognised
// whichever window it belongs to.
const (
	// maxRecordsPerAlert caps the identities kept per alert (16 bytes of hex
	// each). Beyond it the count still grows, but a redelivery of those
	// records can no longer be recognised; 10,000 keeps a document under
	// about 400 KB.
	maxRecordsPerAlert = 10000
	// maxClosedAlerts caps the closed alerts kept in a document; alerts with
	// a pending delivery are always kept.
	maxClosedAlerts = 20
)

// groupDoc is the stored document of one suppression group: one rule, one
// group key. Its id is derived from both, so every instance and function
// that sees a match of that group reads and writes the same document.
type groupDoc struct {
	ID  string `json:"id"`
	TTL int    `json:"ttl"`
	// Pending is true while some alert of the document waits for a
	// delivery; the retry pass queries on it.
	Pending  bool          `json:"pending"`
	RuleID   string        `json:"rule_id"`
	GroupKey string        `json:"group_key"`
	Alerts   []storedAlert `json:"alerts"`
}

// storedAlert is an alert with its window and counted records.
type storedAlert struct {
	alert.Alert
	WindowStart time.Time `json:"window_start"`
	// Records are the identities (hashed) counted into the alert.
	Records []string `json:"records"`
	// HeldBack is true when the alert exceeded its rule's max_signals in the
	// invocation that created it: recorded, summarised, not notified alone.
	HeldBack bool `json:"held_back,omitempty"`
	// Event is Alert.Event in the document (it shadows it there): the JSON
	// the event was read as, or first encoded as. The document keeps the
	// events of up to maxClosedAlerts+1 alerts, about 100 KB in a busy
	// group, and is read and written whole on every match; decoding those
	// events and encoding them again was most of that cost. Alert.Event is
	// decoded from it when the alert is handed out (full).
	Event json.RawMessage `json:"event,omitempty"`
	// Claim is the delivery pass holding the alert, if any (delivery.go).
	Claim *deliveryClaim `json:"claim,omitempty"`
}

// The group document is read with encoding/json/v2's implementation
// (go-json-experiment/json, the module the standard library's v2 comes
// from) under the options that make it behave as encoding/json
// (jsonv1.DefaultOptionsV1), with events kept as JSON: in less than half
// the time of encoding/json in a busy group, which reads each stored event
// twice (it checks the whole document, then skips through each
// json.RawMessage). It is written by appendGroupDoc (groupjson.go), each
// new event encoded by appendEvent (eventjson.go), both with encoding/json's
// bytes.
var groupDocJSON = jsonv1.DefaultOptionsV1()

// decodeGroupDoc reads a stored group document; the events stay JSON.
func decodeGroupDoc(body []byte) (*groupDoc, error) {
	var doc groupDoc
	if err := jsonv2.Unmarshal(body, &doc, groupDocJSON); err != nil {
		return nil, err
	}
	return &doc, nil
}

// marshal encodes the document, encoding the event of each alert created
// since it was read into its stored form first. The document must be
// written with marshal: encoding/json's Marshal leaves such events out.
func (d *groupDoc) marshal() ([]byte, error) {
	for i := range d.Alerts {
		if a := &d.Alerts[i]; a.Event == nil && a.Alert.Event != nil {
			// 4 KB holds most events without a regrowth.
			ev, err := appendEvent(make([]byte, 0, 4<<10), a.Alert.Event)
			if err != nil {
				return nil, err
			}
			a.Event = ev
		}
	}
	// Each alert's own fields and rule summary take about 1.5 KB.
	size := 512
	for i := range d.Alerts {
		size += len(d.Alerts[i].Event) + 2<<10
	}
	return appendGroupDoc(make([]byte, 0, size), d)
}

// full returns the alert with its event decoded.
func (a *storedAlert) full() alert.Alert {
	out := a.Alert
	if out.Event == nil && len(a.Event) > 0 {
		// Valid JSON: decodeGroupDoc checked it, or marshal wrote it.
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

// hasRecord reports whether a record identity was already counted in any
// alert of the document.
func (d *groupDoc) hasRecord(h string) bool {
	for i := range d.Alerts {
		for _, r := range d.Alerts[i].Records {
			if r == h {
				return true
			}
		}
	}
	return false
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

// trim drops the oldest closed alerts beyond maxClosedAlerts, never one with a
// pending delivery.
func (d *groupDoc) trim() {
	for len(d.Alerts) > maxClosedAlerts+1 {
		dropped := false
		for i := 0; i < len(d.Alerts)-1; i++ {
			if !d.Alerts[i].Pending() {
				d.Alerts = append(d.Alerts[:i], d.Alerts[i+1:]...)
				dropped = true
				break
			}
		}
		if !dropped {
			return
		}
	}
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
