package ruleset

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/BurntSushi/toml"

	"github.com/tripline/tripline/detect"
)

// Overrides is an overrides file: per rule_id, switch a rule off or change
// how it alerts without copying it.
//
//	[[override]]
//	rule_id = "8b64d36a-1307-4b2e-a77b-a0027e4d27c8"
//	enabled = false
//
//	[[override]]
//	rule_id = "b76ccbde-88d9-47f1-b077-b38e61cbbe2e"
//	severity = "high"
//	risk_score = 73
//	max_signals = 20
//	[override.alert_suppression]
//	group_by = ["azure.resource.id"]
//	duration = { value = 1, unit = "h" }
type Overrides struct {
	Override []Override `toml:"override"`
}

// Override is one [[override]] entry; a nil field leaves the rule's value.
type Override struct {
	RuleID           string                  `toml:"rule_id"`
	Enabled          *bool                   `toml:"enabled"`
	Severity         *string                 `toml:"severity"`
	RiskScore        *int                    `toml:"risk_score"`
	MaxSignals       *int                    `toml:"max_signals"`
	AlertSuppression *detect.SuppressionSpec `toml:"alert_suppression"`
	Comment          string                  `toml:"comment"`
}

// ParseOverrides parses and checks an overrides file; name is for messages.
// Unknown keys are errors: a misspelt key would silently change nothing.
func ParseOverrides(name string, data []byte) (*Overrides, error) {
	var o Overrides
	md, err := toml.Decode(string(data), &o)
	if err != nil {
		return nil, fmt.Errorf("overrides %s: %w", name, err)
	}
	var errs []error
	for _, k := range md.Undecoded() {
		errs = append(errs, fmt.Errorf("overrides %s: unknown key %s (rule_id, enabled, severity, risk_score, max_signals, alert_suppression, comment)", name, k))
	}
	seen := map[string]bool{}
	for i, x := range o.Override {
		where := fmt.Sprintf("overrides %s: override %d", name, i+1)
		if x.RuleID == "" {
			errs = append(errs, fmt.Errorf("%s: rule_id is required", where))
			continue
		}
		where += " (rule " + x.RuleID + ")"
		if seen[x.RuleID] {
			errs = append(errs, fmt.Errorf("%s: a second override of the same rule_id; merge them", where))
		}
		seen[x.RuleID] = true
		if x.Severity != nil && !detect.ValidSeverity(*x.Severity) {
			errs = append(errs, fmt.Errorf("%s: severity %q must be low, medium, high or critical", where, *x.Severity))
		}
		if x.RiskScore != nil && (*x.RiskScore < 0 || *x.RiskScore > 100) {
			errs = append(errs, fmt.Errorf("%s: risk_score must be between 0 and 100", where))
		}
		if x.MaxSignals != nil && *x.MaxSignals < 1 {
			errs = append(errs, fmt.Errorf("%s: max_signals must be at least 1", where))
		}
		if x.AlertSuppression != nil {
			x.AlertSuppression.Build(func(_, msg string) { errs = append(errs, fmt.Errorf("%s: %s", where, msg)) })
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return &o, nil
}

// apply changes the entries in place. An override of a rule_id that no rule
// has is an error (a typo would leave a rule on), unless only skipped files
// could have had it, which cannot be told apart: then too it is an error,
// saying so.
func (o *Overrides) apply(name string, entries map[string]*Entry, skipped map[string]int) []error {
	var errs []error
	for _, x := range o.Override {
		e, ok := entries[x.RuleID]
		if !ok {
			msg := fmt.Sprintf("overrides %s: rule_id %s is not a loaded rule", name, x.RuleID)
			if len(skipped) > 0 {
				msg += " (it may be one of the skipped rule files; remove the override)"
			}
			errs = append(errs, errors.New(msg))
			continue
		}
		by := "overrides " + name
		if x.Enabled != nil && !*x.Enabled {
			e.Status, e.By = Disabled, by
			continue
		}
		// The rule is this load's own parse: changing it changes no one
		// else's copy.
		r := e.Rule
		if x.Severity != nil {
			r.Severity = *x.Severity
			e.Changes = append(e.Changes, "severity "+r.Severity)
		}
		if x.RiskScore != nil {
			r.RiskScore = *x.RiskScore
			e.Changes = append(e.Changes, "risk_score "+strconv.Itoa(r.RiskScore))
		}
		if x.MaxSignals != nil {
			r.MaxSignals = *x.MaxSignals
			e.Changes = append(e.Changes, "max_signals "+strconv.Itoa(r.MaxSignals))
		}
		if x.AlertSuppression != nil {
			r.Suppression = x.AlertSuppression.Build(func(string, string) {})
			e.Changes = append(e.Changes, "alert_suppression")
		}
		if len(e.Changes) > 0 {
			e.By = by
		}
	}
	return errs
}
