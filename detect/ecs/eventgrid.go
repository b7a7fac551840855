package ecs

import (
	"errors"
	"strings"
)

// normalizeEventGrid maps a Microsoft.Resources.* Event Grid event onto the
// Activity Log's fields, so that the same rules fire on it: the operation
// name is upper-cased (as the Activity Log streams it), the event type's
// Success/Failure becomes the outcome.
func normalizeEventGrid(ev map[string]any, raw []byte) (*Event, error) {
	typ := str(ev["eventType"])
	when := str(ev["eventTime"])
	if _, ok := ev["specversion"]; ok {
		typ, when = str(ev["type"]), str(ev["time"])
	}
	data := asObject(ev["data"])
	if data == nil {
		return nil, errors.New("Event Grid event without data")
	}
	op := str(data["operationName"])
	if !strings.HasPrefix(typ, "Microsoft.Resources.") || op == "" {
		return nil, errors.New("Event Grid event " + strconvQuote(typ) + " is not an Azure Resource Manager operation")
	}
	resultType := ""
	switch {
	case strings.HasSuffix(typ, "Success"):
		resultType = "Success"
	case strings.HasSuffix(typ, "Failure"):
		resultType = "Failure"
	case strings.HasSuffix(typ, "Cancel"):
		resultType = "Cancel"
	}
	rec := map[string]any{
		"time":          when,
		"operationName": strings.ToUpper(op),
		"category":      "Administrative",
		"resultType":    resultType,
		"correlationId": data["correlationId"],
		"tenantId":      data["tenantId"],
		"properties": map[string]any{
			"eventCategory": "Administrative",
			"entity":        data["resourceUri"],
			"message":       op,
			"status":        data["status"],
		},
	}
	if status := str(data["status"]); status != "" {
		rec["resultSignature"] = status
	}
	resource := str(data["resourceUri"])
	if resource == "" {
		resource = str(ev["subject"])
	}
	rec["resourceId"] = resource
	identity := map[string]any{}
	if a, ok := data["authorization"].(map[string]any); ok {
		identity["authorization"] = a
	}
	if c, ok := data["claims"].(map[string]any); ok {
		identity["claims"] = c
	}
	rec["identity"] = identity
	if hr, ok := data["httpRequest"].(map[string]any); ok && str(hr["clientIpAddress"]) != "" {
		rec["callerIpAddress"] = hr["clientIpAddress"]
	} else if c, ok := data["claims"].(map[string]any); ok && str(c["ipaddr"]) != "" {
		rec["callerIpAddress"] = c["ipaddr"]
	}
	out := normalizeActivityLog(rec, raw)
	out.Source = SourceEventGrid
	return out, nil
}
