// Command cost prints what Tripline costs per million records, by Azure
// service, at given record rates and Event Hubs batching profiles, next to
// what the same records cost in per-GB alternatives. `make cost` runs it;
// docs/cost.md holds its default output (a test keeps them equal).
//
// Every input is a value below (prices with their source and date, the
// figures measured by `make bench`) or a flag, so that a new price or a new
// bench run is a one-line change. Record sizes are measured from the
// examples directory at run time.
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// defaultPrices: read August–October 2026; see each Source.
var defaultPrices = Prices{
	FlexGBSecond:       Price{0.000026, "GB-s", "Flex Consumption on-demand execution time; Azure Retail Prices API, westus2, 2026-08-20; https://azure.microsoft.com/pricing/details/functions/"},
	FlexExecution:      Price{0.40, "million executions", "same page and date"},
	FlexFreeGBSeconds:  100000,
	FlexFreeExecutions: 250000,
	EventHubsTUHour:    Price{0.03, "throughput-unit hour", "Event Hubs Standard; Retail Prices API, September 2026; https://azure.microsoft.com/pricing/details/event-hubs/"},
	EventHubsIngress:   Price{0.028, "million ingress events (64 KB units)", "same page and date"},
	CosmosRU:           Price{0.25, "million RU", "Cosmos DB serverless, East US 2 (West US $0.279), 2026; https://azure.microsoft.com/pricing/details/cosmos-db/serverless/"},
	EventGridOperation: Price{0.60, "million operations", "Event Grid basic (system topics); Retail Prices API, 2026-08-20; https://azure.microsoft.com/pricing/details/event-grid/"},
	EventGridFree:      100000,
	LogAnalytics:       Price{2.30, "GB", "Log Analytics analytics tier, East US, 2026-08-09; https://azure.microsoft.com/pricing/details/monitor/"},
	LogAnalyticsFreeGB: 5,
}

// defaultMeasured: bench/RESULTS.md of 2026-12-06 (the committed `make
// bench` run): 100-event invocations of 5,000 records, end to end through
// `tripline serve`, p50 76.9 ms on a shared 2-core AMD EPYC; peak RSS 93.1 MB
// serving a 21.1 MB invocation.
var defaultMeasured = Measured{
	Run:              "bench/RESULTS.md, 2026-12-06 (end to end p50 76.9 ms per 5,000-record invocation, peak RSS 93.1 MB)",
	SecondsPerRecord: 0.0769 / 5000,
	PeakRSSMB:        93.1,
}

// defaultDeployment: infra/main.bicep's defaults and the assumptions named in
// docs/cost.md.
var defaultDeployment = Deployment{
	InstanceMemoryMB:   512,
	InstanceCores:      0.25,
	Partitions:         2,
	RecordsPerEvent:    50,
	TimerPerHour:       12,
	MatchRate:          0.005,
	RUPerAlert:         11,
	EventGridPerRecord: 0.5,
	TelemetryItems:     2,
	TelemetryBytes:     800,
	SamplingPerSecond:  5,
}

var peers = []Peer{
	{Name: "Sentinel analytics", PerGB: 4.30, Free: map[string]bool{"activity": true}, Source: "pay-as-you-go, Log Analytics ingestion included; Retail Prices API East US 2026-08-20; Azure Activity is a free data source"},
	{Name: "Log Analytics analytics", PerGB: 2.30, Free: map[string]bool{"activity": true}, Source: "Retail Prices API East US 2026-08-09; the Activity Log is free to ingest"},
	{Name: "Log Analytics basic", PerGB: 0.50, Free: map[string]bool{"activity": true}, Source: "2026-07-21; no scheduled analytics rules", Note: "query-time only"},
	{Name: "Log Analytics auxiliary", PerGB: 0.05, Free: map[string]bool{"activity": true}, Source: "2026-07-21; no analytics rules", Note: "query-time only"},
	{Name: "Elastic Security serverless", PerGB: 0.60, Source: "Analytics Complete ingest, up to 1.5 TB/month (falls to $0.11/GB above 150 TB); cloud.elastic.co price table, 2026"},
	{Name: "Elastic at volume", PerGB: 0.11, Source: "the same, above 150 TB/month"},
}

// kind is a record type whose size is measured from an example file.
type kind struct {
	key, name, file string
	eventGrid       bool // ARM operations also reach Event Grid
}

