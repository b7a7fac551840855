package main

import (
	"math"
)

// Price is one published list price and where and when it was read.
type Price struct {
	USD    float64
	Unit   string
	Source string
}

// Prices are the list prices the model uses (pay-as-you-go, US regions;
// regional prices differ). A user checks current ones on the pricing pages
// named in Source or with the Azure Retail Prices API
// (https://prices.azure.com/api/retail/prices, no sign-in).
type Prices struct {
	FlexGBSecond       Price // Flex Consumption on-demand execution time
	FlexExecution      Price // per million on-demand executions
	FlexFreeGBSeconds  float64
	FlexFreeExecutions float64
	EventHubsTUHour    Price
	EventHubsIngress   Price   // per million ingress events (64 KB units)
	CosmosRU           Price   // per million RU, serverless
	EventGridOperation Price   // per million operations
	EventGridFree      float64 // operations per month
	LogAnalytics       Price   // per GB, analytics tier (workspace-based Application Insights)
	LogAnalyticsFreeGB float64 // per month
}

// Measured are Tripline's own figures from `make bench` (bench/RESULTS.md).
type Measured struct {
	Run              string  // which bench run
	SecondsPerRecord float64 // CPU seconds per record on one core, end to end through the handler
	PeakRSSMB        float64
}

// Profile is an Event Hubs batching profile: the host.json
// extensions.eventHubs values infra/main.bicep sets as app settings.
type Profile struct {
	Name              string
	MinEventBatchSize int
	MaxEventBatchSize int
	MaxWaitSeconds    float64 // maxWaitTime; the host uses it only when MinEventBatchSize > 1
	PrefetchCount     int
}

// Profiles are infra/main.bicep's batchingProfiles (a test keeps them equal).
var Profiles = []Profile{
	{Name: "realtime", MinEventBatchSize: 1, MaxEventBatchSize: 32, MaxWaitSeconds: 30, PrefetchCount: 300},
	{Name: "economy", MinEventBatchSize: 32, MaxEventBatchSize: 32, MaxWaitSeconds: 60, PrefetchCount: 300},
}

// Deployment is what infra/main.bicep deploys and how the records arrive.
type Deployment struct {
	InstanceMemoryMB   float64
	InstanceCores      float64 // Flex: 512 MB = 0.25 core, 2,048 MB = 1, 4,096 MB = 2
	Partitions         int
	RecordsPerEvent    float64 // records in one Event Hubs event ({"records":[...]}); Azure Monitor's batching is not documented
	TimerPerHour       float64 // NotificationRetry invocations per hour
	MatchRate          float64 // alerts per record
	RUPerAlert         float64
	EventGridPerRecord float64 // ARM events per record on the Event Grid path
	TelemetryItems     float64 // Application Insights items per invocation
	TelemetryBytes     float64 // their size as ingested
	SamplingPerSecond  float64 // host.json maxTelemetryItemsPerSecond
}

// Breakdown is the cost of one million records at one rate, by service, in
// USD, with what the profile yields.
type Breakdown struct {
	Rate                 float64 // records per second
	Profile              string
	InvocationsPerSecond float64
	AddedLatencySeconds  float64 // worst case, from batching
	GBSeconds            float64 // billed per million records
	FunctionsTime        float64
	FunctionsExecutions  float64
	EventHubsTU          float64
	EventHubsIngress     float64
	Cosmos               float64
	EventGrid            float64
	Telemetry            float64
	Total                float64
	AfterFreeGrants      float64 // one deployment using the monthly grants alone
	ThroughputUnits      int
}

const secondsPerMonth = 730 * 3600

// billedSeconds is what Flex bills for one execution of d seconds: at least
// one second, then rounded up to 100 ms.
func billedSeconds(d float64) float64 {
	if d <= 1 {
		return 1
	}
	return math.Ceil(d*10-1e-9) / 10
}

// invocationsPerPartition: events arrive at e per second on a partition. The
// trigger hands over a batch when MinEventBatchSize events are there or, with
// MinEventBatchSize > 1, when MaxWaitSeconds has passed since the first one,
// so a batch holds min(MinEventBatchSize, 1 + e*wait) events.
func invocationsPerPartition(p Profile, e float64) (perSecond, addedLatency float64) {
	if e <= 0 {
		return 0, 0
	}
	if p.MinEventBatchSize <= 1 {
		return e, 0
	}
	batch := math.Min(float64(p.MinEventBatchSize), 1+e*p.MaxWaitSeconds)
	return e / batch, math.Min(p.MaxWaitSeconds, float64(p.MinEventBatchSize)/e)
}

