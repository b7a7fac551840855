// Package rules embeds Tripline's built-in rule pack: Elastic detection-rules
// TOML files, each carrying its own test cases under [[tripline.tests]].
package rules

import "embed"

// FS holds the built-in rule files (*.toml at its root).
//
//go:embed *.toml
var FS embed.FS
