package detect

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/tripline/tripline/detect/rules"
)

// diffEngine is the built-in rules plus rules that exercise the prefilter
// on other fields: wildcards, nested audit fields, value lists, fields it
// must not use.
func diffEngine(t testing.TB) *Engine {
	t.Helper()
	all, err := LoadRules(rules.FS)
	if err != nil {
		t.Fatal(err)
	}
	extra := map[string]string{
		"wild-user":   `azure.platformlogs.properties.log.user.username:*admin* and azure.platformlogs.properties.log.verb:get`,
		"eg-delete":   `event.action:"MICROSOFT.INSIGHTS/DIAGNOSTICSETTINGS/DELETE" and event.outcome:success`,
		"outcome":     `event.outcome:failure and azure.activitylogs.category:Administrative`,
		"source-ip":   `source.ip:"203.0.113.77" and azure.resource.group:rg-aks-prod`,
		"claims-name": `user.name:dana.okafor and azure.activitylogs.identity.authorization.evidence.role:(Owner or "Azure Arc Kubernetes Admin")`,
		"props":       `azure.activitylogs.properties.entity:*/diagnosticSettings/* or message:*Forbidden*`,
	}
	for _, id := range sortedKeys(extra) {
		q, err := CompileKQL(extra[id])
		if err != nil {
			t.Fatalf("%s: %v", id, err)
		}
		all = append(all, &Rule{ID: id, File: id, Name: id, Query: q})
	}
	e, err := NewEngine(all, nil)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func sortedKeys(m map[string]string) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	for i := range ks {
		for j := i + 1; j < len(ks); j++ {
			if ks[j] < ks[i] {
				ks[i], ks[j] = ks[j], ks[i]
			}
		}
	}
	return ks
}

// splitLevel reports whether a skip comes from splitting (as opposed to
// Normalize, which the fast path runs only on candidates).
func splitLevel(s Skip) bool {
	return s.Reason == "record is not a JSON object" || strings.HasPrefix(s.Reason, "not valid JSON")
}

type matchKey struct {
	rule             string
	message, record  int
	identity, source string
}

// checkSame fails when Evaluate and EvaluateReference disagree on msgs.
func checkSame(t *testing.T, e *Engine, msgs ...[]byte) {
	t.Helper()
	var fast, ref Result
	for i, m := range msgs {
		e.Evaluate(i, m, &fast)
		e.EvaluateReference(i, m, &ref)
	}
	compareResults(t, &fast, &ref)
}

// compareResults fails when a fast path's result differs from the
// reference's: records, matches (with their events), duplicates, exceptions
// and the skips of splitting must be equal, and every skip the fast path
// reports the reference reports too (the fast path decodes only the records
// some rule may match, so it reports fewer records that do not decode).
func compareResults(t *testing.T, fast, ref *Result) {
	t.Helper()
	if fast.Records != ref.Records {
		t.Errorf("records: fast %d, reference %d", fast.Records, ref.Records)
	}
	keys := func(r *Result) []matchKey {
		var out []matchKey
		for _, m := range r.Matches {
			out = append(out, matchKey{m.Rule.ID, m.Message, m.Record, m.Event.Identity, m.Event.Source})
		}
		return out
	}
	if fk, rk := keys(fast), keys(ref); !reflect.DeepEqual(fk, rk) {
		t.Errorf("matches differ:\nfast      %v\nreference %v", fk, rk)
	} else {
		for i := range fast.Matches {
			if !reflect.DeepEqual(fast.Matches[i].Event, ref.Matches[i].Event) {
				t.Errorf("match %d: events differ", i)
			}
		}
	}
	if fast.Duplicates != ref.Duplicates || fast.Excepted != ref.Excepted {
		t.Errorf("duplicates/excepted: fast %d/%d, reference %d/%d", fast.Duplicates, fast.Excepted, ref.Duplicates, ref.Excepted)
	}
	var fs, rs []Skip
	for _, s := range fast.Skips {
		if splitLevel(s) {
			fs = append(fs, s)
		}
	}
	for _, s := range ref.Skips {
		if splitLevel(s) {
			rs = append(rs, s)
		}
	}
	if !reflect.DeepEqual(fs, rs) {
		t.Errorf("split skips differ:\nfast      %v\nreference %v", fs, rs)
	}
	// Every skip the fast path reports, the reference reports too.
	all := map[Skip]bool{}
	for _, s := range ref.Skips {
		all[s] = true
	}
	for _, s := range fast.Skips {
		if !all[s] {
			t.Errorf("fast path skip %v not reported by the reference", s)
		}
	}
}

