// Package handler is Tripline's Azure Functions custom-handler HTTP server: it
// speaks the host protocol (learn.microsoft.com/azure/azure-functions/functions-custom-handlers) and nothing
// else. It knows no rules and does no detection.
//
// Its few types:
//   - Route binds a function.json folder name to a Func.
//   - Server is the http.Handler the host talks to; New builds it,
//     ListenAndServe / Serve run it until their context is cancelled.
//   - Invocation and Message are one decoded host request; Result is what a
//     Func reports back.
//
// What the Server promises the host:
//   - GET / answers 200 {} at once (readiness probe).
//   - POST /<Function> reads the whole body (at most Options.MaxBodyBytes),
//     decodes it, calls the route's Func and answers with Content-Type
//     application/json and {"Outputs":{},"Logs":[...],"ReturnValue":null}:
//     200 when the Func returned a nil error, 500 when it failed or
//     panicked, 400 when the envelope cannot be decoded. A body over the
//     size limit is answered 200 with an ERROR line in Logs, unevaluated: a
//     retry could not change it, and the host retries a failed Event Hubs
//     batch forever. Every answer has a non-empty JSON object body.
//
// Caveats: the host discards the body of a non-2xx answer, so Logs of a
// failed invocation are lost there; they are also written to Options.Logger.
package handler

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"
)

// Defaults for zero Options fields.
const (
	// DefaultMaxBodyBytes holds the largest batch the host can be set to
	// send: 100 Event Hubs messages (maxEventBatchSize at its largest;
	// Tripline's host.json says 32) of at most 1 MiB each, encoded as JSON
	// strings inside a JSON string, which grows diagnostic records by about
	// half (141 MB for 100 messages of 0.96 MB); 256 MiB leaves room for 2.5
	// times.
	DefaultMaxBodyBytes    = 256 << 20
	DefaultShutdownTimeout = 20 * time.Second
)

// Options configure a Server. The zero value is usable.
type Options struct {
	// MaxBodyBytes caps a request body. A larger one is not evaluated: it
	// is answered 200 with an ERROR line in Logs (and an Error record),
	// since a retry could never change it. Zero means
	// DefaultMaxBodyBytes; negative is an error.
	MaxBodyBytes int64
	// Logger receives one record per failed invocation (Warn for 4xx, Error
	// for 5xx, with the stack for panics), one Debug record per successful
	// one, and Info records when shutting down. Nil discards.
	Logger *slog.Logger
	// ShutdownTimeout bounds how long ListenAndServe and Serve wait for
	// in-flight invocations after their context is cancelled; then the
	// remaining connections are closed, which cancels those invocations'
	// contexts. Zero means DefaultShutdownTimeout.
	ShutdownTimeout time.Duration
	// InvokeTimeout, when positive, is a deadline put on each Func's
	// context. Zero means none: the host's functionTimeout governs.
	InvokeTimeout time.Duration
}

// Server answers the Functions host. It is safe for concurrent use; its
// routes are fixed by New.
type Server struct {
	routes   map[string]*Route // by Function, exact case
	folded   map[string]*Route // by strings.ToLower(Function)
	maxBody  int64
	log      *slog.Logger
	shutdown time.Duration
	invokeTO time.Duration
	bufs     chan *buffers // idle buffers, see http.go
}

