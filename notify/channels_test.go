package notify

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/tripline/tripline/alert"
)

const injection = "<!channel> <@U123> [x](http://evil) <http://evil|click> **b** & ![i](http://e/i.png)"

// hostileAlert carries injection strings and 10 KB names in every untrusted
// field a channel shows, and 60 long investigation steps.
func hostileAlert() *alert.Alert {
	a := kubeAlert()
	big := injection + " " + strings.Repeat("A<>&[]()*_", 1024) // 10 KB+
	a.Rule.Name = "Rule " + big
	a.ID = "al_" + strings.Repeat("9", 40)
	log := a.Event["azure"].(map[string]any)["platformlogs"].(map[string]any)["properties"].(map[string]any)["log"].(map[string]any)
	log["user"].(map[string]any)["username"] = big
	log["objectRef"].(map[string]any)["name"] = big
	log["objectRef"].(map[string]any)["namespace"] = injection
	res := a.Event["azure"].(map[string]any)["resource"].(map[string]any)
	res["name"] = big
	res["group"] = big
	res["id"] = "/subscriptions/x/<http://evil|portal>"
	a.Event["source"] = map[string]any{"ip": injection}
	a.Rule.Steps = nil
	for range 60 {
		a.Rule.Steps = append(a.Rule.Steps, "Step "+big[:5000])
	}
	for range 30 {
		a.Rule.Techniques = append(a.Rule.Techniques, alert.Technique{ID: "T0000", Name: big})
	}
	return a
}