// checkSplit fails when the fast splitter (with its fallback) and
// SplitRecords cut msg differently.
func checkSplit(t *testing.T, msg []byte) {
	t.Helper()
	type ev struct {
		rec    int
		off    int64
		body   string
		reason string
	}
	var want, got []ev
	SplitRecords(msg, func(r RawRecord) { want = append(want, ev{r.Index, r.Offset, string(r.Bytes), ""}) },
		func(rec int, off int64, reason string) { want = append(want, ev{rec, off, "", reason}) })
	sp := &splitter{}
	sp.split(msg)
	index := 0
	for _, s := range sp.spans {
		if s.obj {
			got = append(got, ev{index, int64(s.start), string(msg[s.start:s.end]), ""})
		} else {
			got = append(got, ev{index, int64(s.start), "", "record is not a JSON object"})
		}
		index++
	}
	if sp.tail >= 0 {
		splitRecordsFrom(msg, int64(sp.tail), sp.tailIndex, func(r RawRecord) { got = append(got, ev{r.Index, r.Offset, string(r.Bytes), ""}) },
			func(rec int, off int64, reason string) { got = append(got, ev{rec, off, "", reason}) })
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("split of %q:\nfast      %v\nreference %v", msg, got, want)
	}
}

const seedRec = `{"time":"2026-11-07T08:00:00Z","resourceId":"/SUBSCRIPTIONS/S1/RESOURCEGROUPS/RG-AKS-PROD/PROVIDERS/MICROSOFT.KUBERNETES/CONNECTEDCLUSTERS/C1","operationName":"%s","category":"Administrative","resultType":"%s","correlationId":"c-%d","callerIpAddress":"203.0.113.77","identity":{"authorization":{"evidence":{"role":"Owner","principalId":"p1"}},"claims":{"http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name":"dana.okafor@contoso-example.com"}},"properties":{"entity":"/x/diagnosticSettings/y","statusMessage":"Forbidden here"}}`

const kubeRec = `{"operationName":"Microsoft.ContainerService/managedClusters/diagnosticLogs/Read","category":"kube-audit-admin","resourceId":"/SUBSCRIPTIONS/S1/RESOURCEGROUPS/RG/PROVIDERS/MICROSOFT.CONTAINERSERVICE/MANAGEDCLUSTERS/A1","properties":{"log":"{\"kind\":\"Event\",\"auditID\":\"a-%d\",\"stage\":\"ResponseComplete\",\"verb\":\"%s\",\"user\":{\"username\":\"%s\"},\"objectRef\":{\"resource\":\"%s\",\"namespace\":\"default\"}}"},"time":"2026-11-07T08:00:00Z"}`

const egRec = `{"subject":"/subscriptions/s1/resourceGroups/rg/providers/Microsoft.Insights/diagnosticSettings/d1","eventType":"Microsoft.Resources.ResourceDeleteSuccess","eventTime":"2026-11-07T08:00:00Z","id":"e-%d","data":{"operationName":"%s","correlationId":"k-%d","resourceUri":"/subscriptions/s1/resourceGroups/rg/providers/Microsoft.Kubernetes/connectedClusters/c1","status":"Succeeded"},"dataVersion":"2"}`

const seedOp = "MICROSOFT.KUBERNETES/CONNECTEDCLUSTERS/EVENTS.K8S.IO/EVENTS/DELETE"

