package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/term"

	"github.com/tripline/tripline/alert"
	"github.com/tripline/tripline/alerting"
	"github.com/tripline/tripline/detect"
	"github.com/tripline/tripline/detect/ecs"
)

// scanChunkRecords bounds how many records one pipeline call records: the
// alerts of a chunk are recorded before more input is read, so memory stays
// flat on multi-gigabyte files.
const scanChunkRecords = 2000

// scanSummary totals a scan.
type scanSummary struct {
	files, records, skipped, matched, excepted int
	new, suppressed, duplicates                int
	alertsNew, alertsSuppressed, alertsDup     int
	heldBack                                   map[string]int
	undelivered                                int
	skips                                      []string
	// shown holds the alerts printed so far in this scan: one that comes
	// back only as a duplicate (two files holding the same operation) is
	// neither printed nor counted again.
	shown map[string]bool
}

func cmdScan(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("scan", flag.ContinueOnError)
	fs.SetOutput(stderr)
	asJSON := fs.Bool("json", false, "print one JSON alert document per line")
	state := fs.String("state", "", "embedded store file (default: TRIPLINE_STATE_FILE, else ~/.local/state/tripline/state.db)")
	noDeliver := fs.Bool("no-deliver", false, "do not send notifications to the configured channels")
	rulesDir := fs.String("rules", "", "directory of extra rule files (default: TRIPLINE_RULES_DIR)")
	quiet := fs.Bool("quiet", false, "no progress bar even on a terminal")
	checkRecords := fs.Bool("check-records", false, "decode every record, so that every malformed record is reported (slower; by default only records a rule could match are decoded)")
	files, code := parseInterleaved(fs, args)
	if code >= 0 {
		return code
	}
	if len(files) == 0 {
		fmt.Fprintln(stderr, "tripline scan: name at least one FILE (- for standard input)")
		return 2
	}
	// Check every file before doing any work: an unreadable file is the
	// user's to fix, and half a scan is confusing.
	for _, f := range files {
		if f == "-" {
			continue
		}
		fi, err := os.Stat(f)
		if err != nil {
			fmt.Fprintf(stderr, "tripline scan: cannot read %s: %v\n", f, errors.Unwrap(err))
			return 1
		}
		if fi.IsDir() {
			fmt.Fprintf(stderr, "tripline scan: %s is a directory; name the files in it (for example %s)\n", f, filepath.Join(f, "*.json"))
			return 1
		}
		fh, err := os.Open(f)
		if err != nil {
			fmt.Fprintf(stderr, "tripline scan: cannot read %s: %v\n", f, errors.Unwrap(err))
			return 1
		}
		fh.Close()
	}

	a, err := newApp(ctx, appOptions{stateFile: *state, rulesDir: *rulesDir, noDeliver: *noDeliver, needStore: true, notice: func(msg string) { fmt.Fprintln(stderr, "tripline scan: "+msg) }})
	if err != nil {
		fmt.Fprintf(stderr, "tripline scan: %v\n", err)
		return 1
	}
	defer a.Close()
	a.pipeline.CheckEveryRecord = *checkRecords

	sum := &scanSummary{heldBack: map[string]int{}, shown: map[string]bool{}}
	progress := newProgress(stderr, !*quiet && isTerminal(stderr))
	pool := newScanPool()
	// Alerts are printed a chunk at a time: a write per line was a
	// tenth of a scan's system time.
	out := bufio.NewWriter(stdout)
	defer out.Flush()
	// The reading stops with readCtx, when recording fails too;
	// recording goes on with ctx.
	readCtx, stopReading := context.WithCancel(ctx)
	defer stopReading()
	rec := startRecorder(ctx, a.pipeline, out, *asJSON, sum, progress, stopReading)
	fail := func(err error) int {
		if recErr := rec.close(); recErr != nil {
			err = recErr // why the reading stopped
		}
		progress.done()
		fmt.Fprintf(stderr, "tripline scan: %v\n", err)
		return 1
	}
	for _, name := range files {
		var r io.Reader = stdin
		if name != "-" {
			fh, err := os.Open(name)
			if err != nil {
				return fail(fmt.Errorf("cannot read %s: %v", name, errors.Unwrap(err)))
			}
			defer fh.Close()
			r = fh
		}
		sum.files++
		if err := scanOne(readCtx, a.pipeline, pool, rec, name, r); err != nil {
			return fail(err)
		}
	}
	if err := rec.close(); err != nil {
		progress.done()
		fmt.Fprintf(stderr, "tripline scan: %v\n", err)
		return 1
	}
	progress.done()
	printSummary(stderr, sum, a.storeDesc, a.pipeline.Notifier != nil)
	return 0
}

