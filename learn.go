package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/tripline/tripline/detect"
	"github.com/tripline/tripline/detect/ecs"
	"github.com/tripline/tripline/input"
	"github.com/tripline/tripline/stateful"
	"github.com/tripline/tripline/store"
)

// learnFlush is how many candidate matches learn records in one store
// unit (one pair of fsyncs in the embedded store).
const learnFlush = 1000

// cmdLearn seeds the terms of new_terms rules from exported logs, without
// alerting, and records that their history is covered from the earliest
// record read (docs/stateful-rules.md).
func cmdLearn(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("learn", flag.ContinueOnError)
	fs.SetOutput(stderr)
	until := fs.String("until", "", "ignore records after this time (RFC 3339), so that the stream alerts on what follows")
	state := fs.String("state", "", "embedded store file (default: TRIPLINE_STATE_FILE, else ~/.local/state/tripline/state.db)")
	rulesDir := fs.String("rules", "", "directory of extra rule files (default: TRIPLINE_RULES_DIR)")
	files, code := parseInterleaved(fs, args)
	if code >= 0 {
		return code
	}
	var end time.Time
	if *until != "" {
		t, err := time.Parse(time.RFC3339, *until)
		if err != nil {
			fmt.Fprintf(stderr, "tripline learn: --until %q is not an RFC 3339 time (2026-12-01T00:00:00Z)\n", *until)
			return 2
		}
		end = t.UTC()
	}
	if len(files) == 0 {
		fmt.Fprintln(stderr, "tripline learn: name at least one FILE of exported logs")
		return 2
	}
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			fmt.Fprintf(stderr, "tripline learn: cannot read %s: %v\n", f, errors.Unwrap(err))
			return 1
		}
		fh.Close()
	}
	a, err := newApp(ctx, appOptions{stateFile: *state, rulesDir: *rulesDir, noDeliver: true, needStore: true})
	if err != nil {
		fmt.Fprintf(stderr, "tripline learn: %v\n", err)
		return 1
	}
	defer a.Close()
	var newTerms []*detect.Rule
	for _, r := range a.pipeline.Engine.Rules() {
		if r.NewTerms != nil {
			newTerms = append(newTerms, r)
		}
	}
	if len(newTerms) == 0 {
		fmt.Fprintln(stderr, "tripline learn: no new_terms rule is loaded; nothing to learn")
		return 1
	}
	l := &learner{st: a.pipeline.Store, end: end, dec: &stateful.Decider{}}
	for _, f := range files {
		if err := l.file(ctx, f, a.pipeline.Engine); err != nil {
			fmt.Fprintf(stderr, "tripline learn: %s: %v\n", f, err)
			return 1
		}
	}
	if err := l.flush(ctx); err != nil {
		fmt.Fprintf(stderr, "tripline learn: %v\n", err)
		return 1
	}
	if l.earliest.IsZero() {
		fmt.Fprintln(stderr, "tripline learn: no record with an event time was read; nothing recorded")
		return 1
	}
	for _, r := range newTerms {
		if err := stateful.Cover(ctx, a.pipeline.Store, r, l.earliest, &l.stats); err != nil {
			fmt.Fprintf(stderr, "tripline learn: %v\n", err)
			return 1
		}
	}
	fmt.Fprintf(stdout, "learned %d term(s) of %d new_terms rule(s) from %d record(s) (%s to %s), %d skipped; %s\n",
		l.stats.LearnedTerms, len(newTerms), l.records, ts(l.earliest), ts(l.latest), l.skipped, a.storeDesc)
	for _, r := range newTerms {
		fmt.Fprintf(stdout, "  %s: %s\n", r.Name, coverageNote(ctx, a.pipeline.Store, r, time.Now()))
	}
	return 0
}

// learner reads records and records the terms of their new_terms matches.
type learner struct {
	st               stateful.Store
	dec              *stateful.Decider
	end              time.Time
	pending          []detect.Match
	earliest, latest time.Time
	records, skipped int
	stats            stateful.Stats
}

