package notify

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/tripline/tripline/alert"
)

// Slack Block Kit limits (api.slack.com reference/block-kit) and the total
// Tripline keeps under: Slack documents ~40,000 characters but rejects
// messages far shorter with msg_blocks_too_long (about 13,000).
const (
	slackMaxBlocks      = 50
	slackMaxSectionText = 3000
	slackMaxHeader      = 150
	slackMaxFields      = 10
	slackMaxFieldText   = 2000
	slackMaxFallback    = 3000
	slackMaxTotal       = 12000
	slackMaxSteps       = 10
)

// Slack posts to a Slack incoming webhook: a top-level text fallback (what
// notifications show) and Block Kit blocks. Slack answers 200 "ok".
type Slack struct {
	redacted
	t  transport
	ep endpoint
}

// NewSlack validates rawURL (https, or http to loopback). client nil: a new
// http.Client.
func NewSlack(rawURL string, client *http.Client) (*Slack, error) {
	ep, err := parseEndpoint(rawURL)
	if err != nil {
		return nil, fieldError("SlackURL", err)
	}
	return &Slack{redacted: "Slack", t: newTransport("slack", client), ep: ep}, nil
}

// Name is "slack".
func (c *Slack) Name() string { return "slack" }

// Send posts the alert message.
func (c *Slack) Send(ctx context.Context, a *alert.Alert) error {
	body, err := slackAlert(a)
	return c.t.send(ctx, c.ep, body, err, nil)
}

// SendHeldBack posts a one-line summary.
func (c *Slack) SendHeldBack(ctx context.Context, h alert.HeldBack) error {
	body, err := slackHeldBack(h)
	return c.t.send(ctx, c.ep, body, err, nil)
}

// Block Kit shapes (only what Tripline uses).
type (
	slackMessage struct {
		Text   string       `json:"text"`
		Blocks []slackBlock `json:"blocks"`
	}
	slackBlock struct {
		Type     string      `json:"type"`
		Text     *slackText  `json:"text,omitempty"`
		Fields   []slackText `json:"fields,omitempty"`
		Elements []any       `json:"elements,omitempty"`
	}
	slackText struct {
		Type     string `json:"type"`
		Text     string `json:"text"`
		Verbatim bool   `json:"verbatim,omitempty"`
		Emoji    *bool  `json:"emoji,omitempty"`
	}
	slackButton struct {
		Type string     `json:"type"`
		Text *slackText `json:"text"`
		URL  string     `json:"url"`
	}
)

func mrkdwn(s string) slackText { return slackText{Type: "mrkdwn", Text: s, Verbatim: true} }

func plain(s string) *slackText {
	f := false
	return &slackText{Type: "plain_text", Text: s, Emoji: &f}
}

// slackAlert renders the message. Untrusted values are entity-escaped and
// capped per Block Kit limits; when the total is above slackMaxTotal the caps
// are halved until it fits, and a context line says the message was
// shortened.
func slackAlert(a *alert.Alert) ([]byte, error) {
	v := newView(a)
	for limit := slackMaxFieldText; ; limit /= 2 {
		truncated := false
		cut := func(s string, max int) string {
			e := slackEscape(s)
			t := slackCut(e, max)
			if t != e {
				truncated = true
			}
			return t
		}
		sevTag := "[" + strings.ToUpper(orDefault(v.Severity, "alert")) + "] "
		msg := slackMessage{
			Text: cut(sevTag+oneLine(v.title()), min(slackMaxFallback, limit)),
		}
		msg.Blocks = append(msg.Blocks, slackBlock{Type: "header", Text: plain(cut(sevTag+oneLine(v.RuleName), slackMaxHeader))})
		msg.Blocks = append(msg.Blocks, slackBlock{Type: "section", Text: &slackText{Type: "mrkdwn", Verbatim: true,
			Text: "*" + cut(oneLine(v.title()), min(slackMaxSectionText-2, limit)) + "*"}})

		var fields []slackText
		for _, f := range v.facts() {
			label := "*" + slackEscape(f.Label) + "*\n"
			fields = append(fields, mrkdwn(label+cut(f.Value, min(slackMaxFieldText, limit)-len(label))))
		}
		for len(fields) > 0 {
			n := min(len(fields), slackMaxFields)
			msg.Blocks = append(msg.Blocks, slackBlock{Type: "section", Fields: fields[:n]})
			fields = fields[n:]
		}

		if len(v.Steps) > 0 {
			var b strings.Builder
			b.WriteString("*First investigation steps*")
			for i, s := range v.Steps {
				if i == slackMaxSteps {
					truncated = true
					break
				}
				fmt.Fprintf(&b, "\n%d. %s", i+1, cut(oneLine(s), limit))
			}
			text := b.String()
			if utf8.RuneCountInString(text) > slackMaxSectionText {
				text, truncated = slackCut(text, slackMaxSectionText), true
			}
			msg.Blocks = append(msg.Blocks, slackBlock{Type: "section", Text: &slackText{Type: "mrkdwn", Text: text, Verbatim: true}})
		}
		if v.PortalURL != "" {
			msg.Blocks = append(msg.Blocks, slackBlock{Type: "actions", Elements: []any{slackButton{
				Type: "button", Text: plain("Open in Azure portal"), URL: v.PortalURL,
			}}})
		}
		ctxText := "Tripline alert id " + cut(v.AlertID, 300)
		if truncated {
			ctxText += " · some values were shortened to fit Slack's limits"
		}
		msg.Blocks = append(msg.Blocks, slackBlock{Type: "context", Elements: []any{mrkdwn(ctxText)}})
		if len(msg.Blocks) > slackMaxBlocks {
			msg.Blocks = append(msg.Blocks[:slackMaxBlocks-1], msg.Blocks[len(msg.Blocks)-1])
		}
		if slackChars(msg) <= slackMaxTotal || limit < 16 {
			if limit < 16 && slackChars(msg) > slackMaxTotal {
				return nil, errors.New("message does not fit the size limit")
			}
			return marshal(msg)
		}
	}
}

// slackChars counts the characters of every text in msg.
func slackChars(m slackMessage) int {
	n := utf8.RuneCountInString(m.Text)
	count := func(t *slackText) {
		if t != nil {
			n += utf8.RuneCountInString(t.Text)
		}
	}
	for _, b := range m.Blocks {
		count(b.Text)
		for i := range b.Fields {
			count(&b.Fields[i])
		}
		for _, e := range b.Elements {
			switch x := e.(type) {
			case slackText:
				count(&x)
			case slackButton:
				count(x.Text)
			}
		}
	}
	return n
}

func slackHeldBack(h alert.HeldBack) ([]byte, error) {
	t := slackCut(slackEscape(heldBackTitle(h)), slackMaxSectionText)
	return marshal(slackMessage{
		Text: t,
		Blocks: []slackBlock{
			{Type: "section", Text: &slackText{Type: "mrkdwn", Text: t, Verbatim: true}},
			{Type: "context", Elements: []any{mrkdwn("They are recorded in Tripline; raise max_signals of the rule or review them there.")}},
		},
	})
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}
