// Package ruleset decides which rules run: the one loading rule every
// command uses (scan, serve, deliver, rules list|test|check).
//
// Its few types: Options (where rules, exceptions and overrides come from),
// Set (what was loaded, and a verdict for every file considered) and
// Overrides (the overrides file).
//
// The loading rule, in order:
//  1. the built-in pack;
//  2. each rules tree, walked in name order (*.toml; directories whose name
//     starts with "." are left out): a file whose rule Tripline cannot run
//     (detect.SkipError) is skipped and counted by reason, unless Strict;
//     a rule whose rule_id is a built-in's replaces the built-in; two
//     files of the trees with one rule_id are an error naming both;
//  3. overrides disable a rule or change its severity, risk_score,
//     max_signals or alert_suppression, by rule_id;
//  4. exceptions attach to the rules that remain; those of a disabled rule
//     are dropped.
//
// Load reads through fs.FS values only: the caller chooses the files
// (os.DirFS for a directory, the embedded pack for the built-ins).
package ruleset

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"

	"github.com/tripline/tripline/detect"
)

// OriginBuiltin is the Origin of the built-in pack's rules.
const OriginBuiltin = "built-in"

// Tree is a directory tree of rule files.
type Tree struct {
	FS fs.FS
	// Name is shown in messages and joined with each file's path in the
	// tree (e.g. the directory as the user wrote it).
	Name string
	// Origin labels its rules, e.g. "TRIPLINE_RULES_DIR" or "package".
	Origin string
}

// File is one configuration file already read.
type File struct {
	Name string
	Data []byte
}

// Options say where rules come from. The zero value loads nothing.
type Options struct {
	// Builtin holds the built-in pack (*.toml at its root); nil for none.
	Builtin fs.FS
	// Trees are the user's rule trees, loaded after the built-ins.
	Trees []Tree
	// Paths are single rule files given by name (rules check FILE),
	// loaded like files of a tree.
	Paths []PathFile
	// Exceptions and Overrides are the exceptions and overrides files.
	Exceptions, Overrides *File
	// Strict makes every skipped file an error.
	Strict bool
}

// PathFile is a single rule file and its contents.
type PathFile struct {
	Name, Origin string
	Data         []byte
}

// Verdict is what became of one user rule file.
type Verdict struct {
	// File is the file's name (tree name joined with its path).
	File string
	// Rule is the loaded rule, nil when skipped or in error.
	Rule *detect.Rule
	// Skip is the reason the file was skipped ("" when not skipped), and
	// SkipDetail which dataset, index patterns or key (detect.SkipError).
	Skip, SkipDetail string
	// Err is the file's load error (nil when none).
	Err error
}

// Status is what became of a rule that parsed.
type Status string

// Statuses of Entry.
const (
	Loaded   Status = "loaded"
	Replaced Status = "replaced" // a built-in replaced by a user file
	Disabled Status = "disabled" // by the overrides file
)

// Entry is a rule that parsed, with what became of it.
type Entry struct {
	Rule   *detect.Rule
	Status Status
	// By names the file that replaced or disabled the rule.
	By string
	// Changes lists the overridden settings ("severity high", ...).
	Changes []string
}

// Set is the outcome of Load.
type Set struct {
	// Rules are the rules that run, built-ins first, in load order.
	Rules []*detect.Rule
	// Exceptions attach to Rules.
	Exceptions []detect.Exception
	// Entries list every rule that parsed: running, replaced, disabled.
	Entries []Entry
	// Files are the verdicts on the user's rule files, in load order.
	Files []Verdict
	// Problems are the errors not tied to one file's verdict: duplicate
	// rule_ids, overrides, exceptions, unreadable trees.
	Problems []error
}

// Skipped counts skipped user files by reason.
func (s *Set) Skipped() map[string]int {
	out := map[string]int{}
	for _, v := range s.Files {
		if v.Skip != "" {
			out[v.Skip]++
		}
	}
	return out
}

// SkipSummary renders Skipped one line per reason, most frequent first,
// with the most frequent details of the reason (datasets, index patterns).
func (s *Set) SkipSummary() []string {
	counts := s.Skipped()
	details := map[string]map[string]int{}
	for _, v := range s.Files {
		if v.Skip != "" && v.SkipDetail != "" {
			if details[v.Skip] == nil {
				details[v.Skip] = map[string]int{}
			}
			details[v.Skip][v.SkipDetail]++
		}
	}
	reasons := byCount(counts)
	out := make([]string, len(reasons))
	for i, r := range reasons {
		out[i] = fmt.Sprintf("skipped %d rule file(s): %s", counts[r], r)
		if d := details[r]; len(d) > 0 {
			var parts []string
			keys := byCount(d)
			for j, k := range keys {
				if j == 5 {
					parts = append(parts, fmt.Sprintf("%d more", len(keys)-5))
					break
				}
				parts = append(parts, fmt.Sprintf("%s: %d", k, d[k]))
			}
			out[i] += " (" + strings.Join(parts, "; ") + ")"
		}
	}
	return out
}