func sendOne(t *testing.T, ch Channel, rc *receiver, a *alert.Alert) []byte {
	t.Helper()
	if err := ch.Send(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	reqs := rc.Requests()
	if len(reqs) != 1 || rc.Delivered() != 1 {
		t.Fatalf("%d requests, %d delivered", len(reqs), rc.Delivered())
	}
	return reqs[0].Body
}

// --- Teams ---

type teamsEnvelope struct {
	Type        string `json:"type"`
	Attachments []struct {
		ContentType string          `json:"contentType"`
		ContentURL  json.RawMessage `json:"contentUrl"`
		Content     struct {
			Schema  string            `json:"$schema"`
			Type    string            `json:"type"`
			Version string            `json:"version"`
			Body    []json.RawMessage `json:"body"`
			Actions []map[string]any  `json:"actions"`
		} `json:"content"`
	} `json:"attachments"`
}

// checkTeams validates the Workflows envelope and returns every markdown
// string of the card (TextBlock texts, fact titles and values).
func checkTeams(t *testing.T, body []byte) (teamsEnvelope, []string) {
	t.Helper()
	if len(body) > teamsMaxBytes {
		t.Errorf("teams body %d bytes > %d", len(body), teamsMaxBytes)
	}
	var env teamsEnvelope
	if err := json.Unmarshal(body, &env); err != nil {
		t.Fatal(err)
	}
	if env.Type != "message" || len(env.Attachments) != 1 {
		t.Fatalf("envelope %+v", env)
	}
	at := env.Attachments[0]
	if at.ContentType != "application/vnd.microsoft.card.adaptive" || string(at.ContentURL) != "null" {
		t.Errorf("attachment contentType %q contentUrl %s", at.ContentType, at.ContentURL)
	}
	c := at.Content
	if c.Schema != "http://adaptivecards.io/schemas/adaptive-card.json" || c.Type != "AdaptiveCard" || c.Version != "1.4" || len(c.Body) == 0 {
		t.Errorf("card $schema %q type %q version %q body %d", c.Schema, c.Type, c.Version, len(c.Body))
	}
	if strings.Contains(string(body), "MessageCard") {
		t.Error("MessageCard sent")
	}
	var texts []string
	for _, raw := range c.Body {
		var el struct {
			Type  string `json:"type"`
			Text  string `json:"text"`
			Facts []struct{ Title, Value string }
		}
		if err := json.Unmarshal(raw, &el); err != nil {
			t.Fatal(err)
		}
		switch el.Type {
		case "TextBlock":
			texts = append(texts, el.Text)
		case "FactSet":
			if len(el.Facts) == 0 {
				t.Error("empty FactSet")
			}
			for _, f := range el.Facts {
				texts = append(texts, f.Title, f.Value)
			}
		default:
			t.Errorf("unexpected element %q", el.Type)
		}
	}
	return env, texts
}

func TestTeamsEnvelope(t *testing.T) {
	rc := newReceiver(t, "teams")
	ch, err := NewTeams(rc.URL(), rc.srv.Client())
	if err != nil {
		t.Fatal(err)
	}
	env, texts := checkTeams(t, sendOne(t, ch, rc, kubeAlert()))
	if want := `Azure AKS Kubernetes Events Deleted \(kube-audit\): delete events payments/payments-api-6f9d8c7b5d-qx2lm.183a4f2c9b7e1d05 on AKS-PROD-WEU-01 by dana.okafor@contoso-example.com`; texts[0] != want {
		t.Errorf("title %q", texts[0])
	}
	joined := strings.Join(texts, "\n")
	for _, want := range []string{"Who", "dana.okafor@contoso-example.com \\(Kubernetes user, object id 4e8a2c6f-1b3d-4a5e-9f0c-7b2d1e3a5c7f\\)", "MITRE ATT&CK", "T1070 Indicator Removal", "Alert id", "alt-9709262861e74051c82f6ee8492bea3d", "1\\. Identify the caller", "2025-05-06T09:19:02Z"} {
		if !strings.Contains(joined, want) {
			t.Errorf("card lacks %q", want)
		}
	}
	acts := env.Attachments[0].Content.Actions
	if len(acts) != 1 || acts[0]["type"] != "Action.OpenUrl" || acts[0]["url"] != newView(kubeAlert()).PortalURL {
		t.Errorf("actions %v", acts)
	}
	if strings.Contains(joined, "shortened") {
		t.Error("normal alert marked as shortened")
	}
	// The rule's steps quote field names as Markdown code spans, which
	// Adaptive Cards cannot show: the backticks must not reach the card.
	if !strings.Contains(strings.Join(kubeAlert().Rule.Steps, ""), "`") {
		t.Fatal("fixture steps hold no code span; the check below would prove nothing")
	}
	if strings.Contains(joined, "`") {
		t.Errorf("card shows Markdown backticks literally:\n%s", joined)
	}
}

func TestTeamsHostile(t *testing.T) {
	rc := newReceiver(t, "teams")
	ch, _ := NewTeams(rc.URL(), rc.srv.Client())
	env, texts := checkTeams(t, sendOne(t, ch, rc, hostileAlert()))
	for _, s := range texts {
		s = strings.ReplaceAll(s, truncMark, "") // ours; ends the string, so "[truncated]" is no link
		// No markdown link, image or autolink can form: every [ ] ( ) < >
		// of the record is escaped.
		for i := 0; i < len(s); i++ {
			if strings.IndexByte("[]()<>*_", s[i]) >= 0 && !escaped(s, i) {
				t.Fatalf("unescaped %q at %d in %q", s[i], i, s[:min(len(s), 200)])
			}
		}
	}
	joined := strings.Join(texts, "\n")
	if !strings.Contains(joined, `\<!channel\> \<@U123\> \[x\]\(http://evil\)`) {
		t.Error("injection text not shown escaped")
	}
	if !strings.Contains(joined, truncMark) || !strings.Contains(joined, "shortened to fit") {
		t.Error("no visible truncation marker")
	}
	if n := len(env.Attachments[0].Content.Actions); n != 0 {
		t.Errorf("a crafted resource id produced %d actions", n)
	}
}

// escaped reports whether s[i] is preceded by an odd number of backslashes.
func escaped(s string, i int) bool {
	n := 0
	for j := i - 1; j >= 0 && s[j] == '\\'; j-- {
		n++
	}
	return n%2 == 1
}

// --- Slack ---

type slackEnvelope struct {
	Text   string `json:"text"`
	Blocks []struct {
		Type string `json:"type"`
		Text *struct {
			Type     string `json:"type"`
			Text     string `json:"text"`
			Verbatim bool   `json:"verbatim"`
		} `json:"text"`
		Fields []struct {
			Type     string `json:"type"`
			Text     string `json:"text"`
			Verbatim bool   `json:"verbatim"`
		} `json:"fields"`
		Elements []map[string]any `json:"elements"`
	} `json:"blocks"`
}

func checkSlack(t *testing.T, body []byte) slackEnvelope {
	t.Helper()
	var m slackEnvelope
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatal(err)
	}
	runes := utf8.RuneCountInString
	if m.Text == "" || runes(m.Text) > slackMaxFallback {
		t.Errorf("fallback text %d chars", runes(m.Text))
	}
	if n := len(m.Blocks); n == 0 || n > 50 {
		t.Errorf("%d blocks", n)
	}
	total := runes(m.Text)
	for i, b := range m.Blocks {
		switch b.Type {
		case "header":
			if b.Text == nil || b.Text.Type != "plain_text" || runes(b.Text.Text) > 150 || b.Text.Text == "" {
				t.Errorf("block %d: bad header %+v", i, b.Text)
			}
			total += runes(b.Text.Text)
		case "section":
			if b.Text == nil && len(b.Fields) == 0 {
				t.Errorf("block %d: empty section", i)
			}
			if b.Text != nil {
				if b.Text.Type != "mrkdwn" || !b.Text.Verbatim || runes(b.Text.Text) > 3000 {
					t.Errorf("block %d: section text %s verbatim=%v %d chars", i, b.Text.Type, b.Text.Verbatim, runes(b.Text.Text))
				}
				total += runes(b.Text.Text)
			}
			if len(b.Fields) > 10 {
				t.Errorf("block %d: %d fields", i, len(b.Fields))
			}
			for _, f := range b.Fields {
				if f.Type != "mrkdwn" || !f.Verbatim || runes(f.Text) > 2000 {
					t.Errorf("block %d: field %s verbatim=%v %d chars", i, f.Type, f.Verbatim, runes(f.Text))
				}
				total += runes(f.Text)
			}
		case "actions":
			for _, e := range b.Elements {
				if e["type"] != "button" || !strings.HasPrefix(e["url"].(string), "https://portal.azure.com/#") {
					t.Errorf("block %d: element %v", i, e)
				}
			}
		case "context":
			if len(b.Elements) == 0 || len(b.Elements) > 10 {
				t.Errorf("block %d: %d context elements", i, len(b.Elements))
			}
			for _, e := range b.Elements {
				if e["type"] != "mrkdwn" || runes(e["text"].(string)) > 2000 {
					t.Errorf("block %d: element %v", i, e)
				}
				total += runes(e["text"].(string))
			}
		default:
			t.Errorf("block %d: unexpected type %q", i, b.Type)
		}
	}
	if total > slackMaxTotal {
		t.Errorf("%d characters in total", total)
	}
	return m
}

