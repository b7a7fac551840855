package stateful

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/tripline/tripline/detect"
)

// termDoc is the state of one term combination of one new_terms rule.
type termDoc struct {
	ID     string   `json:"id"`
	TTL    int      `json:"ttl"`
	Kind   string   `json:"kind"`
	RuleID string   `json:"rule_id"`
	Term   []string `json:"term"`
	// LastSeen is the latest event time of a matching record carrying the
	// term, kept up to date within refreshOf(window).
	LastSeen time.Time `json:"last_seen"`
	// First and FirstSeen are the hashed identity and event time of the
	// record that made the term new (or first recorded it); Alerted says
	// whether that record alerted, so that its redelivery alerts again (and
	// the pipeline recognises it) while no other record does.
	First     string    `json:"first"`
	FirstSeen time.Time `json:"first_seen"`
	Alerted   bool      `json:"alerted"`
}

// coverDoc is the start of the time a new_terms rule's terms have been
// recorded: by tripline learn, or by the pipeline from the first matching
// record it decided.
type coverDoc struct {
	ID     string    `json:"id"`
	TTL    int       `json:"ttl"`
	Kind   string    `json:"kind"`
	RuleID string    `json:"rule_id"`
	Since  time.Time `json:"since"`
}

// refreshOf is how stale a stored last-seen time may get before a sighting
// rewrites it: a twenty-fourth of the history window (7 hours of 7 days).
// It bounds the writes of a busy term to 24 per window, and makes a term
// look new at most that much early.
func refreshOf(window time.Duration) time.Duration { return window / 24 }

// NewTermsField is the field the alerting match of a new_terms rule carries
// the new term in (its values, in the order of the rule's fields), as
// Elastic's alerts carry kibana.alert.new_terms.
const NewTermsField = "kibana.alert.new_terms"

func coverID(ruleID string) string { return "ntc-" + hash(ruleID) }