// byCount returns the keys of m, highest count first, then by name.
func byCount(m map[string]int) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if m[keys[i]] != m[keys[j]] {
			return m[keys[i]] > m[keys[j]]
		}
		return keys[i] < keys[j]
	})
	return keys
}

// Load applies the loading rule (package doc). It returns the Set even when
// it also returns an error, so that a caller can report every file's
// verdict; the error joins every problem found.
func Load(opts Options) (*Set, error) {
	set := &Set{}
	var errs []error
	var builtins []*detect.Rule
	if opts.Builtin != nil {
		var err error
		builtins, err = detect.LoadRules(opts.Builtin)
		if err != nil {
			return set, fmt.Errorf("built-in rules: %w", err)
		}
		for _, r := range builtins {
			r.Origin = OriginBuiltin
		}
	}
	var user []*detect.Rule
	// fileErr marks the errors reported in a Verdict (pointers from
	// ParseRule and fmt, so comparable).
	fileErr := map[error]bool{}
	add := func(name, origin string, data []byte) {
		v := Verdict{File: name}
		r, err := detect.ParseRule(name, data)
		var se *detect.SkipError
		switch {
		case errors.As(err, &se):
			v.Skip, v.SkipDetail = se.Reason, se.Detail
			if opts.Strict {
				v.Err = fmt.Errorf("%w (--strict)", err)
				errs = append(errs, v.Err)
				fileErr[v.Err] = true
			}
		case err != nil:
			v.Err = err
			errs = append(errs, err)
			fileErr[err] = true
		default:
			r.Origin = origin
			v.Rule = r
			user = append(user, r)
		}
		set.Files = append(set.Files, v)
	}
	for _, t := range opts.Trees {
		err := fs.WalkDir(t.FS, ".", func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				errs = append(errs, fmt.Errorf("rules %s: %w", t.Name, err))
				return nil
			}
			if d.IsDir() {
				if p != "." && strings.HasPrefix(d.Name(), ".") {
					return fs.SkipDir
				}
				return nil
			}
			if path.Ext(p) != ".toml" {
				return nil
			}
			name := path.Join(t.Name, p)
			data, err := fs.ReadFile(t.FS, p)
			if err != nil {
				errs = append(errs, fmt.Errorf("read rule %s: %w", name, err))
				return nil
			}
			add(name, t.Origin, data)
			return nil
		})
		if err != nil {
			errs = append(errs, fmt.Errorf("rules %s: %w", t.Name, err))
		}
	}
	for _, p := range opts.Paths {
		add(p.Name, p.Origin, p.Data)
	}

	// Duplicates among user files are errors; a user rule with a
	// built-in's rule_id replaces the built-in.
	byID := map[string]*detect.Rule{}
	var keep []*detect.Rule
	for _, r := range user {
		if prev, dup := byID[r.ID]; dup {
			errs = append(errs, fmt.Errorf("rule_id %s is used by both %s and %s: a rule_id must be unique among your rule files", r.ID, prev.File, r.File))
			continue
		}
		byID[r.ID] = r
		keep = append(keep, r)
	}
	entries := map[string]*Entry{}
	var order []*Entry
	for _, b := range builtins {
		e := &Entry{Rule: b, Status: Loaded}
		if r, ok := byID[b.ID]; ok {
			e.Status, e.By = Replaced, r.File
		}
		order = append(order, e)
		entries[b.ID] = e
	}
	for _, r := range keep {
		e := &Entry{Rule: r, Status: Loaded}
		order = append(order, e)
		entries[r.ID] = e
	}

	if opts.Overrides != nil {
		ov, err := ParseOverrides(opts.Overrides.Name, opts.Overrides.Data)
		if err != nil {
			errs = append(errs, err)
		} else {
			errs = append(errs, ov.apply(opts.Overrides.Name, entries, set.Skipped())...)
		}
	}
	disabled := map[string]bool{}
	for _, e := range order {
		set.Entries = append(set.Entries, *e)
		switch e.Status {
		case Loaded:
			set.Rules = append(set.Rules, e.Rule)
		case Disabled:
			disabled[e.Rule.ID] = true
		}
	}

	if opts.Exceptions != nil {
		xs, err := detect.LoadExceptions(opts.Exceptions.Name, opts.Exceptions.Data)
		if err != nil {
			errs = append(errs, err)
		}
		for _, x := range xs {
			e, ok := entries[x.RuleID]
			switch {
			case !ok:
				errs = append(errs, fmt.Errorf("exceptions %s: rule_id %s is not a loaded rule", opts.Exceptions.Name, x.RuleID))
			case disabled[x.RuleID] || e.Status == Disabled:
				// The rule does not run; its exceptions have nothing to do.
			default:
				// A replaced built-in's exceptions follow its rule_id to
				// the rule that replaced it.
				set.Exceptions = append(set.Exceptions, x)
			}
		}
	}
	for _, err := range errs {
		if !fileErr[err] {
			set.Problems = append(set.Problems, err)
		}
	}
	return set, errors.Join(errs...)
}
