package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tripline/tripline/alert"
)

// Secrets used throughout the tests; none may ever appear in an error string
// or a log record.
const (
	urlToken    = "T0KEN-IN-PATH-7f3a9c"
	sigToken    = "SIG-IN-QUERY-b76ccb"
	routingKey  = "R0UTINGKEY0123456789abcdef012345"
	secretBytes = "c2VjcmV0LWtleS1ieXRlcy0wMTIzNDU2Nzg5YWJjZGVm" // 33 bytes
	whsec       = "whsec_" + secretBytes
)

var secrets = []string{urlToken, sigToken, routingKey, secretBytes}

// assertNoSecret fails if s contains any test secret.
func assertNoSecret(t testing.TB, what, s string) {
	t.Helper()
	for _, sec := range secrets {
		if strings.Contains(s, sec) {
			t.Errorf("%s contains secret %q: %s", what, sec, s)
		}
	}
}

// fakeClock is a settable clock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *fakeClock { return &fakeClock{t: time.Date(2025, 5, 6, 9, 20, 0, 0, time.UTC)} }

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// sleeper records inline waits instead of sleeping.
type sleeper struct {
	mu    sync.Mutex
	waits []time.Duration
}

func (s *sleeper) policy(attempts int) Policy {
	return Policy{
		Attempts:  attempts,
		BaseDelay: 100 * time.Millisecond,
		MaxDelay:  5 * time.Second,
		Timeout:   2 * time.Second,
		Jitter:    -1, // exact waits
		Sleep: func(_ context.Context, d time.Duration) error {
			s.mu.Lock()
			s.waits = append(s.waits, d)
			s.mu.Unlock()
			return nil
		},
	}
}

func (s *sleeper) Waits() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Duration(nil), s.waits...)
}

// request is one request a receiver saw.
type request struct {
	Path   string
	Header http.Header
	Body   []byte
}

// fault is what a receiver does instead of its normal answer.
type fault func(w http.ResponseWriter, r *http.Request)

func status(code int, retryAfter string) fault {
	return func(w http.ResponseWriter, r *http.Request) {
		if retryAfter != "" {
			w.Header().Set("Retry-After", retryAfter)
		}
		w.WriteHeader(code)
		io.WriteString(w, `{"error":"echo of `+r.URL.String()+`"}`) // a receiver echoing secrets must not leak them
	}
}

// hang answers only after the client gave up (or 5s).
func hang(w http.ResponseWriter, r *http.Request) {
	select {
	case <-r.Context().Done():
	case <-time.After(5 * time.Second):
	}
}

// reset hijacks the connection and closes it with RST.
func reset(w http.ResponseWriter, r *http.Request) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		panic("no hijacker")
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		panic(err)
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	conn.Close()
}

// receiver is a local HTTP server implementing one channel's contract. It
// records every request that reached it; faults are applied to the first
// requests in order, then it answers as the real service does.
type receiver struct {
	t       testing.TB
	srv     *httptest.Server
	channel string
	mu      sync.Mutex
	reqs    []request
	faults  []fault
	ok      int // successful answers given
}

func newReceiver(t testing.TB, channel string, faults ...fault) *receiver {
	rc := &receiver{t: t, channel: channel, faults: faults}
	rc.srv = httptest.NewServer(http.HandlerFunc(rc.serve))
	t.Cleanup(rc.srv.Close)
	return rc
}

// URL is the receiver URL with secret-looking path and query.
func (rc *receiver) URL() string {
	return rc.srv.URL + "/hook/" + urlToken + "?sig=" + sigToken
}

func (rc *receiver) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	rc.mu.Lock()
	n := len(rc.reqs)
	rc.reqs = append(rc.reqs, request{Path: r.URL.Path, Header: r.Header.Clone(), Body: body})
	var f fault
	if n < len(rc.faults) {
		f = rc.faults[n]
	}
	rc.mu.Unlock()
	if f != nil {
		f(w, r)
		return
	}
	if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" || !json.Valid(body) {
		rc.t.Errorf("%s receiver: bad request %s %q valid=%v", rc.channel, r.Method, r.Header.Get("Content-Type"), json.Valid(body))
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	rc.mu.Lock()
	rc.ok++
	rc.mu.Unlock()
	switch rc.channel {
	case "teams": // Workflows
		w.WriteHeader(http.StatusAccepted)
	case "slack":
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, "ok")
	case "pagerduty":
		var ev struct {
			DedupKey string `json:"dedup_key"`
		}
		json.Unmarshal(body, &ev)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusAccepted)
		json.NewEncoder(w).Encode(map[string]string{"status": "success", "message": "Event processed", "dedup_key": ev.DedupKey})
	default:
		w.WriteHeader(http.StatusNoContent)
	}
}

