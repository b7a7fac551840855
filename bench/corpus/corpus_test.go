package corpus_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/tripline/tripline/bench/corpus"
)

func TestDeterministicAndRealistic(t *testing.T) {
	a := corpus.Generate(corpus.Options{Messages: 40})
	b := corpus.Generate(corpus.Options{Messages: 40})
	if len(a.Bodies) != 40 || a.Records != 40*corpus.Defaults.RecordsPerMessage {
		t.Fatalf("%d bodies, %d records", len(a.Bodies), a.Records)
	}
	for i := range a.Bodies {
		if !bytes.Equal(a.Bodies[i], b.Bodies[i]) {
			t.Fatalf("body %d differs between two runs with the same options", i)
		}
		if !json.Valid(a.Bodies[i]) {
			t.Fatalf("body %d is not valid JSON", i)
		}
	}
	if a.Planted != a.Records*corpus.Defaults.MatchPerMille/1000 {
		t.Errorf("planted %d of %d", a.Planted, a.Records)
	}
	per := float64(a.Bytes) / float64(a.Records)
	if per < 1800 || per > 2800 {
		t.Errorf("%.0f bytes per record, want about 2 KB", per)
	}
}

// TestOneSourcePerMessage: as on Azure, a message holds Activity Log
// records or AKS resource-log records, never both; about the configured
// share of messages are AKS ones, and every planted match is found in a
// message of its kind.
func TestOneSourcePerMessage(t *testing.T) {
	c := corpus.Generate(corpus.Options{Messages: 200})
	kube := 0
	for i, b := range c.Bodies {
		aks := bytes.Count(b, []byte(`"category":"kube-audit-admin"`))
		if aks != 0 && aks != corpus.Defaults.RecordsPerMessage {
			t.Fatalf("message %d mixes %d AKS records with Activity Log records", i, aks)
		}
		if aks != 0 {
			kube++
		}
	}
	if kube < 20 || kube > 60 {
		t.Errorf("%d of 200 messages are AKS resource logs, want about %d %%", kube, corpus.Defaults.KubePercent)
	}
}

// TestCountSeedOperation: the floor counts every occurrence, adjacent ones
// too, and in the corpus at least one per planted seed match.
func TestCountSeedOperation(t *testing.T) {
	op := corpus.SeedOperation
	for _, c := range []struct {
		in   string
		want int
	}{
		{"", 0},
		{op[:len(op)-1], 0},
		{op, 1},
		{op + op, 2},
		{`{"operationName":"` + op + `"},{"x":"` + op + `"}`, 2},
		{strings.ToLower(op), 0},
	} {
		if got := corpus.CountSeedOperation([]byte(c.in)); got != c.want {
			t.Errorf("CountSeedOperation(%.40q…) = %d, want %d", c.in, got, c.want)
		}
	}
	c := corpus.Generate(corpus.Options{Messages: 100})
	n := 0
	for _, b := range c.Bodies {
		n += corpus.CountSeedOperation(b)
	}
	if n < c.PlantedSeed {
		t.Errorf("the corpus names the seed operation %d times for %d planted seed matches", n, c.PlantedSeed)
	}
}
