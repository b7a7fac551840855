package detect

import (
	"bytes"
	"errors"
	"fmt"
	"path"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/tripline/tripline/detect/kql"
)

// Rule is one Elastic detection-rules TOML file, parsed and compiled.
// Types "query", "threshold" and "new_terms" with language "kuery" are
// supported (the last two decided by package stateful; others are
// *SkipError); keys Tripline does not use are kept in Extra, never rejected.
type Rule struct {
	// File is the name the rule was loaded from (for messages).
	File string
	// Origin says where the rule came from ("built-in", a rules directory,
	// the app package), for rule listings; set by the loader.
	Origin string

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

// SuppressionSpec is Elastic's [rule.alert_suppression] table as written
// (also the alert_suppression of an override).
type SuppressionSpec struct {
	GroupBy  []string `toml:"group_by"`
	Duration *struct {
		Value int    `toml:"value"`
		Unit  string `toml:"unit"`
	} `toml:"duration"`
	MissingFieldsStrategy string `toml:"missing_fields_strategy"`
}

// Build checks the table and returns the Suppression it describes; a
// missing duration is DefaultSuppressionWindow. fail receives each problem
// with the TOML key it concerns.
func (s *SuppressionSpec) Build(fail func(key, msg string)) Suppression {
	out := Suppression{Duration: DefaultSuppressionWindow, SuppressMissing: true, GroupBy: s.GroupBy}
	if len(s.GroupBy) > 3 {
		fail("group_by", "alert_suppression.group_by takes at most 3 fields (as in Elastic)")
	}
	if s.Duration != nil {
		d, err := suppressionDuration(s.Duration.Value, s.Duration.Unit)
		if err != nil {
			fail("unit", err.Error())
		}
		out.Duration = d
	}
	switch s.MissingFieldsStrategy {
	case "", "suppress":
	case "doNotSuppress":
		out.SuppressMissing = false
	default:
		fail("missing_fields_strategy", fmt.Sprintf("missing_fields_strategy %q must be suppress or doNotSuppress", s.MissingFieldsStrategy))
	}
	return out
}

// ValidSeverity reports whether s is one of Elastic's severities.
func ValidSeverity(s string) bool {
	switch s {
	case "low", "medium", "high", "critical":
		return true
	}
	return false
}

type ruleFile struct {
	Metadata map[string]any `toml:"metadata"`
	Rule     struct {
		RuleID           string           `toml:"rule_id"`
		Name             string           `toml:"name"`
		Description      string           `toml:"description"`
		Type             string           `toml:"type"`
		Language         string           `toml:"language"`
		Query            string           `toml:"query"`
		Severity         string           `toml:"severity"`
		RiskScore        int              `toml:"risk_score"`
		From             string           `toml:"from"`
		Interval         string           `toml:"interval"`
		MaxSignals       int              `toml:"max_signals"`
		Index            []string         `toml:"index"`
		Tags             []string         `toml:"tags"`
		References       []string         `toml:"references"`
		FalsePositives   []string         `toml:"false_positives"`
		Note             string           `toml:"note"`
		Threat           []Threat         `toml:"threat"`
		AlertSuppression *SuppressionSpec `toml:"alert_suppression"`
		Threshold        *thresholdTOML   `toml:"threshold"`
		NewTerms         *newTermsTOML    `toml:"new_terms"`
	} `toml:"rule"`
	Tripline struct {
		Tests []RuleTest `toml:"tests"`
	} `toml:"tripline"`
}

// SkipError is returned by ParseRule for a well-formed rule file that
// Tripline cannot run: another rule type or query language, a dataset
// Tripline does not produce, a key whose meaning Tripline does not
// implement, or a deprecated rule. Loaders skip such files (counting them by
// Reason) instead of failing; a strict load refuses them.
type SkipError struct {
	File string
	// Reason is short and shared by every file skipped for the same cause,
	// e.g. `rule type "eql"` or "dataset not produced by Tripline", so that
	// skips can be summarized one line per reason.
	Reason string
	// Detail says which dataset, index patterns or key; "" when Reason says
	// it all.
	Detail string
}

// Error renders "file: skipped: reason (detail)".
func (e *SkipError) Error() string {
	msg := e.File + ": skipped: " + e.Reason
	if e.Detail != "" {
		msg += " (" + e.Detail + ")"
	}
	return msg + "; Tripline runs query, threshold and new_terms rules in kuery on " + DatasetActivityLogs + " and " + DatasetPlatformLogs
}

// Skip reasons that carry a detail.
const (
	SkipDataset = "dataset not produced by Tripline"
	SkipIndex   = "index patterns cover no dataset Tripline produces"
)

// unsupportedKeys are [rule] keys that change what a rule matches or how its
// alerts read, which Tripline does not implement: running the rule without
// them would alert where Elastic does not, or differently.
var unsupportedKeys = []string{"filters", "exceptions_list", "severity_mapping", "risk_score_mapping", "rule_name_override", "saved_id", "data_view_id"}

// Datasets Tripline produces (ecs.DatasetActivityLogs and
// ecs.DatasetPlatformLogs), repeated here so that the skip check reads as
// one table.
const (
	DatasetActivityLogs = "azure.activitylogs"
	DatasetPlatformLogs = "azure.platformlogs"
)

// ourIndices are index names of Tripline's datasets as Elastic's azure
// integration writes them (logs-<dataset>-<namespace>), to test a rule's
// index patterns against.
var ourIndices = []string{"logs-" + DatasetActivityLogs + "-default", "logs-" + DatasetPlatformLogs + "-default"}

// datasetTerm finds `event.dataset:` and `data_stream.dataset:` terms of a
// query with their value or parenthesized value list.
var datasetTerm = regexp.MustCompile(`(?:event|data_stream)\.dataset\s*:\s*(\([^)]*\)|"[^"]*"|[^\s()]+)`)

// skipReason says why a well-formed rule cannot run here, or "" when it can.
// The dataset test reads the query text, not its compiled form, so that a
// rule for another platform whose KQL lies outside Tripline's subset is
// skipped rather than reported as an error. A rule that names datasets runs
// when one of them is Tripline's; a rule that names none runs unless its
// index patterns all miss Tripline's indices (a rule with no index runs).
func skipReason(maturity, typ, language, query string, index []string, keys map[string]any) (reason, detail string) {
	if maturity == "deprecated" {
		return "deprecated (metadata.maturity)", ""
	}
	if typ != "" && !supportedType(typ) {
		return fmt.Sprintf("rule type %q", typ), ""
	}
	if language != "" && language != "kuery" {
		return fmt.Sprintf("language %q", language), ""
	}
	for _, k := range unsupportedKeys {
		if _, ok := keys[k]; ok {
			return "rule." + k + " is not supported", ""
		}
	}
	var named []string
	for _, m := range datasetTerm.FindAllStringSubmatch(query, -1) {
		v := strings.TrimSuffix(strings.TrimPrefix(m[1], "("), ")")
		for _, part := range orWord.Split(v, -1) {
			if part = strings.Trim(strings.TrimSpace(part), `"`); part != "" {
				named = append(named, part)
			}
		}
	}
	if len(named) > 0 {
		for _, d := range named {
			for _, ours := range []string{DatasetActivityLogs, DatasetPlatformLogs} {
				if ok, _ := path.Match(d, ours); ok {
					return "", ""
				}
			}
		}
		return SkipDataset, named[0]
	}
	if len(index) == 0 {
		return "", ""
	}
	for _, pat := range index {
		for _, ours := range ourIndices {
			if ok, _ := path.Match(pat, ours); ok {
				return "", ""
			}
		}
	}
	return SkipIndex, strings.Join(index, ", ")
}

var orWord = regexp.MustCompile(`\s+or\s+`)

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
// does no I/O. A well-formed rule Tripline cannot run yields a *SkipError
// (see skipReason); otherwise every problem of the file is reported
// (errors.Join of *RuleError). The KQL query is compiled here, so a rule
// that loads is a rule that runs.
func ParseRule(name string, data []byte) (*Rule, error) {
	// First only what decides whether the rule can run here: a rule of
	// another type may carry keys of shapes this struct does not expect.
	var head struct {
		Metadata struct {
			Maturity string `toml:"maturity"`
		} `toml:"metadata"`
		Rule map[string]any `toml:"rule"`
	}
	if _, err := toml.Decode(string(data), &head); err != nil {
		return nil, tomlError(name, data, err)
	}
	text := func(k string) string { s, _ := head.Rule[k].(string); return s }
	var index []string
	if list, ok := head.Rule["index"].([]any); ok {
		for _, v := range list {
			if s, ok := v.(string); ok {
				index = append(index, s)
			}
		}
	}
	if reason, detail := skipReason(head.Metadata.Maturity, text("type"), text("language"), text("query"), index, head.Rule); reason != "" {
		return nil, &SkipError{File: name, Reason: reason, Detail: detail}
	}
	var f ruleFile
	md, err := toml.Decode(string(data), &f)
	if err != nil {
		return nil, tomlError(name, data, err)
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
	// Other types and languages are SkipErrors (skipReason); here they
	// can only be missing.
	if r.Type == "" {
		fail("rule_id", `rule.type is required ("query")`)
	}
	if r.Language == "" {
		fail("rule_id", `rule.language is required ("kuery")`)
	}
	if !ValidSeverity(r.Severity) {
		fail("severity", fmt.Sprintf("rule.severity %q must be low, medium, high or critical", r.Severity))
	}
	if r.RiskScore < 0 || r.RiskScore > 100 {
		fail("risk_score", "rule.risk_score must be between 0 and 100")
	}
	r.Suppression = Suppression{Duration: DefaultSuppressionWindow, SuppressMissing: true}
	if s := f.Rule.AlertSuppression; s != nil {
		r.Suppression = s.Build(func(key, msg string) { fail(key, "rule."+msg) })
	}
	r.parseStateful(f.Rule.Threshold, f.Rule.NewTerms, fail)
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

// tomlError positions a TOML error. The offending line is shown only for a
// file that looks like a rule file (it has a [rule] table): a *.toml name
// can point at anything (a symlink to a system file), and an error must not
// print what such a file holds.
func tomlError(name string, data []byte, err error) error {
	re := &RuleError{File: name, Msg: "TOML: " + err.Error()}
	var pe toml.ParseError
	if errors.As(err, &pe) {
		re.Line, re.Column = pe.Position.Line, pe.Position.Col
		re.Msg = "TOML: " + pe.Message
		if ruleTable.Match(data) {
			re.Source = lineAt(data, pe.Position.Line)
		} else {
			re.Msg = "not a rule file (no [rule] table); TOML: " + pe.Message
		}
	}
	return re
}

// ruleTable finds the [rule] table header of a rule file.
var ruleTable = regexp.MustCompile(`(?m)^[ \t]*\[rule\][ \t]*(#.*)?\r?$`)

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
