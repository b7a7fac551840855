package main

// The contenders: Tripline in process, the baselines, jq and tripline scan.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/tripline/tripline/alerting"
	"github.com/tripline/tripline/bench/corpus"
	"github.com/tripline/tripline/detect"
	"github.com/tripline/tripline/detect/rules"
	"github.com/tripline/tripline/handler"
	"github.com/tripline/tripline/internal/hostsim"
	"github.com/tripline/tripline/internal/procstat"
	"github.com/tripline/tripline/stateful"
	"github.com/tripline/tripline/store/memory"
)

// writeCorpus writes plain/batch-NNN.jsonl (one body per line, 100 per
// file) and host/invocation-NNN.json (the host's request body for those 100
// bodies) and returns the plain file names and the encoded invocations.
func writeCorpus(root, dir string, c *corpus.Corpus) ([]string, [][]byte, error) {
	for _, d := range []string{"plain", "host"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return nil, nil, err
		}
	}
	var files []string
	var host [][]byte
	base := time.Date(2026, 11, 7, 8, 0, 0, 0, time.UTC)
	for k := 0; k*eventsPerCall < len(c.Bodies); k++ {
		bodies := c.Bodies[k*eventsPerCall : min((k+1)*eventsPerCall, len(c.Bodies))]
		var buf bytes.Buffer
		for _, b := range bodies {
			buf.Write(b)
			buf.WriteByte('\n')
		}
		name := filepath.Join(dir, "plain", fmt.Sprintf("batch-%03d.jsonl", k))
		if err := os.WriteFile(name, buf.Bytes(), 0o644); err != nil {
			return nil, nil, err
		}
		files = append(files, name)
		req, err := hostsim.EncodeEventHubBatch(root, function_, bodies, hostsim.BatchOptions{
			Seed: uint64(k + 1), FirstSequenceNumber: int64(k * eventsPerCall), Now: base.Add(time.Duration(k) * time.Second), EnqueuedTime: base,
		})
		if err != nil {
			return nil, nil, err
		}
		if err := os.WriteFile(filepath.Join(dir, "host", fmt.Sprintf("invocation-%03d.json", k)), req, 0o644); err != nil {
			return nil, nil, err
		}
		host = append(host, req)
	}
	return files, host, nil
}

// profileHotPath, when set, is where profiled writes the CPU profile of the
// hot path's rounds (-cpuprofile).
var profileHotPath string

// profiled runs fn under the CPU profiler, accumulating every round into
// one profile file.
func profiled(path string, fn func() (int, error)) (int, error) {
	f, err := os.Create(path + ".tmp")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	if err := pprof.StartCPUProfile(f); err != nil {
		return 0, err
	}
	n, err := fn()
	pprof.StopCPUProfile()
	if err != nil {
		return n, err
	}
	// Keep the last round's profile (the others warmed caches up).
	return n, os.Rename(path+".tmp", path)
}

// builtinEngine compiles the built-in rule pack, as the server does.
func builtinEngine() (*detect.Engine, error) {
	all, err := detect.LoadRules(rules.FS)
	if err != nil {
		return nil, err
	}
	return detect.NewEngine(all, nil)
}

// triplineExport runs the pipeline over an Event Hubs export's message
// bodies, a 100 at a time as the host batches them (records, prefilter,
// normalization, every rule, grouping, an in-memory store). decider, when
// not nil, decides stateful rules; calls, when not nil, collects the store
// calls.
func triplineExport(engine *detect.Engine, bodies [][]byte, decider *stateful.Decider, calls *int) (int, error) {
	p := &alerting.Pipeline{Engine: engine, Store: memory.New(nil), TTL: 24 * time.Hour, Stateful: decider}
	found, n := 0, 0
	for k := 0; k < len(bodies); k += eventsPerCall {
		o, err := p.Process(context.Background(), bodies[k:min(k+eventsPerCall, len(bodies))])
		if err != nil {
			return 0, err
		}
		found += o.Matched
		n += o.StoreCalls
	}
	if calls != nil {
		*calls = n
	}
	return found, nil
}

// triplineHostPath is triplineExport on the host's requests: each is
// decoded as the handler does first.
func triplineHostPath(engine *detect.Engine, host [][]byte) (int, error) {
	p := &alerting.Pipeline{Engine: engine, Store: memory.New(nil), TTL: 24 * time.Hour}
	ctx := context.Background()
	found := 0
	for _, req := range host {
		inv, err := handler.DecodeRequest(route, req)
		if err != nil {
			return 0, err
		}
		o, err := p.Process(ctx, inv.Bodies())
		if err != nil {
			return 0, err
		}
		found += o.Matched
	}
	return found, nil
}

func detectOnly(engine *detect.Engine, bodies [][]byte, reference bool) int {
	res := detect.Result{DecodeAll: reference}
	for i, b := range bodies {
		engine.Evaluate(i, b, &res)
	}
	return len(res.Matches)
}

// mapBaseline is what one would write without Tripline: decode each body
// into map[string]any and check the seed rule's condition in Go.
// mapBaselineHost is mapBaseline as a naive custom handler would run it on
// the host's requests: unmarshal the envelope, the Data.events string, then
// each body.
func mapBaselineHost(host [][]byte) (int, error) {
	n := 0
	for _, req := range host {
		var env struct {
			Data struct {
				Events string `json:"events"`
			}
		}
		if err := json.Unmarshal(req, &env); err != nil {
			return 0, err
		}
		var bodies []string
		if err := json.Unmarshal([]byte(env.Data.Events), &bodies); err != nil {
			return 0, err
		}
		bs := make([][]byte, len(bodies))
		for i, b := range bodies {
			bs[i] = []byte(b)
		}
		k, err := mapBaseline(bs)
		if err != nil {
			return 0, err
		}
		n += k
	}
	return n, nil
}

