// Package hostsim is a test helper that plays the Azure Functions host
// towards a custom handler, following the custom-handler protocol
// (learn.microsoft.com/azure/azure-functions/functions-custom-handlers):
// it starts the handler executable as the host does, waits for it the way
// the host's readiness probe does, and sends Event Hubs batches, Event Grid
// deliveries and timer ticks encoded as the host encodes them, judging each
// answer with the host's rules (§4) and applying function.json retry
// policies.
//
// Its few types:
//   - Host: one running handler process (Start), stopped with SIGTERM in
//     t.Cleanup. Its methods send invocations; they are safe for concurrent
//     use.
//   - Attempt: one HTTP invocation and how the host would judge it.
//   - Outcome: an invocation with its retries (Event Hubs, Timer), or one
//     event of an Event Grid delivery.
//   - BatchOptions: the Event Hubs details of one batch (partition, sequence
//     numbers, times, properties) and test knobs for retries.
//
// EncodeEventHubBatch only encodes, so benchmarks can prepare bodies and send
// them with Host.Invoke.
//
// Not simulated: worker restarts after a process exit, redelivery after a
// crash (batchCheckpointFrequency), Newtonsoft's lenient JSON parsing of
// bodies (unquoted names, comments) and its escaping of U+0085, the
// host's own logs. The Exception object inside RetryContext is a plausible
// shape, not a captured one.
package hostsim

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// Defaults for zero StartOptions fields.
const (
	DefaultHostVersion  = "4.1036.1.23224"
	DefaultReadyTimeout = 30 * time.Second // HttpWorkerOptions.InitializationTimeout
	DefaultStopTimeout  = 10 * time.Second
	// ProbeInterval is how often the host probes GET / (§1).
	ProbeInterval = 25 * time.Millisecond
)

// StartOptions configure Start. Only AppRoot is required.
type StartOptions struct {
	// AppRoot is the Function App directory: host.json and one folder per
	// function with its function.json. It becomes the working directory
	// (joined with host.json's workingDirectory) and FUNCTIONS_APP_ROOT_PATH.
	AppRoot string
	// Env are app settings: added to the inherited environment (overriding
	// it) and used to expand %NAME% in host.json arguments.
	Env map[string]string
	// Output receives the handler's stdout and stderr. Nil sends them to
	// t.Log line by line. Host.Output keeps the last 1 MiB either way.
	Output io.Writer
	// HostVersion goes into X-Azure-Functions-HostVersion and User-Agent.
	// Empty means DefaultHostVersion.
	HostVersion string
	// ReadyTimeout bounds the readiness wait. Zero means DefaultReadyTimeout.
	ReadyTimeout time.Duration
	// StopTimeout is how long Stop waits after SIGTERM before SIGKILL.
	// Zero means DefaultStopTimeout.
	StopTimeout time.Duration
	// Seed makes the key order of EventGridDelivery and Timer requests
	// deterministic (each call uses Seed plus the call's ordinal).
	// EventHubBatch uses BatchOptions.Seed.
	Seed uint64
}

// Host is one running handler process. Create it with Start.
type Host struct {
	t           testing.TB
	appRoot     string
	port        int
	baseURL     string
	client      *http.Client
	hostVersion string
	workerID    string
	stopTimeout time.Duration
	seed        uint64
	calls       atomic.Uint64

	cmd     *exec.Cmd
	exited  chan struct{} // closed when Wait returned
	waitErr error         // valid after exited is closed
	ready   time.Duration
	out     *tail

	stopOnce sync.Once
	stopRes  StopResult
	stopped  atomic.Bool // Stop was called by the test

	mu    sync.Mutex
	funcs map[string]*functionConfig
}

// StopResult says how the handler process ended.
type StopResult struct {
	// Signaled is true when Stop sent SIGTERM (false when the process had
	// already exited).
	Signaled bool
	// Killed is true when the process ignored SIGTERM for StopTimeout and
	// was sent SIGKILL.
	Killed bool
	// ExitCode is the exit status; -1 when a signal ended the process.
	ExitCode int
	// Err is the error from waiting for the process: nil for exit status 0.
	Err error
}

