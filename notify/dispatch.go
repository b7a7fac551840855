package notify

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/tripline/tripline/alert"
)

// Dispatcher defaults.
const (
	DefaultHorizon   = 24 * time.Hour
	DefaultRetryBase = time.Minute
	DefaultRetryMax  = time.Hour
	maxLastError     = 300
)

// Dispatcher drives the durable delivery state of alerts
// (alert.Alert.Deliveries, one alert.Delivery per channel name):
//
//	Prepare: every configured channel without a delivery → pending, Since = now
//	Attempt: pending and due → Send (with Policy)
//	    success → sent (SentAt); a sent channel is never sent again
//	    failure → Attempts++, LastError, NextAttempt = now + backoff
//	    failure at or past Since+Horizon → failed, logged at ERROR
//
// Permanent errors (3xx, most 4xx) are retried on the same durable schedule
// until the horizon, since a fixed URL or receiver can still take the alert;
// Retryable only shapes the inline retries.
//
// It only mutates the alert; the caller persists it (and, with ETags, makes
// sure two invocations do not both deliver). Zero fields take defaults:
// Horizon DefaultHorizon, Now time.Now, Logger discards, RetryBase
// DefaultRetryBase, RetryMax DefaultRetryMax. A Dispatcher is safe for
// concurrent use on different alerts; one alert must not be handed to two
// calls at once.
type Dispatcher struct {
	Channels []Channel
	Policy   Policy
	// Horizon is how long a delivery stays pending after Since before it
	// is declared failed.
	Horizon time.Duration
	Now     func() time.Time
	Logger  *slog.Logger
	// RetryBase and RetryMax shape the durable backoff between Attempt
	// rounds: RetryBase·2^(attempts-1), at most RetryMax, spread over
	// ±Policy.Jitter of it (never past RetryMax), and never earlier than a
	// receiver's Retry-After.
	RetryBase time.Duration
	RetryMax  time.Duration
}

func (d *Dispatcher) now() time.Time {
	if d.Now != nil {
		return d.Now()
	}
	return time.Now()
}

func (d *Dispatcher) horizon() time.Duration {
	if d.Horizon > 0 {
		return d.Horizon
	}
	return DefaultHorizon
}

func (d *Dispatcher) logger() *slog.Logger {
	if d.Logger != nil {
		return d.Logger
	}
	return slog.New(slog.DiscardHandler)
}

// Prepare marks every configured channel that has no delivery yet as pending
// (Since = now, due at once). Existing deliveries, sent ones above all, are
// left as they are, so Prepare may be called again on a stored alert.
func (d *Dispatcher) Prepare(a *alert.Alert) {
	if len(d.Channels) == 0 {
		return
	}
	if a.Deliveries == nil {
		a.Deliveries = make(map[string]*alert.Delivery, len(d.Channels))
	}
	now := d.now()
	for _, ch := range d.Channels {
		if a.Deliveries[ch.Name()] == nil {
			a.Deliveries[ch.Name()] = &alert.Delivery{State: alert.DeliveryPending, Since: now}
		}
	}
}

// Due reports whether Attempt would do anything now: some configured
// channel is pending with NextAttempt at or before now, or some pending
// delivery of a channel no longer configured has outlived the horizon (it is
// then failed).
func (d *Dispatcher) Due(a *alert.Alert) bool {
	now := d.now()
	configured := d.configured()
	for name, del := range a.Deliveries {
		if del == nil || del.State != alert.DeliveryPending {
			continue
		}
		if _, ok := configured[name]; ok {
			if !del.NextAttempt.After(now) {
				return true
			}
		} else if d.expired(del, now) {
			return true
		}
	}
	return false
}

func (d *Dispatcher) configured() map[string]Channel {
	m := make(map[string]Channel, len(d.Channels))
	for _, ch := range d.Channels {
		m[ch.Name()] = ch
	}
	return m
}

func (d *Dispatcher) expired(del *alert.Delivery, now time.Time) bool {
	return !del.Since.IsZero() && !now.Before(del.Since.Add(d.horizon()))
}