func mapBaseline(bodies [][]byte) (int, error) {
	n := 0
	for _, b := range bodies {
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			return 0, err
		}
		recs, _ := m["records"].([]any)
		for _, r := range recs {
			rec, _ := r.(map[string]any)
			op, _ := rec["operationName"].(string)
			rt, _ := rec["resultType"].(string)
			if op == corpus.SeedOperation && strings.ToLower(rt) == "success" {
				n++
			}
		}
	}
	return n, nil
}

// floor is the physical reference: a raw search for the seed operation name.
func floor(bufs [][]byte) int {
	n := 0
	for _, b := range bufs {
		n += corpus.CountSeedOperation(b)
	}
	return n
}

// jqRun selects the seed rule's records from the plain files with jq.
func jqRun(jq string, files []string, c *corpus.Corpus) (row, error) {
	path, err := exec.LookPath(jq)
	if err != nil {
		return row{}, fmt.Errorf("jq not found (install it: apt-get install -y jq)")
	}
	ver, _ := exec.Command(path, "--version").Output()
	prog := `.records[] | select(.operationName == "` + corpus.SeedOperation + `") | select((.resultType // "") | ascii_downcase == "success") | .correlationId`
	var best float64
	var count int
	for rep := 0; rep < 2; rep++ {
		cmd := exec.Command(path, append([]string{"-r", prog}, files...)...)
		start := time.Now()
		outp, err := cmd.Output()
		d := time.Since(start).Seconds()
		if err != nil {
			return row{}, fmt.Errorf("%s: %w", path, err)
		}
		count = bytes.Count(outp, []byte("\n"))
		if best == 0 || d < best {
			best = d
		}
	}
	return row{Name: "jq", Input: "plain files", Bytes: c.Bytes, Records: c.Records, Seconds: best, Found: count,
		Note: strings.TrimSpace(string(ver)) + ", best of 2 runs, process start included"}, nil
}

// scanRun times `tripline scan` over the plain files, the README's first
// command on the whole corpus: best of 2 runs, each on a fresh embedded
// store, process start included, as for jq.
func scanRun(root, out, binary string, files []string, c *corpus.Corpus) (row, error) {
	args := []string{"scan", "--no-deliver", "--quiet"}
	for _, f := range files {
		abs, err := filepath.Abs(f)
		if err != nil {
			return row{}, err
		}
		args = append(args, abs)
	}
	var best float64
	var found int
	for rep := 0; rep < 2; rep++ {
		cmd := exec.Command(binary, args...)
		cmd.Dir, cmd.Env = root, os.Environ()
		env := handlerEnv(out)
		for k, v := range env {
			cmd.Env = append(cmd.Env, k+"="+v)
		}
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		start := time.Now()
		err := cmd.Run()
		d := time.Since(start).Seconds()
		os.Remove(env["TRIPLINE_STATE_FILE"])
		if err != nil {
			return row{}, fmt.Errorf("%w: %s", err, stderr.String())
		}
		// "scan: 10 file(s), 50000 record(s) read, 0 skipped, 250 matched"
		var files, records, skipped int
		if _, err := fmt.Sscanf(stderr.String(), "scan: %d file(s), %d record(s) read, %d skipped, %d matched", &files, &records, &skipped, &found); err != nil {
			return row{}, fmt.Errorf("no summary line (%v): %s", err, stderr.String())
		}
		if best == 0 || d < best {
			best = d
		}
	}
	return row{Name: "Tripline scan (binary)", Input: "plain files", Bytes: c.Bytes, Records: c.Records, Seconds: best, Found: found,
		Note: "`tripline scan --no-deliver` over the plain files (the README's first command), fresh embedded store, best of 2 runs, process start included"}, nil
}

// scanStream pipes the plain files again and again into `tripline scan -`
// until about streamBytes have gone through, and reports the process's
// peak RSS and its speed: scan's memory must not grow with its input.
func scanStream(root, out, binary string, files []string, streamBytes int64, rep *report) error {
	var one [][]byte
	var size int64
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		one = append(one, b)
		size += int64(len(b))
	}
	copies := max(1, int(streamBytes/size))
	cmd := exec.Command(binary, "scan", "--no-deliver", "--quiet", "-")
	cmd.Dir, cmd.Env = root, os.Environ()
	env := handlerEnv(out)
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	defer os.Remove(env["TRIPLINE_STATE_FILE"])
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return err
	}
	// The peak is read from /proc while the process runs (VmHWM, its high
	// water mark), as peakRSS reads the server's.
	stopWatching := procstat.Watch(cmd.Process.Pid, 50*time.Millisecond)
	var werr error
	for i := 0; i < copies && werr == nil; i++ {
		for _, b := range one {
			if _, werr = stdin.Write(b); werr != nil {
				break
			}
		}
	}
	stdin.Close()
	// The last reading before the process exits: it waits for its input
	// to close, and writing the summary allocates next to nothing.
	time.Sleep(100 * time.Millisecond)
	rep.StreamPeakRSSMB = stopWatching()
	if err := cmd.Wait(); err != nil || werr != nil {
		return fmt.Errorf("%v %v: %s", err, werr, stderr.String())
	}
	rep.StreamSeconds = time.Since(start).Seconds()
	rep.StreamGB = float64(int64(copies)*size) / 1e9
	return nil
}
