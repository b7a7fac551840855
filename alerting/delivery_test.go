package alerting_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tripline/tripline/alert"
	"github.com/tripline/tripline/alerting"
	"github.com/tripline/tripline/notify"
)

const deliveryTestSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

// receiver is a channel's HTTP endpoint that counts, per alert id, the
// requests it accepted. In mode "ok" it answers 2xx after delay; "fail"
// answers 503; "hang" never answers until the client gives up.
type receiver struct {
	srv     *httptest.Server
	mu      sync.Mutex
	mode    string
	delay   time.Duration
	status  int
	key     func(r *http.Request, body []byte) string
	arrived chan struct{} // one value per hung request

	accepted  map[string]int
	requests  int
	abandoned int // requests whose client gave up before the answer
}

func newReceiver(t *testing.T, status int, key func(*http.Request, []byte) string) *receiver {
	rc := &receiver{mode: "ok", status: status, key: key, accepted: map[string]int{}, arrived: make(chan struct{})}
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		rc.requests++
		mode, delay := rc.mode, rc.delay
		rc.mu.Unlock()
		switch mode {
		case "fail":
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		case "hang":
			select { // tell a test waiting for the request, if any
			case rc.arrived <- struct{}{}:
			case <-r.Context().Done():
			}
			<-r.Context().Done()
			rc.mu.Lock()
			rc.abandoned++
			rc.mu.Unlock()
			return
		}
		select {
		case <-time.After(delay):
		case <-r.Context().Done():
			rc.mu.Lock()
			rc.abandoned++
			rc.mu.Unlock()
			return
		}
		rc.mu.Lock()
		rc.accepted[rc.key(r, body)]++
		rc.mu.Unlock()
		w.WriteHeader(rc.status)
		io.WriteString(w, `{"status":"success"}`)
	}))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) set(mode string, delay time.Duration) {
	rc.mu.Lock()
	rc.mode, rc.delay = mode, delay
	rc.mu.Unlock()
}

// check fails unless every id was accepted exactly once and nothing else
// was sent or abandoned.
func (rc *receiver) check(t *testing.T, name string, ids []string) {
	t.Helper()
	rc.mu.Lock()
	defer rc.mu.Unlock()
	for _, id := range ids {
		if n := rc.accepted[id]; n != 1 {
			t.Errorf("%s: alert %s accepted %d times, want exactly once", name, id, n)
		}
	}
	if len(rc.accepted) != len(ids) || rc.requests != len(ids) || rc.abandoned != 0 {
		t.Errorf("%s: %d requests, %d abandoned by the client, %d alerts accepted; want %d requests, 0 abandoned, %d alerts",
			name, rc.requests, rc.abandoned, len(rc.accepted), len(ids), len(ids))
	}
}

func (rc *receiver) count(id string) int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return rc.accepted[id]
}

