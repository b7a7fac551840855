package notify

import (
	"encoding/json"
	"reflect"
	"testing"
)

func TestLookup(t *testing.T) {
	doc := map[string]any{
		"a": map[string]any{
			"b":   map[string]any{"c": "deep"},
			"n":   json.Number("42"),
			"arr": []any{"", "second"},
			"obj": map[string]any{"x": 1.5},
		},
		"k8s":                 map[string]any{"authorization.k8s.io/decision": "allow"},
		"flat.dotted":         "flat",
		"http://x_y/claims/z": "claim",
	}
	for _, tc := range []struct {
		name string
		segs []string
		want string
	}{
		{"nested", []string{"a", "b", "c"}, "deep"},
		{"dotted path", []string{"a.b.c"}, "deep"},
		{"number", []string{"a.n"}, "42"},
		{"array first non-empty", []string{"a.arr"}, "second"},
		{"object is empty", []string{"a.obj"}, ""},
		{"missing", []string{"a.b.missing"}, ""},
		{"through a leaf", []string{"a.n.more"}, ""},
		{"key with dots", []string{"k8s.authorization.k8s.io/decision"}, "allow"},
		{"flat key", []string{"flat.dotted"}, "flat"},
		{"claim key", []string{"http://x_y/claims/z"}, "claim"},
		{"nil doc", nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got string
			if len(tc.segs) == 1 {
				got = field(doc, tc.segs[0])
			} else {
				got = fieldSegs(doc, tc.segs...)
			}
			if tc.segs == nil {
				got = field(nil, "a")
			}
			if got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestViewKubeAudit(t *testing.T) {
	v := newView(kubeAlert())
	if got, want := v.title(), "Azure AKS Kubernetes Events Deleted (kube-audit): delete events payments/payments-api-6f9d8c7b5d-qx2lm.183a4f2c9b7e1d05 on AKS-PROD-WEU-01 by dana.okafor@contoso-example.com"; got != want {
		t.Errorf("title\n got %q\nwant %q", got, want)
	}
	want := []fact{
		{"Severity", "medium (risk score 47)"},
		{"Who", "dana.okafor@contoso-example.com (Kubernetes user, object id 4e8a2c6f-1b3d-4a5e-9f0c-7b2d1e3a5c7f)"},
		{"What", "delete events payments/payments-api-6f9d8c7b5d-qx2lm.183a4f2c9b7e1d05 (HTTP 200)"},
		{"Cluster", "AKS-PROD-WEU-01 (MICROSOFT.CONTAINERSERVICE/MANAGEDCLUSTERS)"},
		{"Resource group", "RG-AKS-PROD"},
		{"Subscription", "3F2B9C41-7D0E-4A55-9B1C-2E8F6A0D4C17"},
		{"Source IP", "203.0.113.77"},
		{"Event time", "2025-05-06T09:18:11Z"},
		{"First seen", "2025-05-06T09:18:11Z"},
		{"Last seen", "2025-05-06T09:19:02Z"},
		{"Count", "2"},
		{"MITRE ATT&CK", "TA0005 Defense Evasion; T1070 Indicator Removal"},
		{"Rule", "Azure AKS Kubernetes Events Deleted (kube-audit) (b76ccbde-88d9-47f1-b077-b38e61cbbe2e)"},
		{"Alert id", "alt-9709262861e74051c82f6ee8492bea3d"},
	}
	if got := v.facts(); !reflect.DeepEqual(got, want) {
		t.Errorf("facts\n got %q\nwant %q", got, want)
	}
	if want := "https://portal.azure.com/#resource/SUBSCRIPTIONS/3F2B9C41-7D0E-4A55-9B1C-2E8F6A0D4C17/RESOURCEGROUPS/RG-AKS-PROD/PROVIDERS/MICROSOFT.CONTAINERSERVICE/MANAGEDCLUSTERS/AKS-PROD-WEU-01"; v.PortalURL != want {
		t.Errorf("portal %q", v.PortalURL)
	}
}

func TestViewActivityServicePrincipal(t *testing.T) {
	v := newView(activityAlert())
	if got, want := v.Who.String(), "service principal (ServicePrincipal, app id 5d9e1f3a-7b2c-4d6e-8f0a-1c3e5a7b9d2f, object id c2f4a6e8-b0d1-4c3e-9a5b-7d9f1e2c4a6b)"; got != want {
		t.Errorf("who %q", got)
	}
	if got, want := v.What+" / "+v.Outcome, "MICROSOFT.KUBERNETES/CONNECTEDCLUSTERS/EVENTS.K8S.IO/EVENTS/DELETE / success"; got != want {
		t.Errorf("what %q", got)
	}
	if got, want := v.title(), "Azure Kubernetes Events Deleted: MICROSOFT.KUBERNETES/CONNECTEDCLUSTERS/EVENTS.K8S.IO/EVENTS/DELETE on ARC-EDGE-STORE-042 by app 5d9e1f3a-7b2c-4d6e-8f0a-1c3e5a7b9d2f"; got != want {
		t.Errorf("title %q", got)
	}
	if want := "https://portal.azure.com/#@b7e4a1d2-5c3f-4e98-8a61-0f2d9c7e3b45/resource/SUBSCRIPTIONS/3F2B9C41-7D0E-4A55-9B1C-2E8F6A0D4C17/RESOURCEGROUPS/RG-EDGE/PROVIDERS/MICROSOFT.KUBERNETES/CONNECTEDCLUSTERS/ARC-EDGE-STORE-042"; v.PortalURL != want {
		t.Errorf("portal %q", v.PortalURL)
	}
	if v.ResourceKind != "Cluster" || v.SourceIP != "198.51.100.23" || v.EventTime.Nanosecond() != 552190400 {
		t.Errorf("kind %q ip %q time %v", v.ResourceKind, v.SourceIP, v.EventTime)
	}
}

func TestViewUser(t *testing.T) {
	a := activityAlert()
	a.Event["user"] = map[string]any{"name": "dana.okafor", "email": "dana.okafor@contoso-example.com", "full_name": "Dana Okafor"}
	ev := a.Event["azure"].(map[string]any)["activitylogs"].(map[string]any)["identity"].(map[string]any)
	ev["authorization"].(map[string]any)["evidence"].(map[string]any)["principal_type"] = "User"
	delete(ev["claims"].(map[string]any), "appid")
	if got, want := newView(a).Who.String(), "Dana Okafor <dana.okafor@contoso-example.com> (User, object id c2f4a6e8-b0d1-4c3e-9a5b-7d9f1e2c4a6b)"; got != want {
		t.Errorf("who %q", got)
	}
}

func TestViewEmptyEvent(t *testing.T) {
	a := kubeAlert()
	a.Event = nil
	a.Rule.Name = ""
	v := newView(a)
	if got, want := v.title(), "Tripline alert"; got != want {
		t.Errorf("title %q", got)
	}
	if v.PortalURL != "" || v.Who.String() != "unknown" || !v.EventTime.Equal(a.FirstSeen) {
		t.Errorf("view %+v", v)
	}
}

func TestPortalURL(t *testing.T) {
	id := "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Web/sites/app"
	for _, tc := range []struct{ name, tenant, id, want string }{
		{"tenant", "contoso.onmicrosoft.com", id, "https://portal.azure.com/#@contoso.onmicrosoft.com/resource" + id},
		{"no tenant", "", id, "https://portal.azure.com/#resource" + id},
		{"bad tenant dropped", "evil/../x", id, "https://portal.azure.com/#resource" + id},
		{"not a resource id", "t", "https://evil.example/x", ""},
		{"injection in segment", "t", "/subscriptions/s/x|<http://evil>", ""},
		{"query in id", "t", "/subscriptions/s?x=1", ""},
		{"empty segment", "t", "/subscriptions//x", ""},
		{"empty", "t", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := portalURL(tc.tenant, tc.id); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}
