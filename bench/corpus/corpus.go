// Package corpus generates Tripline's benchmark corpus: realistic Azure
// Activity Log administrative records (about 1.2 KB each, with nested
// identity, authorization evidence, claims and properties) and AKS
// kube-audit-admin resource-log records, packed into Event Hubs message
// bodies of the diagnostic-settings shape {"records":[...]}, each body from
// one source as Azure sends them. A fixed share of records (0.5 % by
// default) matches the built-in rules; the rest are the everyday noise a
// subscription produces, including near misses (the seed operation's Start
// records, event deletions by the kubelet).
//
// Generation is deterministic: the same Options give the same bytes on every
// machine and Go version (math/rand/v2 PCG, no map iteration, fixed clock).
//
// Its few types: Options (what to generate), Corpus (the bodies and what is
// known about them).
package corpus

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"
)

// SeedOperation is the operation name of the seed rule ("Azure Kubernetes
// Events Deleted", 8b64d36a-1307-4b2e-a77b-a0027e4d27c8).
const SeedOperation = "MICROSOFT.KUBERNETES/CONNECTEDCLUSTERS/EVENTS.K8S.IO/EVENTS/DELETE"

// CountSeedOperation is the benchmarks' floor: a raw search for
// SeedOperation, counting its occurrences in b. It reads b as bytes.Index
// does, whatever encoding b is in.
func CountSeedOperation(b []byte) int {
	needle := []byte(SeedOperation)
	n := 0
	for {
		i := bytes.Index(b, needle)
		if i < 0 {
			return n
		}
		n++
		b = b[i+len(needle):]
	}
}

// arcCoreOperation is the core-API twin the built-in Arc rule watches.
const arcCoreOperation = "MICROSOFT.KUBERNETES/CONNECTEDCLUSTERS/EVENTS/DELETE"

// Options describe a corpus. Zero fields take the value in Defaults.
type Options struct {
	// Seed fixes every random choice.
	Seed uint64
	// Messages is the number of Event Hubs message bodies.
	Messages int
	// RecordsPerMessage is the number of records in each body.
	RecordsPerMessage int
	// MatchPerMille is how many records in 1000 match a built-in rule;
	// negative means none.
	MatchPerMille int
	// NoNearMisses leaves out the records that contain a rule's literals
	// without matching it (the seed operation's Start records, event
	// deletions by the kubelet), so that no record is a prefilter candidate.
	NoNearMisses bool
	// KubePercent is the share (in %) of messages that are an AKS
	// cluster's kube-audit-admin resource logs (the others are Activity
	// Log exports); zero means the default, negative means none.
	KubePercent int
}

// Defaults: 800 bodies of 50 records (40,000 records of about 2 KB, about
// 85 MB), 0.5 % matching, 20 % of the messages kube-audit-admin.
var Defaults = Options{Seed: 20261107, Messages: 800, RecordsPerMessage: 50, MatchPerMille: 5, KubePercent: 20}

// Corpus is a generated set of Event Hubs message bodies.
type Corpus struct {
	// Bodies are the message bodies, {"records":[...]} each, compact JSON.
	Bodies [][]byte
	// Records is the total number of records.
	Records int
	// Planted is the number of records generated to match a built-in rule
	// (the benchmark checks Tripline finds exactly these).
	Planted int
	// PlantedSeed is the number of planted records matching the seed rule
	// (what the jq and encoding/json baselines select).
	PlantedSeed int
	// Bytes is the total size of Bodies.
	Bytes int64
}