// Requests returns a copy of what arrived.
func (rc *receiver) Requests() []request {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]request(nil), rc.reqs...)
}

// Delivered is how many requests were answered with success.
func (rc *receiver) Delivered() int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return rc.ok
}

// logBuffer captures slog JSON output at debug level.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func (l *logBuffer) Logger() *slog.Logger {
	return slog.New(slog.NewJSONHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// Records decodes the captured JSON lines.
func (l *logBuffer) Records(t testing.TB) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(l.String()), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		out = append(out, m)
	}
	return out
}

// kubeAlert is the seed rule's kube-audit alert, built the way detect
// normalizes examples/kube-audit-eventhub.json (the id is the one `tripline scan` gives it).
func kubeAlert() *alert.Alert {
	return &alert.Alert{
		ID: "alt-9709262861e74051c82f6ee8492bea3d",
		Rule: alert.RuleInfo{
			ID:        "b76ccbde-88d9-47f1-b077-b38e61cbbe2e",
			Name:      "Azure AKS Kubernetes Events Deleted (kube-audit)",
			Severity:  "medium",
			RiskScore: 47,
			Techniques: []alert.Technique{
				{ID: "TA0005", Name: "Defense Evasion", Reference: "https://attack.mitre.org/tactics/TA0005/"},
				{ID: "T1070", Name: "Indicator Removal", Reference: "https://attack.mitre.org/techniques/T1070/"},
			},
			Steps: []string{
				"Identify the caller in `azure.platformlogs.properties.log.user.username` (an Entra user, a service account `system:serviceaccount:<namespace>:<name>`, or an impersonated user in `impersonatedUser`), with `sourceIPs` and `userAgent`.",
				"Check the namespace and object in `objectRef` and whether it was a single event or a whole collection.",
				"Search the same audit log for that user's other requests in the preceding hour: exec into pods, new workloads, secret reads, role bindings.",
			},
		},
		State:     alert.StateNew,
		Count:     2,
		FirstSeen: time.Date(2025, 5, 6, 9, 18, 11, 409873000, time.UTC),
		LastSeen:  time.Date(2025, 5, 6, 9, 19, 2, 0, time.UTC),
		WindowEnd: time.Date(2025, 5, 6, 9, 43, 11, 409873000, time.UTC),
		Group: map[string]string{
			"azure.resource.id": "/SUBSCRIPTIONS/3F2B9C41-7D0E-4A55-9B1C-2E8F6A0D4C17/RESOURCEGROUPS/RG-AKS-PROD/PROVIDERS/MICROSOFT.CONTAINERSERVICE/MANAGEDCLUSTERS/AKS-PROD-WEU-01",
			"azure.platformlogs.properties.log.user.username": "dana.okafor@contoso-example.com",
		},
		Source: "kube-audit",
		Event: map[string]any{
			"@timestamp": "2025-05-06T09:18:11.409873Z",
			"event":      map[string]any{"action": "Microsoft.ContainerService/managedClusters/diagnosticLogs/Read", "dataset": "azure.platformlogs", "kind": "event"},
			"cloud":      map[string]any{"provider": "azure", "account": map[string]any{"id": "3F2B9C41-7D0E-4A55-9B1C-2E8F6A0D4C17"}},
			"azure": map[string]any{
				"subscription_id": "3F2B9C41-7D0E-4A55-9B1C-2E8F6A0D4C17",
				"resource": map[string]any{
					"id":       "/SUBSCRIPTIONS/3F2B9C41-7D0E-4A55-9B1C-2E8F6A0D4C17/RESOURCEGROUPS/RG-AKS-PROD/PROVIDERS/MICROSOFT.CONTAINERSERVICE/MANAGEDCLUSTERS/AKS-PROD-WEU-01",
					"group":    "RG-AKS-PROD",
					"name":     "AKS-PROD-WEU-01",
					"provider": "MICROSOFT.CONTAINERSERVICE/MANAGEDCLUSTERS",
				},
				"platformlogs": map[string]any{
					"category":      "kube-audit-admin",
					"ccp_namespace": "6638f1c2a9e4b70001d3c5a8",
					"properties": map[string]any{
						"log": map[string]any{
							"kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "Metadata",
							"auditID": "5b7d9f1a-3c5e-4a7b-9d1f-2e4a6c8e0b35", "stage": "ResponseComplete",
							"requestURI": "/api/v1/namespaces/payments/events/payments-api-6f9d8c7b5d-qx2lm.183a4f2c9b7e1d05",
							"verb":       "delete",
							"user": map[string]any{
								"username": "dana.okafor@contoso-example.com",
								"groups":   []any{"7f3a9c1e-5b2d-4e6f-8a0c-1d3e5f7a9b2c", "system:authenticated"},
								"extra":    map[string]any{"oid": []any{"4e8a2c6f-1b3d-4a5e-9f0c-7b2d1e3a5c7f"}},
							},
							"sourceIPs":      []any{"203.0.113.77"},
							"userAgent":      "kubectl/v1.31.2 (linux/amd64) kubernetes/5864a46",
							"objectRef":      map[string]any{"resource": "events", "namespace": "payments", "name": "payments-api-6f9d8c7b5d-qx2lm.183a4f2c9b7e1d05", "apiVersion": "v1"},
							"responseStatus": map[string]any{"metadata": map[string]any{}, "status": "Success", "code": json.Number("200")},
						},
						"stream": "stdout",
					},
				},
			},
			"user":   map[string]any{"name": "dana.okafor@contoso-example.com"},
			"source": map[string]any{"ip": "203.0.113.77"},
		},
	}
}

