package handler

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strings"
	"sync"
	"time"
)

// response is the body of every answer. Outputs, Logs and ReturnValue are
// the host's HttpScriptInvocationResult; Error is added to non-2xx answers
// for people reading them (the host ignores it, and ignores those bodies).
type response struct {
	Outputs     map[string]any `json:"Outputs"`
	Logs        []string       `json:"Logs"`
	ReturnValue any            `json:"ReturnValue"`
	Error       string         `json:"Error,omitempty"`
}

// ServeHTTP implements http.Handler: GET / is the readiness probe, POST
// /<Function> runs the route's Func. Every answer, errors included, is an
// application/json object.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	name := strings.TrimPrefix(r.URL.Path, "/")
	if name == "" {
		s.discard(r)
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			s.fail(w, r, http.StatusMethodNotAllowed, "", fmt.Sprintf("method %s not allowed on / (the readiness probe is GET)", r.Method))
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		if r.Method == http.MethodGet {
			_, _ = io.WriteString(w, "{}")
		}
		return
	}
	route := s.routes[name]
	if route == nil {
		route = s.folded[strings.ToLower(name)]
	}
	if route == nil {
		s.discard(r)
		s.fail(w, r, http.StatusNotFound, name, fmt.Sprintf("no function %q", name))
		return
	}
	if r.Method != http.MethodPost {
		s.discard(r)
		w.Header().Set("Allow", http.MethodPost)
		s.fail(w, r, http.StatusMethodNotAllowed, route.Function, fmt.Sprintf("method %s not allowed: the host POSTs invocations", r.Method))
		return
	}
	s.invoke(w, r, route)
}

func (s *Server) invoke(w http.ResponseWriter, r *http.Request, route *Route) {
	start := time.Now()
	// The request body lives in a pooled buffer, returned once the
	// Invocation is decoded out of it into memory of its own (see Func).
	bufs := s.getBuffers()
	release := sync.OnceFunc(func() { s.putBuffers(bufs) })
	defer release()
	body, err := s.readBody(w, r, bufs)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			// A batch over the limit stays over it however often the
			// host retries it, and a failed Event Hubs batch is retried
			// forever: answer 2xx so that the partition goes on, and say
			// loudly what was not evaluated.
			msg := fmt.Sprintf("ERROR batch not evaluated: the request body exceeds the limit of %d bytes (handler.Options.MaxBodyBytes); its messages were skipped", mbe.Limit)
			s.log.Error("batch not evaluated: request body over the limit", "function", route.Function,
				"invocation", r.Header.Get("X-Azure-Functions-InvocationId"), "limit", mbe.Limit)
			s.write(w, http.StatusOK, response{Logs: []string{msg}})
			return
		}
		// The connection broke mid-body; nobody is listening for an answer,
		// but answer anyway in case the failure was ours.
		s.fail(w, r, http.StatusBadRequest, route.Function, fmt.Sprintf("read request body: %v", err))
		return
	}
	inv, warns, err := decodeInvocation(route, body)
	if err != nil {
		s.fail(w, r, http.StatusBadRequest, route.Function, fmt.Sprintf("decode %s request: %v", route.Function, err))
		return
	}
	// Nothing decoded aliases the request: its buffer can serve the next
	// invocation while this one runs, and a large batch is not held twice.
	release()
	inv.ID = r.Header.Get("X-Azure-Functions-InvocationId")
	for _, mw := range warns {
		s.log.Warn("ignored malformed metadata", "function", route.Function, "invocation", inv.ID, "key", mw.key, "err", mw.err)
	}

	ctx := r.Context()
	if s.invokeTO > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, s.invokeTO)
		defer cancel()
	}
	res, stack, err := call(ctx, route.Func, inv)
	attrs := []any{"function", route.Function, "invocation", inv.ID, "retry", inv.RetryCount, "duration", time.Since(start), "messages", len(inv.Messages)}
	if stack != nil {
		s.log.Error("invocation panicked", append(attrs, "panic", err, "stack", string(stack))...)
		s.write(w, http.StatusInternalServerError, response{Logs: res.Logs, Error: err.Error()})
		return
	}
	if err != nil {
		s.log.Error("invocation failed", append(attrs, "err", err)...)
		s.write(w, http.StatusInternalServerError, response{Logs: append(res.Logs, "error: "+err.Error()), Error: err.Error()})
		return
	}
	s.log.Debug("invocation succeeded", attrs...)
	s.write(w, http.StatusOK, response{Logs: res.Logs})
}