// webhookAndPagerDuty starts two receivers and the real channels posting to
// them: the webhook keyed by webhook-id, PagerDuty by dedup_key.
func webhookAndPagerDuty(t *testing.T) (wh, pd *receiver, chans []notify.Channel) {
	wh = newReceiver(t, http.StatusNoContent, func(r *http.Request, _ []byte) string { return r.Header.Get("webhook-id") })
	pd = newReceiver(t, http.StatusAccepted, func(_ *http.Request, b []byte) string {
		var ev struct {
			DedupKey string `json:"dedup_key"`
		}
		_ = json.Unmarshal(b, &ev)
		return ev.DedupKey
	})
	chans, err := notify.FromSettings(notify.Settings{
		WebhookURL: wh.srv.URL + "/hook", WebhookSecret: deliveryTestSecret,
		PagerDutyKey: "routing-key", PagerDutyURL: pd.srv.URL + "/v2/enqueue",
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return wh, pd, chans
}

// notifier adapts notify.Dispatcher to alerting.Notifier, as main does.
type notifier struct{ *notify.Dispatcher }

func (n notifier) SendHeldBack(ctx context.Context, h alert.HeldBack) {
	_ = n.Dispatcher.SendHeldBack(ctx, h)
}

func deliveringPipeline(t *testing.T, st alerting.Store, d *notify.Dispatcher, o alerting.DeliveryOptions) *alerting.Pipeline {
	p := newPipeline(t, st)
	p.Notifier = notifier{d}
	p.Delivery = o
	return p
}

// distinctAlerts is a batch of n records that open n alerts (one group each).
func distinctAlerts(tag string, n int) []byte {
	var recs []map[string]any
	for i := 0; i < n; i++ {
		recs = append(recs, seedRecord(fmt.Sprintf("%s-c%d", tag, i), t0, fmt.Sprintf("%s-p%d", tag, i), "arc-1"))
	}
	return body(recs...)
}

func newIDs(out *alerting.Outcome) []string {
	var ids []string
	for _, a := range out.Alerts {
		if a.State == alert.StateNew {
			ids = append(ids, a.ID)
		}
	}
	return ids
}

// storedDeliveries reads every alert of a batch back (a redelivery of it is
// all duplicates and reports each alert as stored).
func storedDeliveries(t *testing.T, p *alerting.Pipeline, batch []byte) map[string]map[string]*alert.Delivery {
	t.Helper()
	saved := p.Notifier
	p.Notifier = nil // reading back must not deliver
	defer func() { p.Notifier = saved }()
	out := mustProcess(t, p, batch)
	m := map[string]map[string]*alert.Delivery{}
	for _, a := range out.Alerts {
		if a.State != alert.StateDuplicate {
			t.Fatalf("read-back of alert %s: state %s, want duplicate", a.ID, a.State)
		}
		m[a.ID] = a.Deliveries
	}
	return m
}

// TestRacingPassesDeliverOnce: the inline pass of the invocation that
// creates 15 alerts, a timer pass and two `deliver` passes run together
// against two receivers taking 100 ms a request, with a lease (600 ms) far
// shorter than the inline pass, so that the hold on new alerts expires while
// the inline pass is still working and the timer joins in. Each alert
// reaches each channel exactly once, and no attempt timed out (every
// delivery is sent at its first attempt).
func TestRacingPassesDeliverOnce(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func(t *testing.T) alerting.Store) {
		st := open(t)
		wh, pd, chans := webhookAndPagerDuty(t)
		wh.set("ok", 100*time.Millisecond)
		pd.set("ok", 100*time.Millisecond)
		opts := alerting.DeliveryOptions{Lease: 600 * time.Millisecond, InlineBudget: time.Minute}
		d := &notify.Dispatcher{Channels: chans}
		// A guard against a hang, not a speed check: the passes end long
		// before it unless they loop forever.
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()

		batch := distinctAlerts("race", 15)
		var inlineDone atomic.Bool
		var wg sync.WaitGroup
		var out *alerting.Outcome
		var inlineErr error
		inline := deliveringPipeline(t, st, d, opts)
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer inlineDone.Store(true)
			out, inlineErr = inline.Process(ctx, [][]byte{batch})
		}()
		type tally struct {
			name               string
			p                  *alerting.Pipeline
			passes, sent, busy int
			err                error
		}
		racers := []*tally{{name: "timer"}, {name: "deliver-1"}, {name: "deliver-2"}}
		for _, r := range racers {
			r.p = deliveringPipeline(t, st, d, opts) // an instance each
		}
		for _, r := range racers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				p := r.p
				po := alerting.PassOptions{Flush: r.name != "timer"}
				for ctx.Err() == nil {
					done := inlineDone.Load()
					res, err := p.DeliverPending(ctx, 200, po)
					if err != nil {
						r.err = err
						return
					}
					r.passes++
					r.sent += res.Sent
					r.busy += res.Busy
					if done && res.Alerts == 0 {
						return
					}
					time.Sleep(5 * time.Millisecond) // pacing, so as not to spin on the store
				}
				r.err = ctx.Err()
			}()
		}
		wg.Wait()
		if inlineErr != nil {
			t.Fatal(inlineErr)
		}
		for _, r := range racers {
			if r.err != nil {
				t.Fatalf("%s: %v", r.name, r.err)
			}
			t.Logf("%s: %d passes, %d channel sends, %d alerts skipped as claimed", r.name, r.passes, r.sent, r.busy)
		}
		ids := newIDs(out)
		if len(ids) != 15 {
			t.Fatalf("%d new alerts, want 15", len(ids))
		}
		t.Logf("inline: %d alerts left pending (delivered elsewhere or later)", out.Undelivered)
		wh.check(t, "webhook", ids)
		pd.check(t, "pagerduty", ids)
		stored := storedDeliveries(t, deliveringPipeline(t, st, d, opts), batch)
		for _, id := range ids {
			for _, ch := range []string{"webhook", "pagerduty"} {
				if dl := stored[id][ch]; dl == nil || dl.State != alert.DeliverySent || dl.Attempts != 1 {
					t.Errorf("alert %s channel %s: stored %+v, want sent at the first attempt", id, ch, dl)
				}
			}
		}
	})
}