// activityAlert is the seed rule's Activity Log alert (a service principal),
// normalized as Elastic's azure integration stores
// examples/activitylog-eventhub.json (its Success record).
func activityAlert() *alert.Alert {
	return &alert.Alert{
		ID: "alt-89e7c5c2a6256e0e2c717221b62de8cd",
		Rule: alert.RuleInfo{
			ID: "8b64d36a-1307-4b2e-a77b-a0027e4d27c8", Name: "Azure Kubernetes Events Deleted", Severity: "medium", RiskScore: 47,
			Techniques: []alert.Technique{{ID: "T1562.001", Name: "Disable or Modify Tools"}},
			Steps:      []string{"Identify the service principal and its owner."},
		},
		State: alert.StateNew, Count: 1,
		FirstSeen: time.Date(2025, 5, 6, 9, 16, 48, 552190400, time.UTC),
		LastSeen:  time.Date(2025, 5, 6, 9, 16, 48, 552190400, time.UTC),
		Source:    "activitylog",
		Event: map[string]any{
			"@timestamp": "2025-05-06T09:16:48.5521904Z",
			"event":      map[string]any{"action": "MICROSOFT.KUBERNETES/CONNECTEDCLUSTERS/EVENTS.K8S.IO/EVENTS/DELETE", "outcome": "success"},
			"source":     map[string]any{"ip": "198.51.100.23"},
			"azure": map[string]any{
				"subscription_id": "3F2B9C41-7D0E-4A55-9B1C-2E8F6A0D4C17",
				"resource": map[string]any{
					"id":       "/SUBSCRIPTIONS/3F2B9C41-7D0E-4A55-9B1C-2E8F6A0D4C17/RESOURCEGROUPS/RG-EDGE/PROVIDERS/MICROSOFT.KUBERNETES/CONNECTEDCLUSTERS/ARC-EDGE-STORE-042",
					"group":    "RG-EDGE",
					"name":     "ARC-EDGE-STORE-042",
					"provider": "MICROSOFT.KUBERNETES/CONNECTEDCLUSTERS",
				},
				"activitylogs": map[string]any{
					"operation_name": "MICROSOFT.KUBERNETES/CONNECTEDCLUSTERS/EVENTS.K8S.IO/EVENTS/DELETE",
					"tenant_id":      "b7e4a1d2-5c3f-4e98-8a61-0f2d9c7e3b45",
					"identity": map[string]any{
						"authorization": map[string]any{
							"evidence": map[string]any{"principal_id": "c2f4a6e8b0d14c3e9a5b7d9f1e2c4a6b", "principal_type": "ServicePrincipal"},
						},
						"claims": map[string]any{
							"appid": "5d9e1f3a-7b2c-4d6e-8f0a-1c3e5a7b9d2f",
							"idtyp": "app",
							"http://schemas_microsoft_com/identity/claims/objectidentifier": "c2f4a6e8-b0d1-4c3e-9a5b-7d9f1e2c4a6b",
						},
					},
				},
			},
		},
	}
}