func (l *learner) file(ctx context.Context, name string, e *detect.Engine) error {
	fh, err := os.Open(name)
	if err != nil {
		return err
	}
	defer fh.Close()
	in := input.NewReader(fh)
	for {
		rec, err := in.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if rec.Skip != "" {
			l.skipped++
			continue
		}
		ev, err := ecs.Normalize(rec.Bytes)
		if err != nil || ev.Time.IsZero() || (!l.end.IsZero() && ev.Time.After(l.end)) {
			l.skipped++
			continue
		}
		l.records++
		if l.earliest.IsZero() || ev.Time.Before(l.earliest) {
			l.earliest = ev.Time
		}
		if ev.Time.After(l.latest) {
			l.latest = ev.Time
		}
		for _, r := range e.MatchEvent(ev) {
			if r.NewTerms != nil {
				l.pending = append(l.pending, detect.Match{Rule: r, Event: ev})
			}
		}
		if len(l.pending) >= learnFlush {
			if err := l.flush(ctx); err != nil {
				return err
			}
		}
	}
}

// batchStore is a store that makes several operations one unit
// (store/bolt).
type batchStore interface {
	Batch(ctx context.Context, fn func(tx store.Tx) error) error
}

func (l *learner) flush(ctx context.Context) error {
	if len(l.pending) == 0 {
		return nil
	}
	var err error
	if b, ok := l.st.(batchStore); ok {
		err = b.Batch(ctx, func(tx store.Tx) error { return l.dec.Learn(ctx, tx, l.pending, &l.stats) })
	} else {
		err = l.dec.Learn(ctx, l.st, l.pending, &l.stats)
	}
	l.pending = l.pending[:0]
	return err
}

// coverageNote says where a new_terms rule stands: learning until when, or
// alerting.
func coverageNote(ctx context.Context, st stateful.Store, r *detect.Rule, now time.Time) string {
	window := r.NewTerms.HistoryWindow
	since, ok, err := stateful.Coverage(ctx, st, r)
	switch {
	case err != nil:
		return "history state unknown: " + err.Error()
	case !ok:
		return fmt.Sprintf("no history yet: records terms without alerting for %s from its first matching record (or run tripline learn)", window)
	case now.Before(since.Add(window)):
		return fmt.Sprintf("learning until %s (history from %s; terms are recorded, not alerted)", ts(since.Add(window)), ts(since))
	}
	return fmt.Sprintf("alerting on new terms (history from %s)", ts(since))
}

// statefulNotes describes the stateful rules for rules list: threshold
// parameters, and for new_terms rules whether their history window is
// covered (read from the configured store, opened only when needed).
func statefulNotes(ctx context.Context, cfg Config, rules []*detect.Rule) map[string]string {
	notes := map[string]string{}
	var st stateful.Store
	var closeStore func() error
	var openErr error
	opened := false
	for _, r := range rules {
		switch {
		case r.Threshold != nil:
			th := r.Threshold
			by := "the whole rule"
			if len(th.Fields) > 0 {
				by = strings.Join(th.Fields, ", ")
			}
			n := fmt.Sprintf("threshold: %d record(s) per %s", th.Value, by)
			if th.Cardinality != nil {
				n += fmt.Sprintf(" with %d distinct %s", th.Cardinality.Value, th.Cardinality.Field)
			}
			notes[r.ID] = n + fmt.Sprintf(", in fixed windows of %s (event time)", th.Window)
		case r.NewTerms != nil:
			if !opened {
				opened = true
				st, _, closeStore, openErr = openStore(ctx, cfg, "TRIPLINE_STATE_FILE", func(string) {})
			}
			n := fmt.Sprintf("new_terms: %s over %s; ", strings.Join(r.NewTerms.Fields, " + "), r.NewTerms.HistoryWindow)
			if openErr != nil {
				notes[r.ID] = n + "history state unknown: " + openErr.Error()
				continue
			}
			notes[r.ID] = n + coverageNote(ctx, st, r, time.Now())
		}
	}
	if closeStore != nil {
		_ = closeStore()
	}
	return notes
}
