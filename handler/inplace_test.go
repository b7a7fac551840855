package handler

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/tripline/tripline/internal/hostsim"
)

// TestInPlaceHandsOverTheEscapedBatch: with Route.InPlace, the batch is
// handed over as the host sent it, whatever the key order, and Bodies
// decodes exactly what the route without InPlace decodes.
func TestInPlaceHandsOverTheEscapedBatch(t *testing.T) {
	bodies := [][]byte{[]byte(`{"records":[{"operationName":"A/B"}]}`), []byte(`{"a":"\u0041\/\\\"\n"}`), []byte("plain \x01 text"), nil}
	for seed := uint64(0); seed < 8; seed++ { // the seed shuffles Data and Metadata
		req, err := hostsim.EncodeEventHubBatch("..", "ActivityLogEvents", bodies, hostsim.BatchOptions{Seed: seed})
		if err != nil {
			t.Fatal(err)
		}
		inPlace := fastRoute
		inPlace.InPlace = true
		inv, err := DecodeRequest(inPlace, req)
		if err != nil {
			t.Fatal(err)
		}
		text, ok := inv.Encoded()
		if !ok || len(inv.Messages) != 0 {
			t.Fatalf("seed %d: Encoded ok=%v with %d messages decoded", seed, ok, len(inv.Messages))
		}
		// The text is the content of the events string.
		var outer string
		if err := json.Unmarshal(append(append([]byte{'"'}, text...), '"'), &outer); err != nil {
			t.Fatalf("seed %d: text is not string content: %v", seed, err)
		}
		var arr []string
		if err := json.Unmarshal([]byte(outer), &arr); err != nil || len(arr) != len(bodies) {
			t.Fatalf("seed %d: text does not hold the batch: %v", seed, err)
		}
		want, err := DecodeRequest(fastRoute, req)
		if err != nil {
			t.Fatal(err)
		}
		got, err := inv.Bodies()
		if err != nil {
			t.Fatal(err)
		}
		for i := range bodies {
			if !bytes.Equal(got[i], want.Messages[i].Body) {
				t.Errorf("seed %d: body %d = %q, want %q", seed, i, got[i], want.Messages[i].Body)
			}
		}
		if !reflect.DeepEqual(inv.Messages, want.Messages) || inv.Partition != want.Partition || inv.RetryCount != want.RetryCount {
			t.Errorf("seed %d: decoded invocation differs from the route without InPlace", seed)
		}
	}
}

// TestInPlaceFallsBack: shapes the in-place reading does not take are
// decoded as before.
func TestInPlaceFallsBack(t *testing.T) {
	inPlace := fastRoute
	inPlace.InPlace = true
	for name, req := range map[string]string{
		"not a string":      `{"Data":{"events":["{}"]},"Metadata":{}}`,
		"no closing array":  `{"Data":{"events":"x"},"Metadata":{}}`,
		"other key in Data": `{"Data":{"events":"[]","x":1},"Metadata":{}}`,
	} {
		inv, err := DecodeRequest(inPlace, []byte(req))
		want, wantErr := DecodeRequest(fastRoute, []byte(req))
		if (err == nil) != (wantErr == nil) {
			t.Errorf("%s: error %v, without InPlace %v", name, err, wantErr)
			continue
		}
		if err != nil {
			continue
		}
		if _, ok := inv.Encoded(); ok {
			t.Errorf("%s: handed over in place", name)
		}
		if !reflect.DeepEqual(inv.Messages, want.Messages) {
			t.Errorf("%s: messages %v, want %v", name, inv.Messages, want.Messages)
		}
	}
}

