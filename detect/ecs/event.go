// Package ecs maps Azure records to the ECS documents Elastic's azure
// integration produces (the ingest pipelines of its activitylogs and
// platformlogs data streams, github.com/elastic/integrations,
// packages/azure), so that an Elastic query evaluates the same here as in
// Elastic.
//
// Documents are nested map[string]any values decoded by encoding/json with
// UseNumber: leaves are string, json.Number, bool or nil; arrays are []any;
// objects are map[string]any.
//
// Caveat: keyword semantics are Elastic's: exact and case-sensitive. Tripline's
// own comparisons (record identity, group keys) fold case where Azure does not
// keep it stable.
package ecs

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

// Lookup finds a dotted field path in a document however the document nests
// it: for a.b.c the keys a→b→c, a.b→c, a→b.c and a.b.c are all tried, the
// longest key first at each level (Kubernetes annotation names contain
// dots). It is the one field lookup of grouping, notifications and scan.
func Lookup(doc map[string]any, path string) (any, bool) {
	if v, ok := doc[path]; ok {
		return v, true
	}
	for i := len(path) - 1; i > 0; i-- {
		if path[i] != '.' {
			continue
		}
		if sub, ok := doc[path[:i]].(map[string]any); ok {
			if v, ok := Lookup(sub, path[i+1:]); ok {
				return v, true
			}
		}
	}
	return nil, false
}
