package main

import (
	"context"
	"fmt"
	"time"

	"github.com/tripline/tripline/alerting"
	"github.com/tripline/tripline/detect"
	"github.com/tripline/tripline/detect/ecs"
	"github.com/tripline/tripline/stateful"
	"github.com/tripline/tripline/store/memory"
)

// runStepTests runs the test cases of rules that hold steps: each case on
// a fresh in-memory store, the rule alone, its history window taken as
// covered (a step with learn = true records history instead), each step's
// record a batch of its own, and the new alerts of each step counted.
func runStepTests(all []*detect.Rule) []detect.TestOutcome {
	var out []detect.TestOutcome
	for _, r := range all {
		for _, tc := range r.Tests {
			if len(tc.Steps) == 0 {
				continue
			}
			o := detect.TestOutcome{Rule: r, Test: tc}
			o.Problem = runSteps(r, tc)
			o.Passed = o.Problem == ""
			out = append(out, o)
		}
	}
	return out
}

func runSteps(r *detect.Rule, tc detect.RuleTest) string {
	ctx := context.Background()
	e, err := detect.NewEngine([]*detect.Rule{r}, nil)
	if err != nil {
		return err.Error()
	}
	// The clock follows the steps' event times, so that store ttls and
	// history windows measure the time the records span.
	var clock time.Time
	now := func() time.Time { return clock }
	st := memory.New(&memory.Options{Now: now})
	dec := &stateful.Decider{AssumeCovered: true, Now: now}
	p := &alerting.Pipeline{Engine: e, Store: st, TTL: 30 * 24 * time.Hour, Stateful: dec, Now: now}
	for i, s := range tc.Steps {
		ev, err := ecs.Normalize([]byte(s.Record))
		if err != nil || ev.Time.IsZero() {
			return fmt.Sprintf("step %d: the record must be one Azure record with its time", i+1)
		}
		if ev.Time.After(clock) {
			clock = ev.Time
		}
		msg := [][]byte{[]byte(s.Record)}
		if s.Learn {
			var res detect.Result
			e.Evaluate(0, msg[0], &res)
			if err := dec.Learn(ctx, st, res.Matches, nil); err != nil {
				return fmt.Sprintf("step %d: %v", i+1, err)
			}
			continue
		}
		o, err := p.Process(ctx, msg)
		if err != nil {
			return fmt.Sprintf("step %d: %v", i+1, err)
		}
		if len(o.Skips) > 0 {
			return fmt.Sprintf("step %d: record skipped: %s", i+1, o.Skips[0].Reason)
		}
		if o.New != s.Alerts {
			return fmt.Sprintf("step %d: %d new alert(s), want %d", i+1, o.New, s.Alerts)
		}
	}
	return ""
}
