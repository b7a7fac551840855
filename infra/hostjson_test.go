package infra

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// TestHostJSONTelemetryBounded: a quiet invocation writes a bounded amount of
// Application Insights telemetry (docs/cost.md counts it): one request row
// (Host.Results) and Tripline's one summary line (Function.<name>.User, the
// category the host gives a custom handler's Logs); no Executing/Executed
// traces (Function at Warning), no per-flush aggregates (Host.Aggregator),
// no dependency rows for the host's own storage and Event Hubs calls; and
// sampling caps everything but exceptions at a fixed rate per instance.
func TestHostJSONTelemetryBounded(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(repoRoot(t), "host.json"))
	if err != nil {
		t.Fatal(err)
	}
	var host struct {
		Logging struct {
			LogLevel            map[string]string `json:"logLevel"`
			ApplicationInsights struct {
				SamplingSettings struct {
					IsEnabled                  bool    `json:"isEnabled"`
					MaxTelemetryItemsPerSecond float64 `json:"maxTelemetryItemsPerSecond"`
					ExcludedTypes              string  `json:"excludedTypes"`
				} `json:"samplingSettings"`
				EnableDependencyTracking *bool `json:"enableDependencyTracking"`
			} `json:"applicationInsights"`
		} `json:"logging"`
	}
	if err := json.Unmarshal(b, &host); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"default":         "Warning",
		"Host.Results":    "Information",
		"Host.Aggregator": "Warning",
		"Function":        "Warning",
	}
	fns, err := functionFolders(repoRoot(t))
	if err != nil {
		t.Fatal(err)
	}
	for name := range fns {
		want["Function."+name+".User"] = "Information"
	}
	for k, v := range want {
		if got := host.Logging.LogLevel[k]; got != v {
			t.Errorf("host.json logging.logLevel[%q] = %q, want %q", k, got, v)
		}
	}
	for k := range host.Logging.LogLevel {
		if _, ok := want[k]; !ok {
			t.Errorf("host.json logging.logLevel[%q] is not accounted for in docs/cost.md's telemetry figure", k)
		}
	}
	s := host.Logging.ApplicationInsights.SamplingSettings
	if !s.IsEnabled || s.MaxTelemetryItemsPerSecond <= 0 || s.MaxTelemetryItemsPerSecond > 5 {
		t.Errorf("sampling %+v: want enabled with maxTelemetryItemsPerSecond in (0, 5]", s)
	}
	if s.ExcludedTypes != "Exception" {
		t.Errorf("sampling excludedTypes %q, want Exception (requests and traces are sampled, exceptions never)", s.ExcludedTypes)
	}
	if d := host.Logging.ApplicationInsights.EnableDependencyTracking; d == nil || *d {
		t.Error("host.json enableDependencyTracking must be false: every checkpoint write would be a dependency row")
	}
}
