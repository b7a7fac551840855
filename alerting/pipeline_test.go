package alerting_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tripline/tripline/alert"
	"github.com/tripline/tripline/alerting"
	"github.com/tripline/tripline/detect"
	"github.com/tripline/tripline/detect/rules"
	"github.com/tripline/tripline/store"
	"github.com/tripline/tripline/store/bolt"
)

const seedOp = "MICROSOFT.KUBERNETES/CONNECTEDCLUSTERS/EVENTS.K8S.IO/EVENTS/DELETE"

var t0 = time.Date(2025, 5, 6, 9, 0, 0, 0, time.UTC)

// seedRecord is an Activity Log record of the seed operation.
func seedRecord(corr string, at time.Time, principal, cluster string) map[string]any {
	return map[string]any{
		"time":          at.Format(time.RFC3339Nano),
		"resourceId":    "/SUBSCRIPTIONS/3F2B9C41-7D0E-4A55-9B1C-2E8F6A0D4C17/RESOURCEGROUPS/RG-EDGE/PROVIDERS/MICROSOFT.KUBERNETES/CONNECTEDCLUSTERS/" + strings.ToUpper(cluster),
		"operationName": seedOp,
		"category":      "Administrative",
		"resultType":    "Success",
		"correlationId": corr,
		"identity":      map[string]any{"authorization": map[string]any{"evidence": map[string]any{"principalId": principal}}},
	}
}

func body(records ...map[string]any) []byte {
	b, err := json.Marshal(map[string]any{"records": records})
	if err != nil {
		panic(err)
	}
	return b
}

func ordinary(i int) map[string]any {
	return map[string]any{
		"time": t0.Format(time.RFC3339), "operationName": "MICROSOFT.RESOURCES/DEPLOYMENTS/WRITE",
		"category": "Administrative", "resultType": "Success", "correlationId": fmt.Sprintf("ord-%d", i),
	}
}

// countingStore counts calls on the store interface.
type countingStore struct {
	alerting.Store
	mu                          sync.Mutex
	gets, creates, replaces, pg int
	fail                        error
}

func (c *countingStore) Get(ctx context.Context, id string) (store.Item, error) {
	c.mu.Lock()
	c.gets++
	fail := c.fail
	c.mu.Unlock()
	if fail != nil {
		return store.Item{}, fail
	}
	return c.Store.Get(ctx, id)
}

func (c *countingStore) Create(ctx context.Context, id string, b []byte) (string, error) {
	c.mu.Lock()
	c.creates++
	fail := c.fail
	c.mu.Unlock()
	if fail != nil {
		return "", fail
	}
	return c.Store.Create(ctx, id, b)
}

func (c *countingStore) Replace(ctx context.Context, id string, b []byte, etag string) (string, error) {
	c.mu.Lock()
	c.replaces++
	fail := c.fail
	c.mu.Unlock()
	if fail != nil {
		return "", fail
	}
	return c.Store.Replace(ctx, id, b, etag)
}

func (c *countingStore) writes() int { c.mu.Lock(); defer c.mu.Unlock(); return c.creates + c.replaces }
func (c *countingStore) calls() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gets + c.creates + c.replaces + c.pg
}

// storeFactory opens a fresh store for one test.
type storeFactory struct {
	name string
	open func(t *testing.T) alerting.Store
}