// Start starts binary the way the host starts a custom handler (§1): on a
// free loopback port, with FUNCTIONS_CUSTOMHANDLER_PORT,
// FUNCTIONS_HTTPWORKER_PORT, FUNCTIONS_CUSTOMHANDLER_WORKER_ID,
// FUNCTIONS_HTTPWORKER_ID and FUNCTIONS_APP_ROOT_PATH added to the
// environment (inherited from the test process, plus opts.Env), the
// arguments from host.json customHandler.description.arguments with %NAME%
// expanded, and the app root as working directory. An empty binary means
// host.json's defaultExecutablePath (relative to the app root, else looked
// up on PATH).
//
// Start then probes GET / every 25 ms until any HTTP response arrives and
// records the time from process start to that response (TimeToReady). It
// fails the test if the process cannot start, exits, or is not ready within
// opts.ReadyTimeout. t.Cleanup stops the process (Stop) and fails the test if
// it needed SIGKILL or exited with a non-zero status, unless the test called
// Stop itself.
func Start(t testing.TB, binary string, opts StartOptions) *Host {
	t.Helper()
	if opts.AppRoot == "" {
		t.Fatal("hostsim.Start: StartOptions.AppRoot is required")
	}
	appRoot, err := filepath.Abs(opts.AppRoot)
	if err != nil {
		t.Fatalf("hostsim.Start: app root: %v", err)
	}
	desc, err := readHostJSON(appRoot)
	if err != nil {
		t.Fatalf("hostsim.Start: %v", err)
	}
	lookup := func(name string) (string, bool) {
		if v, ok := opts.Env[name]; ok {
			return v, true
		}
		return os.LookupEnv(name)
	}
	if binary == "" {
		binary, err = resolveExecutable(appRoot, expand(desc.Description.DefaultExecutablePath, lookup))
		if err != nil {
			t.Fatalf("hostsim.Start: %v", err)
		}
	}
	args := make([]string, len(desc.Description.Arguments))
	for i, a := range desc.Description.Arguments {
		args[i] = expand(a, lookup)
	}
	port, err := freePort()
	if err != nil {
		t.Fatalf("hostsim.Start: %v", err)
	}
	h := &Host{
		t:           t,
		appRoot:     appRoot,
		port:        port,
		baseURL:     "http://127.0.0.1:" + strconv.Itoa(port),
		hostVersion: opts.HostVersion,
		workerID:    newGUID(nil),
		stopTimeout: opts.StopTimeout,
		seed:        opts.Seed,
		exited:      make(chan struct{}),
		out:         &tail{max: 1 << 20},
		funcs:       map[string]*functionConfig{},
	}
	if h.hostVersion == "" {
		h.hostVersion = DefaultHostVersion
	}
	if h.stopTimeout == 0 {
		h.stopTimeout = DefaultStopTimeout
	}
	h.client = &http.Client{Transport: &http.Transport{
		Proxy:               nil, // the host talks to 127.0.0.1 directly
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		MaxIdleConns:        256,
		MaxIdleConnsPerHost: 256,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}}

	env := os.Environ()
	for k, v := range opts.Env {
		env = append(env, k+"="+v)
	}
	p := strconv.Itoa(port)
	env = append(env,
		"FUNCTIONS_CUSTOMHANDLER_PORT="+p,
		"FUNCTIONS_HTTPWORKER_PORT="+p,
		"FUNCTIONS_CUSTOMHANDLER_WORKER_ID="+h.workerID,
		"FUNCTIONS_HTTPWORKER_ID="+h.workerID,
		"FUNCTIONS_APP_ROOT_PATH="+appRoot,
	)
	cmd := exec.Command(binary, args...)
	cmd.Dir = appRoot
	if wd := desc.Description.WorkingDirectory; filepath.IsAbs(wd) {
		cmd.Dir = wd
	} else if wd != "" {
		cmd.Dir = filepath.Join(appRoot, wd)
	}
	cmd.Env = env
	var sink io.Writer = &lineLogger{t: t}
	if opts.Output != nil {
		sink = opts.Output
	}
	w := io.MultiWriter(h.out, sink)
	cmd.Stdout, cmd.Stderr = w, w
	h.cmd = cmd

	started := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatalf("hostsim.Start: start %s: %v", binary, err)
	}
	go func() {
		h.waitErr = cmd.Wait()
		close(h.exited)
	}()
	t.Cleanup(h.cleanup)

	timeout := opts.ReadyTimeout
	if timeout == 0 {
		timeout = DefaultReadyTimeout
	}
	if err := h.waitReady(started, timeout); err != nil {
		t.Fatalf("hostsim.Start: %v\nhandler output:\n%s", err, h.Output())
	}
	return h
}