var kinds = []kind{
	{"activity", "Activity Log", "activitylog-eventhub.json", true},
	{"aks", "AKS kube-audit-admin", "kube-audit-eventhub.json", false},
}

// recordSize returns the mean compact JSON size of the records[] of an
// Event Hubs body file, and how many records it holds.
func recordSize(path string) (float64, int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, 0, err
	}
	var body struct {
		Records []json.RawMessage `json:"records"`
	}
	if err := json.Unmarshal(b, &body); err != nil {
		return 0, 0, fmt.Errorf("%s: %w", path, err)
	}
	if len(body.Records) == 0 {
		return 0, 0, fmt.Errorf("%s: no records", path)
	}
	total := 0
	for _, r := range body.Records {
		var buf bytes.Buffer
		if err := json.Compact(&buf, r); err != nil {
			return 0, 0, fmt.Errorf("%s: %w", path, err)
		}
		total += buf.Len()
	}
	return float64(total) / float64(len(body.Records)), len(body.Records), nil
}

type options struct {
	rates    []float64
	profiles []Profile
	examples string
	d        Deployment
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("cost", flag.ContinueOnError)
	fs.SetOutput(stderr)
	rate := fs.Float64("rate", 0, "records per second (0: the table for 10, 100 and 1,000)")
	profile := fs.String("profile", "", "batching profile: realtime or economy (empty: both)")
	examples := fs.String("examples", "examples", "directory holding activitylog-eventhub.json and kube-audit-eventhub.json")
	d := defaultDeployment
	fs.Float64Var(&d.InstanceMemoryMB, "memory", d.InstanceMemoryMB, "Flex instance memory in MB (512, 2048, 4096)")
	fs.Float64Var(&d.RecordsPerEvent, "records-per-event", d.RecordsPerEvent, "records per Event Hubs event")
	fs.Float64Var(&d.MatchRate, "match-rate", d.MatchRate, "alerts per record")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	o := options{examples: *examples, d: d}
	switch d.InstanceMemoryMB {
	case 512:
		o.d.InstanceCores = 0.25
	case 2048:
		o.d.InstanceCores = 1
	case 4096:
		o.d.InstanceCores = 2
	default:
		fmt.Fprintf(stderr, "cost: -memory %v: Flex instances have 512, 2048 or 4096 MB\n", d.InstanceMemoryMB)
		return 2
	}
	if *rate < 0 || d.RecordsPerEvent < 1 || d.MatchRate < 0 || d.MatchRate > 1 {
		fmt.Fprintln(stderr, "cost: -rate must be positive, -records-per-event at least 1, -match-rate between 0 and 1")
		return 2
	}
	o.rates = []float64{10, 100, 1000}
	if *rate > 0 {
		o.rates = []float64{*rate}
	}
	for _, p := range Profiles {
		if *profile == "" || *profile == p.Name {
			o.profiles = append(o.profiles, p)
		}
	}
	if len(o.profiles) == 0 {
		fmt.Fprintf(stderr, "cost: -profile %q: want realtime or economy\n", *profile)
		return 2
	}
	if err := report(stdout, o); err != nil {
		fmt.Fprintf(stderr, "cost: %v\n", err)
		return 1
	}
	return 0
}

func usd(v float64) string {
	switch {
	case v == 0:
		return "0"
	case v < 0.01:
		return fmt.Sprintf("%.4f", v)
	case v < 10:
		return fmt.Sprintf("%.3f", v)
	default:
		return fmt.Sprintf("%.2f", v)
	}
}

func rateLabel(r float64) string {
	if r == float64(int64(r)) {
		return fmt.Sprintf("%d", int64(r))
	}
	return fmt.Sprintf("%g", r)
}

