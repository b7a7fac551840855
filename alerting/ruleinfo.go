package alerting

import (
	"github.com/tripline/tripline/alert"
	"github.com/tripline/tripline/detect"
)

// ruleInfo is the summary of a rule that its alerts carry: who it is, what
// ATT&CK techniques it names, and the first steps of its investigation guide.
func ruleInfo(r *detect.Rule) alert.RuleInfo {
	info := alert.RuleInfo{ID: r.ID, Name: r.Name, Severity: r.Severity, RiskScore: r.RiskScore, Description: r.Description}
	for _, t := range r.Threat {
		if t.Tactic.ID != "" {
			info.Techniques = append(info.Techniques, alert.Technique(t.Tactic))
		}
		for _, tech := range t.Technique {
			info.Techniques = append(info.Techniques, alert.Technique(tech.ThreatRef))
			for _, sub := range tech.Subtechnique {
				info.Techniques = append(info.Techniques, alert.Technique(sub))
			}
		}
	}
	info.Steps = detect.FirstSteps(r.Note, 3)
	return info
}