// parseInterleaved parses flags wherever they stand among the file names
// (`scan FILE --json` as `scan --json FILE`); "--" ends the flags and "-"
// is a file (standard input). code is -1 to go on, else the exit code: 0
// after -h, 2 for an unusable flag (the flag package has said why).
func parseInterleaved(fs *flag.FlagSet, args []string) (files []string, code int) {
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, 0
			}
			return nil, 2
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return files, -1
		}
		if len(args) > len(rest) && args[len(args)-len(rest)-1] == "--" {
			return append(files, rest...), -1
		}
		files = append(files, rest[0])
		args = rest[1:]
	}
}

// scanOne streams one input through the engine and the pipeline
// (scan_pipeline.go, scan_merge.go): each record is cut once, and evaluated
// on every core; the stretches of the input are merged in input order, and
// the matches of every scanChunkRecords records go to rec, which records
// them in order. A captured host request found in the input is decoded and
// its messages evaluated like any other input. Cancelling ctx stops it.
func scanOne(ctx context.Context, p *alerting.Pipeline, pool *scanPool, rec *scanRecorder, name string, r io.Reader) error {
	m := &scanMerger{p: p, name: name, chunks: rec.chunks}
	m.res = &detect.Result{DecodeAll: p.CheckEveryRecord}
	return m.read(ctx, pool, r)
}

// mentionsMetadata reports whether body holds "Metadata" with its quotes,
// as a captured host request does. It searches from the M: searching from
// the quote, which comes every few bytes, took a tenth of a scan.
func mentionsMetadata(body []byte) bool {
	for i := 1; i < len(body); {
		j := bytes.Index(body[i:], []byte(`Metadata"`))
		if j < 0 {
			return false
		}
		if i += j; body[i-1] == '"' {
			return true
		}
		i++
	}
	return false
}

func account(name string, out *alerting.Outcome, sum *scanSummary) {
	sum.records += out.Records
	sum.skipped += len(out.Skips)
	sum.matched += out.Matched
	sum.excepted += out.Excepted
	sum.new += out.New
	sum.suppressed += out.Suppressed
	sum.duplicates += out.Duplicates
	sum.undelivered += out.Undelivered
	for _, s := range out.Skips {
		sum.skips = append(sum.skips, name+" "+s.String())
	}
	for _, a := range out.Alerts {
		if sum.shown[a.ID] && a.State == alert.StateDuplicate {
			continue // this scan has counted it already
		}
		switch a.State {
		case alert.StateNew:
			sum.alertsNew++
		case alert.StateSuppressed:
			sum.alertsSuppressed++
		case alert.StateDuplicate:
			sum.alertsDup++
		}
	}
	for _, h := range out.HeldBack {
		sum.heldBack[h.Rule.Name] += h.Count
	}
}

func printAlert(w io.Writer, a alert.Alert, asJSON bool) {
	if asJSON {
		b, err := json.Marshal(a)
		if err != nil {
			fmt.Fprintf(w, `{"error":%q}`+"\n", err.Error())
			return
		}
		w.Write(append(b, '\n'))
		return
	}
	label := map[alert.State]string{
		alert.StateNew:        "NEW",
		alert.StateSuppressed: "SUPPRESSED (count grew)",
		alert.StateDuplicate:  "ALREADY RECORDED",
	}[a.State]
	fmt.Fprintf(w, "%s  %s  [%s, risk %d]\n", label, a.Rule.Name, a.Rule.Severity, a.Rule.RiskScore)
	fmt.Fprintf(w, "  alert     %s  count %d  first %s  last %s\n", a.ID, a.Count, ts(a.FirstSeen), ts(a.LastSeen))
	fmt.Fprintf(w, "  what      %s\n", describeWhat(a.Event))
	if who := describeWho(a.Event); who != "" {
		fmt.Fprintf(w, "  who       %s\n", who)
	}
	if where := field(a.Event, "azure.resource.id"); where != "" {
		fmt.Fprintf(w, "  where     %s\n", where)
	}
	fmt.Fprintf(w, "  source    %s\n", a.Source)
	for ch, d := range a.Deliveries {
		fmt.Fprintf(w, "  notify    %s: %s\n", ch, d.State)
	}
	fmt.Fprintln(w)
}

