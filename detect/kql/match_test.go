package kql

import (
	"bytes"
	"encoding/json"
	"testing"
)

// doc decodes a JSON object as the package doc describes (UseNumber).
func doc(tb testing.TB, s string) map[string]any {
	tb.Helper()
	d := json.NewDecoder(bytes.NewReader([]byte(s)))
	d.UseNumber()
	var m map[string]any
	if err := d.Decode(&m); err != nil {
		tb.Fatalf("bad test document %s: %v", s, err)
	}
	return m
}

func mustCompile(tb testing.TB, query string) *Query {
	tb.Helper()
	q, err := Compile(query)
	if err != nil {
		tb.Fatalf("Compile(%q): %v", query, err)
	}
	return q
}

func TestMatch(t *testing.T) {
	cases := []struct {
		name, query, doc string
		want             bool
	}{
		{"exact", `a:foo`, `{"a":"foo"}`, true},
		{"case-sensitive", `a:foo`, `{"a":"Foo"}`, false},
		{"no substring match", `a:foo`, `{"a":"foobar"}`, false},
		{"missing field", `a:foo`, `{"b":"foo"}`, false},
		{"nested object", `a.b.c:x`, `{"a":{"b":{"c":"x"}}}`, true},
		{"flat dotted key", `a.b.c:x`, `{"a.b.c":"x"}`, true},
		{"mixed dotted keys", `a.b.c:x`, `{"a":{"b.c":"x"}}`, true},
		{"mixed dotted keys 2", `a.b.c:x`, `{"a.b":{"c":"x"}}`, true},
		{"annotation key with dots", `azure.platformlogs.properties.log.annotations.authorization.k8s.io/decision:allow`,
			`{"azure":{"platformlogs":{"properties":{"log":{"annotations":{"authorization.k8s.io/decision":"allow","authorization.k8s.io/reason":""}}}}}}`, true},
		{"annotation key other value", `azure.platformlogs.properties.log.annotations.authorization.k8s.io/decision:allow`,
			`{"azure":{"platformlogs":{"properties":{"log":{"annotations":{"authorization.k8s.io/decision":"forbid"}}}}}}`, false},
		{"path through a leaf", `a.b:x`, `{"a":"x"}`, false},
		{"object is not a value", `a:x`, `{"a":{"b":"x"}}`, false},
		{"quoted phrase", `a:"foo bar"`, `{"a":"foo bar"}`, true},
		{"unquoted with space", `a:foo bar`, `{"a":"foo bar"}`, true},
		{"empty string value", `a:""`, `{"a":""}`, true},
		{"multi-valued any", `a:x`, `{"a":["w","x"]}`, true},
		{"multi-valued none", `a:x`, `{"a":["w","y"]}`, false},
		{"nested arrays flatten", `a:x`, `{"a":[["w"],["x"]]}`, true},
		{"array of objects", `a.b:x`, `{"a":[{"b":"w"},{"b":"x"}]}`, true},
		{"array of objects none", `a.b:x`, `{"a":[{"b":"w"},{"c":"x"}]}`, false},
		{"list and over elements", `a:(x and y)`, `{"a":["x","y"]}`, true},
		{"list and needs both", `a:(x and y)`, `{"a":["x"]}`, false},
		{"list or", `a:(x or y)`, `{"a":"y"}`, true},
		{"list nested logic", `a:((x or y) and not z)`, `{"a":"x"}`, true},
		{"list nested logic excluded", `a:((x or y) and not z)`, `{"a":["x","z"]}`, false},
		{"not missing field", `not a:x`, `{}`, true},
		{"not present other", `not a:x`, `{"a":"y"}`, true},
		{"not present same", `not a:x`, `{"a":"x"}`, false},
		{"and", `a:1 and b:2`, `{"a":"1","b":"2"}`, true},
		{"and fails", `a:1 and b:2`, `{"a":"1","b":"3"}`, false},
		{"or", `a:1 or b:2`, `{"a":"0","b":"2"}`, true},
		{"precedence or-and", `a:1 or b:2 and c:3`, `{"a":"1"}`, true},
		{"precedence or-and 2", `a:1 or b:2 and c:3`, `{"b":"2"}`, false},
		{"parens", `(a:1 or b:2) and c:3`, `{"a":"1"}`, false},
		{"nil doc", `a:x`, `null`, false},

		{"number matches json number", `code:200`, `{"code":200}`, true},
		{"number matches 200.0", `code:200`, `{"code":200.0}`, true},
		{"number matches 2e2", `code:200`, `{"code":2e2}`, true},
		{"number matches keyword string", `code:200`, `{"code":"200"}`, true},
		{"number does not match string 200.0", `code:200`, `{"code":"200.0"}`, false},
		{"number other", `code:200`, `{"code":201}`, false},
		{"quoted number matches number", `code:"200"`, `{"code":200}`, true},
		{"negative and fraction", `x:-1.50`, `{"x":-1.5}`, true},
		{"zero signs", `x:0`, `{"x":-0.0}`, true},
		{"big integers exact", `x:9007199254740993`, `{"x":9007199254740992}`, false},
		{"big integers equal", `x:9007199254740993`, `{"x":9007199254740993}`, true},
		{"text does not match number", `code:abc`, `{"code":200}`, false},
		{"bool true", `ok:true`, `{"ok":true}`, true},
		{"bool false", `ok:false`, `{"ok":false}`, true},
		{"bool mismatch", `ok:true`, `{"ok":false}`, false},
		{"bool as keyword", `ok:true`, `{"ok":"true"}`, true},
		{"bool capitalised is text", `ok:True`, `{"ok":true}`, false},
		{"null leaf", `a:x`, `{"a":null}`, false},

		{"wildcard prefix", `u:system\:node\:*`, `{"u":"system:node:aks-1"}`, true},
		{"wildcard prefix exact", `u:system\:node\:*`, `{"u":"system:node:"}`, true},
		{"wildcard prefix miss", `u:system\:node\:*`, `{"u":"system:serviceaccount:x"}`, false},
		{"wildcard infix", `u:*169.254.169.254*`, `{"u":"/exec?command=curl+169.254.169.254%2Fmetadata"}`, true},
		{"wildcard suffix", `u:*Format`, `{"u":"kubectl/$Format"}`, true},
		{"wildcard multi", `u:a*b*c`, `{"u":"a--b--c"}`, true},
		{"wildcard multi order", `u:a*b*c`, `{"u":"a--c--b"}`, false},
		{"wildcard overlap", `u:ab*bc`, `{"u":"abc"}`, false},
		{"wildcard overlap ok", `u:ab*bc`, `{"u":"abbc"}`, true},
		{"wildcard case-sensitive", `u:python*`, `{"u":"Python-urllib"}`, false},
		{"wildcard not numbers", `u:20*`, `{"u":200}`, false},
		{"escaped star literal", `u:a\*b`, `{"u":"a*b"}`, true},
		{"escaped star literal miss", `u:a\*b`, `{"u":"axb"}`, false},
		{"question mark literal", `u:a?c`, `{"u":"abc"}`, false},
		{"question mark literal hit", `u:a?c`, `{"u":"a?c"}`, true},
		{"double star any string", `u:**`, `{"u":""}`, true},
		{"json escaped pattern", `b: *\"allowBlobPublicAccess\"\:true*`, `{"b":"{\"properties\":{\"allowBlobPublicAccess\":true}}"}`, true},
		{"json escaped pattern miss", `b: *\"allowBlobPublicAccess\"\:true*`, `{"b":"{\"allowBlobPublicAccess\":false}"}`, false},

		{"exists", `a:*`, `{"a":"x"}`, true},
		{"exists empty string", `a:*`, `{"a":""}`, true},
		{"exists number", `a:*`, `{"a":0}`, true},
		{"exists false", `a:*`, `{"a":false}`, true},
		{"exists missing", `a:*`, `{}`, false},
		{"exists null", `a:*`, `{"a":null}`, false},
		{"exists empty array", `a:*`, `{"a":[]}`, false},
		{"exists array of null", `a:*`, `{"a":[null]}`, false},
		{"exists object", `a:*`, `{"a":{"b":"x"}}`, true},
		{"exists empty object", `a:*`, `{"a":{}}`, false},

		{"range numeric", `n > 5`, `{"n":10}`, true},
		{"range numeric exact", `n >= 10`, `{"n":10.0}`, true},
		{"range numeric lt", `n < 10`, `{"n":9.99}`, true},
		{"range numeric not", `n < 10`, `{"n":10}`, false},
		{"range numeric vs 1e2", `n > 99`, `{"n":1e2}`, true},
		{"range negative", `n > -2`, `{"n":-1}`, true},
		{"range keyword is lexicographic", `n > 5`, `{"n":"10"}`, false},
		{"range string", `s >= b`, `{"s":"c"}`, true},
		{"range iso date", `@timestamp >= "2024-01-02T00:00:00Z"`, `{"@timestamp":"2024-01-02T03:04:05Z"}`, true},
		{"range iso date before", `@timestamp >= "2024-01-02T00:00:00Z"`, `{"@timestamp":"2024-01-01T23:59:59Z"}`, false},
		{"range number vs text value", `n > abc`, `{"n":5}`, false},
		{"range bool", `n > 0`, `{"n":true}`, false},
		{"range multi-valued", `n > 5`, `{"n":[1,2,7]}`, true},
		{"range missing", `n > 5`, `{}`, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			q := mustCompile(t, tc.query)
			if got := q.Match(doc(t, tc.doc)); got != tc.want {
				t.Fatalf("%s on %s = %v, want %v (tree %s)", tc.query, tc.doc, got, tc.want, q)
			}
		})
	}
}

