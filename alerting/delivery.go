package alerting

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"time"

	"github.com/tripline/tripline/alert"
	"github.com/tripline/tripline/store"
)

// Three kinds of pass deliver notifications, and they may run at the same
// time on different instances: the inline pass of the invocation that
// created the alerts, the NotificationRetry timer, and `tripline deliver`.
// None of them may send a channel an alert twice because they raced. The
// store offers nothing but conditional writes (ETags), so each pass claims
// an alert in its group document before sending it:
//
//   - A claim is an owner token (one per pass) and an expiry, written with
//     the ETag the pass read. Of two passes that read the same version,
//     one write fails (store.ErrStale); that pass reads again and sees the
//     other's claim.
//   - A pass skips an alert whose claim is live and not its own. An expired
//     claim (its pass died or lost the store) may be taken over; so may a
//     live one with PassOptions.Force, which an operator uses knowing it can
//     send twice.
//   - The sends of an alert run under a deadline a quarter of the lease
//     before the claim expires, so they end while the claim is live, and
//     the quarter is left for writing the result. Each alert is claimed
//     afresh just before its sends, so the lease only has to cover one
//     alert's sends (Policy bounds them: 3 requests of 10 s by default), not
//     a pass.
//   - The result is written with the ETag too. If the claim is no longer
//     the pass's own (fencing), the pass records only the channels that
//     accepted the alert, so none is sent it again, and leaves the rest to
//     the new owner. A channel recorded sent is never sent again.
//
// Claims compare the wall clocks of the instances; the quarter lease also
// covers their skew. The per-channel idempotency keys (webhook-id,
// PagerDuty dedup_key) remain for the one case left: a receiver accepted a
// request whose answer was lost, or whose result could not be written
// before the claim expired.

// Delivery defaults.
const (
	// DefaultLease is how long a claim keeps other passes off an alert. It
	// must exceed one alert's sends with room to spare: 3 requests of 10 s
	// and their backoff take at most 40 s; sends get 3/4 of the lease.
	DefaultLease = 2 * time.Minute
	// DefaultInlineBudget bounds the sends of one invocation's inline pass,
	// so that a hung receiver cannot hold an invocation for 31 s an alert
	// (max_signals 100 would pass the Functions timeout). What does not fit
	// is left pending for the timer.
	DefaultInlineBudget = 10 * time.Second
	// DefaultPassBudget bounds how long a pending-delivery pass keeps
	// claiming alerts: with the lease it stays under the Functions timeout
	// (10 min) and near the timer's period (5 min), so that passes of a
	// backlog against a hung receiver do not pile up.
	DefaultPassBudget = 4 * time.Minute
)

// DeliveryOptions shape delivery passes; zero fields take the defaults.
type DeliveryOptions struct {
	// Lease is how long a claim lives (DefaultLease). A new alert is also
	// held back from the timer for a lease, so that the inline pass gets it
	// first; the claims, not the hold, prevent double sends.
	Lease time.Duration
	// InlineBudget bounds the sends of an invocation's inline pass
	// (DefaultInlineBudget): each alert's sends get half of it, and no
	// alert starts with less than that left. Store writes are bounded by
	// the invocation's context only.
	InlineBudget time.Duration
	// PassBudget is how long a pending-delivery pass starts new alerts
	// (DefaultPassBudget); the alert in hand is finished within its lease.
	// The rest wait for the next pass.
	PassBudget time.Duration
}

func (o DeliveryOptions) lease() time.Duration {
	if o.Lease > 0 {
		return o.Lease
	}
	return DefaultLease
}

func (o DeliveryOptions) passBudget() time.Duration {
	if o.PassBudget > 0 {
		return o.PassBudget
	}
	return DefaultPassBudget
}

func (o DeliveryOptions) inlineBudget() time.Duration {
	if o.InlineBudget > 0 {
		return o.InlineBudget
	}
	return DefaultInlineBudget
}

// deliveryClaim is a pass's hold on an alert, stored on the alert.
type deliveryClaim struct {
	// Owner is the token of the pass holding the claim.
	Owner string `json:"owner"`
	// Until is when the claim expires (wall clock of the owner).
	Until time.Time `json:"until"`
}