// resolveExecutable resolves host.json defaultExecutablePath: relative to
// the app root when such a file exists, else on PATH.
func resolveExecutable(appRoot, p string) (string, error) {
	if p == "" {
		return "", errors.New("no binary given and host.json has no defaultExecutablePath")
	}
	cand := p
	if !filepath.IsAbs(cand) {
		cand = filepath.Join(appRoot, p)
	}
	if _, err := os.Stat(cand); err == nil {
		return cand, nil
	}
	found, err := exec.LookPath(p)
	if err != nil {
		return "", fmt.Errorf("defaultExecutablePath %q: not in the app root and not on PATH: %w", p, err)
	}
	return found, nil
}

// freePort asks the kernel for an unused loopback TCP port, as the host's
// WorkerUtilities.GetUnusedTcpPort does (so it is racy in the same way).
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// waitReady probes GET / every ProbeInterval until any HTTP response.
func (h *Host) waitReady(started time.Time, timeout time.Duration) error {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(ProbeInterval)
	defer tick.Stop()
	for {
		if h.probe() {
			h.ready = time.Since(started)
			return nil
		}
		select {
		case <-h.exited:
			return fmt.Errorf("handler exited before it was ready: %v", h.waitErr)
		case <-deadline.C:
			return fmt.Errorf("handler not ready after %s (no HTTP answer on GET %s/)", timeout, h.baseURL)
		case <-tick.C:
		}
	}
}

func (h *Host) probe() bool {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, h.baseURL+"/", nil)
	if err != nil {
		return false
	}
	resp, err := h.client.Do(req)
	if err != nil {
		return false
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return true
}

// TimeToReady is the time from starting the process to the first HTTP
// answer to the readiness probe (so it includes up to one ProbeInterval of
// polling granularity).
func (h *Host) TimeToReady() time.Duration { return h.ready }

// URL is the handler's base URL, http://127.0.0.1:<port>.
func (h *Host) URL() string { return h.baseURL }

// Port is the port given in FUNCTIONS_CUSTOMHANDLER_PORT.
func (h *Host) Port() int { return h.port }

// WorkerID is the value given in FUNCTIONS_CUSTOMHANDLER_WORKER_ID.
func (h *Host) WorkerID() string { return h.workerID }

// Output returns the last 1 MiB the handler wrote to stdout and stderr.
func (h *Host) Output() string { return h.out.String() }

// Exited is closed when the handler process has exited.
func (h *Host) Exited() <-chan struct{} { return h.exited }

// Signal sends sig to the handler process. It returns an error if the
// process has already exited.
func (h *Host) Signal(sig os.Signal) error {
	select {
	case <-h.exited:
		return errors.New("hostsim: handler has exited")
	default:
	}
	if err := h.cmd.Process.Signal(sig); err != nil {
		return fmt.Errorf("hostsim: signal handler: %w", err)
	}
	return nil
}

