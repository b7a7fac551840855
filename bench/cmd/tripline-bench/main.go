// Command tripline-bench is `make bench`: it generates the benchmark corpus
// (bench/corpus), writes it as plain files of Event Hubs message bodies and
// as host-encoded Event Hubs invocations of 100 events, then measures on the
// same bytes, in one run, Tripline's hot path (in process and end to end
// through the binary and the host simulator), an encoding/json map
// baseline, jq, and a raw byte search, and prints a table with a verdict per
// target. Ratios are computed within the run; absolute figures depend on the
// machine.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/tripline/tripline/bench/corpus"
	"github.com/tripline/tripline/handler"
	"github.com/tripline/tripline/internal/hostsim"
	"github.com/tripline/tripline/stateful"
)

const (
	function_     = "ActivityLogEvents"
	eventsPerCall = 100
	// inProcess is the row the targets compare with jq.
	inProcess = "Tripline in process"
)

// route is the server's ActivityLogEvents route (serve.go).
var route = handler.Route{Function: function_, Trigger: handler.EventHubBatch, Binding: "events", DataType: handler.DataTypeString,
	Func: handler.FuncOf(func(context.Context, *handler.Invocation) (handler.Result, error) { return handler.Result{}, nil })}

// streamBytes is -stream-gb in bytes.
var streamBytes int64

func main() {
	root := flag.String("root", ".", "repository root (the Function App: host.json, ActivityLogEvents/)")
	out := flag.String("out", "bench/out", "directory for the corpus and raw results")
	binary := flag.String("binary", "", "tripline binary for the end-to-end run (built into -out when empty)")
	results := flag.String("results", "", "also write the Markdown report to this file (bench/RESULTS.md)")
	messages := flag.Int("messages", corpus.Defaults.Messages, "Event Hubs message bodies in the corpus (50 records each)")
	rounds := flag.Int("rounds", 5, "timed rounds per in-process contender (the median is reported)")
	jqPath := flag.String("jq", "jq", "jq executable")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the in-process Tripline hot path rounds to this file")
	stream := flag.Float64("stream-gb", 4, "size of the stream piped into `tripline scan -` for its peak RSS (0: skip)")
	flag.Parse()
	streamBytes = int64(*stream * 1e9)
	profileHotPath = *cpuProfile
	if err := run(*root, *out, *binary, *results, *messages, *rounds, *jqPath); err != nil {
		fmt.Fprintln(os.Stderr, "tripline-bench:", err)
		os.Exit(1)
	}
}

// row is one contender's result.
type row struct {
	Name    string  `json:"name"`
	Input   string  `json:"input"`
	Bytes   int64   `json:"bytes"`
	Records int     `json:"records"`
	Seconds float64 `json:"seconds"`
	Found   int     `json:"found"`
	Note    string  `json:"note,omitempty"`
}

func (r row) mbps() float64 { return float64(r.Bytes) / 1e6 / r.Seconds }
func (r row) rps() float64  { return float64(r.Records) / r.Seconds }

type report struct {
	Date, Machine, GoVersion string
	Corpus                   struct {
		Messages, Records, Planted, PlantedSeed, Invocations int
		PlainBytes, HostBytes                                int64
	}
	Rows            []row
	AllocsPerRecord float64
	// NonMatch*: a 100-event invocation where no record is a candidate.
	NonMatchAllocsPerInvocation   float64
	NonMatchAllocsPerRecord       float64
	NonMatchDetectAllocsPerRecord float64
	AllocsPerInvocation           float64
	BytesPerRecord                float64
	PeakRSSMB                     float64
	RSSInvocationMB               float64
	// StreamGB went through `tripline scan -` in StreamSeconds, peaking
	// at StreamPeakRSSMB.
	StreamGB, StreamSeconds, StreamPeakRSSMB float64
	// StatefulCallsPer1000 is the store calls per 1,000 records of the
	// stateful row (the query-only rows make one per new group only).
	StatefulCallsPer1000 float64
	// LargestBatchMB is the request of the largest legal batch, served at
	// a peak of LargestPeakRSSMB.
	LargestBatchMB, LargestPeakRSSMB float64
	StartupMedianMS                  float64
	StartupSamples                   []float64
	HostsimReadyMS                   float64
	BinaryMB                         float64
	LatencyP50MS                     float64
	LatencyP99MS                     float64
	LatencyN                         int
	Verdicts                         []string
}

