package main

// Running the binary: end to end through the host simulator, start-up, peak RSS.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tripline/tripline/bench/corpus"
	"github.com/tripline/tripline/input"
	"github.com/tripline/tripline/internal/hostsim"
	"github.com/tripline/tripline/internal/procstat"
)

// benchTB lets the host simulator, a test helper, run outside a test.
type benchTB struct {
	testing.TB
	cleanups []func()
}

func (b *benchTB) Helper()                      {}
func (b *benchTB) Log(args ...any)              {}
func (b *benchTB) Logf(string, ...any)          {}
func (b *benchTB) Errorf(f string, args ...any) { fmt.Fprintf(os.Stderr, "hostsim: "+f+"\n", args...) }
func (b *benchTB) Fatal(args ...any)            { panic(fmt.Sprint(args...)) }
func (b *benchTB) Fatalf(f string, args ...any) { panic(fmt.Sprintf(f, args...)) }
func (b *benchTB) Cleanup(f func())             { b.cleanups = append(b.cleanups, f) }
func (b *benchTB) Name() string                 { return "tripline-bench" }
func (b *benchTB) Failed() bool                 { return false }
func (b *benchTB) Setenv(k, v string)           { os.Setenv(k, v) }
func (b *benchTB) TempDir() string              { d, _ := os.MkdirTemp("", "tripline-bench"); return d }
func (b *benchTB) Context() context.Context     { return context.Background() }
func (b *benchTB) Skip(args ...any)             { panic(fmt.Sprint(args...)) }
func (b *benchTB) Output() io.Writer            { return io.Discard }
func (b *benchTB) close() {
	for i := len(b.cleanups) - 1; i >= 0; i-- {
		b.cleanups[i]()
	}
}

func handlerEnv(out string) map[string]string {
	return map[string]string{
		"TRIPLINE_STATE_FILE":      filepath.Join(out, fmt.Sprintf("state-%d.db", time.Now().UnixNano())),
		"TRIPLINE_COSMOS_ENDPOINT": "",
		"TRIPLINE_WEBHOOK_URL":     "",
		"EventHubName":             "insights-activity-logs",
		"EventHubConsumerGroup":    "$Default",
		// As infra/ sets it for the default 512 MB instance: half of it.
		"GOMEMLIMIT": "256MiB",
	}
}

// endToEnd sends every invocation through the host simulator to the binary,
// three times over, and records throughput and per-invocation latency.
func endToEnd(root, out, binary string, host [][]byte, c *corpus.Corpus, rep *report) (err error) {
	tb := &benchTB{}
	defer tb.close()
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%v", p)
		}
	}()
	env := handlerEnv(out)
	defer os.Remove(env["TRIPLINE_STATE_FILE"])
	h := hostsim.Start(tb, binary, hostsim.StartOptions{AppRoot: root, Env: env, Output: io.Discard})
	rep.HostsimReadyMS = float64(h.TimeToReady().Microseconds()) / 1000
	ctx := context.Background()
	// Warm-up: records the alerts once, so the timed passes see the
	// steady state (every match already recorded).
	for _, req := range host {
		if a, err := h.Invoke(ctx, function_, req); err != nil || !a.Success {
			return fmt.Errorf("warm-up invocation failed: %v %s", err, a.Failure)
		}
	}
	var lat []float64
	start := time.Now()
	const passes = 3
	for p := 0; p < passes; p++ {
		for _, req := range host {
			a, err := h.Invoke(ctx, function_, req)
			if err != nil || !a.Success {
				return fmt.Errorf("invocation failed: %v %s", err, a.Failure)
			}
			lat = append(lat, float64(a.Duration.Microseconds())/1000)
		}
	}
	total := time.Since(start).Seconds()
	slices.Sort(lat)
	rep.LatencyP50MS = percentile(lat, 0.50)
	rep.LatencyP99MS = percentile(lat, 0.99)
	rep.LatencyN = len(lat)
	var hb int64
	for _, r := range host {
		hb += int64(len(r))
	}
	rep.Rows = append(rep.Rows, row{Name: "Tripline end to end (binary)", Input: "host invocations", Bytes: hb * passes, Records: c.Records * passes,
		Seconds: total, Found: c.Planted, Note: "host simulator → loopback HTTP → tripline serve (embedded store), serial invocations"})
	return nil
}

func percentile(sorted []float64, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted)-1)*p + 0.5)
	return sorted[i]
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// launch starts the binary as the host does and waits for the first
// answer to GET /, probing every millisecond. stop ends it and removes its
// state file.
func launch(root, out, binary string) (*exec.Cmd, string, time.Duration, error) {
	port, err := freePort()
	if err != nil {
		return nil, "", 0, err
	}
	env := os.Environ()
	for k, v := range handlerEnv(out) {
		env = append(env, k+"="+v)
	}
	p := strconv.Itoa(port)
	env = append(env, "FUNCTIONS_CUSTOMHANDLER_PORT="+p, "FUNCTIONS_HTTPWORKER_PORT="+p, "FUNCTIONS_APP_ROOT_PATH="+root)
	cmd := exec.Command(binary, "serve")
	cmd.Dir, cmd.Env = root, env
	url := "http://127.0.0.1:" + p
	client := &http.Client{Timeout: time.Second}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return nil, "", 0, err
	}
	for time.Since(start) < 30*time.Second {
		resp, err := client.Get(url + "/")
		if err == nil {
			resp.Body.Close()
			return cmd, url, time.Since(start), nil
		}
		time.Sleep(time.Millisecond)
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	return nil, "", 0, errors.New("not ready after 30 s")
}

