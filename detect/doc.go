// Package detect turns raw Azure messages into normalized events and evaluates
// detection rules on them. It does no I/O: bytes in, matches out, time passed
// in as a value.
//
// Its few types:
//   - Event: one normalized record, an ECS document as Elastic's azure
//     integration would store it (nested map[string]any).
//   - Rule: one Elastic detection-rules TOML file with its compiled KQL Query.
//   - Query: a compiled KQL query; Match(doc) is all that runs per record.
//   - Engine: a compiled rule set; Evaluate splits a message into records,
//     normalizes them and reports matches.
//
// Documents are nested map[string]any values built by encoding/json with
// UseNumber: leaves are string, json.Number, bool or nil; arrays are []any;
// objects are map[string]any. A field path such as
// azure.activitylogs.operation_name is looked up by walking the maps; keys
// that themselves contain dots (Kubernetes annotation names) are found too.
//
// Caveat: keyword semantics are Elastic's: exact and case-sensitive. Tripline's
// own comparisons (record identity, group keys) fold case where Azure does not
// keep it stable.
package detect

import "time"

// Event is one normalized record.
type Event struct {
	// Doc is the ECS document. It is owned by the Event; rules only read it.
	Doc map[string]any
	// Source names the input path: "activitylog", "eventgrid", "kube-audit"
	// or "platformlog".
	Source string
	// Time is the event time (@timestamp), UTC; zero when the record has none.
	Time time.Time
	// Identity identifies the real-world act the record reports, independent
	// of the path it arrived by: ARM operations by correlation id, operation,
	// outcome and resource; audit events by auditID. Empty when the record
	// carries nothing stable (then it cannot be deduplicated).
	Identity string
}