// Attempt sends a to every configured channel whose delivery is pending and
// due, concurrently, each with d.Policy, and records the outcome (see
// Dispatcher). A pending delivery whose channel is no longer configured is
// failed once past the horizon. It reports whether it changed a; ctx bounds
// the sends. Channels without a delivery are not touched (call Prepare).
func (d *Dispatcher) Attempt(ctx context.Context, a *alert.Alert) (changed bool) {
	now := d.now()
	configured := d.configured()
	type result struct {
		name string
		del  *alert.Delivery
		err  error
	}
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		results []result
	)
	for name, del := range a.Deliveries {
		if del == nil || del.State != alert.DeliveryPending {
			continue
		}
		if del.Since.IsZero() {
			del.Since, changed = now, true
		}
		ch, ok := configured[name]
		if !ok {
			if d.expired(del, now) {
				d.fail(ctx, a, name, del, errors.New("channel no longer configured"), now)
				changed = true
			}
			continue
		}
		if del.NextAttempt.After(now) {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := Send(ctx, ch, a, d.Policy)
			mu.Lock()
			results = append(results, result{name, del, err})
			mu.Unlock()
		}()
	}
	wg.Wait()
	for _, r := range results {
		changed = true
		done := d.now()
		r.del.Attempts++
		r.del.LastAttempt = done
		if r.err == nil {
			r.del.State = alert.DeliverySent
			r.del.SentAt = done
			r.del.NextAttempt = time.Time{}
			d.logger().InfoContext(ctx, "notification sent",
				"alert_id", a.ID, "rule_id", a.Rule.ID, "channel", r.name, "attempts", r.del.Attempts)
			continue
		}
		r.del.LastError = truncate(r.err.Error(), maxLastError)
		if d.expired(r.del, done) {
			d.fail(ctx, a, r.name, r.del, r.err, done)
			continue
		}
		next := done.Add(d.delay(r.del.Attempts))
		if ra := retryAfter(r.err); ra > 0 && next.Before(done.Add(ra)) {
			next = done.Add(ra)
		}
		if end := r.del.Since.Add(d.horizon()); next.After(end) {
			next = end // one last try at the horizon
		}
		r.del.NextAttempt = next
		d.logger().WarnContext(ctx, "notification failed; will retry",
			"alert_id", a.ID, "rule_id", a.Rule.ID, "channel", r.name,
			"attempts", r.del.Attempts, "retryable", Retryable(r.err),
			"next_attempt", next, "error", r.del.LastError)
	}
	return changed
}

// delay is the durable backoff after n failed rounds: the nth wait of the
// same exponential backoff as the inline retries, from RetryBase up to
// RetryMax.
func (d *Dispatcher) delay(n int) time.Duration {
	base, ceiling := d.RetryBase, d.RetryMax
	if base <= 0 {
		base = DefaultRetryBase
	}
	if ceiling <= 0 {
		ceiling = DefaultRetryMax
	}
	b := exponential(base, ceiling, jitter(d.Policy.Jitter))
	var w time.Duration
	for range max(min(n, 64), 1) { // past 64 doublings every interval is the ceiling
		w = b.NextBackOff()
	}
	return min(w, ceiling)
}

func (d *Dispatcher) fail(ctx context.Context, a *alert.Alert, name string, del *alert.Delivery, err error, now time.Time) {
	del.State = alert.DeliveryFailed
	del.NextAttempt = time.Time{}
	del.LastError = truncate(err.Error(), maxLastError)
	d.logger().ErrorContext(ctx, "NOTIFICATION FAILED: alert not delivered to channel, giving up after the delivery horizon",
		"alert_id", a.ID, "rule_id", a.Rule.ID, "rule", a.Rule.Name, "channel", name,
		"attempts", del.Attempts, "since", del.Since, "horizon", d.horizon().String(),
		"error", del.LastError)
}

// SendHeldBack sends the summary to every configured channel with d.Policy,
// concurrently. It is best effort (a summary has no durable state); the
// errors of the channels that failed are joined.
func (d *Dispatcher) SendHeldBack(ctx context.Context, h alert.HeldBack) error {
	errs := make([]error, len(d.Channels))
	var wg sync.WaitGroup
	for i, ch := range d.Channels {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = SendHeldBack(ctx, ch, h, d.Policy)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		d.logger().WarnContext(ctx, "held-back summary not delivered everywhere",
			"rule_id", h.Rule.ID, "held_back", h.Count, "error", err.Error())
		return err
	}
	return nil
}
