package alerting

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/tripline/tripline/alert"
)

// worst is a string whose every byte encoding/json writes as six (\u0001),
// n bytes long: the most a clipped field can cost.
func worst(n int) string { return strings.Repeat("\x01", n) }

// TestWorstCaseDocumentFits: a document with every part at its cap, every
// string longer than its clip limit and made of the characters that cost
// most to encode, and every alert waiting on four channels, still encodes
// within docBudget once bounded. The caps are what hold it, not luck.
func TestWorstCaseDocumentFits(t *testing.T) {
	t0 := time.Date(2025, 5, 6, 9, 0, 0, 123456789, time.UTC)
	long := worst(100 << 10)
	rule := alert.RuleInfo{ID: long, Name: long, Severity: long, RiskScore: 100, Description: long}
	for i := 0; i < 40; i++ {
		rule.Steps = append(rule.Steps, long)
		rule.Techniques = append(rule.Techniques, alert.Technique{ID: long, Name: long, Reference: long})
	}
	// An event far over maxEventSize, trimmed as apply trims it.
	bigEvent := map[string]any{"message": long, "user": map[string]any{"name": "dana"}}
	for i := 0; i < 200; i++ {
		bigEvent[fmt.Sprintf("f%03d", i)] = worst(2000)
	}
	ev, truncated := trimEvent(bigEvent, maxEventSize)
	if !truncated || len(ev) > maxEventSize {
		t.Fatalf("trimEvent: %d bytes, truncated %v", len(ev), truncated)
	}
	doc := &groupDoc{ID: "grp-" + strings.Repeat("a", 32), TTL: 1 << 30, Pending: true, RuleID: long, GroupKey: long}
	for i := 0; i < maxAlerts; i++ {
		group := map[string]string{}
		for k := 0; k < 20; k++ {
			group[worst(300)+fmt.Sprint(k)] = long
		}
		deliveries := map[string]*alert.Delivery{}
		for _, ch := range []string{"webhook", "teams", "slack", "pagerduty"} {
			deliveries[ch] = &alert.Delivery{State: alert.DeliveryPending, Attempts: 1 << 40, LastError: long,
				LastAttempt: t0, NextAttempt: t0, SentAt: t0, Since: t0}
		}
		at := t0.Add(time.Duration(i) * time.Hour)
		doc.Alerts = append(doc.Alerts, storedAlert{
			Alert: alert.Alert{ID: alertID(doc.ID, at), Rule: rule, State: alert.StateSuppressed, Count: 1 << 40,
				FirstSeen: at, LastSeen: at, WindowEnd: at, Group: group, Source: long, Deliveries: deliveries, Truncated: true},
			WindowStart: at, HeldBack: true, Event: ev,
		})
	}
	for i := 0; i < 3*maxSeen; i++ {
		doc.Seen = append(doc.Seen, recordHash(fmt.Sprint(i)))
	}
	body, err := doc.marshal()
	if err != nil {
		t.Fatal(err)
	}
	events := 0
	for _, a := range doc.Alerts {
		if len(a.Event) > 0 {
			events++
		}
	}
	if events != maxEvents || len(doc.Seen) != maxSeen {
		t.Fatalf("bounded document keeps %d events and %d identities, want %d and %d", events, len(doc.Seen), maxEvents, maxSeen)
	}
	for _, a := range doc.Alerts {
		a.Event = nil
		meta, err := json.Marshal(a)
		if err != nil {
			t.Fatal(err)
		}
		if len(meta) > alertMetaCap {
			t.Fatalf("an alert without its event takes %d bytes, more than alertMetaCap %d", len(meta), alertMetaCap)
		}
	}
	t.Logf("worst-case group document: %d bytes (budget %d, Cosmos DB limit %d)", len(body), docBudget, 2<<20)
	if len(body) > docBudget {
		t.Fatalf("worst-case document is %d bytes, over the budget %d", len(body), docBudget)
	}
}

