package detect

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"sort"

	"github.com/BurntSushi/toml"
	"github.com/tripline/tripline/detect/ecs"
	"github.com/tripline/tripline/detect/kql"
)

// LoadRules parses every *.toml file at the root of fsys, in name order
// (the built-in pack). All problems of all files are reported together, a
// skipped rule (*SkipError) among them. Package ruleset loads the user's
// rule trees.
func LoadRules(fsys fs.FS) ([]*Rule, error) {
	names, err := fs.Glob(fsys, "*.toml")
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	var rules []*Rule
	var errs []error
	for _, name := range names {
		data, err := fs.ReadFile(fsys, name)
		if err != nil {
			errs = append(errs, fmt.Errorf("read rule %s: %w", name, err))
			continue
		}
		r, err := ParseRule(name, data)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		rules = append(rules, r)
	}
	return rules, errors.Join(errs...)
}

// LoadExceptions reads an exceptions file:
//
//	[[exception]]
//	rule_id = "8b64d36a-1307-4b2e-a77b-a0027e4d27c8"
//	query = 'user.name:"maintenance-bot"'
//	comment = "nightly cleanup job"
func LoadExceptions(name string, data []byte) ([]Exception, error) {
	var f struct {
		Exception []struct {
			RuleID  string `toml:"rule_id"`
			Query   string `toml:"query"`
			Comment string `toml:"comment"`
		} `toml:"exception"`
	}
	if _, err := toml.Decode(string(data), &f); err != nil {
		return nil, fmt.Errorf("exceptions %s: %w", name, err)
	}
	var out []Exception
	var errs []error
	for i, x := range f.Exception {
		q, err := kql.Compile(x.Query)
		if err != nil {
			errs = append(errs, fmt.Errorf("exceptions %s: exception %d (rule %s): %w", name, i+1, x.RuleID, err))
			continue
		}
		out = append(out, Exception{RuleID: x.RuleID, Query: q, Comment: x.Comment})
	}
	return out, errors.Join(errs...)
}

// TestOutcome is the result of one rule test case.
type TestOutcome struct {
	Rule   *Rule
	Test   RuleTest
	Passed bool
	// Problem says why a case failed.
	Problem string
}

// RunRuleTests evaluates every rule's own test cases against that rule alone.
func RunRuleTests(rules []*Rule) []TestOutcome {
	var out []TestOutcome
	for _, r := range rules {
		for _, tc := range r.Tests {
			if len(tc.Steps) > 0 {
				continue // stateful: run with a store (tripline rules test)
			}
			o := TestOutcome{Rule: r, Test: tc}
			ev, err := ecs.Normalize([]byte(tc.Record))
			switch {
			case err != nil:
				o.Problem = "record does not normalize: " + err.Error()
			case r.Query.Match(ev.Doc) != tc.Match:
				o.Problem = fmt.Sprintf("expected match=%v, got %v", tc.Match, !tc.Match)
				if b, err := json.Marshal(ev.Doc); err == nil {
					o.Problem += "\n   normalized: " + string(b)
				}
			default:
				o.Passed = true
			}
			out = append(out, o)
		}
	}
	return out
}
