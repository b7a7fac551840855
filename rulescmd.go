package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/tripline/tripline/detect"
	"github.com/tripline/tripline/detect/rules"
)

func cmdRules(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, "usage: tripline rules list | test | check FILE...")
		return 2
	}
	switch args[0] {
	case "list", "test":
		cfg, err := loadConfig()
		if err != nil {
			fmt.Fprintf(stderr, "tripline rules: %v\n", err)
			return 1
		}
		all, err := detect.LoadRules(rules.FS)
		if err != nil {
			fmt.Fprintf(stderr, "tripline rules: built-in rules: %v\n", err)
			return 1
		}
		if cfg.RulesDir != "" {
			extra, err := detect.LoadRuleDir(cfg.RulesDir)
			if err != nil {
				fmt.Fprintf(stderr, "tripline rules: TRIPLINE_RULES_DIR: %v\n", err)
				return 1
			}
			all = append(all, extra...)
		}
		if args[0] == "list" {
			notes := statefulNotes(context.Background(), cfg, all)
			for _, r := range all {
				group := "record identity"
				if len(r.Suppression.GroupBy) > 0 {
					group = strings.Join(r.Suppression.GroupBy, ", ")
				}
				fmt.Fprintf(stdout, "%s  %-8s %3d  %s\n    file %s; suppression: %s for %s; max_signals %d; %d test case(s)\n",
					r.ID, r.Severity, r.RiskScore, r.Name, r.File, group, r.Suppression.Duration, r.MaxSignals, len(r.Tests))
				if n := notes[r.ID]; n != "" {
					fmt.Fprintf(stdout, "    %s\n", n)
				}
			}
			return 0
		}
		return runRuleTests(all, stdout)
	case "check":
		if len(args) < 2 {
			fmt.Fprintln(stderr, "usage: tripline rules check FILE...")
			return 2
		}
		checked, err := detect.LoadRuleFiles(args[1:]...)
		if err != nil {
			fmt.Fprintln(stderr, err)
			return 1
		}
		for _, r := range checked {
			fmt.Fprintf(stdout, "ok  %s  %s\n", r.File, r.Name)
		}
		return 0
	}
	fmt.Fprintf(stderr, "tripline rules: unknown subcommand %q (list, test, check)\n", args[0])
	return 2
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
