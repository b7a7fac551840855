package alerting_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tripline/tripline/alert"
	"github.com/tripline/tripline/alerting"
	"github.com/tripline/tripline/notify"
	"github.com/tripline/tripline/store"
)

// budget is the group document's hard size budget (alerting's docBudget):
// 1.5 MiB, below Cosmos DB's 2 MB item limit.
const budget = 1536 << 10

// sizes wraps a store and keeps the largest body written.
type sizes struct {
	alerting.Store
	mu      sync.Mutex
	largest int
	writes  int
}

func (s *sizes) seen(b []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.writes++
	s.largest = max(s.largest, len(b))
}

func (s *sizes) Create(ctx context.Context, id string, b []byte) (string, error) {
	s.seen(b)
	return s.Store.Create(ctx, id, b)
}

func (s *sizes) Replace(ctx context.Context, id string, b []byte, etag string) (string, error) {
	s.seen(b)
	return s.Store.Replace(ctx, id, b, etag)
}

// window returns n seed records of one cluster and principal inside the
// window starting at start, identities prefixed with name.
func window(name string, start time.Time, n int) []map[string]any {
	recs := make([]map[string]any, n)
	for i := range recs {
		recs[i] = seedRecord(fmt.Sprintf("%s-%d", name, i), start.Add(time.Duration(i)*time.Millisecond), "p1", "arc-1")
	}
	return recs
}

// TestOneGroupThroughThousandsOfWindows: one suppression group (one
// cluster, one principal) goes through 3,000 windows of the seed rule (25
// minutes each). Six consecutive windows hold 10,000 matching records each
// (the load that broke the earlier document on its sixth window), each
// window a batch of its own; the others hold 4 records, ten windows to a
// batch. Every batch succeeds, every window's alert counts exactly its
// records, and no document written exceeds the budget.
func TestOneGroupThroughThousandsOfWindows(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func(t *testing.T) alerting.Store) {
		st := &sizes{Store: open(t)}
		p := newPipeline(t, st)
		const windows, perBatch, heavyFrom, heavy = 3000, 10, 1500, 6
		records, batches := 0, 0
		var last []byte
		lastN := 0
		for w := 0; w < windows; {
			var recs []map[string]any
			want := map[string]int{} // window start → records
			for k := 0; k < perBatch && w < windows; k++ {
				n := 4
				if w >= heavyFrom && w < heavyFrom+heavy {
					if k > 0 {
						break // a heavy window is a batch of its own
					}
					n = 10000
				}
				start := t0.Add(time.Duration(w) * 26 * time.Minute)
				recs = append(recs, window(fmt.Sprint("w", w), start, n)...)
				want[start.Format(time.RFC3339)] = n
				records += n
				w++
				if n > 4 {
					break
				}
			}
			last, lastN = body(recs...), len(recs)
			out, err := p.Process(context.Background(), [][]byte{last})
			if err != nil {
				t.Fatalf("batch %d (window %d, %d records): %v", batches, w, len(recs), err)
			}
			batches++
			if out.New != len(want) || out.Suppressed != len(recs)-len(want) || len(out.Alerts) != len(want) || len(out.DeadLetters) != 0 {
				t.Fatalf("batch %d: new=%d suppressed=%d alerts=%s dead letters %v, want %d windows", batches, out.New, out.Suppressed, states(out), out.DeadLetters, len(want))
			}
			for _, a := range out.Alerts {
				if n := want[a.FirstSeen.Format(time.RFC3339)]; a.Count != n || a.State != alert.StateNew {
					t.Fatalf("batch %d: alert of the window at %s is %s:%d, want new:%d", batches, a.FirstSeen, a.State, a.Count, n)
				}
			}
		}
		// The last batch redelivered: within the rolling set, nothing counts twice.
		again := mustProcess(t, p, last)
		if again.Duplicates != lastN || again.Suppressed != 0 || again.New != 0 {
			t.Fatalf("redelivery of the last batch: dup=%d suppressed=%d new=%d", again.Duplicates, again.Suppressed, again.New)
		}
		t.Logf("%d windows, %d records, %d batches, %d writes; largest document %d bytes (budget %d)", windows, records, batches, st.writes, st.largest, budget)
		if st.largest > budget {
			t.Fatalf("a document of %d bytes was written, over the budget %d", st.largest, budget)
		}
	})
}

