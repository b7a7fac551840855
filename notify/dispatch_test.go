package notify

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/tripline/tripline/alert"
)

// fourChannels starts one receiver per channel with the given faults.
func fourChannels(t *testing.T, faults map[string][]fault) ([]Channel, map[string]*receiver) {
	t.Helper()
	rcs := map[string]*receiver{}
	for _, n := range []string{"webhook", "teams", "slack", "pagerduty"} {
		rcs[n] = newReceiver(t, n, faults[n]...)
	}
	chans, err := FromSettings(Settings{
		WebhookURL: rcs["webhook"].URL(), WebhookSecret: whsec,
		TeamsURL: rcs["teams"].URL(), SlackURL: rcs["slack"].URL(),
		PagerDutyKey: routingKey, PagerDutyURL: rcs["pagerduty"].URL(),
	}, rcs["webhook"].srv.Client())
	if err != nil {
		t.Fatal(err)
	}
	return chans, rcs
}

func newDispatcher(chans []Channel, clock *fakeClock, s *sleeper, logs *logBuffer) *Dispatcher {
	p := s.policy(2)
	p.Timeout = 200 * time.Millisecond
	return &Dispatcher{Channels: chans, Policy: p, Horizon: 24 * time.Hour, Now: clock.Now, Logger: logs.Logger()}
}

func TestDispatcherRetriesThenDeliversOnce(t *testing.T) {
	chans, rcs := fourChannels(t, map[string][]fault{
		"webhook":   {status(500, ""), status(500, "")},
		"teams":     {status(429, "120")},
		"slack":     {hang, hang},
		"pagerduty": {reset, reset},
	})
	clock, s, logs := newClock(), &sleeper{}, &logBuffer{}
	d := newDispatcher(chans, clock, s, logs)
	a := kubeAlert()
	t0 := clock.Now()

	d.Prepare(a)
	if len(a.Deliveries) != 4 || !d.Due(a) {
		t.Fatalf("prepared %v due=%v", a.Deliveries, d.Due(a))
	}
	for n, del := range a.Deliveries {
		if *del != (alert.Delivery{State: alert.DeliveryPending, Since: t0}) {
			t.Errorf("%s prepared as %+v", n, *del)
		}
	}

	// Round 1: every channel fails; all stay pending with one attempt.
	if !d.Attempt(context.Background(), a) {
		t.Fatal("round 1 changed nothing")
	}
	want := map[string]struct {
		err  string
		next time.Duration
	}{
		"webhook":   {"notify webhook: HTTP 500", time.Minute}, // RetryBase 1m, no jitter
		"teams":     {"notify teams: HTTP 429 (retry after 2m0s)", 120 * time.Second},
		"slack":     {"notify slack: timeout", time.Minute},
		"pagerduty": {"notify pagerduty: ", time.Minute},
	}
	for n, w := range want {
		del := a.Deliveries[n]
		if del.State != alert.DeliveryPending || del.Attempts != 1 || !strings.HasPrefix(del.LastError, w.err) ||
			!del.LastAttempt.Equal(t0) || !del.NextAttempt.Equal(t0.Add(w.next)) || !del.SentAt.IsZero() {
			t.Errorf("%s after round 1: %+v", n, *del)
		}
	}
	if pe := a.Deliveries["pagerduty"].LastError; pe != "notify pagerduty: connection reset" && pe != "notify pagerduty: eof" {
		t.Errorf("pagerduty error %q", pe)
	}
	if !a.Pending() || d.Due(a) {
		t.Fatalf("pending=%v due=%v", a.Pending(), d.Due(a))
	}
	if d.Attempt(context.Background(), a) {
		t.Error("attempt before NextAttempt changed the alert")
	}
	for n, rc := range rcs {
		wantReqs := 2
		if n == "teams" {
			wantReqs = 1 // Retry-After beyond MaxDelay ends the inline attempts
		}
		if len(rc.Requests()) != wantReqs || rc.Delivered() != 0 {
			t.Errorf("%s: %d requests, %d delivered after round 1", n, len(rc.Requests()), rc.Delivered())
		}
	}

	// Round 2 (61s later): all but teams are due and succeed.
	clock.Advance(61 * time.Second)
	if !d.Due(a) || !d.Attempt(context.Background(), a) {
		t.Fatal("round 2 did nothing")
	}
	for n, del := range a.Deliveries {
		if n == "teams" {
			if del.State != alert.DeliveryPending || del.Attempts != 1 {
				t.Errorf("teams sent before its Retry-After: %+v", *del)
			}
			continue
		}
		if del.State != alert.DeliverySent || del.Attempts != 2 || !del.SentAt.Equal(t0.Add(61*time.Second)) || !del.NextAttempt.IsZero() {
			t.Errorf("%s after round 2: %+v", n, *del)
		}
	}

	// Round 3 (after Retry-After): teams.
	clock.Advance(65 * time.Second)
	if !d.Attempt(context.Background(), a) || a.Deliveries["teams"].State != alert.DeliverySent || a.Pending() {
		t.Fatalf("round 3: %+v", *a.Deliveries["teams"])
	}

	// Nothing is ever sent twice, even when asked again or re-prepared.
	clock.Advance(48 * time.Hour)
	d.Prepare(a)
	if d.Due(a) || d.Attempt(context.Background(), a) {
		t.Error("sent alert is due again")
	}
	for n, rc := range rcs {
		if rc.Delivered() != 1 {
			t.Errorf("%s delivered %d times", n, rc.Delivered())
		}
	}
	assertNoSecret(t, "logs", logs.String())
	for n, del := range a.Deliveries {
		assertNoSecret(t, n+" last_error", del.LastError)
	}
	var sent int
	for _, r := range logs.Records(t) {
		if r["msg"] == "notification sent" {
			sent++
		}
	}
	if sent != 4 {
		t.Errorf("%d 'notification sent' records", sent)
	}
}