func TestSlackEnvelope(t *testing.T) {
	rc := newReceiver(t, "slack")
	ch, err := NewSlack(rc.URL(), rc.srv.Client())
	if err != nil {
		t.Fatal(err)
	}
	m := checkSlack(t, sendOne(t, ch, rc, kubeAlert()))
	if want := "[MEDIUM] Azure AKS Kubernetes Events Deleted (kube-audit): delete events payments/payments-api-6f9d8c7b5d-qx2lm.183a4f2c9b7e1d05 on AKS-PROD-WEU-01 by dana.okafor@contoso-example.com"; m.Text != want {
		t.Errorf("text %q", m.Text)
	}
	var types []string
	for _, b := range m.Blocks {
		types = append(types, b.Type)
	}
	if got := strings.Join(types, ","); got != "header,section,section,section,section,actions,context" {
		t.Errorf("blocks %s", got)
	}
	if got := m.Blocks[0].Text.Text; got != "[MEDIUM] Azure AKS Kubernetes Events Deleted (kube-audit)" {
		t.Errorf("header %q", got)
	}
	if got := m.Blocks[2].Fields[1].Text; got != "*Who*\ndana.okafor@contoso-example.com (Kubernetes user, object id 4e8a2c6f-1b3d-4a5e-9f0c-7b2d1e3a5c7f)" {
		t.Errorf("who field %q", got)
	}
	if got := m.Blocks[4].Text.Text; !strings.HasPrefix(got, "*First investigation steps*\n1. Identify the caller in `azure.platformlogs.properties.log.user.username` (an Entra user, a service account `system:serviceaccount:&lt;namespace&gt;:&lt;name&gt;`") {
		t.Errorf("steps %q", got)
	}
}