// Stop sends SIGTERM, waits up to StartOptions.StopTimeout for the process
// to exit, then sends SIGKILL and waits again. It is idempotent: later calls
// return the first result. After the test calls Stop, Cleanup reports
// nothing about the exit.
func (h *Host) Stop() StopResult {
	h.stopped.Store(true)
	return h.stop()
}

func (h *Host) stop() StopResult {
	h.stopOnce.Do(func() {
		var res StopResult
		select {
		case <-h.exited:
		default:
			// Like the host disposing its HttpClient: without this, a
			// connection the Transport dialled but never used looks
			// "new" to the handler's http.Server, and Shutdown waits 5 s
			// for it.
			h.client.CloseIdleConnections()
			if err := h.cmd.Process.Signal(syscall.SIGTERM); err == nil {
				res.Signaled = true
			}
			timer := time.NewTimer(h.stopTimeout)
			select {
			case <-h.exited:
			case <-timer.C:
				res.Killed = true
				_ = h.cmd.Process.Kill()
				<-h.exited
			}
			timer.Stop()
		}
		res.Err = h.waitErr
		res.ExitCode = h.cmd.ProcessState.ExitCode()
		h.stopRes = res
	})
	return h.stopRes
}

func (h *Host) cleanup() {
	byTest := h.stopped.Load()
	res := h.stop()
	if byTest {
		return
	}
	switch {
	case res.Killed:
		h.t.Errorf("hostsim: handler ignored SIGTERM for %s and was killed (SIGKILL)", h.stopTimeout)
	case res.Err != nil && res.Signaled:
		h.t.Errorf("hostsim: handler exited with %v after SIGTERM (want exit status 0)", res.Err)
	case res.Err != nil:
		h.t.Errorf("hostsim: handler exited on its own during the test: %v", res.Err)
	}
}

// Attempt is one HTTP invocation of the handler.
type Attempt struct {
	// InvocationID is the X-Azure-Functions-InvocationId sent.
	InvocationID string
	// RetryCount is the RetryContext.RetryCount sent (0 on the first
	// attempt and for functions without a retry policy).
	RetryCount int
	// Delay is the retry delay the policy prescribed before this attempt
	// (unscaled; 0 for the first attempt).
	Delay time.Duration
	// Status is the HTTP status; 0 when no response arrived.
	Status      int
	ContentType string
	// Body is the raw response body.
	Body []byte
	// Success is the host's verdict (§4): a 2xx status, a JSON media type
	// and a body that parses as a JSON object with the result's fields.
	// An empty or null 2xx body is a failure (the real host may hang).
	Success bool
	// Failure says why the host would count the attempt as failed; empty on
	// success.
	Failure string
	// Logs are the response's Logs, only on success (the host ignores the
	// body of a failed invocation).
	Logs []string
	// Duration is from sending the request to reading the whole response.
	Duration time.Duration
}

// Outcome is an invocation as the host would finish it: Attempt holds the
// last attempt, Attempts all of them in order.
type Outcome struct {
	Attempt
	Attempts []Attempt
	// Checkpointed is true when the Event Hubs trigger would now checkpoint
	// the batch: after success and also after the last failed attempt (the
	// batch is then lost). It is false when ctx ended the retries and when
	// Capped (the real host would still be retrying).
	Checkpointed bool
	// Capped is true when BatchOptions.MaxAttempts (or the default cap for
	// maxRetryCount -1), not the retry policy, ended the retries.
	Capped bool
}

// Invoke POSTs one pre-encoded request body to /<function> with the host's
// headers (§1) and a chunked body, and judges the answer. A transport
// failure is a failed Attempt, not an error; the error is non-nil only when
// ctx ended or the request could not be built.
func (h *Host) Invoke(ctx context.Context, function string, body []byte) (Attempt, error) {
	return h.invoke(ctx, function, body, newGUID(nil))
}