// TestInlineBudgetLeavesRestPending: against a webhook receiver that never
// answers, the inline pass gives up on it after an alert's window (half its
// budget), sends it nothing more, starts no alert without a whole window
// left, returns, and leaves every alert pending; a later pass delivers each
// alert once to each channel.
func TestInlineBudgetLeavesRestPending(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func(t *testing.T) alerting.Store) {
		st := open(t)
		wh, pd, chans := webhookAndPagerDuty(t)
		wh.set("hang", 0)
		pd.set("ok", 0)
		// The default Policy: each request may take 10 s, 3 requests an
		// alert; 5 alerts would hold the invocation for over 2 minutes.
		d := &notify.Dispatcher{Channels: chans}
		p := deliveringPipeline(t, st, d, alerting.DeliveryOptions{InlineBudget: time.Second})
		batch := distinctAlerts("hung", 5)
		done := make(chan *alerting.Outcome, 1)
		go func() {
			out, err := p.Process(context.Background(), [][]byte{batch})
			if err != nil {
				t.Error(err)
			}
			done <- out
		}()
		var out *alerting.Outcome
		select {
		case out = <-done:
		case <-time.After(time.Minute): // a hang guard far above the 1 s budget and far below 5 × 31 s
			t.Fatal("the invocation did not return: the inline budget does not bound the sends")
		}
		if out == nil {
			t.FailNow()
		}
		ids := newIDs(out)
		if len(ids) != 5 || out.Undelivered != 5 {
			t.Fatalf("%d new alerts, %d left pending; want 5 and 5", len(ids), out.Undelivered)
		}
		for _, id := range ids {
			if wh.count(id) != 0 {
				t.Fatalf("the hung receiver accepted alert %s", id)
			}
		}
		wh.mu.Lock()
		hung := wh.requests
		wh.mu.Unlock()
		pdInline := 0
		for _, id := range ids {
			pdInline += pd.count(id)
		}
		if hung != 1 || pdInline == 0 {
			t.Fatalf("inline pass: %d requests to the hung webhook, %d alerts to PagerDuty; want 1 (then the channel is left for the timer) and some", hung, pdInline)
		}
		t.Logf("inline pass: PagerDuty got %d of 5 alerts within the budget", pdInline)
		stored := storedDeliveries(t, p, batch)
		for _, id := range ids {
			if dl := stored[id]["webhook"]; dl == nil || dl.State != alert.DeliveryPending {
				t.Fatalf("alert %s webhook: %+v, want pending", id, dl)
			}
		}

		// The receiver recovers; an operator's pass delivers everything
		// still pending, each alert once per channel. No claim is in the way:
		// the inline pass released those it made.
		wh.set("ok", 0)
		r, err := p.DeliverPending(context.Background(), 200, alerting.PassOptions{Flush: true})
		if err != nil {
			t.Fatal(err)
		}
		if r.Busy != 0 || r.StillPending != 0 {
			t.Fatalf("later pass: %+v, want nothing held or left", r)
		}
		for _, id := range ids {
			if n := wh.count(id); n != 1 {
				t.Errorf("webhook: alert %s accepted %d times, want 1", id, n)
			}
			if n := pd.count(id); n != 1 {
				t.Errorf("pagerduty: alert %s accepted %d times, want 1", id, n)
			}
		}
	})
}

// deadClaim records one alert whose delivery failed, then leaves a live
// claim on it from a pass that dies while sending (its context is cancelled
// mid-request, so it cannot write the result or release the claim).
func deadClaim(t *testing.T, p *alerting.Pipeline, wh *receiver, tag string) string {
	t.Helper()
	wh.set("fail", 0)
	out := mustProcess(t, p, distinctAlerts(tag, 1))
	if ids := newIDs(out); len(ids) != 1 || out.Undelivered != 1 {
		t.Fatalf("alerts %v, %d pending; want one pending", ids, out.Undelivered)
	}
	wh.set("hang", 0)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := p.DeliverPending(ctx, 200, alerting.PassOptions{Flush: true})
		errc <- err
	}()
	<-wh.arrived // the dying pass holds the claim and is sending
	cancel()
	if err := <-errc; err == nil {
		t.Fatal("the cancelled pass reported success: it recorded a result it cannot have written")
	}
	wh.set("ok", 0)
	return newIDs(out)[0]
}

