package kql

import (
	"errors"
	"flag"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/BurntSushi/toml"
	"github.com/tripline/tripline/internal/textdiff"
)

// update rewrites testdata/kql/elastic_trees.golden. Its name is specific
// to this file so that it cannot clash with other flags of the package's tests.
var update = flag.Bool("update-kql", false, "rewrite testdata/kql/*.golden from the current compiler")

// ruleFile is the part of an Elastic detection-rules TOML file these tests read.
type ruleFile struct {
	Rule struct {
		Type     string `toml:"type"`
		Language string `toml:"language"`
		Query    string `toml:"query"`
	} `toml:"rule"`
}

func readKQLRule(t *testing.T, path string) ruleFile {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var r ruleFile
	if _, err := toml.Decode(string(data), &r); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return r
}

// TestElasticFormatRules compiles every rule file under testdata/rules (test
// vectors written for this project in Elastic's format) and compares the
// printed trees with a golden file.
func TestElasticFormatRules(t *testing.T) {
	files, err := filepath.Glob("testdata/rules/*.toml")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 12 {
		t.Fatalf("found %d rule files, want at least 12", len(files))
	}
	var golden strings.Builder
	for _, path := range files {
		name := filepath.Base(path)
		r := readKQLRule(t, path)
		t.Run(name, func(t *testing.T) {
			if r.Rule.Type != "query" || r.Rule.Language != "kuery" {
				t.Fatalf("type %q language %q, want query/kuery", r.Rule.Type, r.Rule.Language)
			}
			q, err := Compile(r.Rule.Query)
			if err != nil {
				t.Fatalf("Compile: %v", err)
			}
			golden.WriteString("# " + name + "\n" + q.String() + "\n\n")
		})
	}
	goldenPath := filepath.Join("testdata", "kql", "elastic_trees.golden")
	if *update {
		if err := os.WriteFile(goldenPath, []byte(golden.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(goldenPath)
	if err != nil {
		t.Fatalf("%v (run go test -run TestElasticFormatRules -update-kql to create it)", err)
	}
	if got := golden.String(); got != string(want) {
		t.Errorf("printed trees differ from %s (rerun with -update-kql after checking the change):\n%s",
			goldenPath, textdiff.First(got, string(want)))
	}
}

// TestElasticCheckoutQueries (opt-in) compiles the query of every
// type = "query", language = "kuery" rule on azure.activitylogs or
// azure.platformlogs in a checkout of Elastic's detection-rules named by
// TRIPLINE_ELASTIC_RULES (its rules/ folder or a part of it).
func TestElasticCheckoutQueries(t *testing.T) {
	dir := os.Getenv("TRIPLINE_ELASTIC_RULES")
	if dir == "" {
		t.Skip("set TRIPLINE_ELASTIC_RULES to a checkout of elastic/detection-rules' rules/ folder")
	}
	n := 0
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || filepath.Ext(path) != ".toml" {
			return err
		}
		r := readKQLRule(t, path)
		q := r.Rule.Query
		if r.Rule.Type != "query" || r.Rule.Language != "kuery" ||
			!strings.Contains(q, "azure.activitylogs") && !strings.Contains(q, "azure.platformlogs") {
			return nil
		}
		n++
		if _, err := Compile(q); err != nil {
			t.Errorf("%s: %v", path, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d query/kuery rule(s) on azure.activitylogs or azure.platformlogs compiled", n)
	if n == 0 {
		t.Errorf("no query/kuery rule on Tripline's datasets under %s", dir)
	}
}

// TestElasticFormatDocuments evaluates the rules of testdata/rules on
// documents in the shape Elastic's azure integration stores (values under
// properties are strings: the field is flattened).
func TestElasticFormatDocuments(t *testing.T) {
	const kube = `"data_stream":{"dataset":"azure.platformlogs"},"event":{"action":"Microsoft.ContainerService/managedClusters/diagnosticLogs/Read"}`
	cases := []struct {
		file        string
		match, miss string
	}{
		{"activity_or_list.toml",
			`{"event":{"dataset":"azure.activitylogs","outcome":"success"},"azure":{"activitylogs":{"operation_name":"MICROSOFT.STORAGE/STORAGEACCOUNTS/LISTACCOUNTSAS/ACTION"}}}`,
			`{"event":{"dataset":"azure.activitylogs","outcome":"failure"},"azure":{"activitylogs":{"operation_name":"MICROSOFT.STORAGE/STORAGEACCOUNTS/LISTKEYS/ACTION"}}}`},
		{"activity_single_quoted_space.toml",
			`{"event":{"dataset":"azure.activitylogs","outcome":"success"},"azure.activitylogs.operation_name":"MICROSOFT.SECURITY/ALERTSSUPPRESSIONRULES/WRITE"}`,
			`{"event":{"dataset":"azure.activitylogs","outcome":"Success"},"azure.activitylogs.operation_name":"MICROSOFT.SECURITY/ALERTSSUPPRESSIONRULES/WRITE"}`},
		{"activity_wildcard_list.toml",
			`{"data_stream":{"dataset":"azure.activitylogs"},"event":{"outcome":"success"},"azure":{"activitylogs":{"operation_name":"MICROSOFT.NETWORK/VIRTUALNETWORKGATEWAYS/STARTPACKETCAPTURE/ACTION"}}}`,
			`{"data_stream":{"dataset":"azure.activitylogs"},"event":{"outcome":"success"},"azure":{"activitylogs":{"operation_name":"MICROSOFT.NETWORK/VIRTUALNETWORKGATEWAYS/STOPPACKETCAPTURE/ACTION"}}}`},
		{"activity_requestbody_wildcards.toml",
			`{"event":{"dataset":"azure.activitylogs","action":"MICROSOFT.AUTHORIZATION/ROLEASSIGNMENTS/WRITE"},"azure":{"activitylogs":{"properties":{"requestbody":{"properties":{"roleDefinitionId":"/subscriptions/0b5d7e2a-1c4f-4b8e-9d3a-6f2e8c1b4a97/providers/Microsoft.Authorization/roleDefinitions/b24988ac-6180-42a0-ab88-20f7382dd24c"}}}}}}`,
			`{"event":{"dataset":"azure.activitylogs","action":"MICROSOFT.AUTHORIZATION/ROLEASSIGNMENTS/WRITE"},"azure":{"activitylogs":{"properties":{"requestbody":{"properties":{"roleDefinitionId":"/subscriptions/0b5d7e2a-1c4f-4b8e-9d3a-6f2e8c1b4a97/providers/Microsoft.Authorization/roleDefinitions/acdd72a7-3385-48ef-bd42-f606fba81ae7"}}}}}}`},
		{"platform_backslash_escapes.toml",
			`{` + kube + `,"azure":{"platformlogs":{"category":"kube-audit","properties":{"log":{"verb":"create","objectRef":{"resource":"selfsubjectrulesreviews"},"user":{"username":"system:node:aks-pool1-1234-vmss000002"}}}}}}`,
			`{` + kube + `,"azure":{"platformlogs":{"category":"kube-audit","properties":{"log":{"verb":"create","objectRef":{"resource":"selfsubjectrulesreviews"},"user":{"username":"system-node-aks"}}}}}}`},
		{"platform_not_and_exists.toml",
			`{"data_stream":{"dataset":"azure.platformlogs"},"azure":{"platformlogs":{"category":"kube-audit","properties":{"log":{"verb":"list","user":{"username":"dev@contoso.example"},"impersonatedUser":{"username":"cluster-admin"}}}}}}`,
			`{"data_stream":{"dataset":"azure.platformlogs"},"azure":{"platformlogs":{"category":"kube-audit","properties":{"log":{"verb":"list","user":{"username":"aksService"},"impersonatedUser":{"username":"x"}}}}}}`},
		{"platform_numeric_codes.toml",
			`{"data_stream":{"dataset":"azure.platformlogs"},"azure":{"platformlogs":{"category":"kube-audit","properties":{"log":{"verb":"get","responseStatus":{"code":"200"},"objectRef":{"resource":"secrets"},"userAgent":"python-requests/2.32.3"}}}}}`,
			`{"data_stream":{"dataset":"azure.platformlogs"},"azure":{"platformlogs":{"category":"kube-audit","properties":{"log":{"verb":"get","responseStatus":{"code":"403"},"objectRef":{"resource":"secrets"},"userAgent":"python-requests/2.32.3"}}}}}`},
		{"platform_unquoted_and_list.toml",
			`{"data_stream":{"dataset":"azure.platformlogs"},"event":{"action":"GetBlob"},"azure":{"platformlogs":{"identity":{"type":"SAS"},"statusCode":200,"uri":"https://md-abc.blob.storage.azure.net/$system/vm7.4f2a.status?sv=2018-03-28&sr=b&sp=r&sig=x"}}}`,
			`{"data_stream":{"dataset":"azure.platformlogs"},"event":{"action":"GetBlob"},"azure":{"platformlogs":{"identity":{"type":"SAS"},"statusCode":200,"uri":"https://md-abc.blob.storage.azure.net/vhds/vm7.vhd?sv=2018-03-28&sp=r"}}}`},
		{"platform_nested_value_list.toml",
			`{"data_stream":{"dataset":"azure.platformlogs"},"azure":{"platformlogs":{"category":"kube-audit-admin","properties":{"log":{"stage":"ResponseComplete","verb":"patch","objectRef":{"resource":"certificatesigningrequests","subresource":"approval"},"user":{"username":"dev@contoso.example"}}}}}}`,
			`{"data_stream":{"dataset":"azure.platformlogs"},"azure":{"platformlogs":{"category":"kube-audit-admin","properties":{"log":{"stage":"ResponseComplete","verb":"patch","objectRef":{"resource":"certificatesigningrequests","subresource":"approval"},"user":{"username":"system:serviceaccount:kube-system:csr-approver"}}}}}}`},
		{"platform_exec_requesturi.toml",
			`{` + kube + `,"azure":{"platformlogs":{"category":"kube-audit","properties":{"log":{"verb":"create","objectRef":{"resource":"pods","subresource":"exec"},"requestURI":"/api/v1/namespaces/web/pods/api-0/exec?command=curl&command=http%3A%2F%2F169.254.169.254%2Fmetadata"}}}}}`,
			`{` + kube + `,"azure":{"platformlogs":{"category":"kube-audit","properties":{"log":{"verb":"create","objectRef":{"resource":"pods","subresource":"exec"},"requestURI":"/api/v1/namespaces/web/pods/api-0/exec?command=ls"}}}}}`},
		{"activity_seed_form.toml",
			`{"event":{"dataset":"azure.activitylogs","outcome":"Success"},"azure":{"activitylogs":{"operation_name":"MICROSOFT.KUBERNETES/CONNECTEDCLUSTERS/EVENTS.K8S.IO/EVENTS/DELETE"}}}`,
			`{"event":{"dataset":"azure.activitylogs","outcome":"success"},"azure":{"activitylogs":{"operation_name":"Microsoft.Kubernetes/connectedClusters/events.k8s.io/events/delete"}}}`},
		{"activity_range.toml",
			`{"event":{"dataset":"azure.activitylogs","action":"MICROSOFT.RESOURCES/DEPLOYMENTS/WRITE","duration":900000000000}}`,
			`{"event":{"dataset":"azure.activitylogs","action":"MICROSOFT.RESOURCES/DEPLOYMENTS/WRITE","duration":900000000000},"azure":{"activitylogs":{"identity":{"claims":{"appid":"04b07795-8ddb-461a-bbee-02f9e1bf7b46"}}}}}`},
	}
	for _, tc := range cases {
		t.Run(tc.file, func(t *testing.T) {
			r := readKQLRule(t, filepath.Join("testdata", "rules", tc.file))
			q := mustCompile(t, r.Rule.Query)
			if !q.Match(doc(t, tc.match)) {
				t.Errorf("matching document did not match %s", q)
			}
			if q.Match(doc(t, tc.miss)) {
				t.Errorf("non-matching document matched %s", q)
			}
		})
	}
}

// TestElasticRejected checks that rules outside the KQL subset fail with a
// positioned error: an EQL and an ES|QL rule of testdata/rules/reject, and a
// query string of an older version of Elastic's "Azure Virtual Network
// Device Modified or Deleted" rule, which Kibana's grammar rejects because
// `"..."or` lacks whitespace before or.
func TestElasticRejected(t *testing.T) {
	files := map[string]string{
		"eql_sequence.toml": `1:1: free-text search without a field name is unsupported ("sequence by azure.activitylogs.identity...."); write field:value`,
		"esql_stats.toml":   `1:1: free-text search without a field name is unsupported ("from logs-azure.platformlogs-* metadata ..."); write field:value`,
	}
	for name, want := range files {
		t.Run(name, func(t *testing.T) {
			r := readKQLRule(t, filepath.Join("testdata", "rules", "reject", name))
			if r.Rule.Language == "kuery" {
				t.Fatalf("reject fixture has language kuery")
			}
			_, err := Compile(r.Rule.Query)
			var ke *Error
			if !errors.As(err, &ke) {
				t.Fatalf("Compile error = %v, want *Error", err)
			}
			if err.Error() != want {
				t.Fatalf("got  %s\nwant %s", err, want)
			}
		})
	}
	t.Run("old virtual network device rule", func(t *testing.T) {
		query := `event.dataset:azure.activitylogs and azure.activitylogs.operation_name:("MICROSOFT.NETWORK/NETWORKINTERFACES/TAPCONFIGURATIONS/WRITE" or
"MICROSOFT.NETWORK/NETWORKINTERFACES/TAPCONFIGURATIONS/DELETE" or "MICROSOFT.NETWORK/NETWORKINTERFACES/WRITE" or
"MICROSOFT.NETWORK/NETWORKINTERFACES/JOIN/ACTION" or "MICROSOFT.NETWORK/NETWORKINTERFACES/DELETE"or
"MICROSOFT.NETWORK/NETWORKVIRTUALAPPLIANCES/DELETE" or "MICROSOFT.NETWORK/NETWORKVIRTUALAPPLIANCES/WRITE" or
"MICROSOFT.NETWORK/VIRTUALHUBS/DELETE" or "MICROSOFT.NETWORK/VIRTUALHUBS/WRITE" or
"MICROSOFT.NETWORK/VIRTUALROUTERS/WRITE" or "MICROSOFT.NETWORK/VIRTUALROUTERS/DELETE") and 
event.outcome:(Success or success)
`
		want := `3:98: expected ")" to close "(" at 1:72, found keyword "or" without whitespace before it (Kibana requires whitespace around and/or)`
		_, err := Compile(query)
		if err == nil || err.Error() != want {
			t.Fatalf("got  %v\nwant %s", err, want)
		}
	})
}
