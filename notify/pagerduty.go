package notify

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/tripline/tripline/alert"
)

// PagerDuty limits: summary 1024 characters, dedup_key 255, and the whole
// event under 512 KB (Tripline keeps it under pdMaxEvent).
const (
	pdMaxSummary  = 1024
	pdMaxDedupKey = 255
	pdMaxEvent    = 500 << 10
	pdMaxValue    = 4096
)

// PagerDuty sends Events API v2 trigger events. dedup_key is the alert id, so
// a retry (or a second Tripline instance) updates the same incident rather
// than opening another. PagerDuty answers 202 with a JSON status.
type PagerDuty struct {
	redacted
	t   transport
	ep  endpoint
	key string
}

// NewPagerDuty validates the routing (integration) key and the events URL
// (empty: DefaultPagerDutyURL). client nil: a new http.Client.
func NewPagerDuty(routingKey, eventsURL string, client *http.Client) (*PagerDuty, error) {
	var problems SettingsError
	routingKey = strings.TrimSpace(routingKey)
	if routingKey == "" || len(routingKey) > 128 || strings.ContainsFunc(routingKey, func(r rune) bool { return r <= ' ' || r > '~' }) {
		problems.add("PagerDutyKey", errors.New("not a routing key (the 32-character Integration Key of an Events API v2 integration)"))
	}
	if eventsURL == "" {
		eventsURL = DefaultPagerDutyURL
	}
	ep, err := parseEndpoint(eventsURL)
	if err != nil {
		problems.add("PagerDutyURL", err)
	}
	if err := problems.err(); err != nil {
		return nil, err
	}
	return &PagerDuty{redacted: "PagerDuty", t: newTransport("pagerduty", client), ep: ep, key: routingKey}, nil
}

// Name is "pagerduty".
func (c *PagerDuty) Name() string { return "pagerduty" }

// Send triggers (or updates) the incident of the alert.
func (c *PagerDuty) Send(ctx context.Context, a *alert.Alert) error {
	body, err := pagerDutyAlert(c.key, a)
	return c.t.send(ctx, c.ep, body, err, nil)
}

// SendHeldBack triggers one event for the summary; its dedup_key is derived
// from the rule, the count and the minute.
func (c *PagerDuty) SendHeldBack(ctx context.Context, h alert.HeldBack) error {
	ev := pdEvent{
		RoutingKey:  c.key,
		EventAction: "trigger",
		DedupKey:    heldBackID(h, c.t.now()),
		Client:      "Tripline",
		Payload: pdPayload{
			Summary:  truncateBytes(oneLine(heldBackTitle(h)), pdMaxSummary),
			Source:   "tripline",
			Severity: pdSeverity(h.Rule.Severity),
			Class:    "held_back",
			CustomDetails: map[string]any{
				"rule_id": truncate(h.Rule.ID, pdMaxValue), "rule": truncate(h.Rule.Name, pdMaxValue), "held_back": h.Count,
			},
		},
	}
	body, err := marshal(ev)
	if err != nil {
		return fmt.Errorf("notify pagerduty: %w", err)
	}
	return c.t.post(ctx, c.ep, body, nil)
}

type (
	pdEvent struct {
		RoutingKey  string    `json:"routing_key"`
		EventAction string    `json:"event_action"`
		DedupKey    string    `json:"dedup_key"`
		Payload     pdPayload `json:"payload"`
		Links       []pdLink  `json:"links,omitempty"`
		Client      string    `json:"client,omitempty"`
	}
	pdPayload struct {
		Summary       string         `json:"summary"`
		Source        string         `json:"source"`
		Severity      string         `json:"severity"`
		Timestamp     string         `json:"timestamp,omitempty"`
		Component     string         `json:"component,omitempty"`
		Group         string         `json:"group,omitempty"`
		Class         string         `json:"class,omitempty"`
		CustomDetails map[string]any `json:"custom_details,omitempty"`
	}
	pdLink struct {
		Href string `json:"href"`
		Text string `json:"text"`
	}
)

// pdSeverity maps a rule severity onto PagerDuty's: low→info,
// medium→warning, high→error, critical→critical; anything else → warning.
func pdSeverity(s string) string {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "low":
		return "info"
	case "medium":
		return "warning"
	case "high":
		return "error"
	case "critical":
		return "critical"
	}
	return "warning"
}

// pdDedupKey is the alert id, or its SHA-256 when longer than PagerDuty allows.
func pdDedupKey(id string) string {
	if len(id) <= pdMaxDedupKey && id != "" {
		return id
	}
	sum := sha256.Sum256([]byte(id))
	return "sha256_" + hex.EncodeToString(sum[:])
}

// pagerDutyAlert renders the trigger event. Text is plain (PagerDuty renders
// none of it as markup); values are capped at pdMaxValue, the summary at 1024
// bytes, and the record itself (custom_details.event) is left out, with
// custom_details.truncated set, when the event would exceed pdMaxEvent.
func pagerDutyAlert(key string, a *alert.Alert) ([]byte, error) {
	v := newView(a)
	details := map[string]any{}
	truncated := false
	put := func(k, val string) {
		if val == "" {
			return
		}
		t := truncate(clean(val), pdMaxValue)
		truncated = truncated || t != clean(val)
		details[k] = t
	}
	for _, f := range v.facts() {
		put(strings.ReplaceAll(strings.ToLower(f.Label), " ", "_"), f.Value)
	}
	if v.ResourceID != "" {
		put("resource_id", v.ResourceID)
	}
	details["count"] = v.Count
	details["risk_score"] = v.RiskScore
	var steps []string
	for i, s := range v.Steps {
		if i == 10 {
			truncated = true
			break
		}
		steps = append(steps, truncate(clean(s), pdMaxValue))
	}
	if len(steps) > 0 {
		details["investigation_steps"] = steps
	}
	source := oneLine(orDefault(v.ResourceID, orDefault(v.ResourceName, "tripline")))
	ev := pdEvent{
		RoutingKey:  key,
		EventAction: "trigger",
		DedupKey:    pdDedupKey(a.ID),
		Client:      "Tripline",
		Payload: pdPayload{
			Summary:   truncateBytes(oneLine("["+strings.ToUpper(orDefault(v.Severity, "alert"))+"] "+v.title()), pdMaxSummary),
			Source:    truncate(source, 1024),
			Severity:  pdSeverity(v.Severity),
			Timestamp: formatTimeNano(v.EventTime),
			Component: truncate(oneLine(v.ResourceName), 255),
			Group:     truncate(oneLine(v.ResourceGroup), 255),
			Class:     truncate(oneLine(v.RuleName), 255),
		},
	}
	if v.PortalURL != "" {
		ev.Links = []pdLink{{Href: v.PortalURL, Text: "Resource in Azure portal"}}
	}
	if a.Event != nil {
		details["event"] = a.Event
	}
	for {
		if truncated {
			details["truncated"] = true
		}
		ev.Payload.CustomDetails = details
		out, err := marshal(ev)
		if err == nil && len(out) < pdMaxEvent {
			return out, nil
		}
		if _, ok := details["event"]; err != nil && !ok {
			return nil, err
		}
		if _, ok := details["event"]; !ok {
			return nil, errors.New("event does not fit the size limit")
		}
		delete(details, "event")
		truncated = true
	}
}

func formatTimeNano(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}
