package stateful_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tripline/tripline/alerting"
	"github.com/tripline/tripline/detect"
	"github.com/tripline/tripline/internal/cosmostest"
	"github.com/tripline/tripline/stateful"
	"github.com/tripline/tripline/store/bolt"
	"github.com/tripline/tripline/store/cosmos"
)

// The rules are the project's own, in Elastic's format.
const (
	ruleSnapshots   = "00000000-0000-4000-8000-00000000a002" // threshold 4 per resource group, 5m
	ruleDeletions   = "00000000-0000-4000-8000-00000000a001" // threshold: cardinality 3 per user, 10m
	ruleUnusualUser = "00000000-0000-4000-8000-00000000a003" // new_terms: user, 7d
	ruleVMCommand   = "00000000-0000-4000-8000-00000000a004" // new_terms: user and group, 5d
)

var t0 = time.Date(2026, 11, 2, 10, 0, 0, 0, time.UTC)

// rec is an Activity Log record: operation, user, resource group and name,
// event time; n makes its correlation id (its identity) distinct.
func rec(n int, op, user, group, name string, at time.Time) string {
	return fmt.Sprintf(`{"time":%q,"resourceId":"/SUBSCRIPTIONS/S1/RESOURCEGROUPS/%s/PROVIDERS/%s/%s","operationName":%q,"category":"Administrative","resultType":"Success","correlationId":"corr-%d","identity":{"claims":{"http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name":%q}}}`,
		at.Format(time.RFC3339Nano), group, providerOf(op), name, op, n, user)
}

func providerOf(op string) string {
	parts := strings.Split(op, "/")
	return parts[0] + "/" + parts[1]
}

func batch(recs ...string) [][]byte {
	return [][]byte{[]byte(`{"records":[` + strings.Join(recs, ",") + `]}`)}
}

func loadRules(t testing.TB) []*detect.Rule {
	t.Helper()
	rules, err := detect.LoadRules(os.DirFS(filepath.Join("..", "detect", "testdata", "stateful")))
	if err != nil {
		t.Fatal(err)
	}
	return rules
}

// forEachStore runs fn on the embedded store and on Cosmos DB through the
// Cosmos-protocol server (skipped, saying how to run it, without one).
// open returns a new handle on the same store each call, as a second
// process would have.
func forEachStore(t *testing.T, fn func(t *testing.T, open func() alerting.Store)) {
	t.Run("bolt", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "state.db")
		fn(t, func() alerting.Store {
			s, err := bolt.Open(path, nil)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		})
	})
	t.Run("cosmos", func(t *testing.T) {
		endpoint, key := cosmostest.Endpoint(t)
		db, container := cosmostest.NewContainerName(t)
		fn(t, func() alerting.Store {
			s, err := cosmos.New(context.Background(), cosmos.Options{
				Endpoint: endpoint, Key: key, Database: db, Container: container,
				HTTPClient: cosmostest.HTTPClient(nil),
			})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		})
	})
}

// pipeline is one process: its engine, store handle and decider.
func pipeline(t testing.TB, st alerting.Store, covered bool) *alerting.Pipeline {
	t.Helper()
	e, err := detect.NewEngine(loadRules(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	// The clock is a minute after the latest event time the test sent.
	now := func() time.Time { return t0.Add(time.Minute) }
	return &alerting.Pipeline{Engine: e, Store: st, TTL: 30 * 24 * time.Hour, Now: now,
		Stateful: &stateful.Decider{Now: now, AssumeCovered: covered}}
}

// newAlerts runs a batch and returns the new alerts per rule id.
func newAlerts(t *testing.T, p *alerting.Pipeline, msgs [][]byte) map[string]int {
	t.Helper()
	out, err := p.Process(context.Background(), msgs)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	for _, a := range out.Alerts {
		if a.State == "new" {
			got[a.Rule.ID]++
		}
	}
	return got
}

const (
	opSnapDelete    = "MICROSOFT.COMPUTE/SNAPSHOTS/DELETE"
	opStorageDelete = "MICROSOFT.STORAGE/STORAGEACCOUNTS/DELETE"
	opRunCommand    = "MICROSOFT.COMPUTE/VIRTUALMACHINES/RUNCOMMAND/ACTION"
)

func TestThresholdBurstCrossesOnce(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func() alerting.Store) {
		p := pipeline(t, open(), true)
		// Three deletions: under the threshold of four.
		var recs []string
		for i := range 3 {
			recs = append(recs, rec(i, opSnapDelete, "ann@contoso.example", "RG-A", fmt.Sprintf("SNAP%d", i), t0.Add(time.Duration(i)*time.Second)))
		}
		if got := newAlerts(t, p, batch(recs...))[ruleSnapshots]; got != 0 {
			t.Fatalf("3 of 4: %d alerts, want 0", got)
		}
		// A burst of ten more in the same window: crosses once.
		recs = nil
		for i := 3; i < 13; i++ {
			recs = append(recs, rec(i, opSnapDelete, "ann@contoso.example", "RG-A", fmt.Sprintf("SNAP%d", i), t0.Add(time.Duration(i)*time.Second)))
		}
		out, err := p.Process(context.Background(), batch(recs...))
		if err != nil {
			t.Fatal(err)
		}
		if out.New != 1 || out.Stateful.Crossed != 1 {
			t.Fatalf("burst: new=%d crossed=%d, want 1 and 1", out.New, out.Stateful.Crossed)
		}
		res, _ := out.Alerts[0].Event[stateful.ThresholdField].(map[string]any)
		if res["count"] != 4 && fmt.Sprint(res["count"]) != "4" {
			t.Errorf("threshold result %v, want count 4", res)
		}
		// More in the same window, and a late record of it: no alert.
		late := rec(99, opSnapDelete, "ann@contoso.example", "RG-A", "SNAPLATE", t0.Add(2*time.Minute))
		if got := newAlerts(t, p, batch(rec(50, opSnapDelete, "ann@contoso.example", "RG-A", "SNAPX", t0.Add(time.Minute)), late))[ruleSnapshots]; got != 0 {
			t.Fatalf("after crossing: %d alerts, want 0", got)
		}
		// Another group, and the next window of the first: counted apart.
		recs = nil
		for i := range 4 {
			recs = append(recs, rec(200+i, opSnapDelete, "ann@contoso.example", "RG-B", "S", t0.Add(time.Duration(i)*time.Second)))
			recs = append(recs, rec(300+i, opSnapDelete, "ann@contoso.example", "RG-A", "S", t0.Add(10*time.Minute+time.Duration(i)*time.Second)))
		}
		if got := newAlerts(t, p, batch(recs...))[ruleSnapshots]; got != 2 {
			t.Fatalf("other group and next window: %d alerts, want 2", got)
		}
	})
}