// Generate builds a corpus. It is deterministic in opts.
func Generate(opts Options) *Corpus {
	if opts.Seed == 0 {
		opts.Seed = Defaults.Seed
	}
	if opts.Messages <= 0 {
		opts.Messages = Defaults.Messages
	}
	if opts.RecordsPerMessage <= 0 {
		opts.RecordsPerMessage = Defaults.RecordsPerMessage
	}
	switch {
	case opts.MatchPerMille == 0:
		opts.MatchPerMille = Defaults.MatchPerMille
	case opts.MatchPerMille < 0:
		opts.MatchPerMille = 0
	}
	switch {
	case opts.KubePercent == 0:
		opts.KubePercent = Defaults.KubePercent
	case opts.KubePercent < 0:
		opts.KubePercent = 0
	case opts.KubePercent > 100:
		opts.KubePercent = 100
	}
	g := &gen{noNear: opts.NoNearMisses, rng: rand.New(rand.NewPCG(opts.Seed, 0x747269706c696e65)), t: time.Date(2026, 11, 7, 8, 0, 0, 0, time.UTC)}
	c := &Corpus{}
	total := opts.Messages * opts.RecordsPerMessage
	// Each message comes from one diagnostic setting, as on Azure: the
	// subscription's Activity Log export, or an AKS cluster's resource
	// logs. Their records never share a message.
	kubeMsg := make([]bool, opts.Messages)
	nKube := 0
	for m := range kubeMsg {
		kubeMsg[m] = g.rng.IntN(100) < opts.KubePercent
		if kubeMsg[m] {
			nKube++
		}
	}
	// Plant matches at seeded positions, each in a message of its kind
	// (in any message when there is none of that kind).
	plant := make(map[int]int, total*opts.MatchPerMille/1000+1)
	n := total * opts.MatchPerMille / 1000
	for i := 0; i < n; i++ {
		kind := 1 + i%3 // 1 seed rule, 2 Arc core twin, 3 kube-audit
		wantKube := kind == 3
		anyMessage := wantKube && nKube == 0 || !wantKube && nKube == opts.Messages
		pos := g.rng.IntN(total)
		for plant[pos] != 0 || !anyMessage && kubeMsg[pos/opts.RecordsPerMessage] != wantKube {
			pos = (pos + 1) % total
		}
		plant[pos] = kind
	}
	var buf bytes.Buffer
	k := 0
	for m := 0; m < opts.Messages; m++ {
		buf.Reset()
		buf.WriteString(`{"records":[`)
		for r := 0; r < opts.RecordsPerMessage; r++ {
			if r > 0 {
				buf.WriteByte(',')
			}
			g.t = g.t.Add(time.Duration(1+g.rng.IntN(400)) * time.Millisecond)
			kind := plant[k]
			switch {
			case kind == 1:
				g.activity(&buf, SeedOperation, "Success")
				c.PlantedSeed++
			case kind == 2:
				g.activity(&buf, arcCoreOperation, "Success")
			case kind == 3:
				g.kube(&buf, true)
			case kubeMsg[m]:
				g.kube(&buf, false)
			default:
				g.noiseActivity(&buf)
			}
			if kind != 0 {
				c.Planted++
			}
			k++
		}
		buf.WriteString(`]}`)
		body := bytes.Clone(buf.Bytes())
		c.Bodies = append(c.Bodies, body)
		c.Bytes += int64(len(body))
	}
	c.Records = total
	return c
}

type gen struct {
	noNear bool
	rng    *rand.Rand
	t      time.Time
}

func (g *gen) pick(xs []string) string { return xs[g.rng.IntN(len(xs))] }

func (g *gen) hex(n int) string {
	const digits = "0123456789abcdef"
	b := make([]byte, n)
	for i := range b {
		b[i] = digits[g.rng.IntN(16)]
	}
	return string(b)
}

func (g *gen) guid() string {
	return g.hex(8) + "-" + g.hex(4) + "-4" + g.hex(3) + "-a" + g.hex(3) + "-" + g.hex(12)
}