func run(root, out, binary, results string, messages, rounds int, jqPath string) error {
	root, _ = filepath.Abs(root)
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	out, _ = filepath.Abs(out)
	rep := &report{Date: time.Now().UTC().Format("2006-01-02"), Machine: machine(), GoVersion: runtime.Version()}

	fmt.Fprintf(os.Stderr, "generating corpus (%d messages of %d records, seed %d)...\n", messages, corpus.Defaults.RecordsPerMessage, corpus.Defaults.Seed)
	c := corpus.Generate(corpus.Options{Messages: messages})
	plain, host, err := writeCorpus(root, filepath.Join(out, "corpus"), c)
	if err != nil {
		return err
	}
	var hostBytes int64
	for _, h := range host {
		hostBytes += int64(len(h))
	}
	rep.Corpus.Messages, rep.Corpus.Records, rep.Corpus.Planted, rep.Corpus.PlantedSeed = len(c.Bodies), c.Records, c.Planted, c.PlantedSeed
	rep.Corpus.Invocations, rep.Corpus.PlainBytes, rep.Corpus.HostBytes = len(host), c.Bytes, hostBytes

	engine, err := builtinEngine()
	if err != nil {
		return err
	}

	// In-process contenders, interleaved round by round so that noise from
	// the shared machine falls on all of them alike.
	type contender struct {
		name, input string
		bytes       int64
		fn          func() (found int, err error)
		note        string
	}
	tripline := func() (int, error) {
		if profileHotPath == "" {
			return triplineExport(engine, c.Bodies, nil, nil)
		}
		return profiled(profileHotPath, func() (int, error) { return triplineExport(engine, c.Bodies, nil, nil) })
	}
	stEngine, _, stRules, err := statefulEngine(root)
	if err != nil {
		return fmt.Errorf("stateful rules: %w", err)
	}
	var stCalls int
	contenders := []contender{
		{inProcess, "plain bodies", c.Bytes, tripline, "the Event Hubs export through the pipeline: records + prefilter + normalize + all built-in rules + in-memory store"},
		{"Tripline in process, stateful rules too", "plain bodies", c.Bytes, func() (int, error) {
			// new_terms history counts as covered: a fresh store would only learn.
			return triplineExport(stEngine, c.Bodies, &stateful.Decider{AssumeCovered: true}, &stCalls)
		}, stRules},
		{"Tripline handler path (in process)", "host invocations", hostBytes, func() (int, error) { return triplineHostPath(engine, host) }, "the same after decoding each host request as the handler does"},
		{"Tripline detect only", "plain bodies", c.Bytes, func() (int, error) { return detectOnly(engine, c.Bodies, false), nil }, "Engine.Evaluate on the message bodies"},
		{"Tripline, every record decoded", "plain bodies", c.Bytes, func() (int, error) { return detectOnly(engine, c.Bodies, true), nil }, "Engine.Evaluate with DecodeAll: no prefilter (scan --check-records)"},
		{"encoding/json map baseline", "plain bodies", c.Bytes, func() (int, error) { return mapBaseline(c.Bodies) }, "json.Unmarshal into map[string]any + seed condition in Go"},
		{"encoding/json map baseline", "host invocations", hostBytes, func() (int, error) { return mapBaselineHost(host) }, "the same, after unmarshalling each request's envelope and Data.events (what a naive handler does)"},
		{"floor: bytes.Index", "host invocations", hostBytes, func() (int, error) { return floor(host), nil }, "count of the seed operation name"},
		{"floor: bytes.Index", "plain bodies", c.Bytes, func() (int, error) { return floor(c.Bodies), nil }, "count of the seed operation name"},
	}
	times := make([][]float64, len(contenders))
	found := make([]int, len(contenders))
	for r := 0; r < rounds; r++ {
		fmt.Fprintf(os.Stderr, "round %d/%d\n", r+1, rounds)
		for i, ct := range contenders {
			runtime.GC()
			start := time.Now()
			n, err := ct.fn()
			d := time.Since(start).Seconds()
			if err != nil {
				return fmt.Errorf("%s: %w", ct.name, err)
			}
			times[i] = append(times[i], d)
			found[i] = n
		}
	}
	for i, ct := range contenders {
		rep.Rows = append(rep.Rows, row{Name: ct.name, Input: ct.input, Bytes: ct.bytes, Records: c.Records, Seconds: median(times[i]), Found: found[i], Note: ct.note})
	}
	rep.StatefulCallsPer1000 = float64(stCalls) * 1000 / float64(c.Records)

	// jq on the plain files.
	fmt.Fprintln(os.Stderr, "jq...")
	if jr, err := jqRun(jqPath, plain, c); err != nil {
		fmt.Fprintf(os.Stderr, "jq: %v\n", err)
		rep.Rows = append(rep.Rows, row{Name: "jq", Input: "plain files", Note: "not run: " + err.Error()})
	} else {
		rep.Rows = append(rep.Rows, jr)
	}

	// Allocations per record on the in-process hot path (testing.Benchmark).
	fmt.Fprintln(os.Stderr, "allocations...")
	br := testing.Benchmark(func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := triplineHostPath(engine, host[:1]); err != nil {
				b.Fatal(err)
			}
		}
	})
	perCall := c.Records / len(host)
	rep.AllocsPerInvocation = float64(br.AllocsPerOp())
	rep.AllocsPerRecord = float64(br.AllocsPerOp()) / float64(perCall)
	rep.BytesPerRecord = float64(br.AllocedBytesPerOp()) / float64(perCall)
	// The same on a batch of records that no rule can match (no planted
	// matches, no near misses): what a non-matching record costs.
	nm := corpus.Generate(corpus.Options{Seed: corpus.Defaults.Seed + 2, Messages: eventsPerCall, MatchPerMille: -1, NoNearMisses: true})
	nmReq, err := hostsim.EncodeEventHubBatch(root, function_, nm.Bodies, hostsim.BatchOptions{Seed: 3})
	if err != nil {
		return err
	}
	bn := testing.Benchmark(func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := triplineHostPath(engine, [][]byte{nmReq}); err != nil {
				b.Fatal(err)
			}
		}
	})
	dn := testing.Benchmark(func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			detectOnly(engine, nm.Bodies, false)
		}
	})
	rep.NonMatchAllocsPerInvocation = float64(bn.AllocsPerOp())
	rep.NonMatchAllocsPerRecord = float64(bn.AllocsPerOp()) / float64(nm.Records)
	rep.NonMatchDetectAllocsPerRecord = float64(dn.AllocsPerOp()) / float64(nm.Records)

	// End to end: the binary, started and driven by the host simulator.
	if binary == "" {
		binary = filepath.Join(out, "tripline")
		fmt.Fprintln(os.Stderr, "building", binary)
		cmd := exec.Command("go", "build", "-o", binary, ".")
		cmd.Dir, cmd.Stdout, cmd.Stderr = root, os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("go build: %w", err)
		}
	}
	if fi, err := os.Stat(binary); err == nil {
		rep.BinaryMB = float64(fi.Size()) / 1e6
	}
	fmt.Fprintln(os.Stderr, "end to end through the host simulator...")
	if err := endToEnd(root, out, binary, host, c, rep); err != nil {
		return fmt.Errorf("end to end: %w", err)
	}
	fmt.Fprintln(os.Stderr, "tripline scan on the plain files...")
	sr, err := scanRun(root, out, binary, plain, c)
	if err != nil {
		return fmt.Errorf("scan: %w", err)
	}
	rep.Rows = append(rep.Rows, sr)
	if streamBytes > 0 {
		fmt.Fprintf(os.Stderr, "tripline scan on a %.1f GB stream...\n", float64(streamBytes)/1e9)
		if err := scanStream(root, out, binary, plain, streamBytes, rep); err != nil {
			return fmt.Errorf("scan stream: %w", err)
		}
	}
	fmt.Fprintln(os.Stderr, "start-up...")
	if err := startup(root, out, binary, rep); err != nil {
		return fmt.Errorf("start-up: %w", err)
	}
	fmt.Fprintln(os.Stderr, "peak RSS for a 10 MB invocation...")
	if err := peakRSS(root, out, binary, rep); err != nil {
		return fmt.Errorf("peak RSS: %w", err)
	}

	verdicts(rep)
	text := render(rep)
	fmt.Print(text)
	raw, _ := json.MarshalIndent(rep, "", "  ")
	if err := os.WriteFile(filepath.Join(out, "results.json"), raw, 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(out, "RESULTS.md"), []byte(text), 0o644); err != nil {
		return err
	}
	if results != "" {
		if err := os.WriteFile(results, []byte(text), 0o644); err != nil {
			return err
		}
	}
	// Sanity: every contender found what the corpus holds.
	for _, r := range rep.Rows {
		want := c.PlantedSeed
		if strings.HasPrefix(r.Name, "Tripline") {
			want = c.Planted
		}
		if strings.HasPrefix(r.Name, "floor") || r.Seconds == 0 || strings.Contains(r.Name, "stateful") {
			continue // the stateful row runs other rules too
		}
		if r.Found != want {
			return fmt.Errorf("%s (%s) found %d, the corpus holds %d", r.Name, r.Input, r.Found, want)
		}
	}
	return nil
}
