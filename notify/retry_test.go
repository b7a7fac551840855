package notify

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"
)

func TestSendClassification(t *testing.T) {
	date := time.Now().Add(3 * time.Second).UTC().Format(http.TimeFormat)
	for _, tc := range []struct {
		name      string
		faults    []fault
		attempts  int
		wantErr   string // "" = success
		requests  int
		waits     []time.Duration
		retryable bool
	}{
		{"2xx first time", nil, 3, "", 1, nil, false},
		{"500 then ok", []fault{status(500, "")}, 3, "", 2, []time.Duration{100 * time.Millisecond}, false},
		{"500 exhausts", []fault{status(500, ""), status(502, ""), status(504, "")}, 3, "notify slack: HTTP 504", 3, []time.Duration{100 * time.Millisecond, 200 * time.Millisecond}, true},
		{"408 retried", []fault{status(408, "")}, 2, "", 2, []time.Duration{100 * time.Millisecond}, false},
		{"425 retried", []fault{status(425, "")}, 2, "", 2, []time.Duration{100 * time.Millisecond}, false},
		{"429 Retry-After seconds", []fault{status(429, "2")}, 3, "", 2, []time.Duration{2 * time.Second}, false},
		{"503 Retry-After date", []fault{status(503, date)}, 3, "", 2, nil, false},
		{"429 Retry-After beyond MaxDelay stops", []fault{status(429, "120")}, 3, "notify slack: HTTP 429 (retry after 2m0s)", 1, nil, true},
		{"400 permanent", []fault{status(400, "")}, 3, "notify slack: HTTP 400", 1, nil, false},
		{"404 permanent", []fault{status(404, "")}, 3, "notify slack: HTTP 404", 1, nil, false},
		{"301 is a failure", []fault{func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "http://127.0.0.1:1/elsewhere", http.StatusMovedPermanently)
		}}, 3, "notify slack: HTTP 301", 1, nil, false},
		{"connection reset then ok", []fault{reset}, 3, "", 2, []time.Duration{100 * time.Millisecond}, false},
		{"connection reset exhausts", []fault{reset, reset}, 2, "notify slack: ", 2, []time.Duration{100 * time.Millisecond}, true},
		{"timeout then ok", []fault{hang}, 2, "", 2, []time.Duration{100 * time.Millisecond}, false},
		{"timeout exhausts", []fault{hang}, 1, "notify slack: timeout", 1, nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rc := newReceiver(t, "slack", tc.faults...)
			ch, _ := NewSlack(rc.URL(), rc.srv.Client())
			var s sleeper
			p := s.policy(tc.attempts)
			p.Timeout = 200 * time.Millisecond
			err := Send(context.Background(), ch, kubeAlert(), p)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("unexpected error %v", err)
			case tc.wantErr != "" && (err == nil || len(err.Error()) < len(tc.wantErr) || err.Error()[:len(tc.wantErr)] != tc.wantErr):
				t.Fatalf("error %v, want prefix %q", err, tc.wantErr)
			}
			if err != nil {
				assertNoSecret(t, "error", err.Error())
				if u := errors.Unwrap(err); u != nil {
					assertNoSecret(t, "cause", u.Error())
				}
				if got := Retryable(err); got != tc.retryable {
					t.Errorf("Retryable = %v", got)
				}
			}
			if n := len(rc.Requests()); n != tc.requests {
				t.Errorf("%d requests, want %d", n, tc.requests)
			}
			waits := s.Waits()
			if tc.name == "503 Retry-After date" {
				if len(waits) != 1 || waits[0] < time.Second || waits[0] > 3*time.Second {
					t.Errorf("waits %v", waits)
				}
				return
			}
			if len(waits) != len(tc.waits) {
				t.Fatalf("waits %v, want %v", waits, tc.waits)
			}
			for i := range waits {
				if waits[i] != tc.waits[i] {
					t.Errorf("waits %v, want %v", waits, tc.waits)
				}
			}
		})
	}
}