// bigRecord is a seed record whose properties.message makes it size bytes
// of JSON.
func bigRecord(corr string, at time.Time, size int) map[string]any {
	rec := seedRecord(corr, at, "p1", "arc-1")
	base := len(mustJSON(rec))
	rec["properties"] = map[string]any{"message": strings.Repeat("m", max(size-base-30, 0))}
	return rec
}

// TestLargeRecordsRecordedTrimmed: records of 800 KB (one per window, the
// load that broke the earlier document on its third window), of 1 MB (the
// largest event Event Hubs takes) and with a 3 MB field are all recorded:
// the batch succeeds, the alert's event is cut to 64 KiB and marked
// truncated, its short fields whole, and the document stays in budget.
func TestLargeRecordsRecordedTrimmed(t *testing.T) {
	cases := []struct {
		name    string
		size    int
		windows int
	}{
		{"800 KB per window", 800 << 10, 12},
		{"1 MB", 1 << 20, 2},
		{"3 MB field", 3<<20 + 4096, 1},
	}
	forEachStore(t, func(t *testing.T, open func(t *testing.T) alerting.Store) {
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				st := &sizes{Store: open(t)}
				p := newPipeline(t, st)
				for w := 0; w < tc.windows; w++ {
					at := t0.Add(time.Duration(w) * 26 * time.Minute)
					rec := bigRecord(fmt.Sprint(tc.name, w), at, tc.size)
					if got := len(mustJSON(rec)); got < tc.size-100 {
						t.Fatalf("the record is %d bytes, want about %d", got, tc.size)
					}
					out, err := p.Process(context.Background(), [][]byte{body(rec)})
					if err != nil {
						t.Fatalf("window %d: %v", w, err)
					}
					if states(out) != "new:1" || out.Truncated != 1 || len(out.DeadLetters) != 0 {
						t.Fatalf("window %d: alerts=%s truncated=%d dead letters %v", w, states(out), out.Truncated, out.DeadLetters)
					}
					a := out.Alerts[0]
					ev, _ := json.Marshal(a.Event)
					op := a.Event["event"].(map[string]any)["action"]
					if !a.Truncated || len(ev) > 64<<10 || op != seedOp || !strings.Contains(string(ev), "…[truncated ") {
						t.Fatalf("window %d: event of %d bytes, truncated %v, event.action %v", w, len(ev), a.Truncated, op)
					}
				}
				t.Logf("largest document %d bytes", st.largest)
				if st.largest > budget {
					t.Fatalf("a document of %d bytes was written, over the budget %d", st.largest, budget)
				}
			})
		}
	})
}

// TestRedeliveryWithinTheRollingSet: a batch of 1,000 records (the rolling
// set's size) of one group, redelivered whole, counts nothing twice.
func TestRedeliveryWithinTheRollingSet(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func(t *testing.T) alerting.Store) {
		p := newPipeline(t, open(t))
		batch := body(window("r", t0, 1000)...)
		first := mustProcess(t, p, batch)
		again := mustProcess(t, p, batch)
		if states(first) != "new:1000" || again.Duplicates != 1000 || states(again) != "duplicate:1000" {
			t.Fatalf("first %s, redelivered %s (dup=%d)", states(first), states(again), again.Duplicates)
		}
	})
}

// TestRedeliveryPastTheRollingSetCountsAgain pins the documented limit: a
// record redelivered after more than 1,000 newer records of its group were
// counted is counted again (here the 500 oldest of a 1,500-record batch).
// It only inflates the count of an alert whose window is still in the
// document; no second notification is sent.
func TestRedeliveryPastTheRollingSetCountsAgain(t *testing.T) {
	p := newPipeline(t, boltFactory().open(t))
	batch := body(window("r", t0, 1500)...)
	mustProcess(t, p, batch)
	again := mustProcess(t, p, batch)
	if again.New != 0 || again.Duplicates != 1000 || again.Suppressed != 500 || states(again) != "suppressed:2000" {
		t.Fatalf("redelivered past the set: new=%d dup=%d suppressed=%d alerts=%s", again.New, again.Duplicates, again.Suppressed, states(again))
	}
}

