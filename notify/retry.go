package notify

import (
	"context"
	"fmt"
	"time"

	"github.com/cenkalti/backoff/v5"

	"github.com/tripline/tripline/alert"
)

// Policy bounds the inline retries of one send. The zero value is usable:
// each zero field takes the default named in its comment.
type Policy struct {
	// Attempts is the number of HTTP requests at most (default 3).
	Attempts int
	// BaseDelay is the backoff before the second request (default 500ms);
	// it doubles per request up to MaxDelay, each wait randomized by
	// Jitter.
	BaseDelay time.Duration
	// MaxDelay caps every wait, including one asked by Retry-After (default
	// 5s). A Retry-After longer than MaxDelay, or than the time left before
	// ctx's deadline, ends the inline attempts: the error is returned and the
	// durable layer schedules the next try no earlier than Retry-After.
	MaxDelay time.Duration
	// Timeout bounds each request (default 10s).
	Timeout time.Duration

	// Jitter spreads every computed wait, inline and durable (Dispatcher),
	// uniformly over ±Jitter of it, never past the cap (default 0.5, at
	// most 1). Negative means none: tests that check exact waits.
	Jitter float64

	// Sleep waits d or until ctx is done (nil: a real timer). Tests inject
	// a recorder so no test sleeps for real.
	Sleep func(ctx context.Context, d time.Duration) error
}

// Policy defaults.
const (
	DefaultAttempts  = 3
	DefaultBaseDelay = 500 * time.Millisecond
	DefaultMaxDelay  = 5 * time.Second
	DefaultTimeout   = 10 * time.Second
	DefaultJitter    = 0.5
)

func (p Policy) withDefaults() Policy {
	if p.Attempts <= 0 {
		p.Attempts = DefaultAttempts
	}
	if p.BaseDelay <= 0 {
		p.BaseDelay = DefaultBaseDelay
	}
	if p.MaxDelay <= 0 {
		p.MaxDelay = DefaultMaxDelay
	}
	if p.Timeout <= 0 {
		p.Timeout = DefaultTimeout
	}
	if p.Sleep == nil {
		p.Sleep = sleep
	}
	p.Jitter = jitter(p.Jitter)
	return p
}

// jitter is Policy.Jitter with its default applied, as a randomization
// factor in [0, 1].
func jitter(j float64) float64 {
	switch {
	case j == 0:
		return DefaultJitter
	case j < 0:
		return 0
	}
	return min(j, 1)
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// exponential is the one backoff formula of notifications, inline and
// durable: cenkalti/backoff's ExponentialBackOff from base, doubling per
// step up to ceiling, each wait spread over ±jitter of it. Its NextBackOff
// gives the waits in turn.
func exponential(base, ceiling time.Duration, jitter float64) *backoff.ExponentialBackOff {
	return &backoff.ExponentialBackOff{InitialInterval: base, Multiplier: 2, MaxInterval: ceiling, RandomizationFactor: jitter}
}

// backoff returns the successive waits between requests: exponential from
// BaseDelay, never more than MaxDelay.
func (p Policy) backoff() func() time.Duration {
	b := exponential(p.BaseDelay, p.MaxDelay, p.Jitter)
	return func() time.Duration { return min(b.NextBackOff(), p.MaxDelay) }
}

// Send delivers a on ch with bounded inline retries: up to p.Attempts
// requests, each bounded by p.Timeout, separated by exponential backoff with
// jitter or by the receiver's Retry-After (429, 503, or any retryable
// status carrying one). It stops early on success, on a permanent error (3xx,
// 4xx other than 408/425/429), when ctx is done, or when the next wait would
// exceed MaxDelay or ctx's deadline.
//
// It returns nil on success, else the last error (a *StatusError or
// *TransportError, see Retryable), which names the channel and status only.
func Send(ctx context.Context, ch Channel, a *alert.Alert, p Policy) error {
	_, err := run(ctx, p, func(ctx context.Context) error { return ch.Send(ctx, a) })
	return err
}

// SendHeldBack is Send for a held-back summary.
func SendHeldBack(ctx context.Context, ch Channel, h alert.HeldBack, p Policy) error {
	_, err := run(ctx, p, func(ctx context.Context) error { return ch.SendHeldBack(ctx, h) })
	return err
}

// run is the retry loop; it reports how many requests were made.
func run(ctx context.Context, p Policy, send func(context.Context) error) (int, error) {
	p = p.withDefaults()
	next := p.backoff()
	var err error
	n := 0
	for n < p.Attempts {
		if n > 0 {
			wait := next()
			if ra := retryAfter(err); ra > 0 {
				wait = ra
			}
			if wait > p.MaxDelay {
				return n, err
			}
			if dl, ok := ctx.Deadline(); ok && time.Until(dl) < wait {
				return n, err
			}
			if serr := p.Sleep(ctx, wait); serr != nil {
				return n, fmt.Errorf("%w (gave up: %w)", err, serr)
			}
		}
		actx, cancel := context.WithTimeout(ctx, p.Timeout)
		err = send(actx)
		cancel()
		n++
		if err == nil {
			return n, nil
		}
		if ctx.Err() != nil || !Retryable(err) {
			return n, err
		}
	}
	return n, err
}