func TestThresholdCardinality(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func() alerting.Store) {
		p := pipeline(t, open(), true)
		// Five deletions of two accounts by one user: count reached,
		// cardinality (3) not.
		var recs []string
		for i := range 5 {
			recs = append(recs, rec(i, opStorageDelete, "bo@contoso.example", "RG", fmt.Sprintf("ACCT%d", i%2), t0.Add(time.Duration(i)*time.Second)))
		}
		if got := newAlerts(t, p, batch(recs...))[ruleDeletions]; got != 0 {
			t.Fatalf("2 distinct of 3: %d alerts, want 0", got)
		}
		if got := newAlerts(t, p, batch(rec(9, opStorageDelete, "bo@contoso.example", "RG", "ACCT7", t0.Add(time.Minute))))[ruleDeletions]; got != 1 {
			t.Fatalf("third distinct account: %d alerts, want 1", got)
		}
	})
}

func TestNewTermsHistoryWindow(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func() alerting.Store) {
		p := pipeline(t, open(), true)
		steps := []struct {
			name string
			user string
			at   time.Time
			want int
		}{
			{"first time", "cy@contoso.example", t0, 1},
			{"again within the window", "cy@contoso.example", t0.Add(24 * time.Hour), 0},
			{"again 6 days after the last", "cy@contoso.example", t0.Add(7 * 24 * time.Hour), 0},
			{"another user", "di@contoso.example", t0.Add(7 * 24 * time.Hour), 1},
			{"after the window since the last", "cy@contoso.example", t0.Add(15 * 24 * time.Hour), 1},
		}
		for i, s := range steps {
			clock := s.at.Add(time.Minute)
			p.Now = func() time.Time { return clock }
			p.Stateful.Now = p.Now
			got := newAlerts(t, p, batch(rec(i, opStorageDelete, s.user, "RG", "ACCT", s.at)))[ruleUnusualUser]
			if got != s.want {
				t.Fatalf("%s: %d alerts, want %d", s.name, got, s.want)
			}
		}
	})
}

func TestNewTermsCombinationAndArrays(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func() alerting.Store) {
		p := pipeline(t, open(), true)
		got := newAlerts(t, p, batch(
			rec(1, opRunCommand, "ed@contoso.example", "RG-1", "VM1", t0),
			rec(2, opRunCommand, "ed@contoso.example", "RG-1", "VM2", t0.Add(time.Minute)), // same combination
			rec(3, opRunCommand, "ed@contoso.example", "RG-2", "VM1", t0.Add(2*time.Minute)),
		))[ruleVMCommand]
		if got != 2 {
			t.Fatalf("user x group: %d alerts, want 2", got)
		}
	})
}