// PassOptions say how a pending-delivery pass treats backoff and claims.
type PassOptions struct {
	// Flush attempts every pending channel now, even before its backoff is
	// over (`tripline deliver`, unless --respect-backoff).
	Flush bool
	// Force takes over alerts whose claim by another pass is still live
	// (`tripline deliver --force`). That pass may be sending them right
	// now: a channel can then get an alert twice. Meant for an operator who
	// knows the claimant is gone and will not wait for its lease to end.
	Force bool
}

// pass is one delivery pass: its claim token and options.
type pass struct {
	token string
	PassOptions
	// down holds the channels an attempt of this pass left pending (after
	// the inline retries of Send): the pass sends them nothing more, so a
	// hung or failing receiver costs it one alert's sends, not every
	// alert's, and the other channels still get theirs. The next pass tries
	// them again.
	down map[string]bool
}

func newPass(o PassOptions) *pass {
	return &pass{token: rand.Text(), PassOptions: o, down: map[string]bool{}}
}

// never is a NextAttempt that keeps a channel out of one Attempt.
var never = time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)

// wants returns the alert as this pass may attempt it (channels known down
// left out), or false when nothing is left to attempt.
func (ps *pass) wants(a *alert.Alert) (alert.Alert, bool) {
	out := *a
	out.Deliveries = make(map[string]*alert.Delivery, len(a.Deliveries))
	for ch, d := range a.Deliveries {
		if !ps.down[ch] {
			out.Deliveries[ch] = d
		}
	}
	return out, out.Pending()
}

// attemptResult is what delivering one alert did.
type attemptResult struct {
	// pending: the alert still waits on some channel afterwards.
	pending bool
	// busy: another pass holds a live claim on it; nothing was sent.
	busy bool
	// sent and failed count channel outcomes of this attempt.
	sent, failed int
	// final is the recorded delivery state afterwards (nil when this pass
	// recorded nothing).
	final map[string]*alert.Delivery
}

// deliverInline delivers the alerts this invocation created within one
// budget, and records the results. Each alert's sends get a window of half
// the budget, and an alert is started only while a whole window is left:
// a hung receiver costs one window (then the pass leaves that channel
// alone), and no request a receiver would answer within the window is cut
// off by the end of the budget (a cut-off request the receiver still acted
// on would be sent again). Failures, alerts another pass holds, and alerts
// the budget leaves untried stay pending for the timer; none of that fails
// the invocation.
func (p *Pipeline) deliverInline(ctx context.Context, fresh []freshAlert, out *Outcome) {
	ps := newPass(PassOptions{Flush: true})
	budget := p.Delivery.inlineBudget()
	window := budget / 2
	end := time.Now().Add(budget)
	for i, f := range fresh {
		if time.Until(end) < window {
			left := len(fresh) - i
			out.Undelivered += left
			p.logger().Warn("inline delivery budget spent; the timer will deliver the rest",
				"budget", budget.String(), "alerts_left", left)
			return
		}
		sendCtx, cancel := context.WithTimeout(ctx, window)
		r, err := p.deliverOne(ctx, sendCtx, f.docID, f.id, ps)
		cancel()
		if err != nil {
			p.logger().Warn("delivery not recorded; the retry pass will take the alert when its claim expires", "alert", f.id, "error", err)
			r.pending = true
		}
		if r.pending {
			out.Undelivered++
		}
		// Report the state after the attempt, not the pending one recorded
		// before it.
		for i := range out.Alerts {
			if out.Alerts[i].ID == f.id && r.final != nil {
				out.Alerts[i].Deliveries = r.final
			}
		}
	}
}