func TestSlackHostile(t *testing.T) {
	rc := newReceiver(t, "slack")
	ch, _ := NewSlack(rc.URL(), rc.srv.Client())
	body := sendOne(t, ch, rc, hostileAlert())
	m := checkSlack(t, body)
	// Tripline itself writes no <...> control sequences, so after escaping the
	// whole message contains no '<' or '>' at all: no mention, no link.
	if i := strings.IndexAny(string(body), "<>"); i >= 0 {
		t.Fatalf("raw < or > at %d: %q", i, string(body)[max(0, i-40):i+40])
	}
	if !strings.Contains(string(body), "&lt;!channel&gt; &lt;@U123&gt; [x](http://evil) &lt;http://evil|click&gt;") {
		t.Error("injection not shown escaped")
	}
	ctx := m.Blocks[len(m.Blocks)-1].Elements[0]["text"].(string)
	if !strings.Contains(ctx, "shortened") || !strings.Contains(string(body), truncMark) {
		t.Errorf("no visible truncation marker: %q", ctx)
	}
	for _, b := range m.Blocks {
		if b.Type == "actions" {
			t.Error("crafted resource id produced a link button")
		}
	}
}

func TestSlackManyFieldsSplit(t *testing.T) {
	m := checkSlack(t, mustBytes(t, slackAlert, kubeAlert()))
	if n := len(m.Blocks[2].Fields) + len(m.Blocks[3].Fields); n != len(newView(kubeAlert()).facts()) || len(m.Blocks[2].Fields) != 10 {
		t.Errorf("fields %d+%d", len(m.Blocks[2].Fields), len(m.Blocks[3].Fields))
	}
}