func stop(cmd *exec.Cmd) {
	_ = cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		<-done
	}
	// Each launch has a state file of its own (handlerEnv); a run used to
	// leave 22 behind in the output directory.
	for _, kv := range cmd.Env {
		if f, ok := strings.CutPrefix(kv, "TRIPLINE_STATE_FILE="); ok {
			_ = os.Remove(f)
		}
	}
}

// startup measures exec → first answer to the readiness probe.
func startup(root, out, binary string, rep *report) error {
	var ms []float64
	for i := 0; i < 21; i++ {
		cmd, _, d, err := launch(root, out, binary)
		if err != nil {
			return err
		}
		stop(cmd)
		ms = append(ms, float64(d.Microseconds())/1000)
	}
	rep.StartupSamples = ms
	s := slices.Clone(ms)
	slices.Sort(s)
	rep.StartupMedianMS = s[len(s)/2]
	return nil
}

// peakRSS sends one 100-event invocation of about 20 MB, then the
// largest legal batch, each to a fresh process, and reads their peak
// resident sets (VmHWM).
func peakRSS(root, out, binary string, rep *report) error {
	c := corpus.Generate(corpus.Options{Seed: corpus.Defaults.Seed + 1, Messages: eventsPerCall, RecordsPerMessage: 66})
	mb, size, err := peakFor(root, out, binary, c.Bodies)
	if err != nil {
		return err
	}
	rep.PeakRSSMB, rep.RSSInvocationMB = mb, size
	largest, err := largestLegalBatch()
	if err != nil {
		return err
	}
	mb, size, err = peakFor(root, out, binary, largest)
	if err != nil {
		return fmt.Errorf("largest legal batch: %w", err)
	}
	rep.LargestPeakRSSMB, rep.LargestBatchMB = mb, size
	return nil
}

// largestLegalBatch is what the host can send at most: maxEventBatchSize
// Event Hubs messages (32, host.json and infra/main.bicep) of about 1 MB
// each (the Event Hubs limit is 1 MiB per event), half of them AKS audit
// records, whose escaped audit events grow most when the host encodes them
// twice.
const maxEventBatchSize = 32

func largestLegalBatch() ([][]byte, error) {
	c := corpus.Generate(corpus.Options{Seed: corpus.Defaults.Seed + 2, Messages: 300, RecordsPerMessage: 400, KubePercent: 50})
	var bodies [][]byte
	for _, b := range c.Bodies {
		in := input.NewReader(bytes.NewReader(b))
		body := []byte(`{"records":[`)
		for len(bodies) < maxEventBatchSize {
			rec, err := in.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				return nil, err
			}
			if len(body)+len(rec.Bytes)+3 > 1_000_000 {
				bodies = append(bodies, append(body, "]}"...))
				body = []byte(`{"records":[`)
			}
			if body[len(body)-1] != '[' {
				body = append(body, ',')
			}
			body = append(body, rec.Bytes...)
		}
	}
	if len(bodies) < maxEventBatchSize {
		return nil, fmt.Errorf("only %d bodies of 1 MB", len(bodies))
	}
	return bodies, nil
}

// peakFor posts the batch of bodies, as the host encodes it, three times to
// a fresh process and reads its peak RSS; size is the request's, in MB.
func peakFor(root, out, binary string, bodies [][]byte) (mb, size float64, err error) {
	req, err := hostsim.EncodeEventHubBatch(root, function_, bodies, hostsim.BatchOptions{Seed: 1})
	if err != nil {
		return 0, 0, err
	}
	cmd, url, _, err := launch(root, out, binary)
	if err != nil {
		return 0, 0, err
	}
	defer stop(cmd)
	for i := 0; i < 3; i++ {
		resp, err := http.Post(url+"/"+function_, "application/json; charset=utf-8", bytes.NewReader(req))
		if err != nil {
			return 0, 0, err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return 0, 0, fmt.Errorf("status %d", resp.StatusCode)
		}
	}
	mb, ok := procstat.PeakRSSMB(cmd.Process.Pid)
	if !ok {
		return 0, 0, fmt.Errorf("no VmHWM in /proc/%d/status", cmd.Process.Pid)
	}
	return mb, float64(len(req)) / 1e6, nil
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}

func machine() string {
	cpu := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(line, "model name") {
				cpu = strings.TrimSpace(strings.SplitN(line, ":", 2)[1])
				break
			}
		}
	}
	var u syscall.Utsname
	kernel := ""
	if syscall.Uname(&u) == nil {
		var b []byte
		for _, c := range u.Release {
			if c == 0 {
				break
			}
			b = append(b, byte(c))
		}
		kernel = " Linux " + string(b)
	}
	return fmt.Sprintf("%s, %d cores (GOMAXPROCS %d), %s/%s%s", cpu, runtime.NumCPU(), runtime.GOMAXPROCS(0), runtime.GOOS, runtime.GOARCH, kernel)
}