// deliverOne claims one alert, attempts its pending channels (sends bounded
// by sendCtx and by the claim) and records the result. Store calls use ctx.
func (p *Pipeline) deliverOne(ctx, sendCtx context.Context, docID, alertID string, ps *pass) (attemptResult, error) {
	var r attemptResult
	var scratch Outcome
	lease := p.Delivery.lease()

	pause := conflictBackOff()
	// Claim.
	var (
		doc   *groupDoc
		etag  string
		sa    *storedAlert
		start time.Time
	)
	for attempt := 0; ; attempt++ {
		if attempt == maxApplyAttempts {
			return r, fmt.Errorf("claim alert %s: its document kept changing under %d attempts", alertID, maxApplyAttempts)
		}
		if attempt > 0 {
			if err := pauseAfterConflict(ctx, pause); err != nil {
				return r, err
			}
		}
		var err error
		if doc, etag, err = p.load(ctx, p.Store, docID, &scratch); err != nil || doc == nil {
			return r, err
		}
		if sa = doc.find(alertID); sa == nil || !sa.Pending() {
			return r, nil
		}
		r.pending = true
		now := p.now()
		if c := sa.Claim; c != nil && c.Until.After(now) && c.Owner != ps.token {
			if !ps.Force {
				r.busy = true
				return r, nil
			}
			p.logger().Warn("forced: taking over a live delivery claim; a channel may get this alert twice",
				"alert", alertID, "claim_until", c.Until)
		}
		rest, ok := ps.wants(&sa.Alert)
		if !ok || (!ps.Flush && !p.Notifier.Due(&rest)) {
			return r, nil
		}
		start = time.Now()
		sa.Claim = &deliveryClaim{Owner: ps.token, Until: now.Add(lease)}
		body, err := doc.marshal()
		if err != nil {
			return r, fmt.Errorf("encode alert document: %w", err)
		}
		etag, err = p.Store.Replace(ctx, docID, body, etag)
		if errors.Is(err, store.ErrStale) {
			continue // another writer: read again, maybe its claim
		}
		if errors.Is(err, store.ErrNotFound) {
			return attemptResult{}, nil // the document expired
		}
		if err != nil {
			return r, fmt.Errorf("claim alert %s: %w", alertID, err)
		}
		break
	}

	// Send, ending a quarter lease before the claim does.
	work := sa.full()
	work.Deliveries = cloneDeliveries(sa.Deliveries)
	for ch, d := range work.Deliveries {
		switch {
		case d == nil || d.State != alert.DeliveryPending:
		case ps.down[ch]:
			d.NextAttempt = never
		case ps.Flush:
			d.NextAttempt = time.Time{}
		}
	}
	sctx, cancel := context.WithDeadline(sendCtx, start.Add(lease-lease/4))
	p.Notifier.Attempt(sctx, &work)
	cancel()
	// The channels this attempt changed: only those are written back.
	ours := map[string]*alert.Delivery{}
	for ch, before := range sa.Deliveries {
		after := work.Deliveries[ch]
		if before == nil || after == nil || before.State != alert.DeliveryPending ||
			(after.State == before.State && after.Attempts == before.Attempts) {
			continue
		}
		ours[ch] = after
		switch after.State {
		case alert.DeliverySent:
			r.sent++
		case alert.DeliveryFailed:
			r.failed++
		case alert.DeliveryPending:
			ps.down[ch] = true
		}
	}

	// Record, under the claim if it is still ours.
	for attempt := 1; ; attempt++ {
		target := doc.find(alertID)
		if target == nil {
			return attemptResult{sent: r.sent, failed: r.failed}, nil
		}
		held := target.Claim != nil && target.Claim.Owner == ps.token
		changed := mergeDeliveries(target, ours, held)
		if held {
			target.Claim = nil
			changed = true
		} else {
			p.logger().Warn("delivery claim lost during the sends; recording only the channels that accepted the alert",
				"alert", alertID)
		}
		if !changed {
			r.pending = target.Pending()
			return r, nil
		}
		doc.refreshPending()
		body, err := doc.marshal()
		if err != nil {
			return r, fmt.Errorf("encode alert document: %w", err)
		}
		_, err = p.Store.Replace(ctx, docID, body, etag)
		if err == nil {
			r.final = cloneDeliveries(target.Deliveries)
			r.pending = target.Pending()
			return r, nil
		}
		if errors.Is(err, store.ErrNotFound) {
			return attemptResult{sent: r.sent, failed: r.failed}, nil
		}
		if !errors.Is(err, store.ErrStale) {
			return r, fmt.Errorf("record delivery of alert %s: %w", alertID, err)
		}
		if attempt == maxApplyAttempts {
			return r, fmt.Errorf("record delivery of alert %s: its document kept changing under %d attempts", alertID, maxApplyAttempts)
		}
		if err := pauseAfterConflict(ctx, pause); err != nil {
			return r, err
		}
		if doc, etag, err = p.load(ctx, p.Store, docID, &scratch); err != nil || doc == nil {
			return r, err
		}
	}
}

