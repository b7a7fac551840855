package detect

import (
	"bytes"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/tripline/tripline/detect/kql"
)

// Rule is one Elastic detection-rules TOML file, parsed and compiled.
// Types "query", "threshold" and "new_terms" with language "kuery" are
// supported (the last two decided by package stateful); keys Tripline does
// not use are kept in Extra, never rejected.
type Rule struct {
	// File is the name the rule was loaded from (for messages).
	File string

	ID          string
	Name        string
	Description string
	Type        string
	Language    string
	QueryText   string
	Severity    string
	RiskScore   int
	From        string
	Interval    string
	MaxSignals  int
	Index       []string
	Tags        []string
	References  []string
	FalsePos    []string
	Note        string
	Threat      []Threat
	Suppression Suppression
	// Threshold and NewTerms are set for rules of those types (stateful.go).
	Threshold *Threshold
	NewTerms  *NewTerms

	// Query is the compiled KQL query.
	Query *kql.Query
	// Tests are the rule's own test cases ([[tripline.tests]]).
	Tests []RuleTest
	// Extra holds every TOML key Tripline does not interpret, by dotted name.
	Extra map[string]any
}

// Threat is one [[rule.threat]] entry (MITRE ATT&CK).
type Threat struct {
	Framework string        `toml:"framework"`
	Tactic    ThreatRef     `toml:"tactic"`
	Technique []ThreatTechn `toml:"technique"`
}

// ThreatRef is a tactic, technique or sub-technique reference.
type ThreatRef struct {
	ID        string `toml:"id"`
	Name      string `toml:"name"`
	Reference string `toml:"reference"`
}

// ThreatTechn is a technique with its sub-techniques.
type ThreatTechn struct {
	ThreatRef
	Subtechnique []ThreatRef `toml:"subtechnique"`
}

// Suppression is Elastic's alert_suppression: which matches join one alert.
// A zero Suppression (no group_by) groups by record identity alone, with the
// default window.
type Suppression struct {
	GroupBy []string
	// Duration is the window length in event time.
	Duration time.Duration
	// SuppressMissing is Elastic's missing_fields_strategy "suppress" (the
	// default): records lacking a group-by field share one group with the
	// missing value. False is "doNotSuppress": each such record is its own
	// alert.
	SuppressMissing bool
}

// RuleTest is one test case carried by a rule file: a raw record (any shape
// Tripline accepts) that must or must not match, or, for threshold and
// new_terms rules, Steps: records in order with the alerts each raises.
type RuleTest struct {
	Name   string     `toml:"name"`
	Match  bool       `toml:"match"`
	Record string     `toml:"record"`
	Steps  []RuleStep `toml:"steps"`
}

// RuleStep is one record of a stateful test case and the number of new
// alerts it must raise; Learn records it as history instead (new_terms).
type RuleStep struct {
	Record string `toml:"record"`
	Alerts int    `toml:"alerts"`
	Learn  bool   `toml:"learn"`
}

// DefaultSuppressionWindow applies when a rule has no alert_suppression.
const DefaultSuppressionWindow = 5 * time.Minute

type ruleFile struct {
	Metadata map[string]any `toml:"metadata"`
	Rule     struct {
		RuleID           string   `toml:"rule_id"`
		Name             string   `toml:"name"`
		Description      string   `toml:"description"`
		Type             string   `toml:"type"`
		Language         string   `toml:"language"`
		Query            string   `toml:"query"`
		Severity         string   `toml:"severity"`
		RiskScore        int      `toml:"risk_score"`
		From             string   `toml:"from"`
		Interval         string   `toml:"interval"`
		MaxSignals       int      `toml:"max_signals"`
		Index            []string `toml:"index"`
		Tags             []string `toml:"tags"`
		References       []string `toml:"references"`
		FalsePositives   []string `toml:"false_positives"`
		Note             string   `toml:"note"`
		Threat           []Threat `toml:"threat"`
		AlertSuppression *struct {
			GroupBy  []string `toml:"group_by"`
			Duration *struct {
				Value int    `toml:"value"`
				Unit  string `toml:"unit"`
			} `toml:"duration"`
			MissingFieldsStrategy string `toml:"missing_fields_strategy"`
		} `toml:"alert_suppression"`
		Threshold *thresholdTOML `toml:"threshold"`
		NewTerms  *newTermsTOML  `toml:"new_terms"`
	} `toml:"rule"`
	Tripline struct {
		Tests []RuleTest `toml:"tests"`
	} `toml:"tripline"`
}

// RuleError is a problem in a rule file, positioned in that file.
type RuleError struct {
	File         string
	Line, Column int // 1-based; 0 when unknown
	Msg          string
	// Source is the offending line, shown with a caret under Column.
	Source string
}