func boltFactory() storeFactory {
	return storeFactory{"bolt", func(t *testing.T) alerting.Store {
		s, err := bolt.Open(filepath.Join(t.TempDir(), "state.db"), nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}}
}

// forEachStore runs a test against every store implementation.
func forEachStore(t *testing.T, fn func(t *testing.T, open func(t *testing.T) alerting.Store)) {
	for _, f := range storeFactories() {
		t.Run(f.name, func(t *testing.T) { fn(t, f.open) })
	}
}

func builtinEngine(t testing.TB, extra ...string) *detect.Engine {
	all, err := detect.LoadRules(rules.FS)
	if err != nil {
		t.Fatal(err)
	}
	for i, src := range extra {
		r, err := detect.ParseRule(fmt.Sprintf("extra%d.toml", i), []byte(src))
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, r)
	}
	e, err := detect.NewEngine(all, nil)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func newPipeline(t testing.TB, st alerting.Store, extra ...string) *alerting.Pipeline {
	return &alerting.Pipeline{Engine: builtinEngine(t, extra...), Store: st, TTL: 720 * time.Hour}
}

func mustProcess(t *testing.T, p *alerting.Pipeline, msgs ...[]byte) *alerting.Outcome {
	t.Helper()
	out, err := p.Process(context.Background(), msgs)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func states(out *alerting.Outcome) string {
	var s []string
	for _, a := range out.Alerts {
		s = append(s, fmt.Sprintf("%s:%d", a.State, a.Count))
	}
	return strings.Join(s, ",")
}

func TestRedeliveryCountsNothingTwice(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func(t *testing.T) alerting.Store) {
		p := newPipeline(t, open(t))
		batch := body(
			seedRecord("c1", t0, "p1", "arc-1"),
			ordinary(1),
			seedRecord("c2", t0.Add(time.Minute), "p1", "arc-1"),
			seedRecord("c3", t0.Add(2*time.Minute), "p1", "arc-1"),
		)
		first := mustProcess(t, p, batch)
		if first.New != 1 || first.Suppressed != 2 || first.Duplicates != 0 || states(first) != "new:3" {
			t.Fatalf("first delivery: new=%d suppressed=%d dup=%d alerts=%s", first.New, first.Suppressed, first.Duplicates, states(first))
		}
		again := mustProcess(t, p, batch)
		if again.New != 0 || again.Suppressed != 0 || again.Duplicates != 3 || states(again) != "duplicate:3" {
			t.Fatalf("redelivery: new=%d suppressed=%d dup=%d alerts=%s", again.New, again.Suppressed, again.Duplicates, states(again))
		}
		// A partial redelivery mixed with one fresh record grows the count by one.
		mixed := mustProcess(t, p, body(seedRecord("c2", t0.Add(time.Minute), "p1", "arc-1"), seedRecord("c4", t0.Add(3*time.Minute), "p1", "arc-1")))
		if mixed.Duplicates != 1 || mixed.Suppressed != 1 || states(mixed) != "suppressed:4" {
			t.Fatalf("mixed: dup=%d suppressed=%d alerts=%s", mixed.Duplicates, mixed.Suppressed, states(mixed))
		}
	})
}

func TestConcurrentInvocationsOneGroup(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func(t *testing.T) alerting.Store) {
		st := open(t)
		const workers, perWorker = 4, 5
		var wg sync.WaitGroup
		errs := make(chan error, workers)
		for w := 0; w < workers; w++ {
			wg.Add(1)
			go func(w int) {
				defer wg.Done()
				p := newPipeline(t, st)
				for i := 0; i < perWorker; i++ {
					rec := seedRecord(fmt.Sprintf("w%d-%d", w, i), t0.Add(time.Duration(w*perWorker+i)*time.Second), "p1", "arc-1")
					if _, err := p.Process(context.Background(), [][]byte{body(rec)}); err != nil {
						errs <- err
						return
					}
				}
			}(w)
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		// Reading back through a redelivery of one record shows the total.
		out := mustProcess(t, newPipeline(t, st), body(seedRecord("w0-0", t0, "p1", "arc-1")))
		if len(out.Alerts) != 1 || out.Alerts[0].Count != workers*perWorker {
			t.Fatalf("alerts = %s, want one alert with count %d", states(out), workers*perWorker)
		}
	})
}

func TestWindowExpiresInEventTime(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func(t *testing.T) alerting.Store) {
		p := newPipeline(t, open(t))
		// Seed rule window: 25 minutes from the first match.
		a := mustProcess(t, p, body(seedRecord("a", t0, "p1", "arc-1")))
		b := mustProcess(t, p, body(seedRecord("b", t0.Add(24*time.Minute+59*time.Second), "p1", "arc-1")))
		c := mustProcess(t, p, body(seedRecord("c", t0.Add(25*time.Minute), "p1", "arc-1")))
		if states(a) != "new:1" || states(b) != "suppressed:2" || states(c) != "new:1" {
			t.Fatalf("a=%s b=%s c=%s", states(a), states(b), states(c))
		}
		if a.Alerts[0].ID == c.Alerts[0].ID {
			t.Fatal("a match after the window must open a new alert")
		}
		// A late record inside the first window still counts there.
		late := mustProcess(t, p, body(seedRecord("late", t0.Add(10*time.Minute), "p1", "arc-1")))
		if states(late) != "suppressed:3" || late.Alerts[0].ID != a.Alerts[0].ID {
			t.Fatalf("late = %s (id %s), want suppressed:3 on %s", states(late), late.Alerts[0].ID, a.Alerts[0].ID)
		}
		// Other identity, same cluster: its own alert.
		other := mustProcess(t, p, body(seedRecord("d", t0.Add(time.Minute), "p2", "arc-1")))
		if states(other) != "new:1" {
			t.Fatalf("other principal = %s", states(other))
		}
	})
}

