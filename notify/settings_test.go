package notify

import (
	"net/http"
	"strings"
	"testing"
)

func TestFromSettings(t *testing.T) {
	hook := "https://hooks.example.com/services/" + urlToken + "?sig=" + sigToken
	for _, tc := range []struct {
		name  string
		s     Settings
		names string
		err   string
	}{
		{"none", Settings{}, "", ""},
		{"all", Settings{WebhookURL: hook, WebhookSecret: whsec, TeamsURL: hook, SlackURL: hook, PagerDutyKey: routingKey}, "webhook,teams,slack,pagerduty", ""},
		{"http loopback", Settings{SlackURL: "http://127.0.0.1:8080/" + urlToken, TeamsURL: "http://localhost/" + urlToken, WebhookURL: "http://[::1]:9/" + urlToken, WebhookSecret: whsec}, "webhook,teams,slack", ""},
		{"pagerduty default url", Settings{PagerDutyKey: routingKey}, "pagerduty", ""},
		{"http remote", Settings{SlackURL: "http://hooks.example.com/" + urlToken}, "", "SlackURL: http is only allowed to loopback addresses; use https"},
		{"bad scheme", Settings{TeamsURL: "ftp://x.example/" + urlToken}, "", "TeamsURL: scheme not allowed; use https"},
		{"relative", Settings{TeamsURL: urlToken}, "", "TeamsURL: not an absolute URL"},
		{"unparsable", Settings{SlackURL: "https://x.example/%zz" + urlToken}, "", "SlackURL: not an absolute URL"},
		{"webhook without secret", Settings{WebhookURL: hook}, "", "WebhookSecret: required with the webhook URL (whsec_ followed by base64 of 24 to 64 random bytes)"},
		{"secret without url", Settings{WebhookSecret: whsec}, "", "WebhookURL: required with a signing secret"},
		{"secret without prefix", Settings{WebhookURL: hook, WebhookSecret: secretBytes}, "", "WebhookSecret: must start with whsec_ followed by base64 (Standard Webhooks)"},
		{"secret not base64", Settings{WebhookURL: hook, WebhookSecret: "whsec_" + secretBytes + "!"}, "", "WebhookSecret: the part after whsec_ is not valid standard base64"},
		{"secret too short", Settings{WebhookURL: hook, WebhookSecret: "whsec_c2hvcnQ="}, "", "WebhookSecret: key is 5 bytes; use 24 to 64 random bytes"},
		{"bad routing key", Settings{PagerDutyKey: "has space " + routingKey}, "", "PagerDutyKey: not a routing key (the 32-character Integration Key of an Events API v2 integration)"},
		{"bad events url", Settings{PagerDutyKey: routingKey, PagerDutyURL: "http://events.example/" + urlToken}, "", "PagerDutyURL: http is only allowed to loopback addresses; use https"},
		{"all problems at once", Settings{SlackURL: "x" + urlToken, TeamsURL: "y" + sigToken}, "", "TeamsURL: not an absolute URL\nSlackURL: not an absolute URL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			chans, err := FromSettings(tc.s, nil)
			if tc.err != "" {
				if err == nil || err.Error() != tc.err {
					t.Fatalf("error %v, want %q", err, tc.err)
				}
				assertNoSecret(t, "error", err.Error())
				if chans != nil {
					t.Error("channels returned with an error")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, c := range chans {
				names = append(names, c.Name())
			}
			if got := strings.Join(names, ","); got != tc.names {
				t.Errorf("channels %q, want %q", got, tc.names)
			}
		})
	}
}

func TestFromSettingsDoesNotTouchCallerClient(t *testing.T) {
	c := &http.Client{}
	if _, err := FromSettings(Settings{SlackURL: "https://hooks.example.com/x"}, c); err != nil {
		t.Fatal(err)
	}
	if c.CheckRedirect != nil {
		t.Error("caller's client modified")
	}
}