func (h *Host) invoke(ctx context.Context, function string, body []byte, id string) (Attempt, error) {
	a := Attempt{InvocationID: id}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.baseURL+"/"+function, bytes.NewReader(body))
	if err != nil {
		return a, fmt.Errorf("hostsim: build request for %s: %w", function, err)
	}
	req.ContentLength = -1 // unknown length: sent chunked, like ObjectContent
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	req.Header.Set("X-Azure-Functions-InvocationId", id)
	req.Header.Set("X-Azure-Functions-HostVersion", h.hostVersion)
	req.Header.Set("User-Agent", "Azure-Functions-Host/"+h.hostVersion)
	start := time.Now()
	resp, err := h.client.Do(req)
	if err != nil {
		a.Duration = time.Since(start)
		if ctx.Err() != nil {
			return a, fmt.Errorf("hostsim: invoke %s: %w", function, ctx.Err())
		}
		a.Failure = "request failed: " + err.Error()
		return a, nil
	}
	a.Status = resp.StatusCode
	a.ContentType = resp.Header.Get("Content-Type")
	a.Body, err = io.ReadAll(resp.Body)
	resp.Body.Close()
	a.Duration = time.Since(start)
	if err != nil {
		if ctx.Err() != nil {
			return a, fmt.Errorf("hostsim: invoke %s: %w", function, ctx.Err())
		}
		a.Failure = "read response: " + err.Error()
		return a, nil
	}
	judge(&a)
	return a, nil
}

// judge applies the host's response rules (§4) to a.
func judge(a *Attempt) {
	if a.Status < 200 || a.Status > 299 {
		a.Failure = fmt.Sprintf("Response status code does not indicate success: %d (%s).", a.Status, http.StatusText(a.Status))
		return
	}
	mt, _, err := mime.ParseMediaType(a.ContentType)
	if err != nil || (mt != "application/json" && mt != "text/json") {
		a.Failure = fmt.Sprintf("No MediaTypeFormatter is available to read an object of type 'HttpScriptInvocationResult' from content with media type '%s'.", a.ContentType)
		return
	}
	trimmed := bytes.TrimSpace(a.Body)
	if len(trimmed) == 0 || bytes.Equal(trimmed, []byte("null")) {
		a.Failure = "empty 2xx body: the real host reads a null result and may wait until functionTimeout; always answer a JSON object"
		return
	}
	var res struct {
		Outputs     map[string]json.RawMessage
		Logs        []string
		ReturnValue json.RawMessage
	}
	if trimmed[0] != '{' {
		a.Failure = "Invalid HttpResponseMessage: body is not a JSON object"
		return
	}
	if err := json.Unmarshal(trimmed, &res); err != nil {
		a.Failure = "Invalid HttpResponseMessage: " + err.Error()
		return
	}
	a.Success, a.Logs = true, res.Logs
}

// function returns the cached function.json of name.
func (h *Host) function(name string) (*functionConfig, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if fc, ok := h.funcs[name]; ok {
		return fc, nil
	}
	fc, err := readFunction(h.appRoot, name)
	if err != nil {
		return nil, fmt.Errorf("hostsim: %w", err)
	}
	h.funcs[name] = fc
	return fc, nil
}

// nextSeed derives a per-call seed for requests without BatchOptions.
func (h *Host) nextSeed() uint64 { return h.seed + h.calls.Add(1) }

// lineLogger forwards whole lines to t.Log.
type lineLogger struct {
	t   testing.TB
	mu  sync.Mutex
	buf []byte
}

func (l *lineLogger) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf = append(l.buf, p...)
	for {
		i := bytes.IndexByte(l.buf, '\n')
		if i < 0 {
			break
		}
		l.t.Log("handler: " + string(l.buf[:i]))
		l.buf = l.buf[i+1:]
	}
	return len(p), nil
}

// tail keeps the last max bytes written.
type tail struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if over := len(t.buf) - t.max; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
	}
	return len(p), nil
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return strings.Clone(string(t.buf))
}
