package notify

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/tripline/tripline/alert"
)

// Standard Webhooks header names, and Tripline's event-type header.
const (
	HeaderWebhookID        = "webhook-id"
	HeaderWebhookTimestamp = "webhook-timestamp"
	HeaderWebhookSignature = "webhook-signature"
	// HeaderEvent says which document the body is: "alert" (an
	// alert.Alert) or "held_back" (an alert.HeldBack).
	HeaderEvent = "tripline-event"
)

// Webhook is the generic channel: it POSTs the alert document signed per
// Standard Webhooks v1 (HMAC-SHA256).
//
// The body is json.Marshal of the alert, the document `scan --json` prints,
// except that Deliveries is left out: delivery bookkeeping is Tripline's own
// and would make retries of one webhook-id differ. It is not truncated.
// Headers: webhook-id is the alert id (the receiver's idempotency key, the
// same on every retry), webhook-timestamp the unix seconds of the attempt,
// webhook-signature "v1,<base64 HMAC-SHA256 of id.timestamp.body>".
type Webhook struct {
	redacted
	t   transport
	ep  endpoint
	key []byte
}

// NewWebhook validates rawURL (https, or http to loopback) and secret
// (whsec_ followed by standard base64 of 24 to 64 bytes). The error is a
// *SettingsError naming the fields, never their values. client nil: a new
// http.Client.
func NewWebhook(rawURL, secret string, client *http.Client) (*Webhook, error) {
	var problems SettingsError
	ep, err := parseEndpoint(rawURL)
	if strings.TrimSpace(rawURL) == "" {
		problems.add("WebhookURL", errors.New("required with a signing secret"))
	} else if err != nil {
		problems.add("WebhookURL", err)
	}
	key, err := WebhookKey(secret)
	if err != nil {
		problems.add("WebhookSecret", err)
	}
	if err := problems.err(); err != nil {
		return nil, err
	}
	return &Webhook{redacted: "Webhook", t: newTransport("webhook", client), ep: ep, key: key}, nil
}

// WebhookKey checks a Standard Webhooks signing secret and returns its key
// bytes: the one check of a whsec_ secret. The error never contains it.
func WebhookKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, errors.New("required with the webhook URL (whsec_ followed by base64 of 24 to 64 random bytes)")
	}
	b64, ok := strings.CutPrefix(s, "whsec_")
	if !ok {
		return nil, errors.New("must start with whsec_ followed by base64 (Standard Webhooks)")
	}
	key, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return nil, errors.New("the part after whsec_ is not valid standard base64")
	}
	if len(key) < 24 || len(key) > 64 {
		return nil, fmt.Errorf("key is %d bytes; use 24 to 64 random bytes", len(key))
	}
	return key, nil
}

// Name is "webhook".
func (w *Webhook) Name() string { return "webhook" }

// Send posts the alert document.
func (w *Webhook) Send(ctx context.Context, a *alert.Alert) error {
	body, err := webhookBody(a)
	if err != nil {
		return fmt.Errorf("notify webhook: encode alert: %w", err)
	}
	return w.post(ctx, a.ID, "alert", body)
}

// SendHeldBack posts the alert.HeldBack document with tripline-event
// "held_back". Its webhook-id is derived from the rule, count and time of the
// call, so inline retries of one call share it.
func (w *Webhook) SendHeldBack(ctx context.Context, h alert.HeldBack) error {
	body, err := json.Marshal(h)
	if err != nil {
		return fmt.Errorf("notify webhook: encode summary: %w", err)
	}
	return w.post(ctx, heldBackID(h, w.t.now()), "held_back", body)
}

// webhookBody is the exact body Send posts.
func webhookBody(a *alert.Alert) ([]byte, error) {
	c := *a
	c.Deliveries = nil
	return json.Marshal(&c)
}

func (w *Webhook) post(ctx context.Context, id, event string, body []byte) error {
	ts := w.t.now().Unix()
	h := http.Header{}
	h.Set(HeaderWebhookID, id)
	h.Set(HeaderWebhookTimestamp, strconv.FormatInt(ts, 10))
	h.Set(HeaderWebhookSignature, sign(w.key, id, ts, body))
	h.Set(HeaderEvent, event)
	return w.t.post(ctx, w.ep, body, h)
}

// sign returns the Standard Webhooks v1 signature header value.
func sign(key []byte, id string, ts int64, body []byte) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(id))
	m.Write([]byte{'.'})
	m.Write([]byte(strconv.FormatInt(ts, 10)))
	m.Write([]byte{'.'})
	m.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// heldBackID is a stable-per-call id for a held-back summary: the rule, the
// count and the minute.
func heldBackID(h alert.HeldBack, now time.Time) string {
	sum := sha256.Sum256([]byte(fmt.Sprintf("%s|%d|%d", h.Rule.ID, h.Count, now.Unix()/60)))
	return "heldback_" + hex.EncodeToString(sum[:12])
}