func mustBytes(t *testing.T, f func(*alert.Alert) ([]byte, error), a *alert.Alert) []byte {
	t.Helper()
	b, err := f(a)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// --- PagerDuty ---

type pdEnvelope struct {
	RoutingKey  string `json:"routing_key"`
	EventAction string `json:"event_action"`
	DedupKey    string `json:"dedup_key"`
	Payload     struct {
		Summary       string         `json:"summary"`
		Source        string         `json:"source"`
		Severity      string         `json:"severity"`
		Timestamp     string         `json:"timestamp"`
		Component     string         `json:"component"`
		Group         string         `json:"group"`
		Class         string         `json:"class"`
		CustomDetails map[string]any `json:"custom_details"`
	} `json:"payload"`
	Links []struct{ Href, Text string } `json:"links"`
}

func checkPD(t *testing.T, body []byte) pdEnvelope {
	t.Helper()
	if len(body) >= 512<<10 {
		t.Errorf("event %d bytes", len(body))
	}
	var ev pdEnvelope
	if err := json.Unmarshal(body, &ev); err != nil {
		t.Fatal(err)
	}
	p := ev.Payload
	if ev.RoutingKey != routingKey || ev.EventAction != "trigger" || ev.DedupKey == "" || len(ev.DedupKey) > 255 {
		t.Errorf("event routing key ok=%v action %q dedup %q", ev.RoutingKey == routingKey, ev.EventAction, ev.DedupKey)
	}
	if p.Summary == "" || len(p.Summary) > 1024 || p.Source == "" || strings.ContainsAny(p.Summary, "\n\r") {
		t.Errorf("summary %d bytes, source %q", len(p.Summary), p.Source)
	}
	switch p.Severity {
	case "critical", "error", "warning", "info":
	default:
		t.Errorf("severity %q", p.Severity)
	}
	return ev
}

func TestPagerDutyEvent(t *testing.T) {
	rc := newReceiver(t, "pagerduty")
	ch, err := NewPagerDuty(routingKey, rc.URL(), rc.srv.Client())
	if err != nil {
		t.Fatal(err)
	}
	ev := checkPD(t, sendOne(t, ch, rc, activityAlert()))
	if ev.DedupKey != "alt-89e7c5c2a6256e0e2c717221b62de8cd" || ev.Payload.Severity != "warning" || ev.Payload.Timestamp != "2025-05-06T09:16:48.5521904Z" {
		t.Errorf("dedup %q severity %q timestamp %q", ev.DedupKey, ev.Payload.Severity, ev.Payload.Timestamp)
	}
	if ev.Payload.Summary != "[MEDIUM] Azure Kubernetes Events Deleted: MICROSOFT.KUBERNETES/CONNECTEDCLUSTERS/EVENTS.K8S.IO/EVENTS/DELETE on ARC-EDGE-STORE-042 by app 5d9e1f3a-7b2c-4d6e-8f0a-1c3e5a7b9d2f" {
		t.Errorf("summary %q", ev.Payload.Summary)
	}
	if ev.Payload.Source != "/SUBSCRIPTIONS/3F2B9C41-7D0E-4A55-9B1C-2E8F6A0D4C17/RESOURCEGROUPS/RG-EDGE/PROVIDERS/MICROSOFT.KUBERNETES/CONNECTEDCLUSTERS/ARC-EDGE-STORE-042" {
		t.Errorf("source %q", ev.Payload.Source)
	}
	if len(ev.Links) != 1 || ev.Links[0].Href != newView(activityAlert()).PortalURL {
		t.Errorf("links %v", ev.Links)
	}
	cd := ev.Payload.CustomDetails
	if cd["who"] != "service principal (ServicePrincipal, app id 5d9e1f3a-7b2c-4d6e-8f0a-1c3e5a7b9d2f, object id c2f4a6e8-b0d1-4c3e-9a5b-7d9f1e2c4a6b)" || cd["alert_id"] != "alt-89e7c5c2a6256e0e2c717221b62de8cd" || cd["event"] == nil {
		t.Errorf("custom_details %v", cd)
	}
	if _, ok := cd["truncated"]; ok {
		t.Error("truncated set on a small alert")
	}
}

func TestPagerDutySeverityMap(t *testing.T) {
	for in, want := range map[string]string{"low": "info", "medium": "warning", "high": "error", "critical": "critical", "High": "error", "": "warning", "weird": "warning"} {
		if got := pdSeverity(in); got != want {
			t.Errorf("%q → %q, want %q", in, got, want)
		}
	}
}

func TestPagerDutyHostileAndHuge(t *testing.T) {
	a := hostileAlert()
	a.Event["blob"] = strings.Repeat("x", 600<<10) // the record alone exceeds 512 KB
	ev := checkPD(t, mustBytes(t, func(a *alert.Alert) ([]byte, error) { return pagerDutyAlert(routingKey, a) }, a))
	if !strings.HasSuffix(ev.Payload.Summary, truncMark) {
		t.Error("summary not visibly truncated")
	}
	if _, ok := ev.Payload.CustomDetails["event"]; ok {
		t.Error("oversized record kept")
	}
	if ev.Payload.CustomDetails["truncated"] != true {
		t.Error("truncated flag missing")
	}
	if len(ev.Links) != 0 {
		t.Error("crafted resource id produced a link")
	}
	long := strings.Repeat("z", 300)
	if k := pdDedupKey(long); len(k) > 255 || k != pdDedupKey(long) || k == pdDedupKey(long+"1") {
		t.Errorf("dedup key for long id: %q", k)
	}
}

func TestHeldBackAllChannels(t *testing.T) {
	h := alert.HeldBack{Rule: kubeAlert().Rule, Count: 412}
	want := "412 more alerts of rule Azure AKS Kubernetes Events Deleted (kube-audit) were recorded but not notified (max_signals reached)"
	chans := map[string]*receiver{}
	var list []Channel
	for _, name := range []string{"teams", "slack", "pagerduty"} {
		rc := newReceiver(t, name)
		chans[name] = rc
		var ch Channel
		switch name {
		case "teams":
			ch, _ = NewTeams(rc.URL(), rc.srv.Client())
		case "slack":
			ch, _ = NewSlack(rc.URL(), rc.srv.Client())
		case "pagerduty":
			ch, _ = NewPagerDuty(routingKey, rc.URL(), rc.srv.Client())
		}
		list = append(list, ch)
	}
	d := &Dispatcher{Channels: list}
	if err := d.SendHeldBack(context.Background(), h); err != nil {
		t.Fatal(err)
	}
	_, texts := checkTeams(t, chans["teams"].Requests()[0].Body)
	if texts[0] != mdEscape(want) {
		t.Errorf("teams %q", texts[0])
	}
	if m := checkSlack(t, chans["slack"].Requests()[0].Body); m.Text != want {
		t.Errorf("slack %q", m.Text)
	}
	ev := checkPD(t, chans["pagerduty"].Requests()[0].Body)
	if ev.Payload.Summary != want || ev.Payload.CustomDetails["held_back"] != float64(412) || !strings.HasPrefix(ev.DedupKey, "heldback_") {
		t.Errorf("pagerduty %+v", ev)
	}
}
