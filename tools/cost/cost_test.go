package main

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

const repo = "../.."

func profile(t *testing.T, name string) Profile {
	t.Helper()
	for _, p := range Profiles {
		if p.Name == name {
			return p
		}
	}
	t.Fatalf("no profile %s", name)
	return Profile{}
}

func TestBilledSeconds(t *testing.T) {
	for _, c := range []struct{ in, want float64 }{
		{0.0154, 1}, {1, 1}, {1.01, 1.1}, {1.1, 1.1}, {2.35, 2.4},
	} {
		if got := billedSeconds(c.in); math.Abs(got-c.want) > 1e-9 {
			t.Errorf("billedSeconds(%v) = %v, want %v (one-second minimum, then 100 ms steps)", c.in, got, c.want)
		}
	}
}

func TestInvocationsPerPartition(t *testing.T) {
	rt, eco := profile(t, "realtime"), profile(t, "economy")
	if got, lat := invocationsPerPartition(rt, 3); got != 3 || lat != 0 {
		t.Errorf("realtime at 3 events/s: %v invocations/s, latency %v; want one per event, no wait", got, lat)
	}
	// Busy partition: full batches of minEventBatchSize.
	if got, lat := invocationsPerPartition(eco, 512); math.Abs(got-16) > 1e-9 || math.Abs(lat-0.0625) > 1e-9 {
		t.Errorf("economy at 512 events/s: %v invocations/s, latency %v; want 16 (batches of 32), 0.0625 s", got, lat)
	}
	// 0.32 events/s fill a batch of 32 in 100 s: maxWaitTime (60 s) comes
	// first, and the batch holds what arrived.
	if got, lat := invocationsPerPartition(eco, 10); math.Abs(got-10.0/32) > 1e-9 || lat != 3.2 {
		t.Errorf("economy at 10 events/s: %v invocations/s, latency %v; want 10/32, 3.2 s", got, lat)
	}
	// Quiet partition: one batch per maxWaitTime, holding what arrived.
	if got, lat := invocationsPerPartition(eco, 0.1); math.Abs(got-0.1/7) > 1e-9 || lat != 60 {
		t.Errorf("economy at 0.1 events/s: %v invocations/s, latency %v; want 0.1/7 (1 + 0.1 x 60 events per batch), 60 s", got, lat)
	}
}

// TestConcurrencySharesBilling: Flex bills an instance's active time once,
// however many executions overlap, so at a high invocation rate the GB-s per
// second approach the instance's memory and no more.
func TestConcurrencySharesBilling(t *testing.T) {
	d := defaultDeployment
	d.RecordsPerEvent = 1
	b := Estimate(defaultPrices, defaultMeasured, d, profile(t, "realtime"), 1000, 1000)
	perSecond := b.GBSeconds / (1e6 / 1000)
	if memGB := d.InstanceMemoryMB / 1024; perSecond > memGB*1.01 || perSecond < memGB*0.99 {
		t.Errorf("1,000 invocations/s on one %v MB instance: %v GB-s per second, want about %v", d.InstanceMemoryMB, perSecond, memGB)
	}
	// A single quiet invocation is billed its one-second minimum (the timer
	// left out here).
	d.TimerPerHour = 0
	quiet := Estimate(defaultPrices, defaultMeasured, d, profile(t, "realtime"), 0.001, 1000)
	perInvocation := quiet.GBSeconds / (quiet.InvocationsPerSecond * 1e6 / 0.001)
	if perInvocation < 0.499 || perInvocation > 0.5 {
		t.Errorf("a lone invocation costs %v GB-s, want about 0.5 (512 MB x the one-second minimum)", perInvocation)
	}
}

func TestThroughputUnits(t *testing.T) {
	for _, c := range []struct {
		rate, size float64
		want       int
	}{{10, 2416, 1}, {400, 2416, 1}, {1000, 2416, 3}, {1000, 1489, 2}} {
		b := Estimate(defaultPrices, defaultMeasured, defaultDeployment, profile(t, "economy"), c.rate, c.size)
		if b.ThroughputUnits != c.want {
			t.Errorf("%v records/s of %v B: %d TU, want %d (1 MB/s each)", c.rate, c.size, b.ThroughputUnits, c.want)
		}
	}
}

// TestEconomyCheaper: the economy profile never costs more and always
// invokes less often than realtime.
func TestEconomyCheaper(t *testing.T) {
	for _, r := range []float64{1, 10, 100, 1000, 5000} {
		rt := Estimate(defaultPrices, defaultMeasured, defaultDeployment, profile(t, "realtime"), r, 2416)
		eco := Estimate(defaultPrices, defaultMeasured, defaultDeployment, profile(t, "economy"), r, 2416)
		if eco.Total > rt.Total || eco.InvocationsPerSecond > rt.InvocationsPerSecond {
			t.Errorf("%v records/s: economy $%v at %v invocations/s, realtime $%v at %v", r, eco.Total, eco.InvocationsPerSecond, rt.Total, rt.InvocationsPerSecond)
		}
	}
}

