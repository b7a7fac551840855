package notify

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/tripline/tripline/alert"
	"github.com/tripline/tripline/internal/httpsurl"
)

// Channel is one notification destination.
//
// Send and SendHeldBack make exactly one HTTP request, bounded by ctx; they
// do not retry (Send and Dispatcher do). They return nil on a 2xx answer, a
// *StatusError on any other answer, a *TransportError when no answer came,
// and another error when the message cannot be built. Errors never contain
// the destination URL or a key. Implementations are safe for concurrent use.
type Channel interface {
	// Name is the channel's key in alert.Alert.Deliveries: webhook, teams,
	// slack or pagerduty.
	Name() string
	// Send notifies one alert. The alert is only read.
	Send(ctx context.Context, a *alert.Alert) error
	// SendHeldBack notifies that h.Count alerts of h.Rule were recorded but
	// not notified one by one (max_signals).
	SendHeldBack(ctx context.Context, h alert.HeldBack) error
}

// DefaultPagerDutyURL is the Events API v2 endpoint used when
// Settings.PagerDutyURL is empty.
const DefaultPagerDutyURL = "https://events.pagerduty.com/v2/enqueue"

// Settings are the channel settings. An empty URL (or key) turns its channel
// off.
type Settings struct {
	WebhookURL    string
	WebhookSecret string // whsec_ followed by base64 of the key bytes
	TeamsURL      string
	SlackURL      string
	PagerDutyKey  string
	PagerDutyURL  string // empty: DefaultPagerDutyURL
}

// FromSettings builds the configured channels in a fixed order (webhook,
// teams, slack, pagerduty); none configured gives an empty slice.
//
// URLs must be https, or http to a loopback address. client is shared by all
// channels; nil means a new http.Client with the default transport (never
// http.DefaultClient). Redirects are not followed: a 3xx answer is a failure
// (Standard Webhooks), so a signed body never goes elsewhere.
//
// All problems are reported together in a *SettingsError; messages name the
// field of Settings and the fix, never the URL, key or secret.
func FromSettings(s Settings, client *http.Client) ([]Channel, error) {
	var chans []Channel
	var problems SettingsError
	if s.WebhookURL != "" || s.WebhookSecret != "" {
		w, err := NewWebhook(s.WebhookURL, s.WebhookSecret, client)
		if err != nil {
			problems.merge(err)
		} else {
			chans = append(chans, w)
		}
	}
	if s.TeamsURL != "" {
		t, err := NewTeams(s.TeamsURL, client)
		if err != nil {
			problems.merge(err)
		} else {
			chans = append(chans, t)
		}
	}
	if s.SlackURL != "" {
		sl, err := NewSlack(s.SlackURL, client)
		if err != nil {
			problems.merge(err)
		} else {
			chans = append(chans, sl)
		}
	}
	if s.PagerDutyKey != "" {
		p, err := NewPagerDuty(s.PagerDutyKey, s.PagerDutyURL, client)
		if err != nil {
			problems.merge(err)
		} else {
			chans = append(chans, p)
		}
	}
	if err := problems.err(); err != nil {
		return nil, err
	}
	return chans, nil
}

// endpoint is a destination URL that carries credentials. It prints as
// [redacted] through fmt and slog.
type endpoint struct{ u *url.URL }

func (endpoint) String() string               { return "[redacted]" }
func (endpoint) GoString() string             { return "[redacted]" }
func (endpoint) LogValue() slog.Value         { return slog.StringValue("[redacted]") }
func (endpoint) MarshalText() ([]byte, error) { return []byte("[redacted]"), nil }

// parseEndpoint accepts https URLs, and http only to loopback addresses
// (httpsurl, the one URL check). The error never contains the URL.
func parseEndpoint(raw string) (endpoint, error) {
	u, err := httpsurl.Parse(raw)
	if err != nil {
		return endpoint{}, err
	}
	return endpoint{u}, nil
}

// redacted gives a channel that holds a secret (a URL carrying a token, a
// routing key) printing methods that show only its type name, so that %v,
// %#v and slog never reveal the secret. Channels embed it.
type redacted string

func (r redacted) String() string             { return "notify." + string(r) }
func (r redacted) GoString() string           { return "notify." + string(r) + "{[redacted]}" }
func (r redacted) LogValue() slog.Value       { return slog.StringValue(r.String()) }
func (r redacted) Format(f fmt.State, _ rune) { fmt.Fprint(f, r.String()) }

// send posts a rendered body, or reports why it could not be rendered.
func (t transport) send(ctx context.Context, ep endpoint, body []byte, renderErr error, hdr http.Header) error {
	if renderErr != nil {
		return fmt.Errorf("notify %s: %w", t.name, renderErr)
	}
	return t.post(ctx, ep, body, hdr)
}

// transport is the HTTP half shared by every channel.
type transport struct {
	name   string
	client *http.Client
	now    func() time.Time
}

func newTransport(name string, client *http.Client) transport {
	var c http.Client
	if client != nil {
		c = *client
	}
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return transport{name: name, client: &c, now: time.Now}
}

// maxResponse is how much of a response body is read (then discarded) so the
// connection can be reused.
const maxResponse = 64 << 10

// post sends body as JSON to ep and classifies the outcome.
func (t transport) post(ctx context.Context, ep endpoint, body []byte, hdr http.Header) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, ep.u.String(), bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("notify %s: cannot build request", t.name)
	}
	for k, vs := range hdr {
		req.Header[k] = vs
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Tripline")
	resp, err := t.client.Do(req)
	if err != nil {
		return transportError(t.name, ctx, err)
	}
	_, copyErr := io.Copy(io.Discard, io.LimitReader(resp.Body, maxResponse))
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return &StatusError{Channel: t.name, StatusCode: resp.StatusCode, RetryAfter: parseRetryAfter(resp.Header.Get("Retry-After"), t.now())}
	}
	_ = copyErr // the answer was 2xx: the receiver accepted the message
	return nil
}

// parseRetryAfter reads delay-seconds or an HTTP date; zero when absent,
// unparsable or in the past.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n <= 0 {
			return 0
		}
		if n > 7*24*3600 {
			n = 7 * 24 * 3600
		}
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return d
		}
	}
	return 0
}

// SettingsError is every problem found in Settings, field by field, so
// that the caller can name each field the way its user set it.
type SettingsError struct {
	Problems []SettingsProblem
}

// SettingsProblem is one field of Settings (its Go name) and what is wrong
// with it.
type SettingsProblem struct {
	Field string
	Err   error
}

// Error renders one "Field: problem" line per problem.
func (e *SettingsError) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.Field + ": " + p.Err.Error()
	}
	return strings.Join(lines, "\n")
}

func (e *SettingsError) add(field string, err error) {
	e.Problems = append(e.Problems, SettingsProblem{field, err})
}

// merge adds the problems of err, a *SettingsError.
func (e *SettingsError) merge(err error) {
	var se *SettingsError
	if errors.As(err, &se) {
		e.Problems = append(e.Problems, se.Problems...)
	} else {
		e.add("", err)
	}
}

func (e *SettingsError) err() error {
	if len(e.Problems) == 0 {
		return nil
	}
	return e
}

func fieldError(field string, err error) error {
	return &SettingsError{Problems: []SettingsProblem{{field, err}}}
}
