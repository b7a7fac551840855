package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tripline/tripline/alerting"
	"github.com/tripline/tripline/handler"
	"github.com/tripline/tripline/store"
	"github.com/tripline/tripline/store/bolt"
)

// refuseGroups is the embedded store refusing every group document as
// invalid, as a store refuses a document no retry can write; the pipeline
// writes through its transactions (Batch).
type refuseGroups struct{ *bolt.Store }

func (r refuseGroups) Batch(ctx context.Context, fn func(tx store.Tx) error) error {
	return r.Store.Batch(ctx, func(tx store.Tx) error { return fn(refuseTx{tx}) })
}

type refuseTx struct{ store.Tx }

func refuse(id string) error {
	if strings.HasPrefix(id, "grp-") {
		return fmt.Errorf("test: %w", store.ErrInvalid)
	}
	return nil
}

func (r refuseTx) Create(ctx context.Context, id string, b []byte) (string, error) {
	if err := refuse(id); err != nil {
		return "", err
	}
	return r.Tx.Create(ctx, id, b)
}

func (r refuseTx) Replace(ctx context.Context, id string, b []byte, etag string) (string, error) {
	if err := refuse(id); err != nil {
		return "", err
	}
	return r.Tx.Replace(ctx, id, b, etag)
}

// TestDeadLetterCommand: matches the store would not take are listed by
// `tripline deadletter`, and `tripline deadletter ID` prints their records.
func TestDeadLetterCommand(t *testing.T) {
	env := isolatedEnv(t, nil)
	empty, stderr, code := runBinary(t, env, "deadletter")
	if code != 0 || !strings.HasPrefix(empty, "0 dead letter(s)") {
		t.Fatalf("empty store: exit %d, stdout %q, stderr %s", code, empty, stderr)
	}

	st, err := bolt.Open(env["TRIPLINE_STATE_FILE"], nil)
	if err != nil {
		t.Fatal(err)
	}
	engine, _, err := loadEngine(ruleSources{}, func(string) {})
	if err != nil {
		t.Fatal(err)
	}
	p := &alerting.Pipeline{Engine: engine, Store: refuseGroups{st}, TTL: time.Hour}
	out, err := p.Process(context.Background(), [][]byte{readExample(t, "activitylog-eventhub.json")})
	st.Close()
	if err != nil {
		t.Fatal(err)
	}
	if len(out.DeadLetters) != 1 {
		t.Fatalf("dead letters %v, want 1 (matched %d)", out.DeadLetters, out.Matched)
	}
	id := out.DeadLetters[0]

	list, stderr, code := runBinary(t, env, "deadletter")
	if code != 0 || !strings.HasPrefix(list, "1 dead letter(s)") || !strings.Contains(list, id) || !strings.Contains(list, "matches") {
		t.Fatalf("list: exit %d, stdout %q, stderr %s", code, list, stderr)
	}
	js, _, code := runBinary(t, env, "deadletter", "--json")
	var entry alerting.DeadLetter
	if code != 0 || json.Unmarshal([]byte(js), &entry) != nil || entry.ID != id || entry.Matches != out.Matched {
		t.Fatalf("--json: exit %d, %q", code, js)
	}
	one, stderr, code := runBinary(t, env, "deadletter", id)
	var doc struct {
		Records []struct {
			Event map[string]any `json:"event"`
		} `json:"records"`
	}
	if code != 0 || json.Unmarshal([]byte(one), &doc) != nil || len(doc.Records) != out.Matched || doc.Records[0].Event == nil {
		t.Fatalf("show: exit %d, stdout %.300q, stderr %s", code, one, stderr)
	}
	if _, stderr, code := runBinary(t, env, "deadletter", "dl-0000"); code != 1 || !strings.Contains(stderr, "no dead letter dl-0000") {
		t.Fatalf("unknown id: exit %d, stderr %s", code, stderr)
	}
}

// TestOutcomeLogsTruncatedAndDeadLetters: the invocation's Logs say how
// many events were cut and name each dead letter with the command to read
// it.
func TestOutcomeLogsTruncatedAndDeadLetters(t *testing.T) {
	logs := outcomeLogs(&handler.Invocation{Function: fnActivityLogEvents}, &alerting.Outcome{Truncated: 2, DeadLetters: []string{"dl-1", "dl-2"}})
	all := strings.Join(logs, "\n")
	for _, want := range []string{
		"2 alert event(s) cut to fit the store (marked truncated)",
		"dead-lettered dl-1: not recorded as an alert; see `tripline deadletter dl-1`",
		"dead-lettered dl-2: ",
	} {
		if !strings.Contains(all, want) {
			t.Errorf("logs lack %q:\n%s", want, all)
		}
	}
	if quiet := strings.Join(outcomeLogs(&handler.Invocation{Function: fnActivityLogEvents}, &alerting.Outcome{}), "\n"); strings.Contains(quiet, "truncated") || strings.Contains(quiet, "dead-lettered") {
		t.Errorf("an outcome with neither logs:\n%s", quiet)
	}
}