// TestLiveClaimsRespectedUnlessForced: a claim whose pass died keeps the
// timer and `deliver` off the alert until it expires; then a pass takes it
// over. --force (PassOptions.Force) takes over a live claim.
func TestLiveClaimsRespectedUnlessForced(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func(t *testing.T) alerting.Store) {
		st := open(t)
		wh, _, chans := webhookAndPagerDuty(t)
		// One request per attempt and no backoff to wait for, so that the
		// timer would take the alert at once were it not for the claim.
		d := &notify.Dispatcher{Channels: chans[:1], Policy: notify.Policy{Attempts: 1}, RetryBase: time.Nanosecond}
		opts := alerting.DeliveryOptions{Lease: time.Hour}
		p := deliveringPipeline(t, st, d, opts)
		ctx := context.Background()

		id := deadClaim(t, p, wh, "expire")
		for _, po := range []alerting.PassOptions{{}, {Flush: true}} {
			r, err := p.DeliverPending(ctx, 200, po)
			if err != nil {
				t.Fatal(err)
			}
			if r.Busy != 1 || r.Sent != 0 || r.StillPending != 1 {
				t.Fatalf("pass %+v beside a live claim: %+v, want the alert skipped as held", po, r)
			}
		}
		if n := wh.count(id); n != 0 {
			t.Fatalf("alert %s sent %d times beside a live claim", id, n)
		}
		// An hour later (as far as claims go) the claim has expired.
		later := deliveringPipeline(t, st, d, opts)
		later.Now = func() time.Time { return time.Now().Add(opts.Lease + time.Minute) }
		r, err := later.DeliverPending(ctx, 200, alerting.PassOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if r.Busy != 0 || r.Sent != 1 || wh.count(id) != 1 {
			t.Fatalf("pass after expiry: %+v, accepted %d; want the alert taken over and sent once", r, wh.count(id))
		}

		forced := deadClaim(t, p, wh, "force")
		r, err = p.DeliverPending(ctx, 200, alerting.PassOptions{Flush: true, Force: true})
		if err != nil {
			t.Fatal(err)
		}
		if r.Busy != 0 || r.Sent != 1 || wh.count(forced) != 1 {
			t.Fatalf("forced pass: %+v, accepted %d; want the live claim taken over and the alert sent", r, wh.count(forced))
		}
		// Sent is final, forced or not.
		r, err = p.DeliverPending(ctx, 200, alerting.PassOptions{Flush: true, Force: true})
		if err != nil || r.Alerts != 0 || wh.count(forced) != 1 || wh.count(id) != 1 {
			t.Fatalf("pass after delivery: %+v %v", r, err)
		}
	})
}

// TestPassBudgetLeavesRestForNextPass: a pending-delivery pass against a
// hung receiver starts no alert once its budget is spent, and the next pass
// delivers what it left, once each.
func TestPassBudgetLeavesRestForNextPass(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func(t *testing.T) alerting.Store) {
		st := open(t)
		wh, _, chans := webhookAndPagerDuty(t)
		d := &notify.Dispatcher{Channels: chans[:1], Policy: notify.Policy{Attempts: 1}}
		// Sends end 300 ms after the claim (3/4 of the lease), later than
		// the 200 ms budget: a pass can start one alert at most.
		p := deliveringPipeline(t, st, d, alerting.DeliveryOptions{Lease: 400 * time.Millisecond, PassBudget: 200 * time.Millisecond})
		wh.set("fail", 0)
		batch := distinctAlerts("backlog", 4)
		out := mustProcess(t, p, batch)
		ids := newIDs(out)
		if len(ids) != 4 || out.Undelivered != 4 {
			t.Fatalf("%d alerts, %d pending; want 4 pending", len(ids), out.Undelivered)
		}
		wh.mu.Lock()
		before := wh.requests
		wh.mu.Unlock()

		wh.set("hang", 0)
		r, err := p.DeliverPending(context.Background(), 200, alerting.PassOptions{Flush: true})
		if err != nil {
			t.Fatal(err)
		}
		wh.mu.Lock()
		hung := wh.requests - before
		wh.mu.Unlock()
		if r.Alerts != 4 || r.StillPending != 4 || hung > 1 {
			t.Fatalf("pass against a hung receiver: %+v, %d requests; want 4 pending and at most 1 alert started", r, hung)
		}

		wh.set("ok", 0)
		p.Delivery.PassBudget = time.Minute
		r, err = p.DeliverPending(context.Background(), 200, alerting.PassOptions{Flush: true})
		if err != nil || r.Sent != 4 || r.StillPending != 0 {
			t.Fatalf("next pass: %+v %v, want the 4 alerts sent", r, err)
		}
		for _, id := range ids {
			if n := wh.count(id); n != 1 {
				t.Errorf("alert %s accepted %d times, want 1", id, n)
			}
		}
	})
}