// TestMatchGoTypes covers leaves built by hand rather than by encoding/json.
func TestMatchGoTypes(t *testing.T) {
	q := mustCompile(t, `n:200 and m > 1.5 and k < 3`)
	doc := map[string]any{"n": float64(200), "m": int64(2), "k": 2}
	if !q.Match(doc) {
		t.Fatalf("%s should match %v", q, doc)
	}
	doc["k"] = 3
	if q.Match(doc) {
		t.Fatalf("%s should not match %v", q, doc)
	}
	if q.Match(nil) {
		t.Fatal("nil document matched")
	}
	bad := mustCompile(t, `n:1`)
	if bad.Match(map[string]any{"n": json.Number("1x")}) {
		t.Fatal("malformed json.Number matched")
	}
}

func TestCompareNum(t *testing.T) {
	cases := []struct {
		a, b string
		want int
	}{
		{"0", "-0", 0}, {"0.0", "0e5", 0}, {"1", "1.000", 0}, {"100", "1e2", 0},
		{"0.05", "5e-2", 0}, {"1", "2", -1}, {"-1", "-2", 1}, {"-1", "1", -1},
		{"10", "9.99", 1}, {"0.1", "0.09", 1}, {"12345678901234567890", "12345678901234567891", -1},
		{"1e400", "1e399", 1}, {"1e-400", "0", 1}, {"007", "7", 0}, {"1.5", "1.50001", -1},
	}
	for _, tc := range cases {
		a, ok1 := parseNum(tc.a)
		b, ok2 := parseNum(tc.b)
		if !ok1 || !ok2 {
			t.Fatalf("parse %q/%q failed", tc.a, tc.b)
		}
		if got := compareNum(a, b); got != tc.want {
			t.Errorf("compare(%s, %s) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
		if got := compareNum(b, a); got != -tc.want {
			t.Errorf("compare(%s, %s) = %d, want %d", tc.b, tc.a, got, -tc.want)
		}
	}
	for _, bad := range []string{"", "-", "1.", ".5", "1e", "1e+", "0x10", "1_000", "+1", "NaN", "1.2.3", "12a"} {
		if _, ok := parseNum(bad); ok {
			t.Errorf("parseNum(%q) accepted", bad)
		}
	}
}

// allocCases are compiled once for the allocation test and benchmark:
// the seed rule, the AKS kube-audit rule shape, and every node kind.
func allocCases() []struct{ name, query, match, miss string } {
	return []struct{ name, query, match, miss string }{
		{
			name:  "seed",
			query: `event.dataset:azure.activitylogs and azure.activitylogs.operation_name:"MICROSOFT.KUBERNETES/CONNECTEDCLUSTERS/EVENTS.K8S.IO/EVENTS/DELETE" and event.outcome:(Success or success)`,
			match: `{"event":{"dataset":"azure.activitylogs","outcome":"success"},"azure":{"activitylogs":{"operation_name":"MICROSOFT.KUBERNETES/CONNECTEDCLUSTERS/EVENTS.K8S.IO/EVENTS/DELETE"}}}`,
			miss:  `{"event":{"dataset":"azure.activitylogs","outcome":"failure"},"azure":{"activitylogs":{"operation_name":"MICROSOFT.KUBERNETES/CONNECTEDCLUSTERS/EVENTS.K8S.IO/EVENTS/DELETE"}}}`,
		},
		{
			name: "kube-audit",
			query: `data_stream.dataset:azure.platformlogs and azure.platformlogs.properties.log.verb:("delete" or "deletecollection") and
  azure.platformlogs.properties.log.annotations.authorization.k8s.io/decision:allow and
  not azure.platformlogs.properties.log.user.username:(system\:node\:* or "aksService" or system\:serviceaccount\:kube-system\:*)`,
			match: `{"data_stream":{"dataset":"azure.platformlogs"},"azure":{"platformlogs":{"properties":{"log":{"verb":"delete","annotations":{"authorization.k8s.io/decision":"allow"},"user":{"username":"masterclient","groups":["system:masters"]}}}}}}`,
			miss:  `{"data_stream":{"dataset":"azure.platformlogs"},"azure":{"platformlogs":{"properties":{"log":{"verb":"delete","annotations":{"authorization.k8s.io/decision":"allow"},"user":{"username":"system:node:aks-1"}}}}}}`,
		},
		{
			name:  "numbers ranges exists",
			query: `code:200 and n >= 1.5 and s < "b" and f:* and not g:* and ok:true and big:12345678901234567890`,
			match: `{"code":200.0,"n":2,"s":"a","f":"","ok":true,"big":1.2345678901234567890e19}`,
			miss:  `{"code":200.0,"n":1,"s":"a","f":"","ok":true,"big":12345678901234567890}`,
		},
	}
}

func TestMatchAllocatesNothing(t *testing.T) {
	for _, tc := range allocCases() {
		q := mustCompile(t, tc.query)
		for _, d := range []struct {
			doc  string
			want bool
		}{{tc.match, true}, {tc.miss, false}} {
			doc := doc(t, d.doc)
			if got := q.Match(doc); got != d.want {
				t.Fatalf("%s: Match = %v, want %v", tc.name, got, d.want)
			}
			if n := testing.AllocsPerRun(100, func() { q.Match(doc) }); n != 0 {
				t.Errorf("%s: Match allocates %v times per run, want 0", tc.name, n)
			}
		}
	}
}

func BenchmarkMatch(b *testing.B) {
	for _, tc := range allocCases() {
		q := mustCompile(b, tc.query)
		doc := doc(b, tc.match)
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				q.Match(doc)
			}
		})
	}
}

func TestMatchConcurrent(t *testing.T) {
	q := mustCompile(t, allocCases()[1].query)
	doc := doc(t, allocCases()[1].match)
	done := make(chan bool)
	for range 8 {
		go func() {
			ok := true
			for range 200 {
				ok = ok && q.Match(doc)
			}
			done <- ok
		}()
	}
	for range 8 {
		if !<-done {
			t.Fatal("concurrent Match disagreed")
		}
	}
}
