package function

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
	var err error
	dst = append(dst, `{"id":`...)
	if dst, err = appendString(dst, d.ID); err != nil {
		return dst, err
	}
	dst = append(dst, `,"ttl":`...)
	dst = strconv.AppendInt(dst, int64(d.TTL), 10)
	dst = append(dst, `,"pending":`...)
	dst = strconv.AppendBool(dst, d.Pending)
	dst = append(dst, `,"rule_id":`...)
	if dst, err = appendString(dst, d.RuleID); err != nil {
		return dst, err
	}
	dst = append(dst, `,"group_key":`...)
	if dst, err = appendString(dst, d.GroupKey); err != nil {
		return dst, err
	}
	dst = append(dst, `,"alerts":`...)
	if d.Alerts == nil {
		return append(dst, "null}"...), nil
	}
	dst = append(dst, '[')
	for i := range d.Alerts {
		if i > 0 {
			dst = append(dst, ',')
		}
		if dst, err = appendStoredAlert(dst, &d.Alerts[i]); err != nil {
			return dst, err
		}
	}
	return append(dst, "]}"...), nil
}

// appendStoredAlert writes the fields of the embedded alert.Alert first, in
// their order, then storedAlert's own; its Event takes the place of
// Alert.Event, which it shadows.
func appendStoredAlert(dst []byte, a *storedAlert) ([]byte, error) {
	var err error
	dst = append(dst, `{"id":`...)
	if dst, err = appendString(dst, a.ID); err != nil {
		return dst, err
	}
	dst = append(dst, `,"rule":`...)
	if dst, err = appendRuleInfo(dst, &a.Rule); err != nil {
		return dst, err
	}
	dst = append(dst, `,"state":`...)
	if dst, err = appendString(dst, string(a.State)); err != nil {
		return dst, err
	}
	dst = append(dst, `,"count":`...)
	dst = strconv.AppendInt(dst, int64(a.Count), 10)
	dst = append(dst, `,"first_seen":`...)
	if dst, err = appendTime(dst, a.FirstSeen); err != nil {
		return dst, err
	}
	dst = append(dst, `,"last_seen":`...)
	if dst, err = appendTime(dst, a.LastSeen); err != nil {
		return dst, err
	}
	dst = append(dst, `,"window_end":`...)
	if dst, err = appendTime(dst, a.WindowEnd); err != nil {
		return dst, err
	}
	dst = append(dst, `,"group":`...)
	if dst, err = appendStringMap(dst, a.Group); err != nil {
		return dst, err
	}
	dst = append(dst, `,"source":`...)
	if dst, err = appendString(dst, a.Source); err != nil {
		return dst, err
	}
	if len(a.Deliveries) > 0 {
		dst = append(dst, `,"deliveries":`...)
		if dst, err = appendDeliveries(dst, a.Deliveries); err != nil {
			return dst, err
		}
	}
	dst = append(dst, `,"window_start":`...)
	if dst, err = appendTime(dst, a.WindowStart); err != nil {
		return dst, err
	}
	dst = append(dst, `,"records":`...)
	if dst, err = appendStrings(dst, a.Records); err != nil {
		return dst, err
	}
	if a.HeldBack {
		dst = append(dst, `,"held_back":true`...)
	}
	if len(a.Event) > 0 {
		dst = append(dst, `,"event":`...)
		dst = append(dst, a.Event...)
	}
	return append(dst, '}'), nil
}