func TestDispatcherHorizonFails(t *testing.T) {
	var faults []fault
	for range 20 {
		faults = append(faults, status(503, ""))
	}
	rc := newReceiver(t, "webhook", faults...)
	w := newTestWebhook(t, rc)
	clock, s, logs := newClock(), &sleeper{}, &logBuffer{}
	d := newDispatcher([]Channel{w}, clock, s, logs)
	d.Horizon = 90 * time.Minute
	a := kubeAlert()
	d.Prepare(a)
	t0 := clock.Now()

	rounds := 0
	for a.Pending() && rounds < 20 {
		del := a.Deliveries["webhook"]
		if !del.NextAttempt.IsZero() {
			clock.Advance(del.NextAttempt.Sub(clock.Now()))
		}
		d.Attempt(context.Background(), a)
		rounds++
	}
	del := a.Deliveries["webhook"]
	// Backoff 1m, 2m, 4m, 8m, 16m, 32m, 64m → clamped to the horizon.
	if del.State != alert.DeliveryFailed || rounds != 8 || del.Attempts != 8 || del.LastError != "notify webhook: HTTP 503" ||
		!del.LastAttempt.Equal(t0.Add(90*time.Minute)) || !del.NextAttempt.IsZero() {
		t.Fatalf("after %d rounds: %+v (since %v)", rounds, *del, t0)
	}
	if d.Due(a) || d.Attempt(context.Background(), a) {
		t.Error("failed delivery is retried")
	}
	var errs []map[string]any
	for _, r := range logs.Records(t) {
		if r["level"] == "ERROR" {
			errs = append(errs, r)
		}
	}
	if len(errs) != 1 {
		t.Fatalf("%d ERROR records: %s", len(errs), logs.String())
	}
	e := errs[0]
	if e["alert_id"] != "alt-9709262861e74051c82f6ee8492bea3d" || e["rule_id"] != "b76ccbde-88d9-47f1-b077-b38e61cbbe2e" ||
		e["rule"] != "Azure AKS Kubernetes Events Deleted (kube-audit)" || e["channel"] != "webhook" ||
		e["attempts"] != float64(8) || e["error"] != "notify webhook: HTTP 503" || !strings.HasPrefix(e["msg"].(string), "NOTIFICATION FAILED") {
		t.Errorf("error record %v", e)
	}
	assertNoSecret(t, "logs", logs.String())
	if got := len(rc.Requests()); got != 16 {
		t.Errorf("%d requests (8 rounds × 2 inline attempts)", got)
	}
}

