package ecs

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net"
	"strconv"
	"strings"
	"time"
)

// Sources of events, as Event.Source reports them.
const (
	SourceActivityLog = "activitylog"
	SourceEventGrid   = "eventgrid"
	SourceKubeAudit   = "kube-audit"
	SourcePlatformLog = "platformlog"
)

// Datasets Tripline produces (Elastic's azure integration names).
const (
	DatasetActivityLogs = "azure.activitylogs"
	DatasetPlatformLogs = "azure.platformlogs"
)

// ErrNotAzureRecord is returned by Normalize for a JSON object that is none of
// the record shapes Tripline knows.
var ErrNotAzureRecord = errors.New("not an Azure activity, Event Grid or resource-log record")

// Normalize decodes one raw record and maps it to the ECS document Elastic's
// azure integration would produce (the ingest pipelines of its activitylogs
// and platformlogs data streams, elastic/integrations,
// packages/azure/data_stream/{activitylogs,platformlogs}/elasticsearch/ingest_pipeline/default.yml).
// Dispatch is per record, never per message:
//   - Event Grid events (Event Grid or CloudEvents schema) for
//     Microsoft.Resources.* become activity-log-shaped records;
//   - resource logs (a category that is not an Activity Log category: AKS's
//     kube-audit, FunctionAppLogs, OperationalLogs, ...) become
//     azure.platformlogs, with or without operationName, a JSON
//     properties.log parsed under azure.platformlogs.properties.log;
//   - everything carrying operationName otherwise is an Activity Log record.
func Normalize(raw []byte) (*Event, error) {
	rec, err := decodeObject(raw)
	if err != nil {
		return nil, errors.New("record is not a JSON object: " + jsonProblem(err))
	}
	return normalizeDecoded(rec, raw)
}

// normalizeDecoded is Normalize after decoding: rec is raw's object.
func normalizeDecoded(rec map[string]any, raw []byte) (*Event, error) {
	switch {
	case isEventGrid(rec):
		return normalizeEventGrid(rec, raw)
	case isResourceLog(rec):
		return normalizePlatformLog(rec, raw)
	case str(rec["operationName"]) != "":
		ev := normalizeActivityLog(rec, raw)
		ev.Source = SourceActivityLog
		return ev, nil
	}
	return nil, ErrNotAzureRecord
}

func isEventGrid(rec map[string]any) bool {
	if _, ok := rec["operationName"]; ok {
		return false
	}
	if _, ok := rec["specversion"]; ok {
		return str(rec["type"]) != ""
	}
	return str(rec["eventType"]) != "" && rec["data"] != nil
}

// isResourceLog recognises resource logs other than the Activity Log: they
// carry a category that is not one of the Activity Log's. Elastic routes
// them to the platformlogs data stream whatever service wrote them.
func isResourceLog(rec map[string]any) bool {
	cat := str(rec["category"])
	if cat == "" {
		return false
	}
	switch strings.ToLower(cat) {
	case "administrative", "security", "servicehealth", "resourcehealth", "alert", "autoscale",
		"recommendation", "policy", "write", "delete", "action":
		return false
	}
	return true
}