// Error renders "file:line:col: msg" followed by the line and a caret.
func (e *RuleError) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d:%d", e.Line, e.Column)
	}
	b.WriteString(": ")
	b.WriteString(e.Msg)
	if e.Source != "" && e.Column > 0 {
		b.WriteString("\n | ")
		b.WriteString(e.Source)
		b.WriteString("\n | ")
		b.WriteString(strings.Repeat(" ", e.Column-1))
		b.WriteString("^")
	}
	return b.String()
}

// ParseRule parses one rule file. name is used in messages only; ParseRule
// does no I/O. Every problem of the file is reported (errors.Join of
// *RuleError), the KQL query is compiled here, so a rule that loads is a rule
// that runs.
func ParseRule(name string, data []byte) (*Rule, error) {
	var f ruleFile
	md, err := toml.Decode(string(data), &f)
	if err != nil {
		re := &RuleError{File: name, Msg: "TOML: " + err.Error()}
		var pe toml.ParseError
		if errors.As(err, &pe) {
			re.Line, re.Column = pe.Position.Line, pe.Position.Col
			re.Msg = "TOML: " + pe.Message
			re.Source = lineAt(data, pe.Position.Line)
		}
		return nil, re
	}
	r := &Rule{
		File:        name,
		ID:          f.Rule.RuleID,
		Name:        f.Rule.Name,
		Description: f.Rule.Description,
		Type:        f.Rule.Type,
		Language:    f.Rule.Language,
		QueryText:   f.Rule.Query,
		Severity:    f.Rule.Severity,
		RiskScore:   f.Rule.RiskScore,
		From:        f.Rule.From,
		Interval:    f.Rule.Interval,
		MaxSignals:  f.Rule.MaxSignals,
		Index:       f.Rule.Index,
		Tags:        f.Rule.Tags,
		References:  f.Rule.References,
		FalsePos:    f.Rule.FalsePositives,
		Note:        f.Rule.Note,
		Threat:      f.Rule.Threat,
		Tests:       f.Tripline.Tests,
		Extra:       map[string]any{},
	}
	for _, k := range md.Undecoded() {
		r.Extra[k.String()] = nil
	}
	if r.MaxSignals == 0 {
		r.MaxSignals = 100 // Kibana's default
	}
	if r.Interval == "" {
		r.Interval = "5m" // detection-rules' default
	}
	var errs []error
	fail := func(key, msg string) {
		line, col := keyPosition(data, key)
		errs = append(errs, &RuleError{File: name, Line: line, Column: col, Msg: msg, Source: lineAt(data, line)})
	}
	if r.ID == "" {
		fail("rule_id", "rule.rule_id is required")
	}
	if r.Name == "" {
		fail("name", "rule.name is required")
	}
	if !supportedType(r.Type) {
		fail("type", fmt.Sprintf("rule.type %q is not supported (only \"query\", \"threshold\" and \"new_terms\")", r.Type))
	}
	r.parseStateful(f.Rule.Threshold, f.Rule.NewTerms, fail)
	if r.Language != "kuery" {
		fail("language", fmt.Sprintf("rule.language %q is not supported (only \"kuery\")", r.Language))
	}
	switch r.Severity {
	case "low", "medium", "high", "critical":
	default:
		fail("severity", fmt.Sprintf("rule.severity %q must be low, medium, high or critical", r.Severity))
	}
	if r.RiskScore < 0 || r.RiskScore > 100 {
		fail("risk_score", "rule.risk_score must be between 0 and 100")
	}
	r.Suppression = Suppression{Duration: DefaultSuppressionWindow, SuppressMissing: true}
	if s := f.Rule.AlertSuppression; s != nil {
		r.Suppression.GroupBy = s.GroupBy
		if len(s.GroupBy) > 3 {
			fail("group_by", "rule.alert_suppression.group_by takes at most 3 fields (as in Elastic)")
		}
		if s.Duration != nil {
			d, err := suppressionDuration(s.Duration.Value, s.Duration.Unit)
			if err != nil {
				fail("unit", err.Error())
			}
			r.Suppression.Duration = d
		}
		switch s.MissingFieldsStrategy {
		case "", "suppress":
		case "doNotSuppress":
			r.Suppression.SuppressMissing = false
		default:
			fail("missing_fields_strategy", fmt.Sprintf("missing_fields_strategy %q must be suppress or doNotSuppress", s.MissingFieldsStrategy))
		}
	}
	if supportedType(r.Type) && r.Language == "kuery" {
		q, err := kql.Compile(r.QueryText)
		if err != nil {
			errs = append(errs, positionQueryError(name, data, err))
		}
		r.Query = q
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return r, nil
}

// FirstSteps returns up to n list items of the note's first triage or
// investigation section (Markdown "- item" or "1. item" lines), so that a
// notification can show what to do first.
func FirstSteps(note string, n int) []string {
	var steps []string
	inSection := false
	for _, line := range strings.Split(note, "\n") {
		t := strings.TrimSpace(line)
		if strings.HasPrefix(t, "#") {
			h := strings.ToLower(t)
			inSection = strings.Contains(h, "triage") || strings.Contains(h, "investigat")
			if len(steps) > 0 {
				break
			}
			continue
		}
		if !inSection {
			continue
		}
		item := ""
		switch {
		case strings.HasPrefix(t, "- "), strings.HasPrefix(t, "* "):
			item = t[2:]
		default:
			if i := strings.Index(t, ". "); i > 0 && i <= 3 {
				if _, err := strconv.Atoi(t[:i]); err == nil {
					item = t[i+2:]
				}
			}
		}
		if item != "" {
			steps = append(steps, item)
			if len(steps) == n {
				break
			}
		}
	}
	return steps
}

func suppressionDuration(value int, unit string) (time.Duration, error) {
	if value <= 0 {
		return 0, fmt.Errorf("alert_suppression.duration.value must be positive")
	}
	switch unit {
	case "s":
		return time.Duration(value) * time.Second, nil
	case "m":
		return time.Duration(value) * time.Minute, nil
	case "h":
		return time.Duration(value) * time.Hour, nil
	}
	return 0, fmt.Errorf("alert_suppression.duration.unit %q must be s, m or h", unit)
}

var queryKey = regexp.MustCompile(`(?m)^[ \t]*query[ \t]*=[ \t]*`)

// positionQueryError turns a KQL error (offset within the query) into a
// RuleError positioned in the file: the query's start in the TOML text plus
// the position inside the query.
func positionQueryError(file string, data []byte, err error) error {
	var ke *kql.Error
	if !errors.As(err, &ke) {
		return &RuleError{File: file, Msg: "query: " + err.Error()}
	}
	startLine, startCol, ok := queryStart(data)
	re := &RuleError{File: file, Msg: "query: " + ke.Msg}
	if !ok {
		return re
	}
	if ke.Line <= 1 {
		re.Line, re.Column = startLine, startCol+ke.Column-1
	} else {
		re.Line, re.Column = startLine+ke.Line-1, ke.Column
	}
	re.Source = lineAt(data, re.Line)
	return re
}

// queryStart finds the line and column of the first character of the query
// string's content. A newline right after a multi-line opening delimiter is
// not part of the string (TOML), so the content starts on the next line.
func queryStart(data []byte) (line, col int, ok bool) {
	loc := queryKey.FindIndex(data)
	if loc == nil {
		return 0, 0, false
	}
	pos := loc[1]
	rest := data[pos:]
	delim := 0
	switch {
	case bytes.HasPrefix(rest, []byte(`'''`)), bytes.HasPrefix(rest, []byte(`"""`)):
		delim = 3
	case bytes.HasPrefix(rest, []byte(`'`)), bytes.HasPrefix(rest, []byte(`"`)):
		delim = 1
	}
	pos += delim
	if delim == 3 {
		if bytes.HasPrefix(data[pos:], []byte("\r\n")) {
			pos += 2
		} else if bytes.HasPrefix(data[pos:], []byte("\n")) {
			pos++
		}
	}
	line = 1 + bytes.Count(data[:pos], []byte("\n"))
	col = pos - (bytes.LastIndexByte(data[:pos], '\n') + 1) + 1
	return line, col, true
}

// keyPosition finds "key =" in the file, for messages about that key.
func keyPosition(data []byte, key string) (line, col int) {
	re := regexp.MustCompile(`(?m)^[ \t]*` + regexp.QuoteMeta(key) + `[ \t]*=`)
	loc := re.FindIndex(data)
	if loc == nil {
		return 0, 0
	}
	match := data[loc[0]:loc[1]]
	start := loc[0] + len(match) - len(bytes.TrimLeft(match, " \t"))
	line = 1 + bytes.Count(data[:start], []byte("\n"))
	col = start - (bytes.LastIndexByte(data[:start], '\n') + 1) + 1
	return line, col
}

func lineAt(data []byte, line int) string {
	if line <= 0 {
		return ""
	}
	lines := bytes.Split(data, []byte("\n"))
	if line > len(lines) {
		return ""
	}
	return string(bytes.TrimRight(lines[line-1], "\r"))
}