func cloneDeliveries(in map[string]*alert.Delivery) map[string]*alert.Delivery {
	out := make(map[string]*alert.Delivery, len(in))
	for k, v := range in {
		if v == nil {
			out[k] = nil
			continue
		}
		c := *v
		out[k] = &c
	}
	return out
}

// mergeDeliveries writes a pass's channel results onto the stored alert and
// reports whether it changed anything. A channel the stored copy marks sent
// stays as it is. Without the claim (held false) only channels that
// accepted the alert are written: the rest belong to the claim's new owner.
func mergeDeliveries(target *storedAlert, ours map[string]*alert.Delivery, held bool) bool {
	changed := false
	for ch, d := range ours {
		if target.Deliveries == nil {
			target.Deliveries = map[string]*alert.Delivery{}
		}
		cur := target.Deliveries[ch]
		if cur != nil && cur.State == alert.DeliverySent {
			continue
		}
		if !held && d.State != alert.DeliverySent {
			continue
		}
		c := *d
		target.Deliveries[ch] = &c
		changed = true
	}
	return changed
}

// DeliverResult is what one retry pass did.
type DeliverResult struct {
	// Alerts is the number of pending alerts looked at; Sent and Failed count
	// channel deliveries that became sent or failed in this pass;
	// StillPending counts alerts pending afterwards, of which Busy were
	// skipped because another pass holds a live claim on them.
	Alerts, Sent, StillPending, Failed, Busy int
}

// DeliverPending runs one pass of pending deliveries: the NotificationRetry
// timer function and `tripline deliver` both call it. Without o.Flush it
// respects each channel's backoff, as the timer does; it skips alerts
// another pass holds a live claim on unless o.Force. Channels that already
// accepted an alert are never sent it again.
func (p *Pipeline) DeliverPending(ctx context.Context, limit int, o PassOptions) (DeliverResult, error) {
	var r DeliverResult
	if p.Notifier == nil {
		return r, nil
	}
	items, err := p.Store.Pending(ctx, limit)
	if err != nil {
		return r, fmt.Errorf("list pending alerts: %w", err)
	}
	ps := newPass(o)
	// Start no alert after the budget, nor less than a lease before ctx's
	// deadline: the result of one started then could not be written.
	stop := time.Now().Add(p.Delivery.passBudget())
	if dl, ok := ctx.Deadline(); ok && dl.Add(-p.Delivery.lease()).Before(stop) {
		stop = dl.Add(-p.Delivery.lease())
	}
	deferred := 0
	for _, it := range items {
		doc, err := decodeGroupDoc(it.Body)
		if err != nil {
			p.logger().Error("undecodable alert document", "id", it.ID, "error", err)
			continue
		}
		for _, sa := range doc.Alerts {
			if !sa.Pending() {
				continue
			}
			r.Alerts++
			if !time.Now().Before(stop) {
				r.StillPending++
				deferred++
				continue
			}
			res, err := p.deliverOne(ctx, ctx, doc.ID, sa.ID, ps)
			if err != nil {
				return r, fmt.Errorf("deliver alert %s: %w", sa.ID, err)
			}
			r.Sent += res.sent
			r.Failed += res.failed
			if res.pending {
				r.StillPending++
			}
			if res.busy {
				r.Busy++
			}
		}
	}
	if deferred > 0 {
		p.logger().Warn("delivery pass budget spent; the next pass takes the rest",
			"budget", p.Delivery.passBudget().String(), "alerts_left", deferred)
	}
	return r, nil
}
