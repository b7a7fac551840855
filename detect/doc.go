// Package detect holds detection rules and the engine that evaluates them on
// Azure records. It does no I/O: bytes in, matches out.
//
// Its few types:
//   - Rule: one Elastic detection-rules TOML file with its compiled KQL query
//     (package kql).
//   - Engine: a compiled rule set. Evaluate cuts a message into records
//     (package input, the one record cutter), skips the records no rule can
//     match by searching their bytes for the rules' literals (prefilter.go),
//     normalizes the rest to ECS documents (package ecs) and reports matches.
//   - Result: what evaluating messages produced: matches, skips, counts.
//
// detect knows neither the Functions host's wire format (package handler)
// nor the alert format (package alert).
package detect