var (
	subscriptions = []string{"3f2b9c41-7d0e-4a55-9b1c-2e8f6a0d4c17", "8a1c5e2f-0b4d-4c7a-9e3f-6d2b1a0c9e88"}
	groups        = []string{"rg-aks-prod", "rg-network-hub", "rg-data-lake", "rg-shared-services", "rg-web-frontend"}
	users         = []struct{ given, sur, upn string }{
		{"Dana", "Okafor", "dana.okafor@contoso-example.com"},
		{"Ravi", "Menon", "ravi.menon@contoso-example.com"},
		{"Ines", "Lindqvist", "ines.lindqvist@contoso-example.com"},
		{"Tomas", "Novak", "tomas.novak@contoso-example.com"},
	}
	locations = []string{"westeurope", "northeurope", "eastus2", "global"}
	// noise operations: what a subscription's Activity Log is full of.
	noiseOps = []struct{ op, provider, typ, role string }{
		{"MICROSOFT.COMPUTE/VIRTUALMACHINES/WRITE", "MICROSOFT.COMPUTE", "VIRTUALMACHINES", "Virtual Machine Contributor"},
		{"MICROSOFT.COMPUTE/VIRTUALMACHINES/START/ACTION", "MICROSOFT.COMPUTE", "VIRTUALMACHINES", "Virtual Machine Contributor"},
		{"MICROSOFT.STORAGE/STORAGEACCOUNTS/LISTKEYS/ACTION", "MICROSOFT.STORAGE", "STORAGEACCOUNTS", "Storage Account Contributor"},
		{"MICROSOFT.STORAGE/STORAGEACCOUNTS/WRITE", "MICROSOFT.STORAGE", "STORAGEACCOUNTS", "Contributor"},
		{"MICROSOFT.NETWORK/NETWORKSECURITYGROUPS/SECURITYRULES/WRITE", "MICROSOFT.NETWORK", "NETWORKSECURITYGROUPS", "Network Contributor"},
		{"MICROSOFT.NETWORK/PUBLICIPADDRESSES/DELETE", "MICROSOFT.NETWORK", "PUBLICIPADDRESSES", "Network Contributor"},
		{"MICROSOFT.KEYVAULT/VAULTS/WRITE", "MICROSOFT.KEYVAULT", "VAULTS", "Key Vault Contributor"},
		{"MICROSOFT.CONTAINERSERVICE/MANAGEDCLUSTERS/LISTCLUSTERUSERCREDENTIAL/ACTION", "MICROSOFT.CONTAINERSERVICE", "MANAGEDCLUSTERS", "Azure Kubernetes Service Cluster User Role"},
		{"MICROSOFT.CONTAINERSERVICE/MANAGEDCLUSTERS/AGENTPOOLS/WRITE", "MICROSOFT.CONTAINERSERVICE", "MANAGEDCLUSTERS", "Contributor"},
		{"MICROSOFT.KUBERNETES/CONNECTEDCLUSTERS/WRITE", "MICROSOFT.KUBERNETES", "CONNECTEDCLUSTERS", "Kubernetes Cluster - Azure Arc Onboarding"},
		{"MICROSOFT.KUBERNETES/CONNECTEDCLUSTERS/LISTCLUSTERUSERCREDENTIAL/ACTION", "MICROSOFT.KUBERNETES", "CONNECTEDCLUSTERS", "Azure Arc Kubernetes Viewer"},
		{"MICROSOFT.AUTHORIZATION/ROLEASSIGNMENTS/WRITE", "MICROSOFT.AUTHORIZATION", "ROLEASSIGNMENTS", "User Access Administrator"},
		{"MICROSOFT.RESOURCES/DEPLOYMENTS/WRITE", "MICROSOFT.RESOURCES", "DEPLOYMENTS", "Contributor"},
		{"MICROSOFT.INSIGHTS/DIAGNOSTICSETTINGS/WRITE", "MICROSOFT.INSIGHTS", "DIAGNOSTICSETTINGS", "Monitoring Contributor"},
		{"MICROSOFT.WEB/SITES/RESTART/ACTION", "MICROSOFT.WEB", "SITES", "Website Contributor"},
	}
)