// Estimate prices one million records arriving at rate records per second,
// each recordBytes long, with profile p.
func Estimate(pr Prices, m Measured, d Deployment, p Profile, rate, recordBytes float64) Breakdown {
	b := Breakdown{Rate: rate, Profile: p.Name}
	seconds := 1e6 / rate // wall time one million records take
	events := rate / d.RecordsPerEvent

	perPartition, latency := invocationsPerPartition(p, events/float64(d.Partitions))
	b.InvocationsPerSecond = perPartition * float64(d.Partitions)
	b.AddedLatencySeconds = latency

	// Execution time on the instance's share of a core; billed per execution
	// window, and overlapping windows on one instance are billed once: with
	// invocations arriving at random, the instance is active a fraction
	// 1-exp(-rate*window) of the time (one instance; Tripline's CPU need is
	// milliseconds per second at these rates).
	recordsPerInvocation := rate / b.InvocationsPerSecond
	exec := recordsPerInvocation * m.SecondsPerRecord / d.InstanceCores
	window := billedSeconds(exec)
	active := 1 - math.Exp(-b.InvocationsPerSecond*window)
	timerActive := d.TimerPerHour / 3600 * billedSeconds(0.1)
	gbs := d.InstanceMemoryMB / 1024 * (active + timerActive) * seconds
	b.GBSeconds = gbs
	b.FunctionsTime = gbs * pr.FlexGBSecond.USD
	executions := (b.InvocationsPerSecond + d.TimerPerHour/3600) * seconds
	b.FunctionsExecutions = executions / 1e6 * pr.FlexExecution.USD

	// Throughput units: 1 MB/s or 1,000 events/s of ingress each.
	bytesPerSecond := rate * recordBytes
	tu := int(math.Max(math.Ceil(bytesPerSecond/1e6), math.Ceil(events/1000)))
	if tu < 1 {
		tu = 1
	}
	b.ThroughputUnits = tu
	b.EventHubsTU = float64(tu) * pr.EventHubsTUHour.USD * seconds / 3600
	units := math.Ceil(d.RecordsPerEvent * recordBytes / 65536)
	b.EventHubsIngress = events * seconds * units / 1e6 * pr.EventHubsIngress.USD

	b.Cosmos = 1e6 * d.MatchRate * d.RUPerAlert / 1e6 * pr.CosmosRU.USD
	egOps := 1e6*d.EventGridPerRecord + 1e6*d.MatchRate // ingress of every ARM event, delivery of the filtered ones
	b.EventGrid = egOps / 1e6 * pr.EventGridOperation.USD

	items := math.Min(b.InvocationsPerSecond*d.TelemetryItems, d.SamplingPerSecond) // sampling caps items per instance
	telemetryGB := items * d.TelemetryBytes * seconds / 1e9
	b.Telemetry = telemetryGB * pr.LogAnalytics.USD

	b.Total = b.FunctionsTime + b.FunctionsExecutions + b.EventHubsTU + b.EventHubsIngress + b.Cosmos + b.EventGrid + b.Telemetry

	// Free grants per month, spread over the month's records at this rate.
	monthRecords := rate * secondsPerMonth
	share := 1e6 / monthRecords
	free := func(cost, amount, grant, unitPrice float64) float64 {
		return math.Max(0, cost-math.Min(amount, grant*share)*unitPrice)
	}
	b.AfterFreeGrants = free(b.FunctionsTime, gbs, pr.FlexFreeGBSeconds, pr.FlexGBSecond.USD) +
		free(b.FunctionsExecutions, executions, pr.FlexFreeExecutions, pr.FlexExecution.USD/1e6) +
		b.EventHubsTU + b.EventHubsIngress + b.Cosmos +
		free(b.EventGrid, egOps, pr.EventGridFree, pr.EventGridOperation.USD/1e6) +
		free(b.Telemetry, telemetryGB, pr.LogAnalyticsFreeGB, pr.LogAnalytics.USD)
	return b
}

// Peer is a per-GB alternative.
type Peer struct {
	Name   string
	PerGB  float64
	Free   map[string]bool // record kinds it ingests free
	Source string
	Note   string
}

// PeerCost is a peer's price for one million records of recordBytes.
func PeerCost(p Peer, kind string, recordBytes float64) float64 {
	if p.Free[kind] {
		return 0
	}
	return recordBytes * 1e6 / 1e9 * p.PerGB
}
