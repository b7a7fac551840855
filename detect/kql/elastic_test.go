package kql

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/BurntSushi/toml"
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

// TestElasticAzureRules compiles every Elastic azure query rule saved under
// testdata/elastic and compares the printed trees with a golden file.
func TestElasticAzureRules(t *testing.T) {
	files, err := filepath.Glob("testdata/elastic/*.toml")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 25 {
		t.Fatalf("found %d rule files, want at least 25", len(files))
	}
	var golden strings.Builder
	for _, path := range files {
		name := filepath.Base(path)
		r := readKQLRule(t, path)
		t.Run(name, func(t *testing.T) {
			if r.Rule.Type != "query" || r.Rule.Language != "kuery" {
				t.Fatalf("type %q language %q, want query/kuery", r.Rule.Type, r.Rule.Language)
			}
			if !strings.Contains(r.Rule.Query, "azure.activitylogs") && !strings.Contains(r.Rule.Query, "azure.platformlogs") {
				t.Fatalf("query does not target azure.activitylogs or azure.platformlogs")
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
		t.Fatalf("%v (run go test -run TestElasticAzureRules -update-kql to create it)", err)
	}
	if got := golden.String(); got != string(want) {
		t.Errorf("printed trees differ from %s (rerun with -update-kql after checking the change):\n%s",
			goldenPath, firstDiff(got, string(want)))
	}
}

// firstDiff shows the first differing line of two texts.
func firstDiff(got, want string) string {
	g, w := strings.Split(got, "\n"), strings.Split(want, "\n")
	for i := 0; i < len(g) || i < len(w); i++ {
		var gl, wl string
		if i < len(g) {
			gl = g[i]
		}
		if i < len(w) {
			wl = w[i]
		}
		if gl != wl {
			return "line " + strconv.Itoa(i+1) + "\n got: " + gl + "\nwant: " + wl
		}
	}
	return ""
}

// TestElasticRuleDocuments evaluates saved Elastic rules on documents in the
// shape Elastic's azure integration stores (ECS, nested objects).
func TestElasticRuleDocuments(t *testing.T) {
	cases := []struct {
		file        string
		match, miss string
	}{
		{
			file:  "defense_evasion_kubernetes_events_deleted.toml",
			match: `{"data_stream":{"dataset":"azure.activitylogs"},"event":{"dataset":"azure.activitylogs","outcome":"Success"},"azure":{"activitylogs":{"operation_name":"MICROSOFT.KUBERNETES/CONNECTEDCLUSTERS/EVENTS.K8S.IO/EVENTS/DELETE"}}}`,
			miss:  `{"data_stream":{"dataset":"azure.activitylogs"},"event":{"dataset":"azure.activitylogs","outcome":"failure"},"azure":{"activitylogs":{"operation_name":"MICROSOFT.KUBERNETES/CONNECTEDCLUSTERS/EVENTS.K8S.IO/EVENTS/DELETE"}}}`,
		},
		{
			file:  "credential_access_azure_kubernetes_secret_or_config_object_access.toml",
			match: `{"event.dataset":"azure.activitylogs","event":{"outcome":"success"},"azure":{"activitylogs":{"operation_name":"MICROSOFT.KUBERNETES/CONNECTEDCLUSTERS/SECRETS/WRITE"}}}`,
			miss:  `{"event.dataset":"azure.activitylogs","event":{"outcome":"success"},"azure":{"activitylogs":{"operation_name":"MICROSOFT.KUBERNETES/CONNECTEDCLUSTERS/SECRETS/READ"}}}`,
		},
		{
			file:  "credential_access_network_full_network_packet_capture_detected.toml",
			match: `{"data_stream":{"dataset":"azure.activitylogs"},"event":{"outcome":"success"},"azure":{"activitylogs":{"operation_name":"MICROSOFT.NETWORK/NETWORKWATCHERS/PACKETCAPTURES/WRITE"}}}`,
			miss:  `{"data_stream":{"dataset":"azure.activitylogs"},"event":{"outcome":"success"},"azure":{"activitylogs":{"operation_name":"MICROSOFT.NETWORK/NETWORKWATCHERS/PACKETCAPTURES/READ"}}}`,
		},
		{
			file: "defense_evasion_azure_aks_events_deleted.toml",
			match: `{"data_stream":{"dataset":"azure.platformlogs"},"event":{"action":"Microsoft.ContainerService/managedClusters/diagnosticLogs/Read"},
				"azure":{"platformlogs":{"category":"kube-audit-admin","properties":{"log":{"stage":"ResponseComplete","verb":"deletecollection",
				"objectRef":{"resource":"events","namespace":"default"},"user":{"username":"masterclient","groups":["system:masters","system:authenticated"]},
				"annotations":{"authorization.k8s.io/decision":"allow"}}}}}}`,
			miss: `{"data_stream":{"dataset":"azure.platformlogs"},"event":{"action":"Microsoft.ContainerService/managedClusters/diagnosticLogs/Read"},
				"azure":{"platformlogs":{"category":"kube-audit-admin","properties":{"log":{"stage":"ResponseComplete","verb":"delete",
				"objectRef":{"resource":"events"},"user":{"username":"system:serviceaccount:kube-system:event-exporter"}}}}}}`,
		},
		{
			file: "credential_access_azure_aks_csr_created_or_approved.toml",
			match: `{"data_stream":{"dataset":"azure.platformlogs"},"event":{"action":"Microsoft.ContainerService/managedClusters/diagnosticLogs/Read"},
				"azure":{"platformlogs":{"category":"kube-audit","properties":{"log":{"stage":"ResponseComplete","verb":"update",
				"objectRef":{"resource":"certificatesigningrequests","subresource":"approval"},"user":{"username":"system:serviceaccount:default:ci"}}}}}}`,
			miss: `{"data_stream":{"dataset":"azure.platformlogs"},"event":{"action":"Microsoft.ContainerService/managedClusters/diagnosticLogs/Read"},
				"azure":{"platformlogs":{"category":"kube-audit","properties":{"log":{"stage":"ResponseComplete","verb":"create",
				"objectRef":{"resource":"certificatesigningrequests"},"requestObject":{"spec":{"signerName":"kubernetes.io/kubelet-serving"}},
				"user":{"username":"alice"}}}}}}`,
		},
		{
			file: "credential_access_azure_aks_pod_exec_cloud_instance_metadata.toml",
			match: `{"data_stream":{"dataset":"azure.platformlogs"},"event":{"action":"Microsoft.ContainerService/managedClusters/diagnosticLogs/Read"},
				"azure":{"platformlogs":{"category":"kube-audit","properties":{"log":{"verb":"create",
				"objectRef":{"resource":"pods","subresource":"exec"},"requestURI":"/api/v1/namespaces/default/pods/web/exec?command=curl&command=http%3A%2F%2F169.254.169.254%2Fmetadata",
				"user":{"username":"alice@contoso.com"}}}}}}`,
			miss: `{"data_stream":{"dataset":"azure.platformlogs"},"event":{"action":"Microsoft.ContainerService/managedClusters/diagnosticLogs/Read"},
				"azure":{"platformlogs":{"category":"kube-audit","properties":{"log":{"verb":"create",
				"objectRef":{"resource":"pods","subresource":"exec"},"requestURI":"/api/v1/namespaces/default/pods/web/exec?command=ls",
				"user":{"username":"alice@contoso.com"}}}}}}`,
		},
		{
			file: "credential_access_azure_aks_secret_access_suspicious_user_agent.toml",
			match: `{"data_stream":{"dataset":"azure.platformlogs"},"event":{"action":"Microsoft.ContainerService/managedClusters/diagnosticLogs/Read"},
				"azure":{"platformlogs":{"category":"kube-audit","properties":{"log":{"verb":"list","responseStatus":{"code":"200"},
				"objectRef":{"resource":"secrets"},"userAgent":"python-requests/2.31.0"}}}}}`,
			miss: `{"data_stream":{"dataset":"azure.platformlogs"},"event":{"action":"Microsoft.ContainerService/managedClusters/diagnosticLogs/Read"},
				"azure":{"platformlogs":{"category":"kube-audit","properties":{"log":{"verb":"list","responseStatus":{"code":"200"},
				"objectRef":{"resource":"secrets"},"userAgent":"kubectl/v1.29.2 (linux/amd64) kubernetes/4b8e819"}}}}}`,
		},
		{
			file: "credential_access_azure_storage_sas_retrieval_guest_agent_blobs.toml",
			match: `{"data_stream":{"dataset":"azure.platformlogs"},"event":{"action":"GetBlob"},"azure":{"platformlogs":{"identity":{"type":"SAS"},
				"statusCode":200,"uri":"https://md-hdd-x.blob.storage.azure.net/$system/vm1.0c9f.status?sv=2018-03-28&sr=b&sp=r"}}}`,
			miss: `{"data_stream":{"dataset":"azure.platformlogs"},"event":{"action":"GetBlob"},"azure":{"platformlogs":{"identity":{"type":"SAS"},
				"statusCode":403,"uri":"https://md-hdd-x.blob.storage.azure.net/$system/vm1.0c9f.status?sv=2018-03-28&sr=b&sp=r"}}}`,
		},
		{
			file:  "impact_kubernetes_pod_deleted.toml",
			match: `{"event":{"dataset":"azure.activitylogs","outcome":"Success"},"azure":{"activitylogs":{"operation_name":"MICROSOFT.KUBERNETES/CONNECTEDCLUSTERS/PODS/DELETE"}}}`,
			miss:  `{"event":{"dataset":"azure.activitylogs","outcome":"Failure"},"azure":{"activitylogs":{"operation_name":"MICROSOFT.KUBERNETES/CONNECTEDCLUSTERS/PODS/DELETE"}}}`,
		},
		{
			file:  "impact_resource_group_deletion.toml",
			match: `{"event.dataset":"azure.activitylogs","event.outcome":"success","azure.activitylogs.operation_name":"MICROSOFT.RESOURCES/SUBSCRIPTIONS/RESOURCEGROUPS/DELETE"}`,
			miss:  `{"event.dataset":"azure.activitylogs","event.outcome":"success","azure.activitylogs.operation_name":"MICROSOFT.RESOURCES/SUBSCRIPTIONS/RESOURCEGROUPS/WRITE"}`,
		},
		{
			file:  "execution_command_virtual_machine.toml",
			match: `{"event":{"dataset":"azure.activitylogs","outcome":"success"},"azure":{"activitylogs":{"operation_name":"MICROSOFT.COMPUTE/VIRTUALMACHINES/RUNCOMMAND/ACTION"}}}`,
			miss:  `{"event":{"dataset":"azure.activitylogs","outcome":"success"},"azure":{"activitylogs":{"operation_name":"MICROSOFT.COMPUTE/VIRTUALMACHINES/WRITE"}}}`,
		},
		{
			file:  "execution_automation_runbook_created_or_modified.toml",
			match: `{"event":{"dataset":"azure.activitylogs","outcome":"Success"},"azure":{"activitylogs":{"operation_name":"MICROSOFT.AUTOMATION/AUTOMATIONACCOUNTS/RUNBOOKS/PUBLISH/ACTION"}}}`,
			miss:  `{"event":{"dataset":"azure.activitylogs","outcome":"Success"},"azure":{"activitylogs":{"operation_name":"MICROSOFT.AUTOMATION/AUTOMATIONACCOUNTS/RUNBOOKS/DELETE"}}}`,
		},
		{
			file:  "persistence_automation_webhook_created.toml",
			match: `{"event":{"dataset":"azure.activitylogs","outcome":"success"},"azure":{"activitylogs":{"operation_name":"MICROSOFT.AUTOMATION/AUTOMATIONACCOUNTS/WEBHOOKS/WRITE"}}}`,
			miss:  `{"event":{"dataset":"azure.platformlogs","outcome":"success"},"azure":{"activitylogs":{"operation_name":"MICROSOFT.AUTOMATION/AUTOMATIONACCOUNTS/WEBHOOKS/WRITE"}}}`,
		},
		{
			file:  "privilege_escalation_kubernetes_aks_rolebinding_created.toml",
			match: `{"event":{"dataset":"azure.activitylogs","outcome":"Success"},"azure":{"activitylogs":{"operation_name":"MICROSOFT.KUBERNETES/CONNECTEDCLUSTERS/RBAC.AUTHORIZATION.K8S.IO/CLUSTERROLEBINDINGS/WRITE"}}}`,
			miss:  `{"event":{"dataset":"azure.activitylogs","outcome":"Success"},"azure":{"activitylogs":{"operation_name":"MICROSOFT.KUBERNETES/CONNECTEDCLUSTERS/RBAC.AUTHORIZATION.K8S.IO/CLUSTERROLEBINDINGS/DELETE"}}}`,
		},
		{
			file: "privilege_escalation_azure_rbac_administrator_roles_assigned.toml",
			match: `{"event":{"dataset":"azure.activitylogs","action":"MICROSOFT.AUTHORIZATION/ROLEASSIGNMENTS/WRITE"},"azure":{"activitylogs":{"properties":{"requestbody":{"properties":
				{"roleDefinitionId":"/subscriptions/00000000-0000-0000-0000-000000000000/providers/Microsoft.Authorization/roleDefinitions/8e3af657-a8ff-443c-a75c-2fe8c4bcb635"}}}}}}`,
			miss: `{"event":{"dataset":"azure.activitylogs","action":"MICROSOFT.AUTHORIZATION/ROLEASSIGNMENTS/WRITE"},"azure":{"activitylogs":{"properties":{"requestbody":{"properties":
				{"roleDefinitionId":"/subscriptions/00000000-0000-0000-0000-000000000000/providers/Microsoft.Authorization/roleDefinitions/acdd72a7-3385-48ef-bd42-f606fba81ae7"}}}}}}`,
		},
	}
	for _, tc := range cases {
		t.Run(tc.file, func(t *testing.T) {
			r := readKQLRule(t, filepath.Join("testdata", "elastic", tc.file))
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

// TestElasticRejected checks that Elastic rules outside the KQL subset fail
// with a positioned error: saved EQL and ES|QL rules, and the query of an
// older stored version of defense_evasion_virtual_network_device_modified.toml
// (commit 03d7c5d4a5c021cb16b68fa67fa9ed09c7481651), which Kibana's grammar
// rejects because `"..."or` lacks whitespace before or.
func TestElasticRejected(t *testing.T) {
	files := map[string]string{
		"credential_access_azure_service_principal_signin_then_arc_credential_listing.toml": `1:1: free-text search without a field name is unsupported ("sequence with maxspan=30m\n[authenticatio..."); write field:value`,
		"discovery_azure_aks_multi_resource_discovery.toml":                                 `1:1: free-text search without a field name is unsupported ("from logs-azure.platformlogs-* metadata ..."); write field:value`,
	}
	for name, want := range files {
		t.Run(name, func(t *testing.T) {
			r := readKQLRule(t, filepath.Join("testdata", "elastic", "reject", name))
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