// rareOps are everyday but rare operations: no built-in rule matches them,
// Elastic's threshold and new_terms rules (and the project's test rules in
// their format) do.
var rareOps = []struct{ op, provider, typ, role string }{
	{"MICROSOFT.STORAGE/STORAGEACCOUNTS/DELETE", "MICROSOFT.STORAGE", "STORAGEACCOUNTS", "Contributor"},
	{"MICROSOFT.COMPUTE/SNAPSHOTS/DELETE", "MICROSOFT.COMPUTE", "SNAPSHOTS", "Contributor"},
	{"MICROSOFT.COMPUTE/VIRTUALMACHINES/RUNCOMMAND/ACTION", "MICROSOFT.COMPUTE", "VIRTUALMACHINES", "Virtual Machine Contributor"},
}

// noiseActivity writes a non-matching Activity Log record: an everyday
// operation, or (1 in 40) a Start/Failure record of the seed operation,
// which no rule matches.
func (g *gen) noiseActivity(buf *bytes.Buffer) {
	if g.rng.IntN(40) == 0 && !g.noNear {
		g.activity(buf, g.pick([]string{SeedOperation, arcCoreOperation}), g.pick([]string{"Start", "Failure"}))
		return
	}
	// Rare operations that Elastic's stateful rules watch (storage account
	// and snapshot deletions, run commands): 1 record in 200.
	if g.rng.IntN(200) == 0 {
		op := rareOps[g.rng.IntN(len(rareOps))]
		g.activityFor(buf, op.op, op.provider, op.typ, op.role, "Success")
		return
	}
	op := noiseOps[g.rng.IntN(len(noiseOps))]
	result := "Success"
	if g.rng.IntN(3) == 0 {
		result = "Start"
	}
	g.activityFor(buf, op.op, op.provider, op.typ, op.role, result)
}

func (g *gen) activity(buf *bytes.Buffer, op, result string) {
	g.activityFor(buf, op, "MICROSOFT.KUBERNETES", "CONNECTEDCLUSTERS", "Azure Arc Kubernetes Admin", result)
}

func (g *gen) activityFor(buf *bytes.Buffer, op, provider, typ, role, result string) {
	sub := g.pick(subscriptions)
	rg := g.pick(groups)
	u := users[g.rng.IntN(len(users))]
	name := fmt.Sprintf("%s-%s-%02d", toLower(typ[:3]), rg[3:], g.rng.IntN(40))
	resourceID := "/SUBSCRIPTIONS/" + toUpper(sub) + "/RESOURCEGROUPS/" + toUpper(rg) + "/PROVIDERS/" + provider + "/" + typ + "/" + toUpper(name)
	scope := "/subscriptions/" + sub + "/resourceGroups/" + rg + "/providers/" + provider + "/" + typ + "/" + name
	principal := g.hex(32)
	const tenant = "72f988bf-86f1-41af-91ab-2d7cd011db47"
	ip := fmt.Sprintf("203.0.113.%d", 1+g.rng.IntN(250))
	iat := g.t.Unix() - int64(g.rng.IntN(3000))
	status, signature := "Succeeded", "Succeeded.OK"
	switch result {
	case "Start":
		status, signature = "Started", "Started."
	case "Failure":
		status, signature = "Failed", "Failed.Forbidden"
	}
	rec := []kv{
		{"time", str(g.t.Format("2006-01-02T15:04:05.0000000Z"))},
		{"resourceId", str(resourceID)},
		{"operationName", str(op)},
		{"category", str("Administrative")},
		{"resultType", str(result)},
		{"resultSignature", str(signature)},
		{"durationMs", str(strconv.Itoa(g.rng.IntN(3000)))},
		{"callerIpAddress", str(ip)},
		{"correlationId", str(g.guid())},
		{"identity", obj(
			kv{"authorization", obj(
				kv{"scope", str(scope)},
				kv{"action", str(op)},
				kv{"evidence", obj(
					kv{"role", str(role)},
					kv{"principalId", str(principal)},
					kv{"principalType", str("User")},
				)},
			)},
			// The claims of an Entra ID access token, as the Activity
			// Log carries them: most of a real record's size.
			kv{"claims", obj(
				kv{"aud", str("https://management.core.windows.net/")},
				kv{"iss", str("https://sts.windows.net/" + tenant + "/")},
				kv{"iat", str(strconv.FormatInt(iat, 10))},
				kv{"nbf", str(strconv.FormatInt(iat, 10))},
				kv{"exp", str(strconv.FormatInt(iat+4354, 10))},
				kv{"http://schemas.microsoft.com/claims/authnclassreference", str("1")},
				kv{"aio", str(g.hex(56))},
				kv{"http://schemas.microsoft.com/claims/authnmethodsreferences", str("pwd,mfa")},
				kv{"appid", str("04b07795-8ddb-461a-bbee-02f9e1bf7b46")},
				kv{"appidacr", str("0")},
				kv{"http://schemas.xmlsoap.org/ws/2005/05/identity/claims/surname", str(u.sur)},
				kv{"http://schemas.xmlsoap.org/ws/2005/05/identity/claims/givenname", str(u.given)},
				kv{"groups", str(g.guid() + "," + g.guid())},
				kv{"idtyp", str("user")},
				kv{"ipaddr", str(ip)},
				kv{"name", str(u.given + " " + u.sur)},
				kv{"http://schemas.microsoft.com/identity/claims/objectidentifier", str(principal)},
				kv{"puid", str(toUpper(g.hex(16)))},
				kv{"rh", str("0.A" + g.hex(40) + ".")},
				kv{"http://schemas.microsoft.com/identity/claims/scope", str("user_impersonation")},
				kv{"http://schemas.xmlsoap.org/ws/2005/05/identity/claims/nameidentifier", str(g.hex(43))},
				kv{"http://schemas.microsoft.com/identity/claims/tenantid", str(tenant)},
				kv{"http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name", str(u.upn)},
				kv{"http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn", str(u.upn)},
				kv{"uti", str(g.hex(22))},
				kv{"ver", str("1.0")},
				kv{"xms_tcdt", str("1602511347")},
			)},
		)},
		{"level", str("Information")},
		{"location", str(g.pick(locations))},
		{"properties", obj(
			kv{"statusCode", str(status)},
			kv{"serviceRequestId", str(g.guid())},
			kv{"eventCategory", str("Administrative")},
			kv{"entity", str(scope)},
			kv{"message", str(op)},
			kv{"hierarchy", str(tenant + "/mg-platform/" + sub)},
		)},
	}
	writeObj(buf, rec)
}

