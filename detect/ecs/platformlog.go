package ecs

import "time"

// normalizePlatformLog maps a resource log (AKS control-plane categories,
// and any other service's) onto azure.platformlogs; a JSON properties.log
// (Kubernetes audit events) is parsed under
// azure.platformlogs.properties.log, as Elastic's pipeline does. Values
// under properties become keyword strings (keywordLeaves).
func normalizePlatformLog(rec map[string]any, raw []byte) (*Event, error) {
	pl := map[string]any{}
	doc := map[string]any{
		"data_stream": map[string]any{"dataset": DatasetPlatformLogs, "type": "logs", "namespace": "default"},
		"cloud":       map[string]any{"provider": "azure"},
		"azure":       map[string]any{"platformlogs": pl},
	}
	event := map[string]any{"dataset": DatasetPlatformLogs, "kind": "event"}
	doc["event"] = event
	for k, v := range rec {
		switch k {
		case "time", "resourceId", "properties":
		case "operationName":
			pl["operation_name"] = v
			event["action"] = v
		case "category":
			pl["category"] = v
		case "resultType":
			pl["result_type"] = v
		case "ccpNamespace":
			pl["ccp_namespace"] = v
		default:
			pl[k] = v
		}
	}
	ts := parseTime(str(rec["time"]))
	if !ts.IsZero() {
		doc["@timestamp"] = ts.Format(time.RFC3339Nano)
	}
	if id := str(rec["resourceId"]); id != "" {
		setResource(doc, id)
	}
	ev := &Event{Doc: doc, Time: ts, Source: SourcePlatformLog}
	props := asObject(rec["properties"])
	if outcome := eventOutcome(str(rec["resultType"]), props); outcome != "" {
		event["outcome"] = outcome
	}
	if props != nil {
		// props is this record's own decoded map: used as it is.
		p := props
		pl["properties"] = p
		if logText, ok := props["log"].(string); ok {
			audit, err := decodeObject([]byte(logText))
			if err == nil {
				p["log"] = audit
				if isAuditEvent(audit) {
					ev.Source = SourceKubeAudit
					ev.Identity = "audit:" + str(audit["auditID"])
					if t := parseTime(str(audit["requestReceivedTimestamp"])); !t.IsZero() {
						ev.Time = t
					}
					setAuditContext(doc, audit)
				}
			} else {
				// Component logs are plain text: keep them as the message.
				delete(p, "log")
				doc["message"] = logText
			}
		}
		keywordLeaves(p)
	}
	if ev.Identity == "" || ev.Identity == "audit:" {
		ev.Identity = "raw:" + digest(raw)
	}
	return ev, nil
}

func isAuditEvent(m map[string]any) bool {
	return str(m["auditID"]) != "" && str(m["verb"]) != ""
}

// setAuditContext fills the ECS user/source fields from an audit event.
func setAuditContext(doc map[string]any, audit map[string]any) {
	if u, ok := audit["user"].(map[string]any); ok {
		if name := str(u["username"]); name != "" {
			doc["user"] = map[string]any{"name": name}
			doc["related"] = map[string]any{"user": []any{name}}
		}
	}
	if ips, ok := audit["sourceIPs"].([]any); ok && len(ips) > 0 {
		if ip := str(ips[0]); ip != "" {
			setSourceIP(doc, ip)
		}
	}
}
