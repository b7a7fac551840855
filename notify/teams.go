package notify

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/tripline/tripline/alert"
)

// Teams limits. Teams rejects messages above about 28 KB (HTTP 413); the
// card is kept under teamsMaxBytes of JSON, leaving room for the Workflows
// wrapper Teams adds.
const (
	teamsMaxBytes = 24 << 10
	teamsMaxSteps = 10
)

// Teams posts an Adaptive Card (version 1.4) to a Teams Workflows webhook
// ("When a Teams webhook request is received"), in the message envelope the
// Workflows template iterates over. It never sends the retired MessageCard.
// Workflows answers 202 Accepted.
type Teams struct {
	redacted
	t  transport
	ep endpoint
}

// NewTeams validates rawURL (https, or http to loopback). client nil: a new
// http.Client.
func NewTeams(rawURL string, client *http.Client) (*Teams, error) {
	ep, err := parseEndpoint(rawURL)
	if err != nil {
		return nil, fieldError("TeamsURL", err)
	}
	return &Teams{redacted: "Teams", t: newTransport("teams", client), ep: ep}, nil
}

// Name is "teams".
func (c *Teams) Name() string { return "teams" }

// Send posts the alert card.
func (c *Teams) Send(ctx context.Context, a *alert.Alert) error {
	body, err := teamsAlert(a)
	return c.t.send(ctx, c.ep, body, err, nil)
}

// SendHeldBack posts a one-line summary card.
func (c *Teams) SendHeldBack(ctx context.Context, h alert.HeldBack) error {
	body, err := teamsHeldBack(h)
	return c.t.send(ctx, c.ep, body, err, nil)
}

// Adaptive Card shapes (only what Tripline uses).
type (
	teamsMessage struct {
		Type        string            `json:"type"`
		Attachments []teamsAttachment `json:"attachments"`
	}
	teamsAttachment struct {
		ContentType string       `json:"contentType"`
		ContentURL  *string      `json:"contentUrl"`
		Content     adaptiveCard `json:"content"`
	}
	adaptiveCard struct {
		Schema  string         `json:"$schema"`
		Type    string         `json:"type"`
		Version string         `json:"version"`
		MSTeams map[string]any `json:"msteams,omitempty"`
		Body    []any          `json:"body"`
		Actions []cardAction   `json:"actions,omitempty"`
	}
	textBlock struct {
		Type     string `json:"type"`
		Text     string `json:"text"`
		Wrap     bool   `json:"wrap"`
		Weight   string `json:"weight,omitempty"`
		Size     string `json:"size,omitempty"`
		Color    string `json:"color,omitempty"`
		IsSubtle bool   `json:"isSubtle,omitempty"`
		Spacing  string `json:"spacing,omitempty"`
	}
	factSet struct {
		Type  string     `json:"type"`
		Facts []cardFact `json:"facts"`
	}
	cardFact struct {
		Title string `json:"title"`
		Value string `json:"value"`
	}
	cardAction struct {
		Type  string `json:"type"`
		Title string `json:"title"`
		URL   string `json:"url"`
	}
)

func newTeamsMessage(card adaptiveCard) teamsMessage {
	card.Schema = "http://adaptivecards.io/schemas/adaptive-card.json"
	card.Type = "AdaptiveCard"
	card.Version = "1.4"
	card.MSTeams = map[string]any{"width": "Full"}
	return teamsMessage{Type: "message", Attachments: []teamsAttachment{{
		ContentType: "application/vnd.microsoft.card.adaptive",
		ContentURL:  nil,
		Content:     card,
	}}}
}

// severityColor maps a rule severity to an Adaptive Card named colour.
func severityColor(sev string) string {
	switch sev {
	case "critical", "high":
		return "Attention"
	case "medium":
		return "Warning"
	}
	return "Default"
}

// teamsAlert renders the envelope. Each untrusted value is markdown-escaped
// and capped; if the whole message is still above teamsMaxBytes the caps are
// halved until it fits, and a visible note says the card was shortened.
func teamsAlert(a *alert.Alert) ([]byte, error) {
	v := newView(a)
	for limit := 2000; ; limit /= 2 {
		truncated := false
		cut := func(s string, max int) string {
			e := mdEscape(s)
			t := mdCut(e, max)
			if t != e {
				truncated = true
			}
			return t
		}
		body := []any{
			textBlock{Type: "TextBlock", Text: cut(v.title(), min(limit, 500)), Wrap: true, Weight: "Bolder", Size: "Large", Color: severityColor(v.Severity)},
			textBlock{Type: "TextBlock", Text: cut(fmt.Sprintf("%s · risk score %d · %d event(s)", strings.ToUpper(v.Severity), v.RiskScore, v.Count), 200), Wrap: true, IsSubtle: true, Spacing: "None"},
		}
		var facts []cardFact
		for _, f := range v.facts() {
			facts = append(facts, cardFact{Title: f.Label, Value: cut(f.Value, limit)})
		}
		body = append(body, factSet{Type: "FactSet", Facts: facts})
		if len(v.Steps) > 0 {
			body = append(body, textBlock{Type: "TextBlock", Text: "First investigation steps", Wrap: true, Weight: "Bolder"})
			for i, s := range v.Steps {
				if i == teamsMaxSteps || limit < 64 {
					truncated = true
					break
				}
				body = append(body, textBlock{Type: "TextBlock", Text: fmt.Sprintf("%d\\. %s", i+1, cut(noCodeSpans(s), limit)), Wrap: true, Spacing: "Small"})
			}
		}
		if truncated {
			body = append(body, textBlock{Type: "TextBlock", Text: "Some values were shortened to fit Teams' message size limit; the full alert is in Tripline under alert id " + mdEscape(truncate(v.AlertID, 200)) + "\\.", Wrap: true, IsSubtle: true, Size: "Small"})
		}
		card := adaptiveCard{Body: body}
		if v.PortalURL != "" {
			card.Actions = []cardAction{{Type: "Action.OpenUrl", Title: "Open in Azure portal", URL: v.PortalURL}}
		}
		out, err := marshal(newTeamsMessage(card))
		if err != nil {
			return nil, err
		}
		if len(out) <= teamsMaxBytes {
			return out, nil
		}
		if limit < 16 {
			return nil, errors.New("card does not fit the size limit")
		}
	}
}

func teamsHeldBack(h alert.HeldBack) ([]byte, error) {
	sev := strings.ToLower(h.Rule.Severity)
	card := adaptiveCard{Body: []any{
		textBlock{Type: "TextBlock", Text: mdCut(mdEscape(heldBackTitle(h)), 1000), Wrap: true, Weight: "Bolder", Size: "Medium", Color: severityColor(sev)},
		textBlock{Type: "TextBlock", Text: "They are recorded in Tripline; raise max\\_signals of the rule or review them there\\.", Wrap: true, IsSubtle: true},
	}}
	return marshal(newTeamsMessage(card))
}

// noCodeSpans drops the backticks of Markdown code spans in a rule's
// investigation steps: Adaptive Card markdown has no code span, so Teams
// would show them (escaped) as literal backticks around the field names.
func noCodeSpans(s string) string { return strings.ReplaceAll(s, "`", "") }