func TestTransportErrorKinds(t *testing.T) {
	rc := newReceiver(t, "webhook", reset)
	w := newTestWebhook(t, rc)
	err := w.Send(context.Background(), kubeAlert())
	var te *TransportError
	if !errors.As(err, &te) || (te.Kind != "connection reset" && te.Kind != "eof") {
		t.Fatalf("reset: %v", err)
	}
	// Connection refused: a closed server.
	closed := newReceiver(t, "webhook")
	w2 := newTestWebhook(t, closed)
	closed.srv.Close()
	err = w2.Send(context.Background(), kubeAlert())
	if !errors.As(err, &te) || te.Kind != "connection refused" || err.Error() != "notify webhook: connection refused" {
		t.Fatalf("refused: %v", err)
	}
	// A cancelled caller is not retried.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var s sleeper
	err = Send(ctx, w, kubeAlert(), s.policy(3))
	if !errors.As(err, &te) || te.Kind != "canceled" || Retryable(err) {
		t.Fatalf("canceled: %v", err)
	}
}

func TestSendStopsBeforeDeadline(t *testing.T) {
	rc := newReceiver(t, "teams", status(503, "3"))
	ch, _ := NewTeams(rc.URL(), rc.srv.Client())
	var s sleeper
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	err := Send(ctx, ch, kubeAlert(), s.policy(3))
	if err == nil || err.Error() != "notify teams: HTTP 503 (retry after 3s)" || len(rc.Requests()) != 1 || len(s.Waits()) != 0 {
		t.Fatalf("err %v, %d requests, waits %v", err, len(rc.Requests()), s.Waits())
	}
}

func TestPolicyDefaultsAndBackoff(t *testing.T) {
	p := Policy{}.withDefaults()
	if p.Attempts != 3 || p.BaseDelay != 500*time.Millisecond || p.MaxDelay != 5*time.Second || p.Timeout != 10*time.Second {
		t.Errorf("defaults %+v", p)
	}
	if p.Jitter != 0.5 {
		t.Errorf("default jitter %v", p.Jitter)
	}
	// Without jitter: doubling from BaseDelay, capped at MaxDelay.
	exact := p
	exact.Jitter = jitter(-1)
	next := exact.backoff()
	var got []time.Duration
	for range 6 {
		got = append(got, next())
	}
	want := []time.Duration{500 * time.Millisecond, time.Second, 2 * time.Second, 4 * time.Second, 5 * time.Second, 5 * time.Second}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("backoff %v, want %v", got, want)
		}
	}
	// With the default jitter: each wait within ±50 % of that, never
	// past MaxDelay, and not all the same.
	seen := map[time.Duration]bool{}
	for range 200 {
		next := p.backoff()
		for i := range want {
			w := next()
			if w < want[i]/2 || w > min(want[i]*3/2, p.MaxDelay) {
				t.Fatalf("wait %d = %v, want within ±50%% of %v and at most %v", i+1, w, want[i], p.MaxDelay)
			}
			if i == 0 {
				seen[w] = true
			}
		}
	}
	if len(seen) < 10 {
		t.Errorf("the first wait took only %d values in 200 tries: no jitter", len(seen))
	}
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Duration{"": 0, "0": 0, "-3": 0, "30": 30 * time.Second, "x": 0, "Wed, 01 Jan 2025 00:01:00 GMT": time.Minute, "Tue, 31 Dec 2024 00:00:00 GMT": 0} {
		if got := parseRetryAfter(in, now); got != want {
			t.Errorf("Retry-After %q = %v, want %v", in, got, want)
		}
	}
}

// TestDurableDelay: the Dispatcher's wait after n failed rounds doubles
// from RetryBase up to RetryMax, spread over ±Jitter, never past RetryMax.
func TestDurableDelay(t *testing.T) {
	exact := &Dispatcher{RetryBase: time.Minute, RetryMax: time.Hour, Policy: Policy{Jitter: -1}}
	for n, want := range map[int]time.Duration{1: time.Minute, 2: 2 * time.Minute, 6: 32 * time.Minute, 7: time.Hour, 500: time.Hour} {
		if got := exact.delay(n); got != want {
			t.Errorf("delay(%d) without jitter = %v, want %v", n, got, want)
		}
	}
	d := &Dispatcher{RetryBase: time.Minute, RetryMax: time.Hour}
	for range 200 {
		for n, nominal := range map[int]time.Duration{1: time.Minute, 6: 32 * time.Minute, 9: time.Hour} {
			if got := d.delay(n); got < nominal/2 || got > min(nominal*3/2, time.Hour) {
				t.Fatalf("delay(%d) = %v, want within ±50%% of %v and at most 1h", n, got, nominal)
			}
		}
	}
}