func TestRecordSizesFromExamples(t *testing.T) {
	for _, k := range kinds {
		size, n, err := recordSize(filepath.Join(repo, "examples", k.file))
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 || size < 500 || size > 10000 {
			t.Errorf("%s: %d records of mean %v B; an example record is 0.5-10 KB", k.file, n, size)
		}
	}
	if _, _, err := recordSize(filepath.Join(t.TempDir(), "missing.json")); err == nil {
		t.Error("a missing example file gave no error")
	}
}

// TestProfilesMatchBicep: the profiles priced here are infra/main.bicep's
// batchingProfiles, and host.json carries the Bicep default profile.
func TestProfilesMatchBicep(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(repo, "infra", "main.bicep"))
	if err != nil {
		t.Fatal(err)
	}
	src := string(b)
	start := strings.Index(src, "var batchingProfiles = {")
	if start < 0 {
		t.Fatal("infra/main.bicep has no batchingProfiles")
	}
	block := src[start:]
	block = block[:strings.Index(block, "\n}\n")]
	num := func(section, key string) string {
		re := regexp.MustCompile(`(?s)\n  ` + section + `: \{.*?\n    ` + key + `: ([^\n]+)\n`)
		m := re.FindStringSubmatch(block)
		if m == nil {
			t.Fatalf("batchingProfiles.%s.%s not found", section, key)
		}
		return strings.Trim(m[1], "'")
	}
	for _, p := range Profiles {
		want := map[string]string{
			"minEventBatchSize": strconv.Itoa(p.MinEventBatchSize),
			"maxEventBatchSize": strconv.Itoa(p.MaxEventBatchSize),
			"maxWaitTime":       hms(p.MaxWaitSeconds),
			"prefetchCount":     strconv.Itoa(p.PrefetchCount),
		}
		for k, v := range want {
			if got := num(p.Name, k); got != v {
				t.Errorf("profile %s %s: main.bicep %s, tools/cost %s", p.Name, k, got, v)
			}
		}
	}
	def := regexp.MustCompile(`param costProfile string = '([a-z]+)'`).FindStringSubmatch(src)
	if def == nil {
		t.Fatal("main.bicep: no costProfile default")
	}
	hb, err := os.ReadFile(filepath.Join(repo, "host.json"))
	if err != nil {
		t.Fatal(err)
	}
	var raw struct {
		Extensions struct {
			EventHubs map[string]any `json:"eventHubs"`
		} `json:"extensions"`
	}
	if err := json.Unmarshal(hb, &raw); err != nil {
		t.Fatal(err)
	}
	p := profile(t, def[1])
	got := raw.Extensions.EventHubs
	if got["minEventBatchSize"] != float64(p.MinEventBatchSize) || got["maxEventBatchSize"] != float64(p.MaxEventBatchSize) ||
		got["maxWaitTime"] != hms(p.MaxWaitSeconds) || got["prefetchCount"] != float64(p.PrefetchCount) {
		t.Errorf("host.json extensions.eventHubs %v, want the default profile %+v", got, p)
	}
	if p.PrefetchCount < p.MaxEventBatchSize {
		t.Errorf("profile %s: prefetchCount %d below maxEventBatchSize %d", p.Name, p.PrefetchCount, p.MaxEventBatchSize)
	}
}

func hms(s float64) string {
	d := int(s)
	return strconv.Itoa(100 + d/3600)[1:] + ":" + strconv.Itoa(100 + d/60%60)[1:] + ":" + strconv.Itoa(100 + d%60)[1:]
}

// TestDocsTable: docs/cost.md holds `make cost`'s default output verbatim.
func TestDocsTable(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run([]string{"-examples", filepath.Join(repo, "examples")}, &out, &errb); code != 0 {
		t.Fatalf("cost exited %d: %s", code, errb.String())
	}
	doc, err := os.ReadFile(filepath.Join(repo, "docs", "cost.md"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(doc, out.Bytes()) {
		t.Errorf("docs/cost.md does not contain `make cost`'s output; paste it again:\n%s", out.String())
	}
}

func TestRunFlags(t *testing.T) {
	ex := filepath.Join(repo, "examples")
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"-examples", ex, "-rate", "42", "-profile", "realtime"}, 0, "| 42 | realtime |"},
		{[]string{"-examples", ex, "-profile", "fast"}, 2, "want realtime or economy"},
		{[]string{"-examples", ex, "-memory", "1024"}, 2, "512, 2048 or 4096"},
		{[]string{"-examples", t.TempDir()}, 1, "activitylog-eventhub.json"},
	} {
		var out, errb bytes.Buffer
		code := run(c.args, &out, &errb)
		if code != c.code || !strings.Contains(out.String()+errb.String(), c.want) {
			t.Errorf("cost %v: exit %d, output %q %q; want exit %d and %q", c.args, code, out.String(), errb.String(), c.code, c.want)
		}
	}
}
