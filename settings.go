package main

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/kelseyhightower/envconfig"
	"github.com/tripline/tripline/internal/httpsurl"
	"github.com/tripline/tripline/notify"
)

// settingsPrefix is the envconfig prefix of every Tripline setting.
const settingsPrefix = "TRIPLINE"

// Config is every setting Tripline reads from the environment (app settings in
// Azure, local.settings.json under Core Tools, the shell for `scan`). The tags
// are the single source: documentation and the infra consistency test are
// generated from them.
type Config struct {
	// Store
	CosmosEndpoint    string        `envconfig:"COSMOS_ENDPOINT" desc:"Cosmos DB account endpoint (https://<account>.documents.azure.com:443/). Empty: the embedded file store."`
	CosmosDatabase    string        `envconfig:"COSMOS_DATABASE" default:"tripline" desc:"Cosmos DB database name."`
	CosmosContainer   string        `envconfig:"COSMOS_CONTAINER" default:"alerts" desc:"Cosmos DB container name (partition key /id, TTL on)."`
	CosmosKey         Secret        `envconfig:"COSMOS_KEY" desc:"Cosmos DB account key, for local emulators only; when set, a missing database and container are created. In Azure leave empty: the managed identity is used."`
	CosmosRetryBudget time.Duration `envconfig:"COSMOS_RETRY_BUDGET" default:"30s" desc:"How long one Cosmos DB call may spend retrying throttling (429, 449; the service's x-ms-retry-after-ms is honoured up to 5 s a wait) and the read failures azcosmos retries before the invocation fails (and the host retries it). A write that may have been applied (408, 5xx, lost connection) is never replayed: the invocation fails at once."`
	ClientID          string        `envconfig:"AZURE_CLIENT_ID" desc:"Client id of the user-assigned managed identity; read as AZURE_CLIENT_ID (the name azidentity uses). Empty: DefaultAzureCredential picks the identity."`
	StateFile         string        `envconfig:"STATE_FILE" desc:"Embedded store file. Default: $XDG_STATE_HOME/tripline/state.db (or ~/.local/state/tripline/state.db). Another process using it waits up to 10 s for its lock, then fails saying it is busy; a damaged file fails every run with an error naming it: move it aside to start an empty one."`
	AlertTTL          time.Duration `envconfig:"ALERT_TTL" default:"720h" desc:"How long alert documents are kept after their last change (Cosmos DB TTL)."`

	// Rules
	RulesDir       string `envconfig:"RULES_DIR" desc:"Directory tree of rule files (*.toml) loaded after the built-in pack; a rule with a built-in's rule_id replaces it, rules Tripline cannot run are skipped with a reason. In Azure: packaged with make package RULES=DIR."`
	ExceptionsFile string `envconfig:"EXCEPTIONS_FILE" desc:"TOML file of per-rule exceptions (KQL queries); a record matching one is dropped. In Azure: packaged with make package EXCEPTIONS=FILE."`
	OverridesFile  string `envconfig:"OVERRIDES_FILE" desc:"TOML file of per-rule overrides: disable a rule, or change its severity, risk_score, max_signals or alert_suppression, by rule_id. In Azure: packaged with make package OVERRIDES=FILE."`

	// Notification channels
	WebhookURL          Secret        `envconfig:"WEBHOOK_URL" desc:"Generic webhook URL (https; http only to loopback). Empty: channel off."`
	WebhookSecret       Secret        `envconfig:"WEBHOOK_SECRET" desc:"Standard Webhooks signing secret, whsec_ followed by base64. Required with TRIPLINE_WEBHOOK_URL."`
	TeamsWebhookURL     Secret        `envconfig:"TEAMS_WEBHOOK_URL" desc:"Microsoft Teams Workflows webhook URL. Empty: channel off."`
	SlackWebhookURL     Secret        `envconfig:"SLACK_WEBHOOK_URL" desc:"Slack incoming webhook URL. Empty: channel off."`
	PagerDutyRoutingKey Secret        `envconfig:"PAGERDUTY_ROUTING_KEY" desc:"PagerDuty Events API v2 integration (routing) key. Empty: channel off."`
	PagerDutyEventsURL  string        `envconfig:"PAGERDUTY_EVENTS_URL" default:"https://events.pagerduty.com/v2/enqueue" desc:"PagerDuty Events API v2 endpoint."`
	DeliveryRetryBase   time.Duration `envconfig:"DELIVERY_RETRY_BASE" default:"1m" desc:"First wait before a failed notification is retried by the timer; it doubles per attempt up to an hour, never earlier than the receiver's Retry-After."`
	DeliveryHorizon     time.Duration `envconfig:"DELIVERY_HORIZON" default:"24h" desc:"How long a pending notification is retried before it is marked failed."`
}

