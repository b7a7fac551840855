package main

// The verdicts and the Markdown report.

import (
	"fmt"
	"strconv"
	"strings"
)

func (rep *report) row(name, input string) (row, bool) {
	for _, r := range rep.Rows {
		if r.Name == name && (input == "" || r.Input == input) && r.Seconds > 0 {
			return r, true
		}
	}
	return row{}, false
}

func verdicts(rep *report) {
	t, _ := rep.row(inProcess, "")
	add := func(ok bool, format string, args ...any) {
		v := "MET    "
		if !ok {
			v = "NOT MET"
		}
		rep.Verdicts = append(rep.Verdicts, v+"  "+fmt.Sprintf(format, args...))
	}
	if jq, ok := rep.row("jq", ""); ok {
		r := t.rps() / jq.rps()
		add(r >= 10, "Tripline in process vs jq, on the Event Hubs export: %.1f× (target ≥ 10×)", r)
	} else {
		add(false, "Tripline in process vs jq: jq did not run (target ≥ 10×)")
	}
	if jq, ok := rep.row("jq", ""); ok {
		if sc, ok := rep.row("Tripline scan (binary)", ""); ok {
			r := sc.rps() / jq.rps()
			add(r >= 8, "tripline scan as a whole process (fresh state file) vs jq: %.1f× (target ≥ 8×)", r)
		}
	}
	if sr, ok := rep.row("Tripline in process, stateful rules too", ""); ok {
		rep.Verdicts = append(rep.Verdicts, fmt.Sprintf("REPORTED stateful rules: %.0f records/s with them (%.2f× the query-only row), %.1f store calls per 1,000 records (%s)",
			sr.rps(), sr.rps()/t.rps(), rep.StatefulCallsPer1000, sr.Note))
	}
	if m, ok := rep.row("encoding/json map baseline", "plain bodies"); ok {
		rep.Verdicts = append(rep.Verdicts, fmt.Sprintf("REPORTED Tripline in process vs the encoding/json map baseline: %.1f×", t.rps()/m.rps()))
	}
	if h, ok := rep.row("Tripline handler path (in process)", ""); ok {
		if m, ok := rep.row("encoding/json map baseline", "host invocations"); ok {
			rep.Verdicts = append(rep.Verdicts, fmt.Sprintf("REPORTED Tripline's handler path vs the same baseline reading the host invocations, as a naive handler would: %.1f×", h.rps()/m.rps()))
		}
	}
	if f, ok := rep.row("floor: bytes.Index", "plain bodies"); ok {
		rep.Verdicts = append(rep.Verdicts, fmt.Sprintf("REPORTED Tripline in process vs a raw byte search on the same bodies: %.0f %% of the floor (context, not a target)", 100*t.rps()/f.rps()))
	}
	add(rep.NonMatchDetectAllocsPerRecord < 0.01, "heap allocations per non-matching record (records + prefilter + rules, detect.Engine.Evaluate, steady state): %.4f (target 0)",
		rep.NonMatchDetectAllocsPerRecord)
	add(rep.NonMatchAllocsPerRecord < 0.1, "heap allocations per record, whole in-process hot path, 100-event invocation of non-matching records: %.3f (%.0f per invocation, independent of its size: request decoding, metadata, pipeline; target 0 per record)",
		rep.NonMatchAllocsPerRecord, rep.NonMatchAllocsPerInvocation)
	rep.Verdicts = append(rep.Verdicts, fmt.Sprintf("REPORTED heap allocations per record on the benchmark corpus (0.5 %% matches; the records holding every literal of some rule are unescaped and decoded): %.2f (%.0f per invocation of %d records)",
		rep.AllocsPerRecord, rep.AllocsPerInvocation, rep.Corpus.Records/max(rep.Corpus.Invocations, 1)))
	if rep.StreamGB > 0 {
		add(rep.StreamPeakRSSMB > 0 && rep.StreamPeakRSSMB <= 64, "peak RSS of `tripline scan -` over a %.1f GB stream: %.1f MB in %.1f s (target ≤ 64 MB)", rep.StreamGB, rep.StreamPeakRSSMB, rep.StreamSeconds)
	}
	rep.Verdicts = append(rep.Verdicts, fmt.Sprintf("REPORTED peak RSS serving the largest legal batch (%d messages of 1 MB, %.0f MB as the host encodes it): %.0f MB (the instance size in infra/ is chosen from it)", maxEventBatchSize, rep.LargestBatchMB, rep.LargestPeakRSSMB))
	rep.Verdicts = append(rep.Verdicts, fmt.Sprintf("REPORTED peak RSS serving a %.1f MB 100-event invocation: %.1f MB (the request, then its bodies; GOMEMLIMIT as infra/ sets it)", rep.RSSInvocationMB, rep.PeakRSSMB))
	add(rep.StartupMedianMS < 100, "start-up, exec to first answered readiness probe: median %.1f ms of %d (target < 100 ms); binary %.1f MB",
		rep.StartupMedianMS, len(rep.StartupSamples), rep.BinaryMB)
	add(rep.LatencyN > 0, "handler latency per 100-event invocation, end to end: p50 %.1f ms, p99 %.1f ms (%d invocations; reported, no target)",
		rep.LatencyP50MS, rep.LatencyP99MS, rep.LatencyN)
}

