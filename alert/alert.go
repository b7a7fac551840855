// Package alert holds the plain types that the pipeline, the stores and the
// notification channels exchange: an Alert, the rule summary it carries, and
// its per-channel delivery state.
//
// The package does no I/O and has no behaviour beyond small helpers; it exists
// so that function, store and notify can share one vocabulary without
// importing each other.
package alert

import "time"

// State says what a match did to the alert it belongs to, as `scan` reports it.
type State string

const (
	// StateNew: the match opened a new alert (a new suppression window).
	StateNew State = "new"
	// StateSuppressed: the match joined an alert whose window was already
	// open; the count grew, no new notification is sent.
	StateSuppressed State = "suppressed"
	// StateDuplicate: every record of the match had already been counted
	// (redelivery, or the same ARM operation seen through Event Grid and the
	// Activity Log); nothing changed.
	StateDuplicate State = "duplicate"
)

// Alert is one alert: one rule, one suppression group, one window.
// It is the JSON document `scan --json` prints and the generic webhook sends.
type Alert struct {
	// ID is stable for the life of the alert: the Standard Webhooks
	// webhook-id and the PagerDuty dedup_key.
	ID    string   `json:"id"`
	Rule  RuleInfo `json:"rule"`
	State State    `json:"state"`
	// Count is the number of distinct records counted into this alert.
	Count int `json:"count"`
	// FirstSeen and LastSeen are event times (not arrival times).
	FirstSeen time.Time `json:"first_seen"`
	LastSeen  time.Time `json:"last_seen"`
	// WindowEnd is when the suppression window closes (event time).
	WindowEnd time.Time `json:"window_end"`
	// Group maps each group-by field of the rule to the record's value; an
	// empty map means the alert is keyed by record identity alone.
	Group map[string]string `json:"group"`
	// Source names the path of the first record: activitylog, eventgrid or
	// kube-audit.
	Source string `json:"source"`
	// Event is the normalized (ECS) first record of the alert, as stored:
	// at most 64 KiB of JSON, and nil in a closed alert whose notifications
	// are all done (the store keeps events only where they are still used).
	Event map[string]any `json:"event"`
	// Truncated is true when Event was cut to fit the store: its largest
	// strings were shortened (each ends with a "…[truncated …]" note) or,
	// failing that, fields were dropped.
	Truncated bool `json:"truncated,omitempty"`
	// Deliveries is the per-channel notification state, keyed by channel name.
	// Empty when no channel is configured.
	Deliveries map[string]*Delivery `json:"deliveries,omitempty"`
}

// RuleInfo is the part of a rule an alert carries, so that a notification can
// be rendered later (by the retry pass) without the rule file at hand.
type RuleInfo struct {
	ID          string      `json:"id"`
	Name        string      `json:"name"`
	Severity    string      `json:"severity"`
	RiskScore   int         `json:"risk_score"`
	Description string      `json:"description,omitempty"`
	Techniques  []Technique `json:"techniques,omitempty"`
	// Steps are the first investigation steps of the rule's guide.
	Steps []string `json:"steps,omitempty"`
}

// Technique is one MITRE ATT&CK tactic, technique or sub-technique.
type Technique struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	Reference string `json:"reference,omitempty"`
}

// DeliveryState is where one channel stands for one alert.
type DeliveryState string

const (
	DeliveryPending DeliveryState = "pending"
	DeliverySent    DeliveryState = "sent"
	DeliveryFailed  DeliveryState = "failed"
)

// Delivery is the notification state of one alert on one channel.
type Delivery struct {
	State     DeliveryState `json:"state"`
	Attempts  int           `json:"attempts"`
	LastError string        `json:"last_error,omitempty"`
	// LastAttempt and NextAttempt are wall-clock times.
	LastAttempt time.Time `json:"last_attempt,omitzero"`
	NextAttempt time.Time `json:"next_attempt,omitzero"`
	SentAt      time.Time `json:"sent_at,omitzero"`
	// Since is when the channel was first marked pending (wall clock); the
	// delivery horizon is counted from it.
	Since time.Time `json:"since,omitzero"`
}

// Pending reports whether any channel still waits for a delivery.
func (a *Alert) Pending() bool {
	for _, d := range a.Deliveries {
		if d != nil && d.State == DeliveryPending {
			return true
		}
	}
	return false
}

// HeldBack summarises alerts recorded beyond a rule's max_signals in one
// invocation: they are durable but not notified one by one.
type HeldBack struct {
	Rule  RuleInfo `json:"rule"`
	Count int      `json:"count"`
}
