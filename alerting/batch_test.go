package alerting_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/tripline/tripline/alerting"
	"github.com/tripline/tripline/handler"
	"github.com/tripline/tripline/internal/hostsim"
	"github.com/tripline/tripline/store/memory"
)

// TestProcessBatchInPlaceMatchesDecoded: a host request processed in place
// (Route.InPlace, ProcessBatch) gives the outcome of decoding every body and
// processing them, for the repository's examples and malformed messages.
func TestProcessBatchInPlaceMatchesDecoded(t *testing.T) {
	var bodies [][]byte
	files, _ := filepath.Glob("../examples/*.json")
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := handler.IsHostRequest(b); !ok {
			bodies = append(bodies, b)
		}
	}
	if len(bodies) < 2 {
		t.Fatalf("only %d example bodies", len(bodies))
	}
	bodies = append(bodies,
		body(seedRecord("c-1", t0, "p1", "arc-1"), seedRecord("c-2", t0, "p1", "arc-1")),
		[]byte(`{"records":[`+string(mustJSON(seedRecord("c-3", t0, "p2", "arc-2")))+`, 42, {"no":"operation"}]}`),
		[]byte(`{"records":[{"broken": }`),
		[]byte(`not json at all`),
		[]byte(`{"records":[{"operationName":"`+seedOp+`","resultType":"Success","x":tru}]}`),
		[]byte(`{"records":[{"operationName":"MICROSOFT.KUBERNETES/CONNECTEDCLUSTERS/EVENTS.K8S.\u0131O/EVENTS/DELETE","resultType":"Success"}]}`),
	)
	route := handler.Route{Function: "ActivityLogEvents", Trigger: handler.EventHubBatch, Binding: "events"}
	for seed := uint64(1); seed <= 4; seed++ {
		req, err := hostsim.EncodeEventHubBatch("..", "ActivityLogEvents", bodies, hostsim.BatchOptions{Seed: seed})
		if err != nil {
			t.Fatal(err)
		}
		inPlace := route
		inPlace.InPlace = true
		inv, err := handler.DecodeRequest(inPlace, req)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := inv.Encoded(); !ok {
			t.Fatal("the request was not handed over in place")
		}
		got, err := newPipeline(t, memory.New(nil)).ProcessBatch(context.Background(), inv)
		if err != nil {
			t.Fatal(err)
		}
		decoded, err := handler.DecodeRequest(route, req)
		if err != nil {
			t.Fatal(err)
		}
		want, err := newPipeline(t, memory.New(nil)).ProcessBatch(context.Background(), decoded)
		if err != nil {
			t.Fatal(err)
		}
		if got.Messages != len(bodies) || want.Messages != len(bodies) {
			t.Errorf("messages: in place %d, decoded %d, want %d", got.Messages, want.Messages, len(bodies))
		}
		if got.Records != want.Records || got.Matched != want.Matched || got.New != want.New || got.Excepted != want.Excepted {
			t.Errorf("in place records/matched/new/excepted %d/%d/%d/%d, decoded %d/%d/%d/%d",
				got.Records, got.Matched, got.New, got.Excepted, want.Records, want.Matched, want.New, want.Excepted)
		}
		if !reflect.DeepEqual(alertIDs(got), alertIDs(want)) {
			t.Errorf("alerts: in place %v, decoded %v", alertIDs(got), alertIDs(want))
		}
		// In place reports the skips of splitting exactly, and of decoding
		// only for the records it decodes.
		all := map[string]bool{}
		for _, s := range want.Skips {
			all[s.String()] = true
		}
		for _, s := range got.Skips {
			if !all[s.String()] {
				t.Errorf("in-place skip %v not reported when decoded", s)
			}
		}
		if got.Matched == 0 || len(got.Skips) < 3 {
			t.Errorf("the batch exercises too little: %d matches, %d skips", got.Matched, len(got.Skips))
		}
	}
}

func alertIDs(out *alerting.Outcome) []string {
	var ids []string
	for _, a := range out.Alerts {
		ids = append(ids, a.ID+" "+string(a.State))
	}
	return ids
}

// TestProcessBatchInPlaceTextNotTheBatch: when the text the handler hands
// over in place runs past the events string (a request whose Metadata holds
// what marks that string's end), ProcessBatch notices and processes the
// bodies the host sent, the same as decoding them first.
func TestProcessBatchInPlaceTextNotTheBatch(t *testing.T) {
	bodies := []string{string(body(seedRecord("c-1", t0, "p1", "arc-1"))), `{"records":[{"operationName":"other"}]}`}
	arr, _ := json.Marshal(bodies)
	events, _ := json.Marshal(string(arr))
	req := []byte(`{"Data":{"events":` + string(events) + `},"Metadata":{"A":"[1]"},"Metadata":{"RetryContext":{"RetryCount":0}}}`)
	route := handler.Route{Function: "ActivityLogEvents", Trigger: handler.EventHubBatch, Binding: "events"}
	inPlace := route
	inPlace.InPlace = true
	inv, err := handler.DecodeRequest(inPlace, req)
	if err != nil {
		t.Fatal(err)
	}
	if text, ok := inv.Encoded(); !ok || len(text) <= len(events)-2 {
		t.Fatalf("the request does not exercise a wrong text: in place %v, %d bytes", ok, len(text))
	}
	got, err := newPipeline(t, memory.New(nil)).ProcessBatch(context.Background(), inv)
	if err != nil {
		t.Fatal(err)
	}
	if got.Messages != 2 || got.Records != 2 || got.Matched != 1 || got.New != 1 || len(got.Skips) != 0 {
		t.Errorf("messages/records/matched/new %d/%d/%d/%d, skips %v; want 2/2/1/1, none", got.Messages, got.Records, got.Matched, got.New, got.Skips)
	}
}
