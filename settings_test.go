package main

import (
	"bytes"
	"flag"
	"os"
	"strings"
	"testing"
	"text/tabwriter"

	"github.com/kelseyhightower/envconfig"
)

var updateSettings = flag.Bool("update-settings", false, "rewrite docs/settings.md")

// TestSettingsDoc keeps docs/settings.md generated from the Config tags: the
// tags are the single source of every setting's name, default and meaning.
func TestSettingsDoc(t *testing.T) {
	var buf bytes.Buffer
	buf.WriteString("# Settings\n\n**Who this is for:** you configure Tripline, on a laptop or as app settings in Azure.\n\n")
	buf.WriteString("Generated from the `Config` struct in settings.go (`go test . -run TestSettingsDoc -update-settings`).\n")
	buf.WriteString("Every setting is an environment variable (an app setting in Azure, `Values` in local.settings.json).\n")
	buf.WriteString("Secrets are Key Vault references in Azure and are never printed. A bad value stops start-up with a message\n")
	buf.WriteString("naming the setting. The Functions host reads three more, for the triggers: `EventHubName`, `EventHubConsumerGroup`\n")
	buf.WriteString("and `NotificationRetrySchedule` (NCRONTAB, default `0 */5 * * * *`: every 5 minutes); see local.settings.sample.json.\n\n")
	tw := tabwriter.NewWriter(&buf, 0, 0, 1, ' ', tabwriter.Debug)
	tmpl := "| Setting | Default | Secret | Meaning |\n|---|---|---|---|\n{{range .}}| `{{usage_key .}}` | {{usage_default .}} | {{if eq (usage_type .) \"Secret\"}}yes{{end}} | {{usage_description .}} |\n{{end}}"
	var c Config
	if err := envconfig.Usagef(settingsPrefix, &c, tw, tmpl); err != nil {
		t.Fatal(err)
	}
	tw.Flush()
	got := strings.ReplaceAll(buf.String(), "`TRIPLINE_AZURE_CLIENT_ID`", "`AZURE_CLIENT_ID`")
	const golden = "docs/settings.md"
	if *updateSettings {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run with -update)", err)
	}
	if string(want) != got {
		t.Errorf("docs/settings.md is out of date with Config; run go test . -run TestSettingsDoc -update-settings\n--- got\n%s", got)
	}
}

func TestValidateRejectsBadChannelURLsWithoutEchoingThem(t *testing.T) {
	c := Config{AlertTTL: 720 * 3600e9, DeliveryHorizon: 3600e9, DeliveryRetryBase: 60e9, CosmosRetryBudget: 30e9, PagerDutyEventsURL: "https://events.pagerduty.com/v2/enqueue"}
	c.SlackWebhookURL = "http://hooks.example.com/services/T000/B000/SECRETTOKEN"
	c.WebhookURL = "https://example.com/hook?token=SECRETTOKEN"
	err := c.validate()
	if err == nil {
		t.Fatal("http to a non-loopback host was accepted")
	}
	msg := err.Error()
	for _, want := range []string{"TRIPLINE_SLACK_WEBHOOK_URL: http is only allowed to loopback", "TRIPLINE_WEBHOOK_SECRET: required"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q lacks %q", msg, want)
		}
	}
	if strings.Contains(msg, "SECRETTOKEN") {
		t.Errorf("error echoes a secret: %q", msg)
	}
	c.SlackWebhookURL = "http://127.0.0.1:8080/hook"
	c.WebhookSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	if err := c.validate(); err != nil {
		t.Errorf("loopback http and a whsec_ secret rejected: %v", err)
	}
	if s := Secret("x").String(); s != "[redacted]" {
		t.Errorf("Secret prints %q", s)
	}
}

func TestLoadConfigEmptyMeansDefaultAndUnresolvedKeyVault(t *testing.T) {
	t.Setenv("TRIPLINE_ALERT_TTL", "")
	t.Setenv("TRIPLINE_COSMOS_DATABASE", " ")
	c, err := loadConfig()
	if err != nil {
		t.Fatalf("empty settings must take their defaults: %v", err)
	}
	if c.AlertTTL.Hours() != 720 || c.CosmosDatabase != "tripline" {
		t.Errorf("defaults not applied: ttl=%s db=%q", c.AlertTTL, c.CosmosDatabase)
	}
	t.Setenv("TRIPLINE_SLACK_WEBHOOK_URL", "@Microsoft.KeyVault(SecretUri=https://kv.vault.azure.net/secrets/slack-url/)")
	_, err = loadConfig()
	if err == nil || !strings.Contains(err.Error(), "TRIPLINE_SLACK_WEBHOOK_URL: the Key Vault reference was not resolved") {
		t.Fatalf("unresolved Key Vault reference: err = %v", err)
	}
}