// refusing is a store that refuses, as invalid, the writes of group
// documents for which refuse returns true: a document no retry can write.
type refusing struct {
	alerting.Store
	refuse func(body []byte) bool
}

func (r *refusing) check(id string, b []byte) error {
	if strings.HasPrefix(id, "grp-") && r.refuse(b) {
		return fmt.Errorf("refusing: %w: test", store.ErrInvalid)
	}
	return nil
}

func (r *refusing) Create(ctx context.Context, id string, b []byte) (string, error) {
	if err := r.check(id, b); err != nil {
		return "", err
	}
	return r.Store.Create(ctx, id, b)
}

func (r *refusing) Replace(ctx context.Context, id string, b []byte, etag string) (string, error) {
	if err := r.check(id, b); err != nil {
		return "", err
	}
	return r.Store.Replace(ctx, id, b, etag)
}

// TestRefusedDocumentRecordedBoundedOrDeadLettered: a group document the
// store refuses is written again without events (alerts marked truncated);
// refused again, its matches go to the dead-letter place, listed in the
// index once however often the batch is redelivered. The batch succeeds
// every time.
func TestRefusedDocumentRecordedBoundedOrDeadLettered(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func(t *testing.T) alerting.Store) {
		t.Run("without events", func(t *testing.T) {
			p := newPipeline(t, &refusing{Store: open(t), refuse: func(b []byte) bool { return strings.Contains(string(b), `"event":`) }})
			out := mustProcess(t, p, body(seedRecord("a", t0, "p1", "arc-1"), seedRecord("b", t0.Add(time.Second), "p1", "arc-1")))
			if states(out) != "new:2" || out.Truncated != 1 || !out.Alerts[0].Truncated || out.Alerts[0].Event != nil || len(out.DeadLetters) != 0 {
				t.Fatalf("alerts=%s truncated=%d event %v dead letters %v", states(out), out.Truncated, out.Alerts[0].Event, out.DeadLetters)
			}
		})
		t.Run("dead-lettered", func(t *testing.T) {
			p := newPipeline(t, &refusing{Store: open(t), refuse: func([]byte) bool { return true }})
			batch := body(seedRecord("a", t0, "p1", "arc-1"), ordinary(1), seedRecord("b", t0.Add(time.Second), "p1", "arc-1"))
			out := mustProcess(t, p, batch)
			if out.Matched != 2 || len(out.Alerts) != 0 || len(out.DeadLetters) != 1 {
				t.Fatalf("matched=%d alerts=%s dead letters %v", out.Matched, states(out), out.DeadLetters)
			}
			again := mustProcess(t, p, batch)
			if len(again.DeadLetters) != 1 || again.DeadLetters[0] != out.DeadLetters[0] {
				t.Fatalf("redelivery wrote dead letters %v, want the same %v", again.DeadLetters, out.DeadLetters)
			}
			entries, total, err := p.DeadLetters(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if total != 1 || len(entries) != 1 || entries[0].ID != out.DeadLetters[0] || entries[0].Kind != alerting.DeadMatches ||
				entries[0].Matches != 2 || !strings.Contains(entries[0].Reason, "refus") {
				t.Fatalf("index: total %d, entries %+v", total, entries)
			}
			b, err := p.DeadLetterBody(context.Background(), entries[0].ID)
			if err != nil {
				t.Fatal(err)
			}
			var dl struct {
				Records []struct {
					Identity string         `json:"identity"`
					Event    map[string]any `json:"event"`
				} `json:"records"`
			}
			if err := json.Unmarshal(b, &dl); err != nil || len(dl.Records) != 2 || dl.Records[0].Event["event"] == nil {
				t.Fatalf("dead letter %s (%v)", b, err)
			}
		})
	})
}