func TestDispatcherPermanentErrorStaysPendingUntilHorizon(t *testing.T) {
	rc := newReceiver(t, "slack", status(404, ""), status(404, ""))
	ch, _ := NewSlack(rc.URL(), rc.srv.Client())
	clock, s, logs := newClock(), &sleeper{}, &logBuffer{}
	d := newDispatcher([]Channel{ch}, clock, s, logs)
	a := kubeAlert()
	d.Prepare(a)
	d.Attempt(context.Background(), a)
	del := a.Deliveries["slack"]
	if del.State != alert.DeliveryPending || del.LastError != "notify slack: HTTP 404" || len(rc.Requests()) != 1 {
		t.Fatalf("%+v, %d requests", *del, len(rc.Requests()))
	}
	// The URL is fixed on the receiver's side; the next round delivers.
	clock.Advance(time.Hour)
	d.Attempt(context.Background(), a) // second 404
	if d.Attempt(context.Background(), a) || del.State != alert.DeliveryPending || del.Attempts != 2 {
		t.Fatalf("after round 2: %+v", *del)
	}
	clock.Advance(time.Hour)
	d.Attempt(context.Background(), a)
	if del.State != alert.DeliverySent || rc.Delivered() != 1 {
		t.Fatalf("%+v delivered %d", *del, rc.Delivered())
	}
}

func TestDispatcherUnconfiguredChannel(t *testing.T) {
	clock, logs := newClock(), &logBuffer{}
	d := &Dispatcher{Now: clock.Now, Logger: logs.Logger(), Horizon: time.Hour}
	a := kubeAlert()
	a.Deliveries = map[string]*alert.Delivery{"slack": {State: alert.DeliveryPending, Since: clock.Now()}}
	if d.Due(a) || d.Attempt(context.Background(), a) {
		t.Error("unconfigured channel acted on before the horizon")
	}
	clock.Advance(time.Hour)
	if !d.Due(a) || !d.Attempt(context.Background(), a) || a.Deliveries["slack"].State != alert.DeliveryFailed ||
		a.Deliveries["slack"].LastError != "channel no longer configured" {
		t.Fatalf("%+v", *a.Deliveries["slack"])
	}
	if !strings.Contains(logs.String(), `"level":"ERROR"`) {
		t.Error("no ERROR record")
	}
}

func TestDispatcherNoChannels(t *testing.T) {
	d := &Dispatcher{}
	a := kubeAlert()
	d.Prepare(a)
	if a.Deliveries != nil || d.Due(a) || d.Attempt(context.Background(), a) || a.Pending() {
		t.Errorf("deliveries %v", a.Deliveries)
	}
}

func TestSecretsNeverPrinted(t *testing.T) {
	chans, _ := fourChannels(t, nil)
	logs := &logBuffer{}
	l := logs.Logger()
	for _, ch := range chans {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q"} {
			assertNoSecret(t, "fmt "+verb, fmt.Sprintf(verb, ch))
		}
		l.Info("channel", "ch", ch, "any", slog.AnyValue(ch))
	}
	assertNoSecret(t, "fmt slice", fmt.Sprintf("%+v %#v", chans, chans))
	assertNoSecret(t, "slog", logs.String())
	if !strings.Contains(fmt.Sprint(chans), "notify.Webhook") {
		t.Errorf("channel renders as %v", chans)
	}
}
