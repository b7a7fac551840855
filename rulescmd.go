package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/tripline/tripline/detect"
	"github.com/tripline/tripline/detect/ruleset"
)

const rulesUsage = `usage:
  tripline rules list  [--rules DIR] [--strict]     the rules that run, where each came from, what replaced or disabled it
  tripline rules test  [--rules DIR] [--strict]     run the test cases the rule files carry
  tripline rules check [--strict] [FILE|DIR...]     each rule file's verdict (default: TRIPLINE_RULES_DIR)
Every subcommand loads rules as scan and serve do: built-ins, TRIPLINE_RULES_DIR (or --rules),
TRIPLINE_OVERRIDES_FILE and TRIPLINE_EXCEPTIONS_FILE.
`

func cmdRules(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, rulesUsage)
		return 2
	}
	if args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stdout, rulesUsage)
		return 0
	}
	sub := args[0]
	fs := flag.NewFlagSet("rules "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	strict := fs.Bool("strict", false, "a rule file Tripline cannot run is an error, not a skip")
	var rulesDir *string
	switch sub {
	case "list", "test":
		rulesDir = fs.String("rules", "", "directory tree of rule files (default: TRIPLINE_RULES_DIR)")
	case "check":
	default:
		fmt.Fprintf(stderr, "tripline rules: unknown subcommand %q\n%s", sub, rulesUsage)
		return 2
	}
	rest, code := parseInterleaved(fs, args[1:])
	if code >= 0 {
		return code
	}
	cfg, err := loadConfig()
	if err != nil {
		fmt.Fprintf(stderr, "tripline rules: %v\n", err)
		return 1
	}
	if rulesDir != nil && *rulesDir != "" {
		cfg.RulesDir = *rulesDir
	}
	src := sourcesFor(cfg, os.Getenv("FUNCTIONS_APP_ROOT_PATH"), *strict)
	if rulesDir != nil && *rulesDir != "" {
		src.rulesOrigin = "--rules" // messages name what the user typed
	}
	if sub == "check" {
		return checkRules(src, rest, stdout, stderr)
	}
	if len(rest) > 0 {
		fmt.Fprintf(stderr, "tripline rules %s: unexpected argument %q\n%s", sub, rest[0], rulesUsage)
		return 2
	}
	set, err := loadRuleSet(src)
	if err != nil {
		fmt.Fprintf(stderr, "tripline rules: %v\n", err)
		return 1
	}
	for _, line := range set.SkipSummary() {
		fmt.Fprintln(stderr, line)
	}
	if sub == "list" {
		listRules(set, statefulNotes(context.Background(), cfg, set.Rules), stdout)
		return 0
	}
	return runRuleTests(set.Rules, stdout)
}

// listRules prints every rule of the set; notes are the stateful rules'
// learning states, by rule_id.
func listRules(set *ruleset.Set, notes map[string]string, stdout io.Writer) {
	for _, e := range set.Entries {
		r := e.Rule
		group := "record identity"
		if len(r.Suppression.GroupBy) > 0 {
			group = strings.Join(r.Suppression.GroupBy, ", ")
		}
		fmt.Fprintf(stdout, "%s  %-8s %3d  %s\n    from %s (%s); suppression: %s for %s; max_signals %d; %d test case(s)\n",
			r.ID, r.Severity, r.RiskScore, r.Name, r.Origin, r.File, group, r.Suppression.Duration, r.MaxSignals, len(r.Tests))
		switch {
		case e.Status == ruleset.Replaced:
			fmt.Fprintf(stdout, "    replaced by %s (not running)\n", e.By)
		case e.Status == ruleset.Disabled:
			fmt.Fprintf(stdout, "    disabled by %s (not running)\n", e.By)
		case len(e.Changes) > 0:
			fmt.Fprintf(stdout, "    overridden by %s: %s\n", e.By, strings.Join(e.Changes, ", "))
		}
		if n := notes[r.ID]; n != "" && e.Status != ruleset.Replaced && e.Status != ruleset.Disabled {
			fmt.Fprintf(stdout, "    %s\n", n)
		}
	}
	fmt.Fprintf(stdout, "%d rule(s) running\n", len(set.Rules))
}

// checkRules prints a verdict per rule file: the files named, or the
// configured rules tree when none is.
func checkRules(src ruleSources, paths []string, stdout, stderr io.Writer) int {
	if len(paths) > 0 {
		src.rulesDir = ""
	} else if src.rulesDir == "" {
		fmt.Fprintf(stderr, "tripline rules check: name rule files or directories, or set TRIPLINE_RULES_DIR\n%s", rulesUsage)
		return 2
	}
	set, err := loadRuleSet(src, paths...)
	if set == nil {
		fmt.Fprintf(stderr, "tripline rules check: %v\n", err)
		return 1
	}
	replaced := map[string]string{}
	for _, e := range set.Entries {
		if e.Status == ruleset.Replaced {
			replaced[e.By] = e.Rule.Name
		}
	}
	var loaded, skipped, failed int
	for _, v := range set.Files {
		switch {
		case v.Err != nil:
			failed++
			fmt.Fprintf(stdout, "error %s\n      %s\n", v.File, strings.ReplaceAll(v.Err.Error(), "\n", "\n      "))
		case v.Skip != "":
			skipped++
			detail := ""
			if v.SkipDetail != "" {
				detail = " (" + v.SkipDetail + ")"
			}
			fmt.Fprintf(stdout, "skip  %s  %s%s\n", v.File, v.Skip, detail)
		default:
			loaded++
			note := ""
			if b, ok := replaced[v.File]; ok {
				note = fmt.Sprintf(" (replaces built-in %q)", b)
			}
			fmt.Fprintf(stdout, "ok    %s  %s%s\n", v.File, v.Rule.Name, note)
		}
	}
	fmt.Fprintf(stdout, "%d file(s): %d ok, %d skipped, %d in error\n", len(set.Files), loaded, skipped, failed)
	for _, p := range set.Problems {
		fmt.Fprintln(stderr, p)
	}
	if err != nil {
		return 1
	}
	return 0
}

func runRuleTests(all []*detect.Rule, stdout io.Writer) int {
	failed := 0
	outcomes := append(detect.RunRuleTests(all), runStepTests(all)...)
	for _, o := range outcomes {
		status := "ok  "
		if !o.Passed {
			status = "FAIL"
			failed++
		}
		want := "must not match"
		if o.Test.Match {
			want = "must match"
		}
		if n := len(o.Test.Steps); n > 0 {
			want = fmt.Sprintf("%d steps", n)
		}
		fmt.Fprintf(stdout, "%s %s: %s (%s)\n", status, o.Rule.Name, o.Test.Name, want)
		if !o.Passed {
			fmt.Fprintf(stdout, "     %s\n", o.Problem)
		}
	}
	fmt.Fprintf(stdout, "%d test case(s), %d failed\n", len(outcomes), failed)
	if failed > 0 {
		return 1
	}
	return 0
}