func appendRuleInfo(dst []byte, r *alert.RuleInfo) ([]byte, error) {
	var err error
	dst = append(dst, `{"id":`...)
	if dst, err = appendString(dst, r.ID); err != nil {
		return dst, err
	}
	dst = append(dst, `,"name":`...)
	if dst, err = appendString(dst, r.Name); err != nil {
		return dst, err
	}
	dst = append(dst, `,"severity":`...)
	if dst, err = appendString(dst, r.Severity); err != nil {
		return dst, err
	}
	dst = append(dst, `,"risk_score":`...)
	dst = strconv.AppendInt(dst, int64(r.RiskScore), 10)
	if r.Description != "" {
		dst = append(dst, `,"description":`...)
		if dst, err = appendString(dst, r.Description); err != nil {
			return dst, err
		}
	}
	if len(r.Techniques) > 0 {
		dst = append(dst, `,"techniques":[`...)
		for i, t := range r.Techniques {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = append(dst, `{"id":`...)
			if dst, err = appendString(dst, t.ID); err != nil {
				return dst, err
			}
			dst = append(dst, `,"name":`...)
			if dst, err = appendString(dst, t.Name); err != nil {
				return dst, err
			}
			if t.Reference != "" {
				dst = append(dst, `,"reference":`...)
				if dst, err = appendString(dst, t.Reference); err != nil {
					return dst, err
				}
			}
			dst = append(dst, '}')
		}
		dst = append(dst, ']')
	}
	if len(r.Steps) > 0 {
		dst = append(dst, `,"steps":`...)
		if dst, err = appendStrings(dst, r.Steps); err != nil {
			return dst, err
		}
	}
	return append(dst, '}'), nil
}

func appendDeliveries(dst []byte, ds map[string]*alert.Delivery) ([]byte, error) {
	var err error
	dst = append(dst, '{')
	for i, k := range slices.Sorted(maps.Keys(ds)) {
		if i > 0 {
			dst = append(dst, ',')
		}
		if dst, err = appendString(dst, k); err != nil {
			return dst, err
		}
		dst = append(dst, ':')
		d := ds[k]
		if d == nil {
			dst = append(dst, "null"...)
			continue
		}
		dst = append(dst, `{"state":`...)
		if dst, err = appendString(dst, string(d.State)); err != nil {
			return dst, err
		}
		dst = append(dst, `,"attempts":`...)
		dst = strconv.AppendInt(dst, int64(d.Attempts), 10)
		if d.LastError != "" {
			dst = append(dst, `,"last_error":`...)
			if dst, err = appendString(dst, d.LastError); err != nil {
				return dst, err
			}
		}
		for _, t := range [...]struct {
			name string
			at   time.Time
		}{{`,"last_attempt":`, d.LastAttempt}, {`,"next_attempt":`, d.NextAttempt}, {`,"sent_at":`, d.SentAt}, {`,"since":`, d.Since}} {
			if !t.at.IsZero() {
				dst = append(dst, t.name...)
				if dst, err = appendTime(dst, t.at); err != nil {
					return dst, err
				}
			}
		}
		dst = append(dst, '}')
	}
	return append(dst, '}'), nil
}

// appendStringMap writes a map[string]string: null when nil, keys sorted.
func appendStringMap(dst []byte, m map[string]string) ([]byte, error) {
	if m == nil {
		return append(dst, "null"...), nil
	}
	var err error
	dst = append(dst, '{')
	for i, k := range slices.Sorted(maps.Keys(m)) {
		if i > 0 {
			dst = append(dst, ',')
		}
		if dst, err = appendString(dst, k); err != nil {
			return dst, err
		}
		dst = append(dst, ':')
		if dst, err = appendString(dst, m[k]); err != nil {
			return dst, err
		}
	}
	return append(dst, '}'), nil
}

// appendStrings writes a []string: null when nil.
func appendStrings(dst []byte, ss []string) ([]byte, error) {
	if ss == nil {
		return append(dst, "null"...), nil
	}
	var err error
	dst = append(dst, '[')
	for i, s := range ss {
		if i > 0 {
			dst = append(dst, ',')
		}
		if dst, err = appendString(dst, s); err != nil {
			return dst, err
		}
	}
	return append(dst, ']'), nil
}

// appendTime writes t as time.Time.MarshalJSON does, failing where it fails
// (a year outside 0–9999).
func appendTime(dst []byte, t time.Time) ([]byte, error) {
	dst = append(dst, '"')
	dst, err := t.AppendText(dst)
	return append(dst, '"'), err
}