func ts(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

func describeWhat(ev map[string]any) string {
	if verb := field(ev, "azure.platformlogs.properties.log.verb"); verb != "" {
		s := verb + " " + field(ev, "azure.platformlogs.properties.log.objectRef.resource")
		if ns := field(ev, "azure.platformlogs.properties.log.objectRef.namespace"); ns != "" {
			s += " in namespace " + ns
		}
		if n := field(ev, "azure.platformlogs.properties.log.objectRef.name"); n != "" {
			s += " (" + n + ")"
		}
		return s
	}
	s := field(ev, "event.action")
	if o := field(ev, "event.outcome"); o != "" {
		s += " (" + o + ")"
	}
	return s
}

func describeWho(ev map[string]any) string {
	for _, f := range []string{"user.email", "user.name", "azure.activitylogs.identity.claims.appid"} {
		if v := field(ev, f); v != "" {
			if p := field(ev, "azure.activitylogs.identity.authorization.evidence.principal_id"); p != "" {
				return v + " (principal " + p + ")"
			}
			return v
		}
	}
	return field(ev, "azure.activitylogs.identity.authorization.evidence.principal_id")
}

// field reads a dotted path from a normalized document ("" when absent or
// not a string or number).
func field(doc map[string]any, path string) string {
	v, _ := ecs.Lookup(doc, path)
	switch v := v.(type) {
	case string:
		return v
	case json.Number:
		return v.String()
	}
	return ""
}

func printSummary(w io.Writer, s *scanSummary, storeDesc string, delivering bool) {
	fmt.Fprintf(w, "scan: %d file(s), %d record(s) read, %d skipped, %d matched", s.files, s.records, s.skipped, s.matched)
	if s.excepted > 0 {
		fmt.Fprintf(w, " (%d more dropped by exceptions)", s.excepted)
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "alerts: %d new, %d suppressed into open alerts, %d already recorded", s.alertsNew, s.alertsSuppressed, s.alertsDup)
	fmt.Fprintf(w, " (matches: %d new, %d suppressed, %d duplicate)\n", s.new, s.suppressed, s.duplicates)
	if s.alertsNew == 0 && s.alertsDup > 0 {
		fmt.Fprintln(w, "every alert of this input was already recorded: nothing new")
	}
	for rule, n := range s.heldBack {
		fmt.Fprintf(w, "held back by max_signals: %d alert(s) of %q (recorded, summarised in one notification)\n", n, rule)
	}
	if delivering && s.undelivered > 0 {
		fmt.Fprintf(w, "notifications: %d alert(s) still pending on some channel; run `tripline deliver` to retry\n", s.undelivered)
	}
	fmt.Fprintf(w, "store: %s\n", storeDesc)
	for _, sk := range s.skips {
		fmt.Fprintf(w, "skipped: %s\n", sk)
	}
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// progress draws a one-line progress bar on a terminal, at most 5 times a
// second.
type progress struct {
	w     io.Writer
	on    bool
	start time.Time
	last  time.Time
	drawn bool
}

func newProgress(w io.Writer, on bool) *progress {
	return &progress{w: w, on: on, start: time.Now()}
}

func (p *progress) update(bytes int64, s *scanSummary) {
	if !p.on {
		return
	}
	now := time.Now()
	if now.Sub(p.last) < 200*time.Millisecond {
		return
	}
	p.last = now
	secs := now.Sub(p.start).Seconds()
	rate := 0.0
	if secs > 0 {
		rate = float64(s.records) / secs
	}
	fmt.Fprintf(p.w, "\r%8.1f MB  %9d records  %9.0f records/s  %d alerts ", float64(bytes)/1e6, s.records, rate, s.alertsNew+s.alertsSuppressed)
	p.drawn = true
}

func (p *progress) done() {
	if p.on && p.drawn {
		fmt.Fprint(p.w, "\r\033[K")
	}
}