func render(rep *report) string {
	var b strings.Builder
	t, _ := rep.row(inProcess, "")
	fmt.Fprintf(&b, "# Tripline benchmark results\n\n")
	fmt.Fprintf(&b, "Measured %s on %s, %s, by `make bench` (bench/cmd/tripline-bench).\n\n", rep.Date, rep.Machine, rep.GoVersion)
	fmt.Fprintf(&b, "Corpus: %d Event Hubs bodies, %d records (%.1f MB plain, %.1f MB as %d host-encoded invocations of %d events), "+
		"%d records (%.1f %%) matching the built-in rules, %d of them the seed rule.\n\n",
		rep.Corpus.Messages, rep.Corpus.Records, float64(rep.Corpus.PlainBytes)/1e6, float64(rep.Corpus.HostBytes)/1e6, rep.Corpus.Invocations, eventsPerCall,
		rep.Corpus.Planted, 100*float64(rep.Corpus.Planted)/float64(max(rep.Corpus.Records, 1)), rep.Corpus.PlantedSeed)
	fmt.Fprintf(&b, "| contender | input | MB/s | records/s | ratio to Tripline (records/s) | found | what |\n|---|---|--:|--:|--:|--:|---|\n")
	for _, r := range rep.Rows {
		if r.Seconds == 0 {
			fmt.Fprintf(&b, "| %s | %s | – | – | – | – | %s |\n", r.Name, r.Input, r.Note)
			continue
		}
		fmt.Fprintf(&b, "| %s | %s | %.0f | %.0f | %.2f× | %d | %s |\n", r.Name, r.Input, r.mbps(), r.rps(), r.rps()/t.rps(), r.Found, r.Note)
	}
	fmt.Fprintf(&b, "\nMB/s counts the bytes each contender reads (host invocations are larger than the bodies they carry); compare contenders by records/s. "+
		"In-process figures are the median of the timed rounds; ratios come from this one run.\n\n## Verdicts\n\n")
	for _, v := range rep.Verdicts {
		fmt.Fprintf(&b, "- `%s`\n", v)
	}
	fmt.Fprintf(&b, "\nStart-up samples (ms): %v; the host simulator's own probe (25 ms interval) saw the handler ready after %.1f ms.\n", fmtSamples(rep.StartupSamples), rep.HostsimReadyMS)
	fmt.Fprintf(&b, "Allocated bytes per record on the in-process hot path: %.0f (request metadata, and the records a rule may match, unescaped and decoded).\n", rep.BytesPerRecord)
	return b.String()
}

func fmtSamples(xs []float64) string {
	var parts []string
	for _, x := range xs {
		parts = append(parts, strconv.FormatFloat(x, 'f', 1, 64))
	}
	return strings.Join(parts, " ")
}