// New builds a Server for routes. It returns an error naming the route when
// a Function name is empty, contains '/', or repeats (case-insensitively, as
// the host treats function names), when a Trigger is unknown, when an Event
// Hubs or Event Grid route has no Binding, or when Func is nil. New keeps
// copies of the routes; the caller may reuse the slice.
func New(routes []Route, opts Options) (*Server, error) {
	if opts.MaxBodyBytes < 0 {
		return nil, fmt.Errorf("handler: Options.MaxBodyBytes is negative (%d)", opts.MaxBodyBytes)
	}
	if opts.ShutdownTimeout < 0 || opts.InvokeTimeout < 0 {
		return nil, errors.New("handler: Options.ShutdownTimeout and InvokeTimeout must not be negative")
	}
	s := &Server{
		routes:   make(map[string]*Route, len(routes)),
		folded:   make(map[string]*Route, len(routes)),
		maxBody:  opts.MaxBodyBytes,
		log:      opts.Logger,
		shutdown: opts.ShutdownTimeout,
		invokeTO: opts.InvokeTimeout,
		bufs:     make(chan *buffers, keptBuffers),
	}
	if s.maxBody == 0 {
		s.maxBody = DefaultMaxBodyBytes
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.shutdown == 0 {
		s.shutdown = DefaultShutdownTimeout
	}
	for i := range routes {
		r := routes[i]
		switch {
		case r.Function == "":
			return nil, fmt.Errorf("handler: route %d: empty Function", i)
		case strings.ContainsAny(r.Function, "/?#"):
			return nil, fmt.Errorf("handler: route %q: Function must be a function.json folder name", r.Function)
		case r.Func == nil:
			return nil, fmt.Errorf("handler: route %q: nil Func", r.Function)
		}
		switch r.Trigger {
		case EventHubBatch, EventGrid:
			if r.Binding == "" {
				return nil, fmt.Errorf("handler: route %q: %s needs the trigger binding name (Binding)", r.Function, r.Trigger)
			}
		case Timer:
		default:
			return nil, fmt.Errorf("handler: route %q: unknown Trigger %d", r.Function, int(r.Trigger))
		}
		if r.Trigger == EventHubBatch && (r.DataType < DataTypeString || r.DataType > DataTypeOmitted) {
			return nil, fmt.Errorf("handler: route %q: unknown DataType %d", r.Function, int(r.DataType))
		}
		key := strings.ToLower(r.Function)
		if prev, dup := s.folded[key]; dup {
			return nil, fmt.Errorf("handler: routes %q and %q name the same function", prev.Function, r.Function)
		}
		s.routes[r.Function] = &r
		s.folded[key] = &r
	}
	return s, nil
}

// PortFromEnv returns the port the host chose for the handler:
// FUNCTIONS_CUSTOMHANDLER_PORT, else the legacy FUNCTIONS_HTTPWORKER_PORT.
// ok is false when neither is set to a non-empty value.
func PortFromEnv() (port string, ok bool) {
	for _, k := range []string{"FUNCTIONS_CUSTOMHANDLER_PORT", "FUNCTIONS_HTTPWORKER_PORT"} {
		if v := strings.TrimSpace(os.Getenv(k)); v != "" {
			return v, true
		}
	}
	return "", false
}

// ListenAndServe listens on addr (the host dials 127.0.0.1, so pass
// "127.0.0.1:"+port or ":"+port, never an IPv6-only address) and serves
// until ctx is cancelled. See Serve for the shutdown contract.
func (s *Server) ListenAndServe(ctx context.Context, addr string) error {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("handler: listen on %s: %w", addr, err)
	}
	return s.Serve(ctx, ln)
}

// Serve serves on ln until ctx is cancelled or serving fails, and closes ln.
// On cancellation it stops accepting connections, lets in-flight
// invocations finish for up to Options.ShutdownTimeout, and returns nil; if
// they do not finish in time it closes their connections (cancelling their
// contexts) and returns an error wrapping context.DeadlineExceeded. A
// serving failure is returned wrapped. The context given to each Func is
// not derived from ctx, so cancelling ctx does not cancel invocations.
//
// Caveat (net/http): a connection that was opened but has not sent a
// request yet counts as busy for its first 5 seconds, so a client that dials
// ahead can delay shutdown by up to 5 s.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           s,
		ReadHeaderTimeout: 30 * time.Second,
		IdleTimeout:       5 * time.Minute,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()

	select {
	case err := <-served:
		return fmt.Errorf("handler: serve on %s: %w", ln.Addr(), err)
	case <-ctx.Done():
	}
	s.log.Info("shutting down: no new invocations; waiting for in-flight ones", "timeout", s.shutdown)
	sctx, cancel := context.WithTimeout(context.Background(), s.shutdown)
	defer cancel()
	err := srv.Shutdown(sctx)
	<-served // http.ErrServerClosed, once Shutdown has closed the listener
	if err != nil {
		cerr := srv.Close()
		s.log.Error("shutdown: in-flight invocations did not finish; connections closed", "timeout", s.shutdown, "err", err)
		return errors.Join(fmt.Errorf("handler: shutdown: in-flight invocations still running after %s: %w", s.shutdown, err), cerr)
	}
	s.log.Info("shutdown complete")
	return nil
}