// report writes the markdown tables.
func report(w io.Writer, o options) error {
	sizes := map[string]float64{}
	var sizeNotes []string
	for _, k := range kinds {
		s, n, err := recordSize(filepath.Join(o.examples, k.file))
		if err != nil {
			return err
		}
		sizes[k.key] = s
		sizeNotes = append(sizeNotes, fmt.Sprintf("%s %.0f B (mean of the %d records of examples/%s)", k.name, s, n, k.file))
	}
	pr, m := defaultPrices, defaultMeasured
	p := func(format string, a ...any) { fmt.Fprintf(w, format, a...) }

	p("Inputs: %d MB instances (%.2f core), %d partitions, %g records per Event Hubs event, %.1f %% of records alerting at %g RU each, %g Event Grid events per Activity Log record, %g telemetry items of %g B per invocation capped at %g items/s by sampling. Measured: %s. Record sizes: %s.\n\n",
		int(o.d.InstanceMemoryMB), o.d.InstanceCores, o.d.Partitions, o.d.RecordsPerEvent, o.d.MatchRate*100, o.d.RUPerAlert, o.d.EventGridPerRecord, o.d.TelemetryItems, o.d.TelemetryBytes, o.d.SamplingPerSecond, m.Run, strings.Join(sizeNotes, "; "))

	p("**Tripline, USD per million Activity Log records**\n\n")
	p("| records/s | profile | invocations/s | added latency (worst) | Functions time (GB-s) | Functions executions | Event Hubs TU | Event Hubs ingress | Cosmos DB | Event Grid | App Insights | total | after free grants |\n")
	p("|--:|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n")
	d := o.d
	for _, r := range o.rates {
		for _, prof := range o.profiles {
			b := Estimate(pr, m, d, prof, r, sizes["activity"])
			p("| %s | %s | %s | %s | %s (%.0f) | %s | %s (%d TU) | %s | %s | %s | %s | **%s** | %s |\n",
				rateLabel(r), prof.Name, perSecondLabel(b.InvocationsPerSecond), latencyLabel(b.AddedLatencySeconds), usd(b.FunctionsTime), b.GBSeconds, usd(b.FunctionsExecutions),
				usd(b.EventHubsTU), b.ThroughputUnits, usd(b.EventHubsIngress), usd(b.Cosmos), usd(b.EventGrid), usd(b.Telemetry), usd(b.Total), usd(b.AfterFreeGrants))
		}
	}

	p("\n**The same records elsewhere, USD per million records**\n\n")
	p("| records | size |")
	for _, r := range o.rates {
		for _, prof := range o.profiles {
			p(" Tripline %s/s %s |", rateLabel(r), prof.Name)
		}
	}
	for _, peer := range peers {
		p(" %s |", peer.Name)
	}
	p("\n|---|--:|")
	for range o.rates {
		for range o.profiles {
			p("--:|")
		}
	}
	for range peers {
		p("--:|")
	}
	p("\n")
	for _, k := range kinds {
		dk := d
		if !k.eventGrid {
			dk.EventGridPerRecord = 0
		}
		p("| %s | %.0f B |", k.name, sizes[k.key])
		for _, r := range o.rates {
			for _, prof := range o.profiles {
				p(" %s |", usd(Estimate(pr, m, dk, prof, r, sizes[k.key]).Total))
			}
		}
		for _, peer := range peers {
			c := PeerCost(peer, k.key, sizes[k.key])
			label := usd(c)
			if c == 0 {
				label = "0, free source"
			}
			if peer.Note != "" {
				label += "; " + peer.Note
			}
			p(" %s |", label)
		}
		p("\n")
	}
	p("\nPrices: ")
	var src []string
	for _, s := range []Price{pr.FlexGBSecond, pr.EventHubsTUHour, pr.CosmosRU, pr.EventGridOperation, pr.LogAnalytics} {
		src = append(src, fmt.Sprintf("$%s per %s (%s)", strconv.FormatFloat(s.USD, 'f', -1, 64), s.Unit, s.Source))
	}
	for _, s := range []Price{pr.FlexExecution, pr.EventHubsIngress} {
		src = append(src, fmt.Sprintf("$%s per %s", strconv.FormatFloat(s.USD, 'f', -1, 64), s.Unit))
	}
	p("%s. Free grants per month: %.0f GB-s and %.0f executions (Flex, on-demand), %.0f Event Grid operations, %.0f GB of Log Analytics. Peers: ", strings.Join(src, "; "), pr.FlexFreeGBSeconds, pr.FlexFreeExecutions, pr.EventGridFree, pr.LogAnalyticsFreeGB)
	var ps []string
	for _, peer := range peers {
		ps = append(ps, fmt.Sprintf("%s $%.2f/GB (%s)", peer.Name, peer.PerGB, peer.Source))
	}
	p("%s.\n", strings.Join(ps, "; "))
	return nil
}

func latencyLabel(s float64) string {
	switch {
	case s == 0:
		return "none"
	case s < 10:
		return fmt.Sprintf("%.1f s", s)
	default:
		return fmt.Sprintf("%.0f s", s)
	}
}

func perSecondLabel(v float64) string {
	if v >= 100 {
		return fmt.Sprintf("%.0f", v)
	}
	return fmt.Sprintf("%.3g", v)
}