// TestEarlierLayoutIsShrunk: a document written before the budget (every
// alert with its event and up to 10,000 identities; this one 2.3 MB) is
// read, keeps the newest identities in the rolling set, and is written
// back within the budget, events kept only where still needed.
func TestEarlierLayoutIsShrunk(t *testing.T) {
	t0 := time.Date(2025, 5, 6, 9, 0, 0, 0, time.UTC)
	type oldAlert struct {
		alert.Alert
		WindowStart time.Time `json:"window_start"`
		Records     []string  `json:"records"`
	}
	var alerts []oldAlert
	n := 0
	for i := 0; i < 21; i++ {
		at := t0.Add(time.Duration(i) * time.Hour)
		a := oldAlert{Alert: alert.Alert{ID: fmt.Sprint("alt-", i), Count: 3000, WindowEnd: at.Add(time.Hour),
			Event: map[string]any{"message": strings.Repeat("m", 80<<10), "user": map[string]any{"name": "dana"}}}, WindowStart: at}
		for k := 0; k < 3000; k++ {
			a.Records = append(a.Records, recordHash(fmt.Sprint(n)))
			n++
		}
		alerts = append(alerts, a)
	}
	old, err := json.Marshal(map[string]any{"id": "grp-1", "ttl": 60, "rule_id": "r", "group_key": "k", "alerts": alerts})
	if err != nil {
		t.Fatal(err)
	}
	if len(old) < 2<<20 {
		t.Fatalf("the old document is %d bytes; the test wants one over Cosmos DB's limit", len(old))
	}
	doc, err := decodeGroupDoc(old)
	if err != nil {
		t.Fatal(err)
	}
	if len(doc.Seen) != maxSeen || doc.Seen[maxSeen-1] != recordHash(fmt.Sprint(n-1)) || doc.Seen[0] != recordHash(fmt.Sprint(n-maxSeen)) {
		t.Fatalf("rolling set after reading: %d identities, want the newest %d", len(doc.Seen), maxSeen)
	}
	body, err := doc.marshal()
	if err != nil {
		t.Fatal(err)
	}
	if len(body) > docBudget || bytes.Contains(body, []byte(`"records"`)) {
		t.Fatalf("written back: %d bytes (budget %d), records field present: %v", len(body), docBudget, bytes.Contains(body, []byte(`"records"`)))
	}
	last := doc.Alerts[len(doc.Alerts)-1].full()
	if last.Event["user"].(map[string]any)["name"] != "dana" || !last.Truncated || len(doc.Alerts[len(doc.Alerts)-1].Event) > maxEventSize {
		t.Fatalf("the open alert's event: %d bytes, truncated %v, user %v", len(doc.Alerts[len(doc.Alerts)-1].Event), last.Truncated, last.Event["user"])
	}
	if doc.Alerts[0].Event != nil {
		t.Fatal("a closed, delivered alert kept its event")
	}
	t.Logf("earlier layout: %d bytes read, %d written back", len(old), len(body))
}

// TestTrimEvent: an event that fits is encoding/json's bytes; one that
// does not fits after the cut, keeps its short fields whole and says what
// was cut; the event given is left as it was.
func TestTrimEvent(t *testing.T) {
	many := map[string]any{}
	for i := 0; i < 20000; i++ {
		many[fmt.Sprintf("k%05d", i)] = []any{json.Number("1"), true}
	}
	many["user"] = "dana"
	cases := []struct {
		name      string
		ev        map[string]any
		truncated bool
		keep      string // a JSON fragment the result must contain
	}{
		{"small", map[string]any{"user": map[string]any{"name": "dana <d@x>"}, "n": json.Number("12.50")}, false, `"n":12.50`},
		{"3 MB field", map[string]any{"message": strings.Repeat("x", 3<<20), "user": map[string]any{"name": "dana"}}, true, `"user":{"name":"dana"}`},
		{"many big fields", func() map[string]any {
			m := map[string]any{"user": map[string]any{"name": "dana"}}
			for i := 0; i < 100; i++ {
				m[fmt.Sprint("f", i)] = strings.Repeat("é<", 5000)
			}
			return m
		}(), true, `"user":{"name":"dana"}`},
		{"escapes", map[string]any{"a": worst(1 << 20), "b": "short"}, true, `"b":"short"`},
		{"many small fields", many, true, `"user":"dana"`},
		{"nil", nil, false, `null`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before, _ := json.Marshal(tc.ev)
			got, truncated := trimEvent(tc.ev, maxEventSize)
			if after, _ := json.Marshal(tc.ev); !bytes.Equal(before, after) {
				t.Fatal("trimEvent changed the event it was given")
			}
			if truncated != tc.truncated || len(got) > maxEventSize || !json.Valid(got) {
				t.Fatalf("%d bytes, truncated %v, valid %v; want truncated %v, at most %d", len(got), truncated, json.Valid(got), tc.truncated, maxEventSize)
			}
			if !truncated && !bytes.Equal(got, before) {
				t.Fatalf("an event that fits was changed:\n%s\nwant\n%s", got, before)
			}
			if !bytes.Contains(got, []byte(tc.keep)) {
				t.Fatalf("result lacks %s", tc.keep)
			}
			if truncated && !bytes.Contains(got, []byte("truncated")) {
				t.Fatal("a cut event does not say so")
			}
			t.Logf("%d bytes in, %d kept", len(before), len(got))
		})
	}
}

