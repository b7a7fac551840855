package detect

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Threshold is a threshold rule's [rule.threshold] table: the query's
// matching records are counted per group (the values of Fields) over the
// rule's look-back, and a group whose count reaches Value alerts once. With
// Cardinality, the group must also hold at least Cardinality.Value distinct
// values of Cardinality.Field. Elastic's schema: the threshold object of
// elastic/detection-rules, detection_rules/rule.py (ThresholdQueryRuleData).
//
// detect only parses it; the counting needs state, so it is done where the
// store is (package stateful).
type Threshold struct {
	// Fields are the group-by fields; none means one group for the rule.
	Fields []string
	// Value is the count a group must reach (at least 1).
	Value int
	// Cardinality is nil unless the rule has [[rule.threshold.cardinality]].
	Cardinality *Cardinality
	// Window is the look-back of the rule's `from` (now-9m: 9 minutes),
	// Kibana's default now-6m when the rule has none.
	Window time.Duration
}

// Cardinality is one [[rule.threshold.cardinality]] entry.
type Cardinality struct {
	Field string
	Value int
}

// NewTerms is a new_terms rule's [rule.new_terms] table: a matching record
// alerts when the combination of its values of Fields was not carried by any
// matching record within HistoryWindow before it (Elastic's "New terms
// rules", elastic.co/docs/solutions/security/detect-and-alert/new-terms).
type NewTerms struct {
	// Fields are the new_terms_fields, one to three.
	Fields []string
	// HistoryWindow is the length of history_window_start (now-7d: 7 days).
	HistoryWindow time.Duration
}

// Stateful reports whether the rule's decision needs state beyond the record
// (threshold, new_terms): its matches are candidates, decided by package
// stateful.
func (r *Rule) Stateful() bool { return r.Threshold != nil || r.NewTerms != nil }

// stateful rule types and their TOML tables, as Elastic writes them.
type thresholdTOML struct {
	Field       any `toml:"field"` // a string or a list of strings
	Value       int `toml:"value"`
	Cardinality []struct {
		Field string `toml:"field"`
		Value int    `toml:"value"`
	} `toml:"cardinality"`
}

type newTermsTOML struct {
	Field              string   `toml:"field"`
	Value              []string `toml:"value"`
	HistoryWindowStart []struct {
		Field string `toml:"field"`
		Value string `toml:"value"`
	} `toml:"history_window_start"`
}

// supportedType lists the rule types Tripline runs.
func supportedType(t string) bool {
	return t == "query" || t == "threshold" || t == "new_terms"
}

// parseStateful fills r.Threshold or r.NewTerms from the rule's tables,
// calling fail(key, msg) for each problem.
func (r *Rule) parseStateful(th *thresholdTOML, nt *newTermsTOML, fail func(key, msg string)) {
	switch r.Type {
	case "threshold":
		if th == nil {
			fail("type", "rule.type \"threshold\" needs a [rule.threshold] table")
			return
		}
		t := &Threshold{Value: th.Value}
		switch f := th.Field.(type) {
		case nil:
		case string:
			if f != "" {
				t.Fields = []string{f}
			}
		case []any:
			for _, v := range f {
				s, ok := v.(string)
				if !ok || s == "" {
					fail("field", "rule.threshold.field must be a field name or a list of field names")
					break
				}
				t.Fields = append(t.Fields, s)
			}
		default:
			fail("field", "rule.threshold.field must be a field name or a list of field names")
		}
		if t.Value < 1 {
			fail("value", "rule.threshold.value must be at least 1")
		}
		switch len(th.Cardinality) {
		case 0:
		case 1:
			c := th.Cardinality[0]
			if c.Field == "" || c.Value < 1 {
				fail("cardinality", "rule.threshold.cardinality needs a field and a value of at least 1")
			}
			t.Cardinality = &Cardinality{Field: c.Field, Value: c.Value}
		default:
			fail("cardinality", "rule.threshold.cardinality takes one entry (as in Elastic)")
		}
		from := r.From
		if from == "" {
			from = "now-6m" // Kibana's default look-back
		}
		d, err := lookBack(from)
		if err != nil {
			fail("from", "rule.from: "+err.Error())
		}
		t.Window = d
		r.Threshold = t
	case "new_terms":
		if nt == nil {
			fail("type", "rule.type \"new_terms\" needs a [rule.new_terms] table")
			return
		}
		n := &NewTerms{Fields: nt.Value}
		if nt.Field != "new_terms_fields" {
			fail("field", fmt.Sprintf("rule.new_terms.field %q must be \"new_terms_fields\"", nt.Field))
		}
		if len(n.Fields) < 1 || len(n.Fields) > 3 {
			fail("value", "rule.new_terms.value takes one to three field names (as in Elastic)")
		}
		for _, f := range n.Fields {
			if f == "" {
				fail("value", "rule.new_terms.value holds an empty field name")
			}
		}
		if len(nt.HistoryWindowStart) != 1 || nt.HistoryWindowStart[0].Field != "history_window_start" {
			fail("history_window_start", "rule.new_terms needs one history_window_start entry with field = \"history_window_start\"")
		} else {
			d, err := lookBack(nt.HistoryWindowStart[0].Value)
			if err != nil {
				fail("history_window_start", "rule.new_terms.history_window_start: "+err.Error())
			}
			n.HistoryWindow = d
		}
		r.NewTerms = n
	}
}

// lookBack reads Elastic date math of the form now-<n><unit> (s, m, h, d,
// w) as a duration: now-9m is 9 minutes. Other date math (rounding, now+,
// months) has no fixed length and is rejected.
func lookBack(s string) (time.Duration, error) {
	rest, ok := strings.CutPrefix(strings.TrimSpace(s), "now-")
	if !ok || len(rest) < 2 {
		return 0, fmt.Errorf("%q is not of the form now-<n><unit> (s, m, h, d or w)", s)
	}
	n, err := strconv.Atoi(rest[:len(rest)-1])
	if err != nil || n < 1 {
		return 0, fmt.Errorf("%q is not of the form now-<n><unit> (s, m, h, d or w)", s)
	}
	unit := map[byte]time.Duration{'s': time.Second, 'm': time.Minute, 'h': time.Hour, 'd': 24 * time.Hour, 'w': 7 * 24 * time.Hour}[rest[len(rest)-1]]
	if unit == 0 {
		return 0, fmt.Errorf("%q: unit %q is not s, m, h, d or w", s, rest[len(rest)-1:])
	}
	return time.Duration(n) * unit, nil
}
