package detect_test

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/tripline/tripline/bench/corpus"
	"github.com/tripline/tripline/detect"
	"github.com/tripline/tripline/detect/kql"
	"github.com/tripline/tripline/detect/rules"
	"github.com/tripline/tripline/internal/jsonref"
)

// diffEngine is the built-in rules plus rules that exercise the prefilter
// on other fields: wildcards, nested audit fields, value lists, fields it
// must not use.
func diffEngine(t testing.TB) *detect.Engine {
	t.Helper()
	all, err := detect.LoadRules(rules.FS)
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
		q, err := kql.Compile(extra[id])
		if err != nil {
			t.Fatalf("%s: %v", id, err)
		}
		all = append(all, &detect.Rule{ID: id, File: id, Name: id, Query: q})
	}
	e, err := detect.NewEngine(all, nil)
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
	sort.Strings(ks)
	return ks
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

func TestEngineMatchesReference(t *testing.T) {
	e := diffEngine(t)
	cases := diffCases()
	for _, name := range sortedKeys(cases) {
		msg := []byte(cases[name])
		t.Run(name, func(t *testing.T) { checkAgainstReference(t, e, msg) })
	}
	// The repository's examples, one message each.
	files, _ := filepath.Glob(filepath.Join("..", "examples", "*.json"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		t.Run(filepath.Base(f), func(t *testing.T) { checkAgainstReference(t, e, b) })
	}
	// The benchmark corpus, as a batch.
	c := corpus.Generate(corpus.Options{Messages: 20})
	t.Run("corpus", func(t *testing.T) { checkAgainstReference(t, e, c.Bodies...) })
	// Every case at once, as one batch.
	var all [][]byte
	for _, name := range sortedKeys(cases) {
		all = append(all, []byte(cases[name]))
	}
	checkAgainstReference(t, e, all...)
}

// TestReferenceIsValidOnCases keeps the differential test honest: most
// cases must be valid JSON, so that the reference really is compared.
func TestReferenceIsValidOnCases(t *testing.T) {
	e := diffEngine(t)
	valid := 0
	cases := diffCases()
	for _, name := range sortedKeys(cases) {
		if _, ok := reference(e, []byte(cases[name])); ok {
			valid++
		}
	}
	if valid < len(cases)*2/3 {
		t.Fatalf("only %d of %d cases are valid JSON", valid, len(cases))
	}
}

func TestEngineFindsPlantedMatches(t *testing.T) {
	e := diffEngine(t)
	cases := diffCases()
	for _, name := range []string{"seed match", "escaped \\u0041 in op", "escaped \\/ in op", "mixed case Event Grid", "kube match", "kube escaped two levels", "kube escaped u in u", "kube escaped digit", "long s Event Grid"} {
		if _, err := firstMatch(e, []byte(cases[name])); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// TestNonMatchingRecordsAllocateNothing: a record no rule can match is cut
// and searched without an allocation by the built-in rules (a message may
// allocate a few times when its cutter is not in the pool). The records are
// the corpus's, less those that hold "delete" in any case (near misses,
// which are decoded).
func TestNonMatchingRecordsAllocateNothing(t *testing.T) {
	builtin, err := detect.LoadRules(rules.FS)
	if err != nil {
		t.Fatal(err)
	}
	e, err := detect.NewEngine(builtin, nil)
	if err != nil {
		t.Fatal(err)
	}
	c := corpus.Generate(corpus.Options{Messages: 4, RecordsPerMessage: 200, MatchPerMille: -1})
	var kept []string
	for i, body := range c.Bodies {
		recs, ok := jsonref.Cut(i, body)
		if !ok {
			t.Fatal("corpus body is not valid JSON")
		}
		for _, r := range recs {
			if !strings.Contains(strings.ToLower(string(r.Raw)), "delete") {
				kept = append(kept, string(r.Raw))
			}
		}
	}
	if len(kept) < 400 {
		t.Fatalf("only %d records kept", len(kept))
	}
	msg := []byte(`{"records":[` + strings.Join(kept, ",") + `]}`)
	var res detect.Result
	allocs := testing.AllocsPerRun(20, func() {
		res = detect.Result{}
		e.Evaluate(0, msg, &res)
	})
	if res.Records != len(kept) || len(res.Matches) != 0 {
		t.Fatalf("records = %d, matches = %d; want %d, 0", res.Records, len(res.Matches), len(kept))
	}
	if allocs/float64(len(kept)) >= 0.01 {
		t.Fatalf("%.1f allocations per message of %d records that no rule can match", allocs, len(kept))
	}
}

func FuzzEvaluate(f *testing.F) {
	for _, c := range diffCases() {
		f.Add([]byte(c))
	}
	files, _ := filepath.Glob("../examples/*.json")
	for _, file := range files {
		if b, err := os.ReadFile(file); err == nil && len(b) < 64<<10 {
			f.Add(b)
		}
	}
	e := diffEngine(f)
	f.Fuzz(func(t *testing.T, msg []byte) {
		checkAgainstReference(t, e, msg)
		// The same message from its first object on, to start inside
		// strings and records.
		if i := strings.IndexByte(string(msg), '{'); i > 0 {
			checkAgainstReference(t, e, msg[i:])
		}
	})
}

// TestEvaluateMessagesIsEvaluateInOrder: spreading a batch over workers
// gives what Evaluate on each message in order gives, duplicates and
// exceptions across the workers' messages included.
func TestEvaluateMessagesIsEvaluateInOrder(t *testing.T) {
	builtin, err := detect.LoadRules(rules.FS)
	if err != nil {
		t.Fatal(err)
	}
	excepted, err := kql.Compile(`azure.platformlogs.properties.log.user.username:"ravi.menon@contoso-example.com"`)
	if err != nil {
		t.Fatal(err)
	}
	e, err := detect.NewEngine(builtin, []detect.Exception{{RuleID: "b76ccbde-88d9-47f1-b077-b38e61cbbe2e", Query: excepted}})
	if err != nil {
		t.Fatal(err)
	}
	c := corpus.Generate(corpus.Options{Messages: 30})
	msgs := append([][]byte(nil), c.Bodies...)
	// The same audit event in both AKS categories, in messages that
	// different workers take: one match, one duplicate.
	kube := fmt.Sprintf(kubeRec, 99, "delete", "dana", "events")
	msgs = append([][]byte{[]byte(`{"records":[` + kube + `]}`)}, msgs...)
	msgs = append(msgs, []byte(`{"records":[`+strings.Replace(kube, "kube-audit-admin", "kube-audit", 1)+`]}`), []byte(`not json`))
	for _, decodeAll := range []bool{false, true} {
		want := detect.Result{DecodeAll: decodeAll}
		for i, m := range msgs {
			e.Evaluate(i, m, &want)
		}
		if want.Duplicates == 0 || want.Excepted == 0 || len(want.Matches) == 0 {
			t.Fatalf("the batch should hold matches, duplicates and exceptions: %d, %d, %d", len(want.Matches), want.Duplicates, want.Excepted)
		}
		for _, workers := range []int{1, 2, 3, 7} {
			got := detect.Result{DecodeAll: decodeAll}
			e.EvaluateMessages(msgs, workers, &got)
			if !reflect.DeepEqual(brief(toOutcome(got)), brief(toOutcome(want))) || got.Excepted != want.Excepted {
				t.Errorf("decodeAll %v, %d workers:\ngot  %+v\nwant %+v", decodeAll, workers, brief(toOutcome(got)), brief(toOutcome(want)))
			}
		}
	}
}

func toOutcome(res detect.Result) refOutcome {
	out := refOutcome{Records: res.Records, Skips: res.Skips, Duplicates: res.Duplicates}
	for _, m := range res.Matches {
		out.Matches = append(out.Matches, refMatch{m.Rule.ID, m.Event.Identity, m.Event.Source, m.Message, m.Record, m.Event.Doc})
	}
	return out
}