var (
	kubeVerbs     = []string{"create", "update", "patch", "update", "patch", "delete"}
	kubeResources = []string{"pods", "configmaps", "leases", "secrets", "deployments", "replicasets", "endpointslices", "events"}
	kubeUsers     = []string{"system:node:aks-nodepool1-31415926-vmss000002", "system:serviceaccount:kube-system:replicaset-controller",
		"system:serviceaccount:kube-system:endpointslice-controller", "aksService", "dana.okafor@contoso-example.com", "system:kube-controller-manager"}
	namespaces = []string{"default", "kube-system", "payments", "monitoring", "ingress-nginx"}
)

// kube writes a kube-audit-admin record; match selects an event deletion by
// a person (the kube-audit rule), otherwise an everyday write (event
// deletions among them are by the kubelet or a system account, which the
// rule excludes).
func (g *gen) kube(buf *bytes.Buffer, match bool) {
	verb, resource, user := g.pick(kubeVerbs), g.pick(kubeResources), g.pick(kubeUsers)
	if match {
		verb, resource, user = "delete", "events", g.pick([]string{"dana.okafor@contoso-example.com", "ravi.menon@contoso-example.com"})
	} else if resource == "events" && verb == "delete" {
		user = kubeUsers[0]
		if g.noNear {
			verb = "update"
		}
	}
	ns := g.pick(namespaces)
	name := g.pick([]string{"payments-api", "coredns", "metrics-server", "ingress-controller"}) + "-" + g.hex(10) + "-" + g.hex(5)
	uri := "/api/v1/namespaces/" + ns + "/" + resource
	if verb != "create" {
		uri += "/" + name
	}
	ts := g.t.Add(-time.Duration(g.rng.IntN(900)) * time.Millisecond)
	audit := []kv{
		{"kind", str("Event")},
		{"apiVersion", str("audit.k8s.io/v1")},
		{"level", str("Metadata")},
		{"auditID", str(g.guid())},
		{"stage", str("ResponseComplete")},
		{"requestURI", str(uri)},
		{"verb", str(verb)},
		{"user", obj(kv{"username", str(user)}, kv{"groups", raw(`["system:authenticated"]`)})},
		{"sourceIPs", raw(`["10.224.0.` + strconv.Itoa(4+g.rng.IntN(200)) + `"]`)},
		{"userAgent", str(g.pick([]string{"kubectl/v1.31.2 (linux/amd64) kubernetes/5864a46", "kubelet/v1.31.2 (linux/amd64) kubernetes/5864a46", "kube-controller-manager/v1.31.2 (linux/amd64) kubernetes/5864a46/system:serviceaccount:kube-system:replicaset-controller"}))},
		{"objectRef", obj(kv{"resource", str(resource)}, kv{"namespace", str(ns)}, kv{"name", str(name)}, kv{"apiVersion", str("v1")})},
		{"responseStatus", raw(`{"metadata":{},"code":200}`)},
		{"requestReceivedTimestamp", str(ts.Format("2006-01-02T15:04:05.000000Z"))},
		{"stageTimestamp", str(ts.Add(7 * time.Millisecond).Format("2006-01-02T15:04:05.000000Z"))},
		{"annotations", obj(kv{"authorization.k8s.io/decision", str("allow")}, kv{"authorization.k8s.io/reason", str(`RBAC: allowed by ClusterRoleBinding "system:controller" of ClusterRole "cluster-admin" to User "` + user + `"`)})},
	}
	var log bytes.Buffer
	writeObj(&log, audit)
	log.WriteByte('\n')
	rec := []kv{
		{"operationName", str("Microsoft.ContainerService/managedClusters/diagnosticLogs/Read")},
		{"category", str("kube-audit-admin")},
		{"ccpNamespace", str("6638f1c2a9e4b70001d3c5a8")},
		{"resourceId", str("/SUBSCRIPTIONS/3F2B9C41-7D0E-4A55-9B1C-2E8F6A0D4C17/RESOURCEGROUPS/RG-AKS-PROD/PROVIDERS/MICROSOFT.CONTAINERSERVICE/MANAGEDCLUSTERS/AKS-PROD-WEU-01")},
		{"properties", obj(kv{"log", str(log.String())}, kv{"stream", str("stdout")}, kv{"pod", str("kube-apiserver-7c9d8b6f4d-m2xkq")})},
		{"time", str(g.t.Format("2006-01-02T15:04:05.0000000Z"))},
		{"Cloud", str("AzureCloud")},
		{"Environment", str("prod")},
		{"UnderlayClass", str("hcp-underlay")},
		{"UnderlayName", str("hcp-underlay-westeurope-cx-118")},
	}
	writeObj(buf, rec)
}

// kv is one member of an object in a fixed order.
type kv struct {
	k string
	v value
}

type value func(buf *bytes.Buffer)

func str(s string) value {
	return func(buf *bytes.Buffer) {
		b, _ := json.Marshal(s) // Go escapes <, > and & as \u003c…, as the Kubernetes API server does
		buf.Write(b)
	}
}

func raw(s string) value { return func(buf *bytes.Buffer) { buf.WriteString(s) } }

func obj(kvs ...kv) value { return func(buf *bytes.Buffer) { writeObj(buf, kvs) } }

func writeObj(buf *bytes.Buffer, kvs []kv) {
	buf.WriteByte('{')
	for i, m := range kvs {
		if i > 0 {
			buf.WriteByte(',')
		}
		str(m.k)(buf)
		buf.WriteByte(':')
		m.v(buf)
	}
	buf.WriteByte('}')
}

func toUpper(s string) string { return string(bytes.ToUpper([]byte(s))) }
func toLower(s string) string { return string(bytes.ToLower([]byte(s))) }