// diffCases are messages where a careless fast path would differ.
func diffCases() map[string]string {
	al := func(op, result string, n int) string { return fmt.Sprintf(seedRec, op, result, n) }
	kube := func(n int, verb, user, res string) string { return fmt.Sprintf(kubeRec, n, verb, user, res) }
	eg := func(n int, op string) string { return fmt.Sprintf(egRec, n, op, n) }
	return map[string]string{
		"seed match":              `{"records":[` + al(seedOp, "Success", 1) + `]}`,
		"seed start (no match)":   `{"records":[` + al(seedOp, "Start", 2) + "," + al("MICROSOFT.COMPUTE/VIRTUALMACHINES/WRITE", "Success", 3) + `]}`,
		"escaped \\u0041 in op":   `{"records":[` + al(strings.Replace(seedOp, "S/EVENTS.", `S/EVENT\u0053.`, 1), "Success", 4) + `]}`,
		"escaped \\/ in op":       `{"records":[` + al(strings.ReplaceAll(seedOp, "/", `\/`), "Success", 5) + `]}`,
		"lower-case \\u0065":      `{"records":[` + al(strings.ToLower(seedOp)[:5]+`\u0065`+strings.ToLower(seedOp)[6:], "Success", 6) + `]}`,
		"mixed case AL (no)":      `{"records":[` + al("Microsoft.Kubernetes/connectedClusters/events.k8s.io/events/delete", "Success", 7) + `]}`,
		"mixed case Event Grid":   `[` + eg(8, "Microsoft.Kubernetes/connectedClusters/events.k8s.io/events/delete") + `]`,
		"dotless i Event Grid":    `[` + eg(9, "Microsoft.Kubernetes/connectedClusters/events.k8s.\u0131o/events/delete") + `]`,
		"long s Event Grid":       `[` + eg(10, "Microſoft.Kubernetes/connectedClusters/events.k8s.io/events/delete") + `]`,
		"escaped long s EG":       `[` + eg(11, `Micro\u017foft.Kubernetes/connectedClusters/events.k8s.io/events/delete`) + `]`,
		"EG diag delete":          eg(12, "Microsoft.Insights/diagnosticSettings/delete"),
		"kube match":              `{"records":[` + kube(1, "delete", "dana", "events") + `]}`,
		"kube by node (no)":       `{"records":[` + kube(2, "delete", "system:node:n1", "events") + "," + kube(3, "update", "dana", "leases") + `]}`,
		"kube escaped two levels": `{"records":[` + kube(4, "delete", "dana", `\\u0065vents`) + `]}`,
		"kube escaped slash":      `{"records":[` + strings.Replace(kube(5, "delete", "dana", "events"), "diagnosticLogs/Read", `diagnosticLogs\/Read`, 1) + `]}`,
		"kube escaped u in u":     `{"records":[` + kube(6, "delete", "dana", `\\\u00750065vents`) + `]}`,
		"kube escaped digit":      `{"records":[` + kube(7, "delete", "dana", `\\u\u0030065vents`) + `]}`,
		"kube admin wildcard":     `{"records":[` + kube(8, "get", "cluster-admin-1", "pods") + `]}`,
		"properties string":       `{"records":[{"operationName":"` + seedOp + `","resultType":"Success","correlationId":"z","properties":"{\"entity\":\"\\/a\\/diagnosticSettings\\/b\"}"}]}`,
		"duplicate records key":   `{"records":5,"records":[` + al(seedOp, "Success", 13) + `],"records":[` + al(seedOp, "Success", 14) + `]}`,
		"records key escaped":     `{"rec\u006frds":[` + al(seedOp, "Success", 15) + `]}`,
		"records not first":       `{"x":[1,{"records":[2]}],"records":[` + al(seedOp, "Success", 16) + `,7,"s",null]}`,
		"no records key":          al(seedOp, "Success", 17),
		"json lines":              al(seedOp, "Success", 18) + "\n" + al(seedOp, "Failure", 19) + "\n[" + al(seedOp, "Success", 20) + "]\n",
		"concatenated":            `{}{}[]` + al(seedOp, "Success", 21),
		"top-level scalars":       `{"records":[]} 5 "x" ` + al(seedOp, "Success", 22),
		"invalid inside":          `{"records":[` + al(seedOp, "Success", 23) + `,{"a":tru}]}`,
		"invalid second value":    al(seedOp, "Success", 24) + ` {"records":[` + al(seedOp, "Success", 25) + `,]}`,
		"truncated":               `{"records":[` + al(seedOp, "Success", 26) + `,{"a":`,
		"control char":            `{"records":[{"operationName":"` + seedOp + "\x01" + `"}]}`,
		"bad escape":              `{"records":[{"operationName":"\x"}]}`,
		"numbers":                 `[{"a":-0.5e+7,"b":0,"c":1E3,"d":[true,false,null]},{"a":01}]`,
		"bom":                     "\xef\xbb\xbf" + al(seedOp, "Success", 27),
		"deep":                    strings.Repeat("[", 600) + strings.Repeat("]", 600),
		"trailing garbage":        `[` + al(seedOp, "Success", 28) + `]]`,
		"whitespace":              " \t\r\n{ \"records\" : [ " + al(seedOp, "Success", 29) + " , " + al(seedOp, "Success", 29) + " ] } \n",
		"invalid utf8":            `{"records":[{"operationName":"` + seedOp + "\xff" + `","resultType":"Success"}]}`,
		"empty":                   ``,
		"not azure":               `{"records":[{"a":1},{"operationName":"` + seedOp + `","resultType":"Success","correlationId":"q"}]}`,
		// Literal cursors: a rule's literals spread over several records
		// (none holds them all), then a record that does; and the same
		// after the decoder-based walk takes over.
		"literals spread": `{"records":[` + kube(30, "delete", "dana", "pods") + "," + kube(31, "update", "dana", "events") + "," + al(seedOp, "Start", 32) + "," +
			kube(33, "delete", "system:node:n1", "events") + "," + kube(34, "delete", "dana", "events") + "," + al(strings.ToLower(seedOp), "Success", 35) + `]}`,
		"literals spread tail": `{"records":[` + kube(36, "delete", "dana", "pods") + `]} {"rec\u006frds":[` + kube(37, "update", "dana", "events") + "," +
			kube(38, "delete", "dana", "events") + `]} [` + eg(39, "Microsoft.Kubernetes/connectedClusters/events.k8s.io/events/DELETE") + `]`,
		"mixed case anchors": `[` + eg(40, "MICROSOFT.kubernetes/CONNECTEDclusters/EVENTS.k8s.IO/events/Delete") + "," + eg(41, "microsoft.KUBERNETES/connectedclusters/events/delete") + `]`,
		"backslash runs":     `{"records":[{"operationName":"\\\\u0041\\/` + seedOp + `\\","resultType":"Success","correlationId":"bs"}]}`,
	}
}

