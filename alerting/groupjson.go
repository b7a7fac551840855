package alerting

import (
	"maps"
	"slices"
	"strconv"
	"time"

	"github.com/tripline/tripline/alert"
)

// appendGroupDoc appends the JSON of a group document as encoding/json
// writes it: fields in declaration order with their tags, omitempty and
// omitzero honoured, map keys sorted, strings escaped by appendString,
// times as time.Time.MarshalJSON writes them
// (TestGroupDocCodecIsEncodingJSON, FuzzAppendGroupDoc).
//
// One difference is deliberate: a stored event (json.RawMessage) is copied
// as it is, where encoding/json would compact it and escape <, > and & in
// it again. Those bytes are valid JSON either way: appendEvent wrote them,
// or decodeGroupDoc read them and checked them then. The value is the same,
// which is all the stores promise about a body.
//
// Why not a library call: a document is read and written whole for every
// group an invocation matches, and holds the events of up to 21 alerts.
// go-json-experiment/json under v1 options validated and re-escaped every
// stored event on each write; that was half of recording a match on the
// benchmark corpus.
func appendGroupDoc(dst []byte, d *groupDoc) ([]byte, error) {
	w := docWriter{b: dst}
	w.str(`{"id":`, d.ID)
	w.int(`,"ttl":`, d.TTL)
	w.b = append(w.b, `,"pending":`...)
	w.b = strconv.AppendBool(w.b, d.Pending)
	w.str(`,"rule_id":`, d.RuleID)
	w.str(`,"group_key":`, d.GroupKey)
	w.b = append(w.b, `,"alerts":`...)
	if d.Alerts == nil {
		w.b = append(w.b, "null"...)
	} else {
		w.b = append(w.b, '[')
		for i := range d.Alerts {
			if i > 0 {
				w.b = append(w.b, ',')
			}
			w.storedAlert(&d.Alerts[i])
		}
		w.b = append(w.b, ']')
	}
	w.b = append(w.b, '}')
	return w.b, w.err
}

// docWriter appends fields to b and keeps the first error, so that a
// document is written as a list of fields. Each name is written with the
// punctuation before it and its colon.
type docWriter struct {
	b   []byte
	err error
}

func (w *docWriter) str(name, s string) {
	w.b = append(w.b, name...)
	var err error
	if w.b, err = appendString(w.b, s); w.err == nil {
		w.err = err
	}
}

func (w *docWriter) int(name string, n int) {
	w.b = append(w.b, name...)
	w.b = strconv.AppendInt(w.b, int64(n), 10)
}

// time writes t as time.Time.MarshalJSON does, failing where it fails (a
// year outside 0–9999).
func (w *docWriter) time(name string, t time.Time) {
	w.b = append(w.b, name...)
	w.b = append(w.b, '"')
	var err error
	if w.b, err = t.AppendText(w.b); w.err == nil {
		w.err = err
	}
	w.b = append(w.b, '"')
}

// strings writes a []string: null when nil.
func (w *docWriter) strings(name string, ss []string) {
	w.b = append(w.b, name...)
	if ss == nil {
		w.b = append(w.b, "null"...)
		return
	}
	w.b = append(w.b, '[')
	for i, s := range ss {
		if i > 0 {
			w.b = append(w.b, ',')
		}
		w.str("", s)
	}
	w.b = append(w.b, ']')
}

// storedAlert writes the fields of the embedded alert.Alert first, in
// their order, then storedAlert's own; its Event takes the place of
// Alert.Event, which it shadows.
func (w *docWriter) storedAlert(a *storedAlert) {
	w.str(`{"id":`, a.ID)
	w.ruleInfo(`,"rule":`, &a.Rule)
	w.str(`,"state":`, string(a.State))
	w.int(`,"count":`, a.Count)
	w.time(`,"first_seen":`, a.FirstSeen)
	w.time(`,"last_seen":`, a.LastSeen)
	w.time(`,"window_end":`, a.WindowEnd)
	w.b = append(w.b, `,"group":`...)
	if a.Group == nil {
		w.b = append(w.b, "null"...)
	} else {
		w.b = append(w.b, '{')
		for i, k := range slices.Sorted(maps.Keys(a.Group)) {
			if i > 0 {
				w.b = append(w.b, ',')
			}
			w.str("", k)
			w.str(":", a.Group[k])
		}
		w.b = append(w.b, '}')
	}
	w.str(`,"source":`, a.Source)
	if len(a.Deliveries) > 0 {
		w.deliveries(`,"deliveries":`, a.Deliveries)
	}
	w.time(`,"window_start":`, a.WindowStart)
	w.strings(`,"records":`, a.Records)
	if a.HeldBack {
		w.b = append(w.b, `,"held_back":true`...)
	}
	if len(a.Event) > 0 {
		w.b = append(w.b, `,"event":`...)
		w.b = append(w.b, a.Event...)
	}
	if c := a.Claim; c != nil {
		w.str(`,"claim":{"owner":`, c.Owner)
		w.time(`,"until":`, c.Until)
		w.b = append(w.b, '}')
	}
	w.b = append(w.b, '}')
}

func (w *docWriter) ruleInfo(name string, r *alert.RuleInfo) {
	w.b = append(w.b, name...)
	w.str(`{"id":`, r.ID)
	w.str(`,"name":`, r.Name)
	w.str(`,"severity":`, r.Severity)
	w.int(`,"risk_score":`, r.RiskScore)
	if r.Description != "" {
		w.str(`,"description":`, r.Description)
	}
	if len(r.Techniques) > 0 {
		w.b = append(w.b, `,"techniques":[`...)
		for i, t := range r.Techniques {
			if i > 0 {
				w.b = append(w.b, ',')
			}
			w.str(`{"id":`, t.ID)
			w.str(`,"name":`, t.Name)
			if t.Reference != "" {
				w.str(`,"reference":`, t.Reference)
			}
			w.b = append(w.b, '}')
		}
		w.b = append(w.b, ']')
	}
	if len(r.Steps) > 0 {
		w.strings(`,"steps":`, r.Steps)
	}
	w.b = append(w.b, '}')
}

func (w *docWriter) deliveries(name string, ds map[string]*alert.Delivery) {
	w.b = append(w.b, name...)
	w.b = append(w.b, '{')
	for i, k := range slices.Sorted(maps.Keys(ds)) {
		if i > 0 {
			w.b = append(w.b, ',')
		}
		w.str("", k)
		d := ds[k]
		if d == nil {
			w.b = append(w.b, ":null"...)
			continue
		}
		w.str(`:{"state":`, string(d.State))
		w.int(`,"attempts":`, d.Attempts)
		if d.LastError != "" {
			w.str(`,"last_error":`, d.LastError)
		}
		for _, t := range [...]struct {
			name string
			at   time.Time
		}{{`,"last_attempt":`, d.LastAttempt}, {`,"next_attempt":`, d.NextAttempt}, {`,"sent_at":`, d.SentAt}, {`,"since":`, d.Since}} {
			if !t.at.IsZero() {
				w.time(t.name, t.at)
			}
		}
		w.b = append(w.b, '}')
	}
	w.b = append(w.b, '}')
}
