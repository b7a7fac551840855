package alerting

import (
	"context"
	"errors"
	"fmt"

	"github.com/tripline/tripline/alert"
	"github.com/tripline/tripline/store"
)

// deliverInline makes the bounded inline delivery attempt for the alerts this
// invocation created and records the result. Failures leave the alerts
// pending for the retry pass; they never fail the invocation.
func (p *Pipeline) deliverInline(ctx context.Context, fresh []freshAlert, out *Outcome) {
	for _, f := range fresh {
		pending, n, err := p.deliverOne(ctx, f.docID, f.id, true, false)
		if err != nil {
			p.logger().Warn("delivery state not recorded; the retry pass will resend", "alert", f.id, "error", err)
		}
		if pending {
			out.Undelivered++
		}
		// Report the state after the attempt, not the pending one recorded
		// before it.
		for i := range out.Alerts {
			if out.Alerts[i].ID == f.id && n.final != nil {
				out.Alerts[i].Deliveries = n.final
			}
		}
	}
}

// deliverOne attempts the pending deliveries of one alert and writes the new
// state back. inline means the caller created the alert and holds its lease;
// force attempts pending channels even before their backoff is over. It
// reports whether the alert is still pending.
func (p *Pipeline) deliverOne(ctx context.Context, docID, alertID string, inline, force bool) (bool, deliveryCount, error) {
	var scratch Outcome
	var n deliveryCount
	doc, etag, err := p.load(ctx, p.Store, docID, &scratch)
	if err != nil || doc == nil {
		return true, n, err
	}
	sa := doc.find(alertID)
	if sa == nil {
		return false, n, nil
	}
	if !inline {
		if !sa.Pending() || (!force && !p.Notifier.Due(&sa.Alert)) {
			return sa.Pending(), n, nil
		}
		// Claim: push NextAttempt out, so a concurrent pass skips it.
		for _, d := range sa.Deliveries {
			if d.State == alert.DeliveryPending {
				d.NextAttempt = p.now().Add(inlineLease)
			}
		}
		body, err := doc.marshal()
		if err != nil {
			return true, n, fmt.Errorf("encode alert document: %w", err)
		}
		etag, err = p.Store.Replace(ctx, docID, body, etag)
		if err != nil {
			if errors.Is(err, store.ErrStale) {
				return true, n, nil // another pass claimed it
			}
			return true, n, err
		}
	}
	// Our claim (or the inline lease) is ours: make it due for Attempt.
	attemptAt := p.now()
	for _, d := range sa.Deliveries {
		if d.State == alert.DeliveryPending {
			d.NextAttempt = attemptAt
		}
	}
	work := sa.full()
	work.Deliveries = cloneDeliveries(sa.Deliveries)
	p.Notifier.Attempt(ctx, &work)
	for ch, before := range sa.Deliveries {
		if before.State != alert.DeliveryPending || work.Deliveries[ch] == nil {
			continue
		}
		switch work.Deliveries[ch].State {
		case alert.DeliverySent:
			n.sent++
		case alert.DeliveryFailed:
			n.failed++
		}
	}
	for i := 0; i < maxApplyAttempts; i++ {
		target := doc.find(alertID)
		if target == nil {
			return false, n, nil
		}
		mergeDeliveries(target, work.Deliveries)
		doc.refreshPending()
		body, err := doc.marshal()
		if err != nil {
			return true, n, err
		}
		_, err = p.Store.Replace(ctx, docID, body, etag)
		if err == nil {
			n.final = cloneDeliveries(target.Deliveries)
			return target.Pending(), n, nil
		}
		if !errors.Is(err, store.ErrStale) {
			return true, n, err
		}
		if doc, etag, err = p.load(ctx, p.Store, docID, &scratch); err != nil || doc == nil {
			return true, n, err
		}
	}
	return true, n, fmt.Errorf("delivery state of %s kept changing", alertID)
}

// deliveryCount counts channel outcomes of one attempt; final is the
// recorded delivery state afterwards (nil when nothing was recorded).
type deliveryCount struct {
	sent, failed int
	final        map[string]*alert.Delivery
}

func cloneDeliveries(in map[string]*alert.Delivery) map[string]*alert.Delivery {
	out := make(map[string]*alert.Delivery, len(in))
	for k, v := range in {
		c := *v
		out[k] = &c
	}
	return out
}

// mergeDeliveries writes our channel results onto the stored alert; a channel
// the stored copy already marks sent stays sent.
func mergeDeliveries(target *storedAlert, ours map[string]*alert.Delivery) {
	if target.Deliveries == nil {
		target.Deliveries = map[string]*alert.Delivery{}
	}
	for ch, d := range ours {
		cur := target.Deliveries[ch]
		if cur != nil && cur.State == alert.DeliverySent {
			continue
		}
		c := *d
		target.Deliveries[ch] = &c
	}
}

// DeliverResult is what one retry pass did.
type DeliverResult struct {
	// Alerts is the number of pending alerts looked at; Sent and Failed count
	// channel deliveries that became sent or failed in this pass.
	Alerts, Sent, StillPending, Failed int
}

// DeliverPending runs one pass of pending deliveries: the NotificationRetry
// timer function and `tripline deliver` both call it. The timer respects each
// channel's backoff; force (an operator flushing the queue by hand) attempts
// every pending channel now. Channels that already accepted an alert are
// never sent it again.
func (p *Pipeline) DeliverPending(ctx context.Context, limit int, force bool) (DeliverResult, error) {
	var r DeliverResult
	if p.Notifier == nil {
		return r, nil
	}
	items, err := p.Store.Pending(ctx, limit)
	if err != nil {
		return r, fmt.Errorf("list pending alerts: %w", err)
	}
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
			still, n, err := p.deliverOne(ctx, doc.ID, sa.ID, false, force)
			if err != nil {
				return r, fmt.Errorf("deliver alert %s: %w", sa.ID, err)
			}
			r.Sent += n.sent
			r.Failed += n.failed
			if still {
				r.StillPending++
			}
		}
	}
	return r, nil
}