func TestRedeliveredBatch(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func() alerting.Store) {
		p := pipeline(t, open(), true)
		var recs []string
		for i := range 6 {
			recs = append(recs, rec(i, opSnapDelete, "fa@contoso.example", "RG-R", "S", t0.Add(time.Duration(i)*time.Second)))
		}
		recs = append(recs, rec(100, opStorageDelete, "fa@contoso.example", "RG-R", "ACCT", t0))
		msgs := batch(recs...)
		first := newAlerts(t, p, msgs)
		if first[ruleSnapshots] != 1 || first[ruleUnusualUser] != 1 {
			t.Fatalf("first delivery: %v, want one threshold and one new-terms alert", first)
		}
		out, err := p.Process(context.Background(), msgs)
		if err != nil {
			t.Fatal(err)
		}
		if out.New != 0 {
			t.Fatalf("redelivery: %d new alerts, want 0", out.New)
		}
		// Redelivery recognised, not counted: two more records cross no
		// second threshold (4 + 2 would not, 6 + 2 counted twice would).
		if got := newAlerts(t, p, batch(rec(7, opSnapDelete, "fa@contoso.example", "RG-R", "S", t0.Add(time.Minute))))[ruleSnapshots]; got != 0 {
			t.Fatalf("after redelivery: %d alerts, want 0", got)
		}
	})
}

func TestTwoProcessesAtOnce(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func() alerting.Store) {
		// Two processes, each with its own store handle, deliver the same
		// records (overlapping partitions after a rebalance) and records
		// of their own with the same term, at once.
		procs := []*alerting.Pipeline{pipeline(t, open(), true), pipeline(t, open(), true)}
		var shared []string
		for i := range 4 {
			shared = append(shared, rec(i, opSnapDelete, "gu@contoso.example", "RG-C", "S", t0.Add(time.Duration(i)*time.Second)))
		}
		var wg sync.WaitGroup
		totals := make([]map[string]int, len(procs))
		errs := make([]error, len(procs))
		for i, p := range procs {
			own := rec(1000+i, opStorageDelete, "ha@contoso.example", "RG", "ACCT", t0.Add(time.Duration(i)*time.Millisecond))
			msgs := batch(append(append([]string(nil), shared...), own)...)
			wg.Add(1)
			go func() {
				defer wg.Done()
				out, err := p.Process(context.Background(), msgs)
				if err != nil {
					errs[i] = err
					return
				}
				totals[i] = map[string]int{}
				for _, a := range out.Alerts {
					if a.State == "new" {
						totals[i][a.Rule.ID]++
					}
				}
			}()
		}
		wg.Wait()
		sum := map[string]int{}
		for i := range procs {
			if errs[i] != nil {
				t.Fatal(errs[i])
			}
			for k, v := range totals[i] {
				sum[k] += v
			}
		}
		if sum[ruleSnapshots] != 1 || sum[ruleUnusualUser] != 1 {
			t.Fatalf("two processes: %v, want exactly one threshold and one new-terms alert", sum)
		}
	})
}

func TestLearningPeriod(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func() alerting.Store) {
		st := open()
		p := pipeline(t, st, false)
		p.Stateful.Now = func() time.Time { return t0.Add(time.Hour) }
		// No history: the first record starts the coverage; terms are
		// recorded, not alerted, for 7 days.
		if got := newAlerts(t, p, batch(rec(1, opStorageDelete, "io@contoso.example", "RG", "A", t0)))[ruleUnusualUser]; got != 0 {
			t.Fatalf("learning: %d alerts, want 0", got)
		}
		if got := newAlerts(t, p, batch(rec(2, opStorageDelete, "jo@contoso.example", "RG", "A", t0.Add(6*24*time.Hour))))[ruleUnusualUser]; got != 0 {
			t.Fatalf("still learning: %d alerts, want 0", got)
		}
		// Covered: a new user alerts, one seen while learning does not.
		got := newAlerts(t, p, batch(
			rec(3, opStorageDelete, "jo@contoso.example", "RG", "A", t0.Add(8*24*time.Hour)),
			rec(4, opStorageDelete, "ka@contoso.example", "RG", "A", t0.Add(8*24*time.Hour)),
		))[ruleUnusualUser]
		if got != 1 {
			t.Fatalf("covered: %d alerts, want 1", got)
		}
		var r *detect.Rule
		for _, x := range loadRules(t) {
			if x.ID == ruleUnusualUser {
				r = x
			}
		}
		since, ok, err := stateful.Coverage(context.Background(), st, r)
		if err != nil || !ok || !since.Equal(t0) {
			t.Fatalf("coverage = %v %v %v, want %v", since, ok, err, t0)
		}
	})
}

func TestNoStoreCallWithoutStatefulMatch(t *testing.T) {
	p := pipeline(t, nil, true) // a nil store would panic if called
	out, err := p.Process(context.Background(), batch(rec(1, "MICROSOFT.COMPUTE/VIRTUALMACHINES/WRITE", "lu@contoso.example", "RG", "VM", t0)))
	if err != nil {
		t.Fatal(err)
	}
	if out.StoreCalls != 0 || out.Records != 1 {
		t.Fatalf("store calls %d, records %d; want 0 and 1", out.StoreCalls, out.Records)
	}
}