func (d *Decider) newTerms(ctx context.Context, st Store, r *detect.Rule, ms []detect.Match, learn bool, stats *Stats) ([]detect.Match, error) {
	window := r.NewTerms.HistoryWindow
	type cand struct {
		combo []string
		ms    []detect.Match
	}
	var cands []*cand
	index := map[string]*cand{}
	for _, m := range ms {
		for _, combo := range combinations(m.Event.Doc, r.NewTerms.Fields) {
			k := key(combo)
			c := index[k]
			if c == nil {
				c = &cand{combo: combo}
				index[k] = c
				cands = append(cands, c)
			}
			c.ms = append(c.ms, m)
		}
	}
	if len(cands) == 0 {
		return nil, nil
	}
	var since time.Time
	if !learn && !d.AssumeCovered {
		var err error
		if since, err = d.coverage(ctx, st, r, ms[0].Event.Time, stats); err != nil {
			return nil, err
		}
	}
	var out []detect.Match
	for _, c := range cands {
		id := "ntt-" + hash(r.ID, key(c.combo))
		first, last := c.ms[0], c.ms[len(c.ms)-1].Event.Time
		var emit *detect.Match
		var learned, fresh bool
		err := retry(ctx, "new term of rule "+r.ID, func() error {
			emit, learned, fresh = nil, false, false
			body, etag, err := read(ctx, st, id, stats)
			if err != nil {
				return fmt.Errorf("read new term of rule %s: %w", r.ID, err)
			}
			var doc termDoc
			if body != nil {
				if err := json.Unmarshal(body, &doc); err != nil {
					return fmt.Errorf("decode new term %s of rule %s: %w", id, r.ID, err)
				}
				if doc.Alerted && doc.First != "" && !learn {
					for _, m := range c.ms {
						if identityHash(m.Event.Identity) == doc.First {
							em := newTermMatch(m, id, &doc)
							emit = &em // redelivery of the record that made it new
							return nil
						}
					}
				}
				if first.Event.Time.Sub(doc.LastSeen) <= window {
					// Seen within the window: not new.
					if last.Sub(doc.LastSeen) < refreshOf(window) {
						return nil
					}
					doc.LastSeen = last
					if doc.TTL = termTTL(window, last, d.now()); doc.TTL <= 0 {
						return nil // a sighting older than the window (by the clock)
					}
					return write(ctx, st, id, doc, etag, stats)
				}
			}
			armed := !learn && (d.AssumeCovered || !first.Event.Time.Before(since.Add(window)))
			lastSeen := last
			if doc.LastSeen.After(lastSeen) {
				lastSeen = doc.LastSeen
			}
			nd := termDoc{ID: id, Kind: "new_terms_term", RuleID: r.ID, Term: c.combo, LastSeen: lastSeen,
				First: identityHash(first.Event.Identity), FirstSeen: first.Event.Time, Alerted: armed}
			nd.TTL = termTTL(window, lastSeen, d.now())
			if nd.TTL <= 0 && !armed {
				return nil // learned from history already outside the window
			}
			if nd.TTL <= 0 {
				nd.TTL = 1
			}
			if err := write(ctx, st, id, nd, etag, stats); err != nil {
				return err
			}
			if armed {
				em := newTermMatch(first, id, &nd)
				emit, fresh = &em, true
			} else {
				learned = true
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		if learned {
			stats.LearnedTerms++
		}
		if fresh {
			stats.NewTerms++
		}
		if emit != nil {
			out = append(out, *emit)
		}
	}
	return out, nil
}

// newTermMatch is the alerting match of a new term: the record that made it
// new, with the term, and an identity naming the term and that record, so
// that each new term is one alert and its redelivery is recognised.
func newTermMatch(m detect.Match, docID string, doc *termDoc) detect.Match {
	term := make([]any, len(doc.Term))
	for i, v := range doc.Term {
		term[i] = v
	}
	identity := "new_terms|" + docID + "|" + doc.FirstSeen.UTC().Format(time.RFC3339Nano) + "|" + doc.First
	return withField(m, NewTermsField, term, identity)
}

// termTTL is how long a term document must live after a write now: until
// its last sighting leaves the history window, plus the refresh slack.
func termTTL(window time.Duration, lastSeen, now time.Time) int {
	left := window + refreshOf(window) - now.Sub(lastSeen)
	if left <= 0 {
		return 0
	}
	return ttlSeconds(left)
}

// coverage returns the start of the time rule r's terms have been recorded,
// creating the rule's coverage document from earliest when it has none.
func (d *Decider) coverage(ctx context.Context, st Store, r *detect.Rule, earliest time.Time, stats *Stats) (time.Time, error) {
	if v, ok := d.armed.Load(r.ID); ok {
		return v.(time.Time), nil
	}
	id := coverID(r.ID)
	var since time.Time
	err := retry(ctx, "coverage of rule "+r.ID, func() error {
		body, _, err := read(ctx, st, id, stats)
		if err != nil {
			return fmt.Errorf("read coverage of rule %s: %w", r.ID, err)
		}
		if body != nil {
			var doc coverDoc
			if err := json.Unmarshal(body, &doc); err != nil {
				return fmt.Errorf("decode coverage of rule %s: %w", r.ID, err)
			}
			since = doc.Since
			return nil
		}
		since = earliest
		return write(ctx, st, id, coverDoc{ID: id, TTL: -1, Kind: "new_terms_coverage", RuleID: r.ID, Since: earliest}, "", stats)
	})
	if err != nil {
		return time.Time{}, err
	}
	if !d.now().Before(since.Add(r.NewTerms.HistoryWindow)) {
		d.armed.Store(r.ID, since)
	}
	return since, nil
}

// Coverage reads the start of the time a new_terms rule's terms have been
// recorded; ok is false when nothing has been recorded yet. The rule alerts
// on records from since + its history window.
func Coverage(ctx context.Context, st Store, r *detect.Rule) (since time.Time, ok bool, err error) {
	item, err := st.Get(ctx, coverID(r.ID))
	if err != nil {
		if isNotFound(err) {
			return time.Time{}, false, nil
		}
		return time.Time{}, false, fmt.Errorf("read coverage of rule %s: %w", r.ID, err)
	}
	var doc coverDoc
	if err := json.Unmarshal(item.Body, &doc); err != nil {
		return time.Time{}, false, fmt.Errorf("decode coverage of rule %s: %w", r.ID, err)
	}
	return doc.Since, true, nil
}

// Cover records that rule r's terms have been recorded since the given
// time (tripline learn read history from then on): the coverage starts at
// the earlier of since and what was recorded before.
func Cover(ctx context.Context, st Store, r *detect.Rule, since time.Time, stats *Stats) error {
	if stats == nil {
		stats = &Stats{}
	}
	id := coverID(r.ID)
	return retry(ctx, "coverage of rule "+r.ID, func() error {
		body, etag, err := read(ctx, st, id, stats)
		if err != nil {
			return fmt.Errorf("read coverage of rule %s: %w", r.ID, err)
		}
		doc := coverDoc{ID: id, TTL: -1, Kind: "new_terms_coverage", RuleID: r.ID, Since: since.UTC()}
		if body != nil {
			var old coverDoc
			if err := json.Unmarshal(body, &old); err != nil {
				return fmt.Errorf("decode coverage of rule %s: %w", r.ID, err)
			}
			if !since.Before(old.Since) {
				return nil
			}
		}
		return write(ctx, st, id, doc, etag, stats)
	})
}
