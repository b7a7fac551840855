package ecs

import (
	"encoding/json"
	"strconv"
	"strings"
)

// Elastic maps azure.activitylogs.properties and azure.platformlogs.properties
// as `flattened` (elastic/integrations,
// packages/azure/data_stream/{activitylogs,platformlogs}/fields/fields.yml):
// every leaf below them is indexed as a keyword string, so a query compares
// them as strings there (responseStatus.code:2* matches 200, and ranges
// compare text). keywordLeaves gives Tripline's documents the same leaves.

// keywordLeaves turns every number and boolean below m into its text, in
// place. m is the record's own decoded map. Null stays null (Elasticsearch
// indexes nothing for it, so field:* does not match it either way).
func keywordLeaves(m map[string]any) {
	for k, v := range m {
		m[k] = keyword(v)
	}
}

func keyword(v any) any {
	switch t := v.(type) {
	case json.Number:
		return t.String()
	case bool:
		return strconv.FormatBool(t)
	case map[string]any:
		keywordLeaves(t)
	case []any:
		for i, e := range t {
			t[i] = keyword(e)
		}
	}
	return v
}

// parseBodies decodes properties.requestbody and properties.responseBody (any
// case) in place when they hold a JSON object, as the azure integration's
// activitylogs pipeline does since integration 1.29.0 (elastic/integrations
// pull request 15690), so that rules can query
// azure.activitylogs.properties.requestbody.properties.roleDefinitionId. A
// body that is not a JSON object stays the string it was.
func parseBodies(p map[string]any) {
	for k, v := range p {
		if s, ok := v.(string); ok && (strings.EqualFold(k, "requestbody") || strings.EqualFold(k, "responsebody")) {
			if m, err := decodeObject([]byte(s)); err == nil {
				p[k] = m
			}
		}
	}
}