// FuzzClip: clip's result encodes within the limit, is s itself when s
// fits, is a prefix of s otherwise (valid UTF-8 kept valid), and quotedLen
// agrees with encoding/json.
func FuzzClip(f *testing.F) {
	f.Add("plain", 64)
	f.Add(strings.Repeat("é<\x01\xff\u2028", 40), 100)
	f.Add(strings.Repeat("x", 500), 64)
	f.Fuzz(func(t *testing.T, s string, limit int) {
		limit = 64 + (limit&0xffff)%4096
		enc, _ := json.Marshal(s)
		if quotedLen(s) != len(enc) {
			t.Fatalf("quotedLen(%q) = %d, encoding/json writes %d", s, quotedLen(s), len(enc))
		}
		got := clip(s, limit)
		if quotedLen(got) > limit {
			t.Fatalf("clip(%q, %d) encodes to %d bytes", s, limit, quotedLen(got))
		}
		if len(enc) <= limit && got != s {
			t.Fatalf("clip changed a string that fits: %q", got)
		}
		if got != s {
			i := strings.Index(got, "…[truncated ")
			if i < 0 || !strings.HasPrefix(s, got[:i]) {
				t.Fatalf("clip(%q) = %q: not a prefix and a note", s, got)
			}
			if utf8.ValidString(s) && !utf8.ValidString(got) {
				t.Fatalf("clip cut a rune: %q", got)
			}
		}
	})
}

// TestTrimKeepsPendingAlerts: closed alerts with nothing pending go first
// (beyond maxClosedAlerts); alerts still waiting for a delivery are kept up
// to maxAlerts and only then pushed out, oldest first, for the caller to
// dead-letter; the newest stays.
func TestTrimKeepsPendingAlerts(t *testing.T) {
	pending := map[string]*alert.Delivery{"webhook": {State: alert.DeliveryPending}}
	mk := func(n int, pendingFrom int) *groupDoc {
		d := &groupDoc{}
		for i := 0; i < n; i++ {
			a := storedAlert{Alert: alert.Alert{ID: fmt.Sprint(i)}}
			if i >= pendingFrom {
				a.Deliveries = pending
			}
			d.Alerts = append(d.Alerts, a)
		}
		return d
	}
	ids := func(as []storedAlert) string {
		var s []string
		for _, a := range as {
			s = append(s, a.ID)
		}
		return strings.Join(s, ",")
	}
	d := mk(30, 30) // nothing pending
	if out := d.trim(); len(out) != 0 || len(d.Alerts) != maxClosedAlerts+1 || d.Alerts[0].ID != "9" {
		t.Fatalf("30 delivered alerts: kept %d from %s, pushed out %d", len(d.Alerts), d.Alerts[0].ID, len(out))
	}
	d = mk(60, 5) // 5 delivered, 55 pending
	out := d.trim()
	if len(d.Alerts) != maxAlerts || d.Alerts[len(d.Alerts)-1].ID != "59" {
		t.Fatalf("kept %d alerts, last %s", len(d.Alerts), d.Alerts[len(d.Alerts)-1].ID)
	}
	if got := ids(out); got != "5,6,7,8,9,10,11" {
		t.Fatalf("pushed out %s, want the 7 oldest pending", got)
	}
	if !reflect.DeepEqual(d.Alerts[0].Deliveries, pending) {
		t.Fatal("a kept alert lost its delivery state")
	}
}