// loadConfig reads the environment and validates the result. The error names
// the setting and how to fix it, never a secret's value.
func loadConfig() (Config, error) {
	var c Config
	// A setting that is present but empty means "not set" (an app setting
	// left blank), so that its default applies.
	for _, kv := range os.Environ() {
		k, v, _ := strings.Cut(kv, "=")
		if (strings.HasPrefix(k, settingsPrefix+"_") || k == "AZURE_CLIENT_ID") && strings.TrimSpace(v) == "" {
			os.Unsetenv(k)
		}
	}
	if err := envconfig.Process(settingsPrefix, &c); err != nil {
		var pe *envconfig.ParseError
		if errors.As(err, &pe) {
			return c, fmt.Errorf("setting %s: cannot parse as %s (e.g. 30m, 24h)", pe.KeyName, pe.TypeName)
		}
		return c, fmt.Errorf("settings: %w", err)
	}
	return c, c.validate()
}

// validate checks values and cross-field rules.
func (c Config) validate() error {
	var problems []string
	for _, s := range []struct {
		name string
		val  Secret
	}{
		{"TRIPLINE_COSMOS_KEY", c.CosmosKey}, {"TRIPLINE_WEBHOOK_URL", c.WebhookURL}, {"TRIPLINE_WEBHOOK_SECRET", c.WebhookSecret},
		{"TRIPLINE_TEAMS_WEBHOOK_URL", c.TeamsWebhookURL}, {"TRIPLINE_SLACK_WEBHOOK_URL", c.SlackWebhookURL},
		{"TRIPLINE_PAGERDUTY_ROUTING_KEY", c.PagerDutyRoutingKey},
	} {
		if strings.HasPrefix(string(s.val), "@Microsoft.KeyVault(") {
			problems = append(problems, s.name+": the Key Vault reference was not resolved by the platform (the secret is missing, or the app's identity lacks the Key Vault Secrets User role, or keyVaultReferenceIdentity is not set)")
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("invalid settings:\n  %s", strings.Join(problems, "\n  "))
	}
	if c.CosmosEndpoint != "" {
		if _, err := httpsurl.Parse(c.CosmosEndpoint); err != nil {
			problems = append(problems, "TRIPLINE_COSMOS_ENDPOINT: "+err.Error())
		}
	}
	// The channels' own checks (notify), named by the settings here.
	if _, err := notify.FromSettings(c.channels(), nil); err != nil {
		var se *notify.SettingsError
		if !errors.As(err, &se) {
			return err
		}
		for _, p := range se.Problems {
			problems = append(problems, channelSettings[p.Field]+": "+p.Err.Error())
		}
	}
	if c.AlertTTL < time.Hour {
		problems = append(problems, "TRIPLINE_ALERT_TTL: must be at least 1h")
	}
	if c.CosmosRetryBudget <= 0 {
		problems = append(problems, "TRIPLINE_COSMOS_RETRY_BUDGET: must be positive")
	}
	if c.DeliveryRetryBase <= 0 {
		problems = append(problems, "TRIPLINE_DELIVERY_RETRY_BASE: must be positive")
	}
	if c.DeliveryHorizon <= 0 {
		problems = append(problems, "TRIPLINE_DELIVERY_HORIZON: must be positive")
	}
	if len(problems) > 0 {
		return fmt.Errorf("invalid settings:\n  %s", strings.Join(problems, "\n  "))
	}
	return nil
}

// channels is the channel part of the settings, as notify takes it.
func (c Config) channels() notify.Settings {
	return notify.Settings{
		WebhookURL:    string(c.WebhookURL),
		WebhookSecret: string(c.WebhookSecret),
		TeamsURL:      string(c.TeamsWebhookURL),
		SlackURL:      string(c.SlackWebhookURL),
		PagerDutyKey:  string(c.PagerDutyRoutingKey),
		PagerDutyURL:  c.PagerDutyEventsURL,
	}
}

// channelSettings names the setting behind each field of notify.Settings.
var channelSettings = map[string]string{
	"WebhookURL":    "TRIPLINE_WEBHOOK_URL",
	"WebhookSecret": "TRIPLINE_WEBHOOK_SECRET",
	"TeamsURL":      "TRIPLINE_TEAMS_WEBHOOK_URL",
	"SlackURL":      "TRIPLINE_SLACK_WEBHOOK_URL",
	"PagerDutyKey":  "TRIPLINE_PAGERDUTY_ROUTING_KEY",
	"PagerDutyURL":  "TRIPLINE_PAGERDUTY_EVENTS_URL",
}

// Secret is a setting whose value must never be printed.
type Secret string

// String hides the value.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return "[redacted]"
}

// GoString hides the value from %#v too.
func (s Secret) GoString() string { return s.String() }

// Decode lets envconfig fill a Secret without echoing it in errors.
func (s *Secret) Decode(v string) error { *s = Secret(strings.TrimSpace(v)); return nil }
