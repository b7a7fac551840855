package notify

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strings"
	"syscall"
	"time"
)

// StatusError is returned by a channel when the receiver answered with a
// non-2xx status. It names the channel and the status only: response bodies
// are not kept, since an arbitrary receiver might echo credentials.
type StatusError struct {
	Channel    string
	StatusCode int
	// RetryAfter is the receiver's Retry-After (seconds or HTTP date) on any
	// status; zero when absent or unparsable.
	RetryAfter time.Duration
}

func (e *StatusError) Error() string {
	if e.RetryAfter > 0 {
		return fmt.Sprintf("notify %s: HTTP %d (retry after %s)", e.Channel, e.StatusCode, e.RetryAfter)
	}
	return fmt.Sprintf("notify %s: HTTP %d", e.Channel, e.StatusCode)
}

// Retryable reports whether the status may succeed later: 408, 425, 429 and
// 5xx. Other statuses (3xx, 4xx) are permanent for the inline retry loop.
func (e *StatusError) Retryable() bool {
	switch c := e.StatusCode; {
	case c == 408, c == 425, c == 429:
		return true
	case c >= 500 && c <= 599:
		return true
	}
	return false
}

// TransportError is returned when no HTTP answer arrived: timeout, refused or
// reset connection, TLS failure, cancelled context. Its message names the
// channel and a short kind, never the URL; Unwrap gives the cause without the
// *url.Error wrapper (which would carry the URL).
type TransportError struct {
	Channel string
	// Kind is one of timeout, canceled, connection refused, connection
	// reset, eof, dns, tls, transport.
	Kind string
	Err  error
}

func (e *TransportError) Error() string {
	return fmt.Sprintf("notify %s: %s", e.Channel, e.Kind)
}

// Unwrap returns the cause (never a *url.Error).
func (e *TransportError) Unwrap() error { return e.Err }

// Retryable reports whether err (as returned by a Channel or Send) may
// succeed on a later attempt: transport errors and 408/425/429/5xx statuses.
// A cancelled caller context is not retryable inline (the durable layer still
// keeps the delivery pending).
func Retryable(err error) bool {
	var se *StatusError
	if errors.As(err, &se) {
		return se.Retryable()
	}
	var te *TransportError
	if errors.As(err, &te) {
		return te.Kind != "canceled"
	}
	return false
}

// retryAfter returns the Retry-After carried by err, or zero.
func retryAfter(err error) time.Duration {
	var se *StatusError
	if errors.As(err, &se) {
		return se.RetryAfter
	}
	return 0
}

// transportError classifies a client.Do error. err is usually a *url.Error
// whose message contains the URL; only its cause is kept.
func transportError(channel string, ctx context.Context, err error) *TransportError {
	cause := err
	var ue *url.Error
	if errors.As(err, &ue) && ue.Err != nil {
		cause = ue.Err
	}
	kind := "transport"
	var ne net.Error
	var dns *net.DNSError
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		kind = "timeout"
	case errors.Is(err, context.Canceled):
		kind = "canceled"
		if ctx.Err() == nil {
			kind = "transport"
		}
	case errors.Is(err, syscall.ECONNREFUSED):
		kind = "connection refused"
	case errors.Is(err, syscall.ECONNRESET):
		kind = "connection reset"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		kind = "eof"
	case errors.As(err, &dns):
		kind = "dns"
	case strings.Contains(strings.ToLower(cause.Error()), "tls"):
		kind = "tls"
	}
	return &TransportError{Channel: channel, Kind: kind, Err: cause}
}