// TestUnreadableDocumentDeadLettered: a stored group document that cannot
// be read is a permanent condition; the matches of its group are
// dead-lettered and the batch succeeds.
func TestUnreadableDocumentDeadLettered(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func(t *testing.T) alerting.Store) {
		st := &lastWrite{Store: open(t)}
		p := newPipeline(t, st)
		mustProcess(t, p, body(seedRecord("a", t0, "p1", "arc-1")))
		var head struct {
			ID string `json:"id"`
		}
		if err := json.Unmarshal(st.body, &head); err != nil {
			t.Fatal(err)
		}
		it, err := st.Get(context.Background(), head.ID)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.Store.Replace(context.Background(), head.ID, []byte(`{"id":"`+head.ID+`","ttl":60,"alerts":"not a list"}`), it.ETag); err != nil {
			t.Fatal(err)
		}
		out, err := p.Process(context.Background(), [][]byte{body(seedRecord("b", t0.Add(time.Minute), "p1", "arc-1"))})
		if err != nil {
			t.Fatalf("an unreadable document failed the batch (the host would retry it forever): %v", err)
		}
		if len(out.DeadLetters) != 1 {
			t.Fatalf("dead letters %v, want 1", out.DeadLetters)
		}
	})
}

// heldBackIgnored adapts notify.Dispatcher to alerting.Notifier.
type heldBackIgnored struct{ *notify.Dispatcher }

func (h heldBackIgnored) SendHeldBack(ctx context.Context, hb alert.HeldBack) {
	_ = h.Dispatcher.SendHeldBack(ctx, hb)
}

// TestPendingAlertsPushedOutAreDeadLettered: with the only channel down,
// every alert of a busy group stays pending (50 windows); the document
// keeps 48 alerts at most, and the oldest pending ones pushed out go to the
// dead-letter place with their delivery state, visibly, rather than
// growing the document past its budget.
func TestPendingAlertsPushedOutAreDeadLettered(t *testing.T) {
	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// A Retry-After beyond the inline policy's wait ends the inline
		// attempts at once: the alert stays pending for the retry pass.
		w.Header().Set("Retry-After", "3600")
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	t.Cleanup(down.Close)
	channels, err := notify.FromSettings(notify.Settings{WebhookURL: down.URL, WebhookSecret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}, down.Client())
	if err != nil {
		t.Fatal(err)
	}
	forEachStore(t, func(t *testing.T, open func(t *testing.T) alerting.Store) {
		st := &sizes{Store: open(t)}
		p := newPipeline(t, st)
		p.Notifier = heldBackIgnored{&notify.Dispatcher{Channels: channels, Horizon: 24 * time.Hour, RetryBase: time.Minute}}
		var dead []string
		for w := 0; w < 50; w++ {
			// The last ten records are large, so that the document ends
			// with its most events (8) at their largest (64 KiB).
			size := 2 << 10
			if w >= 40 {
				size = 100 << 10
			}
			out := mustProcess(t, p, body(bigRecord(fmt.Sprint("w", w), t0.Add(time.Duration(w)*26*time.Minute), size)))
			if states(out) != "new:1" || out.Undelivered != 1 {
				t.Fatalf("window %d: alerts=%s undelivered=%d", w, states(out), out.Undelivered)
			}
			dead = append(dead, out.DeadLetters...)
		}
		if len(dead) != 2 {
			t.Fatalf("dead letters %v, want the 2 alerts beyond 48", dead)
		}
		entries, _, err := p.DeadLetters(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if len(entries) != 2 || entries[0].Kind != alerting.DeadAlert {
			t.Fatalf("index %+v", entries)
		}
		b, err := p.DeadLetterBody(context.Background(), entries[0].ID)
		if err != nil {
			t.Fatal(err)
		}
		var dl struct {
			Alert *alert.Alert `json:"alert"`
		}
		if err := json.Unmarshal(b, &dl); err != nil || dl.Alert == nil || !dl.Alert.Pending() {
			t.Fatalf("dead letter %.300s (%v): want the pending alert", b, err)
		}
		t.Logf("largest document %d bytes", st.largest)
		if st.largest > budget {
			t.Fatalf("a document of %d bytes was written, over the budget %d", st.largest, budget)
		}
	})
}