// call runs f, turning a panic into an error and the panicking stack.
func call(ctx context.Context, f Func, inv *Invocation) (res Result, stack []byte, err error) {
	defer func() {
		if p := recover(); p != nil {
			res, stack, err = Result{}, debug.Stack(), fmt.Errorf("panic in %s: %v", inv.Function, p)
		}
	}()
	res, err = f.Invoke(ctx, inv)
	return res, nil, err
}

// buffers is one invocation's reusable memory. Between invocations it sits in
// Server.bufs, so a steady stream of 10 MB batches reuses the same few
// buffers instead of allocating (and zeroing, and collecting) new ones.
type buffers struct {
	req bytes.Buffer // the request body
}

// maxPooled is the largest buffer kept for reuse; an exceptional request
// larger than this does not pin its memory afterwards.
const maxPooled = 32 << 20

// keptBuffers is how many idle buffers the server keeps: one per invocation
// the host usually runs at once on a small instance. They wait in a channel,
// not a sync.Pool: a Pool hands a buffer back at once only on the P that put
// it (its private slot), and drops it after two collections, so with two
// cores up to one invocation in three allocated and zeroed its megabytes
// afresh (TestBuffersReused).
const keptBuffers = 2

func (s *Server) getBuffers() *buffers {
	select {
	case b := <-s.bufs:
		return b
	default:
		return &buffers{}
	}
}

// putBuffers keeps b for the next invocation, unless enough are kept.
func (s *Server) putBuffers(b *buffers) {
	select {
	case s.bufs <- b:
	default:
	}
}

// readBody reads the whole body, at most s.maxBody bytes, into b. A known
// Content-Length over the limit fails before reading. The result aliases b.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request, b *buffers) ([]byte, error) {
	if r.ContentLength > s.maxBody {
		return nil, &http.MaxBytesError{Limit: s.maxBody}
	}
	if b.req.Cap() > maxPooled {
		b.req = bytes.Buffer{}
	}
	b.req.Reset()
	rd := http.MaxBytesReader(w, r.Body, s.maxBody)
	if r.ContentLength > 0 {
		b.req.Grow(int(r.ContentLength) + 1) // +1: ReadFrom wants room to see EOF
	} else {
		b.req.Grow(64 << 10)
	}
	_, err := b.req.ReadFrom(rd)
	return b.req.Bytes(), err
}

// discard reads and drops the body (up to the size limit) so that the answer
// never races the client's upload.
func (s *Server) discard(r *http.Request) {
	_, _ = io.Copy(io.Discard, io.LimitReader(r.Body, s.maxBody))
}

// fail answers an error status with a JSON body naming the problem, and logs it.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, status int, function, msg string) {
	level := slog.LevelWarn
	if status >= 500 {
		level = slog.LevelError
	}
	s.log.Log(r.Context(), level, "request rejected", "status", status, "method", r.Method, "path", r.URL.Path,
		"function", function, "invocation", r.Header.Get("X-Azure-Functions-InvocationId"), "err", msg)
	s.write(w, status, response{Logs: []string{msg}, Error: msg})
}

// write sends resp as JSON with status. Nil Outputs and Logs are sent as {}
// and [] (the host reads them as a dictionary and a list).
func (s *Server) write(w http.ResponseWriter, status int, resp response) {
	if resp.Outputs == nil {
		resp.Outputs = map[string]any{}
	}
	if resp.Logs == nil {
		resp.Logs = []string{}
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(resp); err != nil {
		// Only an unencodable value could get here; Outputs and
		// ReturnValue are always empty, so this is a bug.
		s.log.Error("encode response", "err", err)
		buf.Reset()
		buf.WriteString(`{"Outputs":{},"Logs":[],"ReturnValue":null,"Error":"handler: cannot encode response"}`)
		status = http.StatusInternalServerError
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", fmt.Sprint(buf.Len()))
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}