// TestInPlaceTextThatIsNotTheBatch: when the first `]"` is not where the
// events string ends, Bodies still gives the invocation the host sent.
func TestInPlaceTextThatIsNotTheBatch(t *testing.T) {
	req := []byte(`{"Data":{"events":"[\"{}\"] "},"Metadata":{"RetryContext":{"RetryCount":2,"MaxRetryCount":5},"A":"[1]"}}`)
	inPlace := fastRoute
	inPlace.InPlace = true
	inv, err := DecodeRequest(inPlace, req)
	if err != nil {
		t.Fatal(err)
	}
	want, err := DecodeRequest(fastRoute, req)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := inv.Bodies(); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(inv.Messages, want.Messages) || inv.RetryCount != want.RetryCount || inv.MaxRetryCount != want.MaxRetryCount {
		t.Errorf("got %+v, want %+v", inv, want)
	}
}

// TestInPlaceInvalidBatch: a batch that does not decode is an error from
// Bodies, saying what is wrong.
func TestInPlaceInvalidBatch(t *testing.T) {
	req := []byte(`{"Data":{"events":"x"},"Metadata":{"A":"[1]"}}`)
	inPlace := fastRoute
	inPlace.InPlace = true
	inv, err := DecodeRequest(inPlace, req)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := inv.Bodies(); err == nil || !strings.Contains(err.Error(), "want a JSON array") {
		t.Errorf("Bodies: %v", err)
	}
}

// TestInPlaceFindsTheBatchEndFromTheBodyEnd: the events string is found
// from the end of the body (dataText), wherever Data is, with whitespace
// around it and Metadata strings ending in `]` after it. When Metadata
// holds the pattern dataText looks for, the text handed over is not the
// events string (EvaluateBatch rejects it) or the request is not read in
// place at all; either way Bodies gives the invocation the host sent.
func TestInPlaceFindsTheBatchEndFromTheBodyEnd(t *testing.T) {
	const events = `[\"{}\",\"{\\\"records\\\":[]}\"]`
	inPlace := fastRoute
	inPlace.InPlace = true
	const (
		theEvents  = iota // the text handed over is the events string
		otherText         // a longer text is handed over
		notInPlace        // the request is decoded in full at once
	)
	for name, tc := range map[string]struct {
		req  string
		want int
	}{
		"Data last":                   {`{"Metadata":{"A":"[1]"},"Data":{"events":"` + events + `"}}`, theEvents},
		"Data last, whitespace":       {`{"Metadata":{"A":"[1]"}, "Data" : { "events" : "` + events + `" } } ` + "\n", theEvents},
		"Data first":                  {`{"Data":{"events":"` + events + `"},"Metadata":{"A":"[1]","B":{"C":"[2]"}}}`, theEvents},
		"Data first, whitespace":      {`{"Data": {"events": "` + events + `"}, "Metadata": {"A": "[1]"}}`, theEvents},
		"nested marker in Metadata":   {`{"Data":{"events":"` + events + `"},"Metadata":{"B":{"C":"[2]"},"Metadata":{"RetryContext":{"RetryCount":9}}}}`, notInPlace},
		"Metadata twice, marker last": {`{"Data":{"events":"` + events + `"},"Metadata":{"A":"[1]"},"Metadata":{"RetryContext":{"RetryCount":2}}}`, otherText},
	} {
		inv, err := DecodeRequest(inPlace, []byte(tc.req))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		want, err := DecodeRequest(fastRoute, []byte(tc.req))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		got := notInPlace
		if text, ok := inv.Encoded(); ok {
			got = otherText
			if string(text) == events {
				got = theEvents
			}
		}
		if got != tc.want {
			t.Errorf("%s: handed over %d, want %d (0 the events string, 1 another text, 2 not in place)", name, got, tc.want)
		}
		if _, err := inv.Bodies(); err != nil {
			t.Fatalf("%s: Bodies: %v", name, err)
		}
		if !reflect.DeepEqual(inv.Messages, want.Messages) || inv.RetryCount != want.RetryCount || len(inv.Messages) != 2 {
			t.Errorf("%s: got %+v, want %+v", name, inv, want)
		}
	}
}