// normalizeActivityLog maps an Activity Log record (resource-log schema, as
// streamed to Event Hubs) onto Elastic's azure.activitylogs fields.
func normalizeActivityLog(rec map[string]any, raw []byte) *Event {
	// Maps are sized for a typical administrative record.
	al := make(map[string]any, 12)
	az := make(map[string]any, 4)
	az["activitylogs"] = al
	doc := make(map[string]any, 16)
	doc["data_stream"] = map[string]any{"dataset": DatasetActivityLogs, "type": "logs", "namespace": "default"}
	doc["cloud"] = map[string]any{"provider": "azure"}
	doc["azure"] = az
	event := make(map[string]any, 8)
	event["dataset"], event["kind"] = DatasetActivityLogs, "event"
	doc["event"] = event

	opName := str(rec["operationName"])
	al["operation_name"] = opName
	event["action"] = opName

	ts := parseTime(str(rec["time"]))
	if !ts.IsZero() {
		doc["@timestamp"] = ts.Format(time.RFC3339Nano)
	}
	if v := str(rec["category"]); v != "" {
		al["category"] = v
		if t := eventType(v); t != "" {
			event["type"] = []any{t}
		}
	}
	resultType := str(rec["resultType"])
	if resultType != "" {
		al["result_type"] = resultType
	}
	if v := str(rec["resultSignature"]); v != "" {
		al["result_signature"] = v
	}
	if v := str(rec["tenantId"]); v != "" {
		al["tenant_id"] = v
	}
	if v := str(rec["operationVersion"]); v != "" {
		al["operation_version"] = v
	}
	if v := str(rec["correlationId"]); v != "" {
		az["correlation_id"] = v
	}
	if d, ok := number(rec["durationMs"]); ok {
		event["duration"] = json.Number(strconv.FormatInt(int64(d*1e6), 10))
	}
	if v := str(rec["location"]); v != "" {
		doc["geo"] = map[string]any{"name": v}
	}
	if lvl := logLevel(rec["Level"], rec["level"]); lvl != "" {
		doc["log"] = map[string]any{"level": lvl}
	}
	if v := str(rec["callerIpAddress"]); v != "" {
		setSourceIP(doc, v)
	}
	if id := str(rec["resourceId"]); id != "" {
		setResource(doc, id)
	}

	// properties: object or JSON string.
	props := asObject(rec["properties"])
	if props != nil {
		p := renamed(props, propertyNames)
		// Two properties leave the properties object, as in Elastic.
		if v, ok := p["eventCategory"]; ok {
			al["event_category"] = v
			delete(p, "eventCategory")
		}
		if v, ok := p["statusMessage"]; ok {
			doc["message"] = v
			delete(p, "statusMessage")
		}
		if len(p) > 0 {
			parseBodies(p)
			keywordLeaves(p)
			al["properties"] = p
		}
	}
	if _, ok := al["event_category"]; !ok {
		if props != nil && props["policies"] != nil {
			al["event_category"] = "Policy"
		} else {
			al["event_category"] = "Administrative"
		}
	}

	outcome := eventOutcome(resultType, props)
	if outcome != "" {
		event["outcome"] = outcome
	}

	// identity: object with authorization and claims, or a plain string.
	switch id := rec["identity"].(type) {
	case string:
		al["identity_name"] = id
	case map[string]any:
		identity := make(map[string]any, 3)
		if auth, ok := id["authorization"].(map[string]any); ok {
			identity["authorization"] = normalizeAuthorization(auth)
		}
		if claims, ok := id["claims"].(map[string]any); ok {
			normalizeClaims(doc, identity, claims)
		}
		if len(identity) > 0 {
			al["identity"] = identity
		}
	}

	ev := &Event{Doc: doc, Time: ts}
	ev.Identity = armIdentity(str(rec["correlationId"]), opName, outcome, str(rec["resourceId"]), raw)
	return ev
}

// Renames Elastic's azure pipeline applies (elastic/integrations,
// packages/azure/data_stream/activitylogs/elasticsearch/ingest_pipeline/default.yml), declared here
// rather than spelled out in the code that walks the record.
var (
	evidenceNames = map[string]string{
		"roleAssignmentScope": "role_assignment_scope",
		"roleDefinitionId":    "role_definition_id",
		"roleAssignmentId":    "role_assignment_id",
		"principalId":         "principal_id",
		"principalType":       "principal_type",
	}
	propertyNames = map[string]string{
		"serviceRequestId": "service_request_id",
		"statusCode":       "status_code",
	}
)

// renamed copies m with the keys named in names renamed; other keys are kept.
func renamed(m map[string]any, names map[string]string) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		if n, ok := names[k]; ok {
			k = n
		}
		out[k] = v
	}
	return out
}

func normalizeAuthorization(auth map[string]any) map[string]any {
	// auth is the record's own decoded map: changed in place.
	if ev, ok := auth["evidence"].(map[string]any); ok {
		auth["evidence"] = renamed(ev, evidenceNames)
	}
	return auth
}

const (
	claimName      = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name"
	claimGivenName = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/givenname"
	claimSurname   = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/surname"
)

// normalizeClaims copies claims with dots replaced by underscores in their
// keys (Elastic does this so URI-named claims do not become object paths), and
// derives claims_initiated_by_user and user.* as Elastic's pipeline does.
func normalizeClaims(doc, identity, claims map[string]any) {
	c := make(map[string]any, len(claims))
	for k, v := range claims {
		c[strings.ReplaceAll(k, ".", "_")] = v
	}
	identity["claims"] = c
	by := map[string]any{}
	user := map[string]any{}
	if v := str(claims["name"]); v != "" {
		by["fullname"] = v
		user["full_name"] = v
	}
	if v := str(claims[claimGivenName]); v != "" {
		by["givenname"] = v
	}
	if v := str(claims[claimSurname]); v != "" {
		by["surname"] = v
	}
	if v := str(claims[claimName]); v != "" {
		by["name"] = v
		if at := strings.LastIndexByte(v, '@'); at > 0 {
			user["name"] = v[:at]
			user["domain"] = v[at+1:]
			user["email"] = v
		} else {
			user["name"] = v
		}
		doc["related"] = map[string]any{"user": []any{user["name"]}}
	}
	if len(by) > 0 {
		identity["claims_initiated_by_user"] = by
	}
	if len(user) > 0 {
		doc["user"] = user
	}
}