const missingRuleTmpl = `
[rule]
rule_id = "11111111-2222-3333-4444-5555555555%s"
name = "Deployments (%s)"
description = "test"
type = "query"
language = "kuery"
query = 'event.action:"MICROSOFT.RESOURCES/DEPLOYMENTS/WRITE"'
severity = "low"
risk_score = 21
max_signals = %d
[rule.alert_suppression]
group_by = ["user.name"]
missing_fields_strategy = "%s"
[rule.alert_suppression.duration]
unit = "h"
value = 1
`

func TestMissingGroupByFields(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func(t *testing.T) alerting.Store) {
		p := newPipeline(t, open(t),
			fmt.Sprintf(missingRuleTmpl, "01", "suppress", 100, "suppress"),
			fmt.Sprintf(missingRuleTmpl, "02", "doNotSuppress", 100, "doNotSuppress"))
		out := mustProcess(t, p, body(ordinary(1), ordinary(2), ordinary(3)))
		per := map[string][]int{}
		for _, a := range out.Alerts {
			per[a.Rule.Name] = append(per[a.Rule.Name], a.Count)
		}
		if got := fmt.Sprint(per["Deployments (suppress)"]); got != "[3]" {
			t.Errorf("suppress: alert counts %s, want [3] (one null group)", got)
		}
		if got := fmt.Sprint(per["Deployments (doNotSuppress)"]); got != "[1 1 1]" {
			t.Errorf("doNotSuppress: alert counts %s, want [1 1 1]", got)
		}
	})
}

func TestMaxSignalsHoldsBackButRecords(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func(t *testing.T) alerting.Store) {
		p := newPipeline(t, open(t), fmt.Sprintf(missingRuleTmpl, "03", "capped", 2, "doNotSuppress"))
		out := mustProcess(t, p, body(ordinary(1), ordinary(2), ordinary(3), ordinary(4), ordinary(5)))
		if out.New != 5 || len(out.Alerts) != 5 {
			t.Fatalf("new=%d alerts=%d, want 5 recorded", out.New, len(out.Alerts))
		}
		if len(out.HeldBack) != 1 || out.HeldBack[0].Count != 3 || out.HeldBack[0].Rule.Name != "Deployments (capped)" {
			t.Fatalf("held back = %+v, want 3 of Deployments (capped)", out.HeldBack)
		}
		// The held-back alerts are durable: a redelivery is all duplicates.
		again := mustProcess(t, p, body(ordinary(1), ordinary(2), ordinary(3), ordinary(4), ordinary(5)))
		if again.Duplicates != 5 || again.New != 0 || len(again.HeldBack) != 0 {
			t.Fatalf("redelivery: dup=%d new=%d held=%v", again.Duplicates, again.New, again.HeldBack)
		}
	})
}

// egSeed is the seed operation as an Event Grid event, mixed case.
func egSeed(corr string, at time.Time, principal, cluster string) []byte {
	ev := map[string]any{
		"subject":   "/subscriptions/3f2b9c41-7d0e-4a55-9b1c-2e8f6a0d4c17/resourceGroups/rg-edge/providers/Microsoft.Kubernetes/connectedClusters/" + cluster,
		"eventType": "Microsoft.Resources.ResourceDeleteSuccess", "eventTime": at.Format(time.RFC3339Nano), "id": "eg-" + corr,
		"data": map[string]any{
			"operationName": "Microsoft.Kubernetes/connectedClusters/events.k8s.io/events/delete", "status": "Succeeded",
			"correlationId": corr,
			"resourceUri":   "/subscriptions/3f2b9c41-7d0e-4a55-9b1c-2e8f6a0d4c17/resourceGroups/rg-edge/providers/Microsoft.Kubernetes/connectedClusters/" + cluster,
			"authorization": map[string]any{"evidence": map[string]any{"principalId": principal}},
		},
		"dataVersion": "2", "metadataVersion": "1",
	}
	b, _ := json.Marshal(ev)
	return b
}

func TestEventGridAndActivityLogAreOneAlert(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func(t *testing.T) alerting.Store) {
		p := newPipeline(t, open(t))
		// Event Grid arrives first (seconds), the Activity Log minutes later
		// with a slightly different time stamp.
		eg := mustProcess(t, p, egSeed("CORR-1", t0.Add(300*time.Millisecond), "p1", "arc-edge"))
		al := mustProcess(t, p, body(seedRecord("corr-1", t0, "p1", "arc-edge")))
		if states(eg) != "new:1" || eg.Alerts[0].Source != "eventgrid" {
			t.Fatalf("event grid: %s source %s", states(eg), eg.Alerts[0].Source)
		}
		if states(al) != "duplicate:1" || al.Duplicates != 1 || al.Alerts[0].ID != eg.Alerts[0].ID {
			t.Fatalf("activity log: %s dup=%d", states(al), al.Duplicates)
		}
	})
}