func TestFastPathMatchesReference(t *testing.T) {
	e := diffEngine(t)
	cases := diffCases()
	for _, name := range sortedKeys(cases) {
		msg := []byte(cases[name])
		t.Run(name, func(t *testing.T) {
			checkSplit(t, msg)
			checkSame(t, e, msg)
		})
	}
	// The repository's examples and samples, one message each.
	for _, dir := range []string{"../examples", "testdata"} {
		files, _ := filepath.Glob(filepath.Join(dir, "*.json"))
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			t.Run(filepath.Base(f), func(t *testing.T) {
				checkSplit(t, b)
				checkSame(t, e, b)
			})
		}
	}
	// Every case at once, as one batch.
	var all [][]byte
	for _, name := range sortedKeys(cases) {
		all = append(all, []byte(cases[name]))
	}
	checkSame(t, e, all...)
}

func TestFastPathFindsPlantedMatches(t *testing.T) {
	e := diffEngine(t)
	cases := diffCases()
	var res Result
	for _, name := range []string{"seed match", "escaped \\u0041 in op", "escaped \\/ in op", "mixed case Event Grid", "kube match", "kube escaped two levels", "kube escaped u in u", "kube escaped digit", "long s Event Grid"} {
		before := len(res.Matches)
		e.Evaluate(0, []byte(cases[name]), &res)
		if len(res.Matches) == before {
			t.Errorf("%s: no match", name)
		}
	}
}

func FuzzFastPath(f *testing.F) {
	for _, c := range diffCases() {
		f.Add([]byte(c))
	}
	for _, p := range []string{"../examples/*.json"} {
		files, _ := filepath.Glob(p)
		for _, file := range files {
			if b, err := os.ReadFile(file); err == nil && len(b) < 64<<10 {
				f.Add(b)
			}
		}
	}
	e := diffEngine(f)
	f.Fuzz(func(t *testing.T, msg []byte) {
		checkSplit(t, msg)
		checkSame(t, e, msg)
		// The same message as it looks one string level down (a record
		// nested in another record's string), to cross escape levels.
		if i := bytes.IndexByte(msg, '{'); i >= 0 {
			checkSame(t, e, msg[i:])
		}
	})
}
