package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
	"github.com/tripline/tripline/alert"
)

func newTestWebhook(t *testing.T, rc *receiver) *Webhook {
	t.Helper()
	w, err := NewWebhook(rc.URL(), whsec, rc.srv.Client())
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func TestWebhookSignatureVerifiesWithOfficialLibrary(t *testing.T) {
	rc := newReceiver(t, "webhook")
	w := newTestWebhook(t, rc)
	a := kubeAlert()
	a.Deliveries = map[string]*alert.Delivery{"webhook": {State: alert.DeliveryPending, Attempts: 3}}
	before := time.Now().Unix()
	if err := w.Send(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	reqs := rc.Requests()
	if len(reqs) != 1 {
		t.Fatalf("%d requests", len(reqs))
	}
	r := reqs[0]
	wh, err := standardwebhooks.NewWebhook(whsec)
	if err != nil {
		t.Fatal(err)
	}
	if err := wh.Verify(r.Body, r.Header); err != nil {
		t.Fatalf("official library rejects the signature: %v", err)
	}
	// Tampering is detected.
	if err := wh.Verify(append(bytes.Clone(r.Body), ' '), r.Header); !errors.Is(err, standardwebhooks.ErrNoMatchingSignature) {
		t.Errorf("tampered body: %v", err)
	}
	// The signature is the library's own.
	ts, _ := strconv.ParseInt(r.Header.Get("webhook-timestamp"), 10, 64)
	if ts < before || ts > time.Now().Unix() {
		t.Errorf("webhook-timestamp %d not the attempt time", ts)
	}
	want, _ := wh.Sign(a.ID, time.Unix(ts, 0), r.Body)
	if got := r.Header.Get("webhook-signature"); got != want {
		t.Errorf("signature %q, library says %q", got, want)
	}
	if got := r.Header.Get("webhook-id"); got != a.ID {
		t.Errorf("webhook-id %q", got)
	}
	if got := r.Header.Get(HeaderEvent); got != "alert" {
		t.Errorf("tripline-event %q", got)
	}
	// The body is exactly the alert document without its delivery state.
	c := *a
	c.Deliveries = nil
	exact, _ := json.Marshal(&c)
	if !bytes.Equal(r.Body, exact) {
		t.Errorf("body is not json.Marshal of the alert:\n%s\n%s", r.Body, exact)
	}
	var back alert.Alert
	if err := json.Unmarshal(r.Body, &back); err != nil || back.ID != a.ID || back.Deliveries != nil {
		t.Errorf("round trip: %v %+v", err, back.Deliveries)
	}
}

func TestWebhookRetryKeepsIDAndResigns(t *testing.T) {
	rc := newReceiver(t, "webhook", status(http.StatusServiceUnavailable, "1"))
	w := newTestWebhook(t, rc)
	var s sleeper
	if err := Send(context.Background(), w, kubeAlert(), s.policy(3)); err != nil {
		t.Fatal(err)
	}
	reqs := rc.Requests()
	if len(reqs) != 2 || rc.Delivered() != 1 {
		t.Fatalf("%d requests, %d delivered", len(reqs), rc.Delivered())
	}
	wh, _ := standardwebhooks.NewWebhook(whsec)
	for i, r := range reqs {
		if r.Header.Get("webhook-id") != "alt-9709262861e74051c82f6ee8492bea3d" {
			t.Errorf("request %d id %q", i, r.Header.Get("webhook-id"))
		}
		if err := wh.Verify(r.Body, r.Header); err != nil {
			t.Errorf("request %d: %v", i, err)
		}
	}
	if got := s.Waits(); len(got) != 1 || got[0] != time.Second {
		t.Errorf("waits %v, want [1s] from Retry-After", got)
	}
}

func TestWebhookHeldBack(t *testing.T) {
	rc := newReceiver(t, "webhook")
	w := newTestWebhook(t, rc)
	h := alert.HeldBack{Rule: kubeAlert().Rule, Count: 412}
	if err := w.SendHeldBack(context.Background(), h); err != nil {
		t.Fatal(err)
	}
	r := rc.Requests()[0]
	wh, _ := standardwebhooks.NewWebhook(whsec)
	if err := wh.Verify(r.Body, r.Header); err != nil {
		t.Fatal(err)
	}
	var got alert.HeldBack
	if err := json.Unmarshal(r.Body, &got); err != nil || got.Count != 412 || got.Rule.ID != h.Rule.ID {
		t.Errorf("body %s: %v", r.Body, err)
	}
	if r.Header.Get(HeaderEvent) != "held_back" || len(r.Header.Get("webhook-id")) != len("heldback_")+24 {
		t.Errorf("headers %v", r.Header)
	}
}