func TestStoreCallBudget(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func(t *testing.T) alerting.Store) {
		cs := &countingStore{Store: open(t)}
		p := newPipeline(t, cs)
		var quiet [][]byte
		for i := 0; i < 50; i++ {
			quiet = append(quiet, body(ordinary(i)))
		}
		mustProcess(t, p, quiet...)
		if cs.calls() != 0 {
			t.Fatalf("no-match batch made %d store calls, want 0", cs.calls())
		}
		var burst []map[string]any
		for i := 0; i < 500; i++ {
			burst = append(burst, seedRecord(fmt.Sprintf("b%d", i), t0.Add(time.Duration(i)*time.Second), "p1", "arc-1"))
		}
		// Two groups: 500 matches of one, 1 of another.
		out := mustProcess(t, p, body(burst...), body(seedRecord("x", t0, "p2", "arc-1")))
		if out.New != 2 || out.Suppressed != 499 {
			t.Fatalf("new=%d suppressed=%d", out.New, out.Suppressed)
		}
		if cs.writes() != 2 || cs.gets != 2 {
			t.Fatalf("writes=%d reads=%d for 2 groups, want 2 and 2", cs.writes(), cs.gets)
		}
	})
}

func TestStoreFailureThenRecovery(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func(t *testing.T) alerting.Store) {
		cs := &countingStore{Store: open(t), fail: errors.New("connection refused")}
		p := newPipeline(t, cs)
		batch := body(seedRecord("r1", t0, "p1", "arc-1"), seedRecord("r2", t0.Add(time.Second), "p1", "arc-1"))
		if _, err := p.Process(context.Background(), [][]byte{batch}); err == nil {
			t.Fatal("store down: Process returned no error; the host would checkpoint and lose the batch")
		}
		cs.mu.Lock()
		cs.fail = nil
		cs.mu.Unlock()
		out := mustProcess(t, p, batch)
		if states(out) != "new:2" || out.New != 1 || out.Suppressed != 1 {
			t.Fatalf("after recovery: %s new=%d suppressed=%d", states(out), out.New, out.Suppressed)
		}
	})
}

// failingWrite is the embedded store with its n-th write failing, as a full
// disk would; Batch, Get and Pending are the store's own.
type failingWrite struct {
	*bolt.Store
	mu            sync.Mutex
	writes, fails int
}

func (f *failingWrite) fail() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.writes++
	if f.writes == f.fails {
		return errors.New("no space left on device")
	}
	return nil
}

func (f *failingWrite) Create(ctx context.Context, id string, b []byte) (string, error) {
	if err := f.fail(); err != nil {
		return "", err
	}
	return f.Store.Create(ctx, id, b)
}

func (f *failingWrite) Replace(ctx context.Context, id string, b []byte, etag string) (string, error) {
	if err := f.fail(); err != nil {
		return "", err
	}
	return f.Store.Replace(ctx, id, b, etag)
}

// TestEmbeddedStoreRecordsAllOrNothing: the embedded store records an
// invocation's alerts in one batch, so when the second group's write fails
// the first group's is not kept either, and the retried invocation finds
// both alerts new rather than one already recorded.
func TestEmbeddedStoreRecordsAllOrNothing(t *testing.T) {
	fw := &failingWrite{Store: boltFactory().open(t).(*bolt.Store), fails: 2}
	p := newPipeline(t, fw)
	batch := body(seedRecord("r1", t0, "p1", "arc-1"), seedRecord("r2", t0, "p2", "arc-1"))
	if _, err := p.Process(context.Background(), [][]byte{batch}); err == nil {
		t.Fatal("a failed write: Process returned no error; the host would checkpoint and lose the batch")
	}
	out := mustProcess(t, p, batch)
	if states(out) != "new:1,new:1" || out.New != 2 || out.Duplicates != 0 {
		t.Fatalf("retry after a failed write: %s new=%d duplicates=%d, want both alerts new", states(out), out.New, out.Duplicates)
	}
	if fw.writes != 4 {
		t.Errorf("%d writes, want 2 per run", fw.writes)
	}
}

