package stateful

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/tripline/tripline/detect"
)

// Limits of one threshold document. It is written only until its threshold
// is crossed, so it holds at most the records counted until then.
const (
	// maxCountedRecords caps the identities kept (32 bytes of hex each,
	// about 66 KB): beyond it the count still grows, but a redelivery of
	// those records is counted again.
	maxCountedRecords = 2000
	// maxDistinct caps the hashed cardinality values kept.
	maxDistinct = 2000
	// lateGrace is how long after its last write a window's document is
	// kept for late and redelivered records: Event Hubs keeps events up to
	// 7 days (Standard tier).
	lateGrace = 7 * 24 * time.Hour
)

// ThresholdField is the field the alerting match of a threshold rule
// carries its result in, as Elastic's alerts carry
// kibana.alert.threshold_result: count, from (window start), terms and
// cardinality.
const ThresholdField = "kibana.alert.threshold_result"

// thresholdDoc is one window of one group of a threshold rule.
type thresholdDoc struct {
	ID          string    `json:"id"`
	TTL         int       `json:"ttl"`
	Kind        string    `json:"kind"`
	RuleID      string    `json:"rule_id"`
	Group       []string  `json:"group"`
	WindowStart time.Time `json:"window_start"`
	Count       int       `json:"count"`
	// Records are the hashed identities counted; Distinct the hashed
	// values of the cardinality field.
	Records  []string `json:"records"`
	Distinct []string `json:"distinct,omitempty"`
	// Crossed is set by the write that counted the record reaching the
	// threshold; CrossedBy is that record's hashed identity.
	Crossed   bool      `json:"crossed"`
	CrossedBy string    `json:"crossed_by,omitempty"`
	CrossedAt time.Time `json:"crossed_at,omitzero"`
}

// WindowStart is the start of the fixed window of a threshold rule that an
// event time falls in: windows of the rule's look-back, aligned to the zero
// time (so to midnight UTC for look-backs dividing a day).
func WindowStart(t time.Time, window time.Duration) time.Time { return t.UTC().Truncate(window) }

func (d *Decider) threshold(ctx context.Context, st Store, r *detect.Rule, ms []detect.Match, stats *Stats) ([]detect.Match, error) {
	th := r.Threshold
	type cand struct {
		combo []string
		start time.Time
		ms    []detect.Match
	}
	var cands []*cand
	index := map[string]*cand{}
	for _, m := range ms {
		start := WindowStart(m.Event.Time, th.Window)
		for _, combo := range combinations(m.Event.Doc, th.Fields) {
			k := key(combo) + "\x1e" + start.Format(time.RFC3339)
			c := index[k]
			if c == nil {
				c = &cand{combo: combo, start: start}
				index[k] = c
				cands = append(cands, c)
			}
			c.ms = append(c.ms, m)
		}
	}
	var out []detect.Match
	for _, c := range cands {
		id := "thr-" + hash(r.ID, key(c.combo), c.start.Format(time.RFC3339))
		var emit *detect.Match
		var crossed bool
		err := retry(ctx, "threshold of rule "+r.ID, func() error {
			emit, crossed = nil, false
			body, etag, err := read(ctx, st, id, stats)
			if err != nil {
				return fmt.Errorf("read threshold of rule %s: %w", r.ID, err)
			}
			doc := thresholdDoc{ID: id, Kind: "threshold_window", RuleID: r.ID, Group: c.combo, WindowStart: c.start}
			if body != nil {
				if err := json.Unmarshal(body, &doc); err != nil {
					return fmt.Errorf("decode threshold %s of rule %s: %w", id, r.ID, err)
				}
			}
			if doc.Crossed {
				// Only a redelivery of the crossing record alerts again
				// (and the pipeline recognises it); nothing is written.
				for _, m := range c.ms {
					if doc.CrossedBy != "" && identityHash(m.Event.Identity) == doc.CrossedBy {
						em := thresholdMatch(r, m, &doc)
						emit = &em
						break
					}
				}
				return nil
			}
			counted := make(map[string]bool, len(doc.Records))
			for _, h := range doc.Records {
				counted[h] = true
			}
			distinct := make(map[string]bool, len(doc.Distinct))
			for _, h := range doc.Distinct {
				distinct[h] = true
			}
			changed := false
			for _, m := range c.ms {
				h := identityHash(m.Event.Identity)
				if h != "" && counted[h] {
					continue // counted before: a redelivery
				}
				if h != "" && len(doc.Records) < maxCountedRecords {
					counted[h] = true
					doc.Records = append(doc.Records, h)
				}
				doc.Count++
				changed = true
				if th.Cardinality != nil {
					for _, v := range values(m.Event.Doc, th.Cardinality.Field) {
						vh := hash(v)
						if !distinct[vh] && len(doc.Distinct) < maxDistinct {
							distinct[vh] = true
							doc.Distinct = append(doc.Distinct, vh)
						}
					}
				}
				if doc.Count >= th.Value && (th.Cardinality == nil || len(doc.Distinct) >= th.Cardinality.Value) {
					doc.Crossed, doc.CrossedBy, doc.CrossedAt = true, h, m.Event.Time
					em := thresholdMatch(r, m, &doc)
					emit = &em
					break
				}
			}
			if !changed {
				return nil
			}
			doc.TTL = ttlSeconds(th.Window + lateGrace)
			if err := write(ctx, st, id, doc, etag, stats); err != nil {
				emit = nil
				return err
			}
			crossed = doc.Crossed
			return nil
		})
		if err != nil {
			return nil, err
		}
		if crossed {
			stats.Crossed++
		}
		if emit != nil {
			out = append(out, *emit)
		}
	}
	return out, nil
}

// thresholdMatch is the alerting match of a crossed threshold: the crossing
// record, with the result, and an identity naming the window, so that the
// window alerts once.
func thresholdMatch(r *detect.Rule, m detect.Match, doc *thresholdDoc) detect.Match {
	terms := make([]any, len(r.Threshold.Fields))
	for i, f := range r.Threshold.Fields {
		terms[i] = map[string]any{"field": f, "value": doc.Group[i]}
	}
	res := map[string]any{"count": doc.Count, "from": doc.WindowStart.Format(time.RFC3339), "terms": terms}
	if c := r.Threshold.Cardinality; c != nil {
		res["cardinality"] = []any{map[string]any{"field": c.Field, "value": len(doc.Distinct)}}
	}
	return withField(m, ThresholdField, res, "threshold|"+doc.ID)
}