// setResource parses an ARM resource id into azure.resource.* and the
// subscription, case-insensitively (Activity Log ids are upper-cased, Event
// Grid ids are not).
func setResource(doc map[string]any, id string) {
	az := doc["azure"].(map[string]any)
	res := map[string]any{"id": id}
	az["resource"] = res
	parts := strings.Split(strings.Trim(id, "/"), "/")
	for i := 0; i+1 < len(parts); i += 2 {
		switch strings.ToLower(parts[i]) {
		case "subscriptions":
			az["subscription_id"] = parts[i+1]
			doc["cloud"].(map[string]any)["account"] = map[string]any{"id": parts[i+1]}
		case "resourcegroups":
			res["group"] = parts[i+1]
		case "providers":
			rest := parts[i+1:]
			if len(rest) >= 3 {
				res["provider"] = rest[0] + "/" + rest[1]
				res["name"] = rest[2]
				if len(rest) > 3 {
					res["namespace"] = strings.Join(rest[3:], "/")
				}
			} else if len(rest) > 0 {
				res["provider"] = strings.Join(rest, "/")
			}
			return
		}
	}
}

// setSourceIP sets source.ip (and client.ip, related.ip) when the value is an
// IP address, possibly with a port; otherwise source.address, like Elastic.
func setSourceIP(doc map[string]any, v string) {
	host := v
	// SplitHostPort fails without a colon; skip its error allocation.
	if strings.IndexByte(v, ':') >= 0 {
		if h, _, err := net.SplitHostPort(v); err == nil {
			host = h
		}
	}
	if ip := net.ParseIP(strings.Trim(host, "[]")); ip != nil {
		s := ip.String()
		doc["source"] = map[string]any{"ip": s}
		doc["client"] = map[string]any{"ip": s}
		rel, _ := doc["related"].(map[string]any)
		if rel == nil {
			rel = map[string]any{}
			doc["related"] = rel
		}
		rel["ip"] = []any{s}
		return
	}
	doc["source"] = map[string]any{"address": v}
}

// eventOutcome is Elastic's event.outcome: resultType lower-cased when it
// is success or failure in any case; otherwise properties.result only when
// it is exactly success, failure or unknown (the pipeline's condition is
// case-sensitive: "Success" there gives no outcome).
func eventOutcome(resultType string, props map[string]any) string {
	if o := strings.ToLower(resultType); o == "success" || o == "failure" {
		return o
	}
	if props != nil {
		if r, ok := props["result"].(string); ok && (r == "success" || r == "failure" || r == "unknown") {
			return r
		}
	}
	return ""
}

func eventType(category string) string {
	switch strings.ToLower(category) {
	case "write", "action":
		return "change"
	case "read":
		return "access"
	case "delete":
		return "deletion"
	}
	return ""
}

func logLevel(upper, lower any) string {
	v := upper
	if v == nil {
		v = lower
	}
	switch s := str(v); s {
	case "1":
		return "Critical"
	case "2":
		return "Error"
	case "3":
		return "Warning"
	case "4":
		return "Informational"
	case "5":
		return "Verbose"
	default:
		return s
	}
}

// armIdentity identifies an ARM operation independently of the path that
// reported it: correlation id, operation, outcome and target resource. The
// event time is left out on purpose: Event Grid's eventTime and the Activity
// Log's time for the same operation are stamped separately and differ.
func armIdentity(correlationID, op, outcome, resource string, raw []byte) string {
	if correlationID == "" {
		return "raw:" + digest(raw)
	}
	return "arm:" + strings.ToLower(correlationID) + "|" + strings.ToUpper(op) + "|" + outcome + "|" + strings.ToUpper(resource)
}

func digest(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:16])
}

// decodeObject is the one decoder of records: encoding/json with UseNumber,
// so that numbers keep their text (see the package doc).
func decodeObject(b []byte) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, err
	}
	if m == nil {
		return nil, errors.New("null")
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("data after the object")
	}
	return m, nil
}

func jsonProblem(err error) string {
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return "unexpected end of input"
	}
	return err.Error()
}

// asObject accepts an object or a JSON string holding one.
func asObject(v any) map[string]any {
	switch t := v.(type) {
	case map[string]any:
		return t
	case string:
		m, err := decodeObject([]byte(t))
		if err == nil {
			return m
		}
	}
	return nil
}

// str renders a leaf as a string ("" for nil, objects and arrays).
func str(v any) string {
	switch t := v.(type) {
	case string:
		return t
	case json.Number:
		return t.String()
	case bool:
		return strconv.FormatBool(t)
	}
	return ""
}

func number(v any) (float64, bool) {
	switch t := v.(type) {
	case json.Number:
		f, err := t.Float64()
		return f, err == nil
	case string:
		f, err := strconv.ParseFloat(strings.TrimSpace(t), 64)
		return f, err == nil
	}
	return 0, false
}

// parseTime reads Azure timestamps: RFC 3339 with up to 7 fractional digits,
// or without a zone (taken as UTC).
func parseTime(s string) time.Time {
	if s == "" {
		return time.Time{}
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02 15:04:05Z07:00"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC()
		}
	}
	return time.Time{}
}

func strconvQuote(s string) string { return strconv.Quote(s) }