func TestKubeAuditBothCategoriesOneMatch(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func(t *testing.T) alerting.Store) {
		p := newPipeline(t, open(t))
		rec := func(cat string) map[string]any {
			log := `{"kind":"Event","apiVersion":"audit.k8s.io/v1","auditID":"aud-1","stage":"ResponseComplete","verb":"delete","user":{"username":"dana@contoso-example.com"},"objectRef":{"resource":"events","namespace":"payments","name":"x"},"requestReceivedTimestamp":"2025-05-06T09:18:11.402116Z"}`
			return map[string]any{
				"operationName": "Microsoft.ContainerService/managedClusters/diagnosticLogs/Read", "category": cat,
				"resourceId": "/SUBSCRIPTIONS/S/RESOURCEGROUPS/RG/PROVIDERS/MICROSOFT.CONTAINERSERVICE/MANAGEDCLUSTERS/AKS-1",
				"properties": map[string]any{"log": log + "\n"}, "time": "2025-05-06T09:18:11Z",
			}
		}
		out := mustProcess(t, p, body(rec("kube-audit-admin")), body(rec("kube-audit")))
		if out.Matched != 1 || states(out) != "new:1" {
			t.Fatalf("matched=%d alerts=%s, want one match, one alert", out.Matched, states(out))
		}
		again := mustProcess(t, p, body(rec("kube-audit")))
		if states(again) != "duplicate:1" {
			t.Fatalf("second category later: %s", states(again))
		}
	})
}

func TestMalformedRecordsSkippedNotFatal(t *testing.T) {
	p := newPipeline(t, boltFactory().open(t))
	msgs := [][]byte{
		[]byte(`{"records":[` + string(mustJSON(seedRecord("m1", t0, "p1", "arc-1"))) + `, 42, {"no":"operation"}]}`),
		[]byte(`{"records":[{"broken": }`),
		[]byte(`not json at all`),
	}
	out := mustProcess(t, p, msgs...)
	// {"no":"operation"} is valid JSON that no rule can match: the prefilter
	// passes over it without decoding, so it is read but not a skip.
	if out.New != 1 || len(out.Skips) != 3 || out.Records != 3 {
		t.Fatalf("new=%d records=%d skips=%d %v", out.New, out.Records, len(out.Skips), out.Skips)
	}
	want := []string{"message 0, record 1 (byte 410): record is not a JSON object", "message 1 (byte 24): not valid JSON", "message 2 (byte 2): not valid JSON"}
	for i, s := range out.Skips {
		if !strings.HasPrefix(s.String(), want[i]) {
			t.Errorf("skip %d = %q, want prefix %q", i, s.String(), want[i])
		}
	}
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

var _ = alert.StateNew

// lastWrite keeps the body of the last document written.
type lastWrite struct {
	alerting.Store
	mu   sync.Mutex
	body []byte
}

func (l *lastWrite) Create(ctx context.Context, id string, b []byte) (string, error) {
	l.mu.Lock()
	l.body = b
	l.mu.Unlock()
	return l.Store.Create(ctx, id, b)
}

func (l *lastWrite) Replace(ctx context.Context, id string, b []byte, etag string) (string, error) {
	l.mu.Lock()
	l.body = b
	l.mu.Unlock()
	return l.Store.Replace(ctx, id, b, etag)
}

// TestAlertEventKeptAcrossWrites: an alert's event (its first record,
// normalized) is kept in the document as written when the alert was
// created, a JSON object under "event", and later invocations, which read
// the document back, report it whole.
func TestAlertEventKeptAcrossWrites(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func(t *testing.T) alerting.Store) {
		st := &lastWrite{Store: open(t)}
		p := newPipeline(t, st)
		first := mustProcess(t, p, body(seedRecord("a", t0, "p1", "arc-1")))
		later := mustProcess(t, p, body(seedRecord("b", t0.Add(time.Minute), "p1", "arc-1")))
		if states(first) != "new:1" || states(later) != "suppressed:2" {
			t.Fatalf("first=%s later=%s", states(first), states(later))
		}
		want := mustJSON(first.Alerts[0].Event)
		if first.Alerts[0].Event == nil {
			t.Fatal("a new alert was reported without its event")
		}
		if got := mustJSON(later.Alerts[0].Event); string(got) != string(want) {
			t.Fatalf("reported again after a reload with event\n%s\nwant the first record's\n%s", got, want)
		}
		var doc struct {
			Alerts []struct {
				Event map[string]any `json:"event"`
			} `json:"alerts"`
		}
		st.mu.Lock()
		err := json.Unmarshal(st.body, &doc)
		st.mu.Unlock()
		if err != nil || len(doc.Alerts) != 1 {
			t.Fatalf("stored document: %d alerts (%v), want 1", len(doc.Alerts), err)
		}
		if got := mustJSON(doc.Alerts[0].Event); string(got) != string(want) {
			t.Fatalf("stored event\n%s\nwant\n%s", got, want)
		}
	})
}
