package notify

import (
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/tripline/tripline/alert"
)

// view is what every channel shows of one alert, read from the alert and its
// normalized first record. All strings except PortalURL are untrusted text
// (raw; each channel escapes them for its markup).
type view struct {
	AlertID   string
	RuleID    string
	RuleName  string
	Severity  string // lower case as the rule says it
	RiskScore int
	Source    string

	Who     principal
	What    string // operation, or "verb resource namespace/name"
	Outcome string

	ResourceKind  string // "Cluster" or "Resource"
	ResourceName  string
	ResourceType  string // provider/type as the record says it
	ResourceGroup string
	Subscription  string
	ResourceID    string
	PortalURL     string // built from validated parts; "" when unknown
	SourceIP      string

	EventTime time.Time
	FirstSeen time.Time
	LastSeen  time.Time
	Count     int

	Techniques []alert.Technique
	Steps      []string
}

// principal is who did it.
type principal struct {
	Name     string // display name, UPN or Kubernetes username
	Email    string
	Kind     string // User, ServicePrincipal, Group, ... or "Kubernetes user"
	AppID    string
	ObjectID string
}

// Short is the shortest useful name.
func (p principal) Short() string {
	switch {
	case p.Name != "":
		return p.Name
	case p.Email != "":
		return p.Email
	case p.AppID != "":
		return "app " + p.AppID
	case p.ObjectID != "":
		return "object " + p.ObjectID
	}
	return ""
}

// String is the full description, e.g. "Dana Okafor <dana@example.com>
// (User, object id 4e8a…)".
func (p principal) String() string {
	var b strings.Builder
	switch {
	case p.Name != "" && p.Email != "" && p.Email != p.Name:
		fmt.Fprintf(&b, "%s <%s>", p.Name, p.Email)
	case p.Name != "":
		b.WriteString(p.Name)
	case p.Email != "":
		b.WriteString(p.Email)
	case p.AppID != "" || strings.EqualFold(p.Kind, "ServicePrincipal"):
		b.WriteString("service principal")
	default:
		b.WriteString("unknown")
	}
	var extra []string
	if p.Kind != "" {
		extra = append(extra, p.Kind)
	}
	if p.AppID != "" {
		extra = append(extra, "app id "+p.AppID)
	}
	if p.ObjectID != "" {
		extra = append(extra, "object id "+p.ObjectID)
	}
	if len(extra) > 0 {
		b.WriteString(" (" + strings.Join(extra, ", ") + ")")
	}
	return b.String()
}

const (
	claimsPath   = "azure.activitylogs.identity.claims"
	evidencePath = "azure.activitylogs.identity.authorization.evidence"
	k8sLog       = "azure.platformlogs.properties.log"
	objectIDKey  = "http://schemas_microsoft_com/identity/claims/objectidentifier"
)

// newView reads a. A nil Event gives a view of the alert fields alone.
func newView(a *alert.Alert) view {
	ev := a.Event
	v := view{
		AlertID:    a.ID,
		RuleID:     a.Rule.ID,
		RuleName:   a.Rule.Name,
		Severity:   strings.ToLower(strings.TrimSpace(a.Rule.Severity)),
		RiskScore:  a.Rule.RiskScore,
		Source:     a.Source,
		FirstSeen:  a.FirstSeen,
		LastSeen:   a.LastSeen,
		Count:      a.Count,
		Techniques: a.Rule.Techniques,
		Steps:      a.Rule.Steps,
	}
	if v.RuleName == "" {
		v.RuleName = "Tripline alert"
	}

	// Who.
	claims := strings.Split(claimsPath, ".")
	v.Who = principal{
		Name:     first(ev, "user.full_name", "user.name"),
		Email:    field(ev, "user.email"),
		Kind:     field(ev, evidencePath+".principal_type"),
		AppID:    fieldSegs(ev, append(claims, "appid")...),
		ObjectID: fieldSegs(ev, append(claims, objectIDKey)...),
	}
	if v.Who.ObjectID == "" {
		v.Who.ObjectID = field(ev, evidencePath+".principal_id")
	}
	if v.Who.Kind == "" && v.Who.Name == "" && v.Who.AppID != "" {
		v.Who.Kind = "ServicePrincipal"
	}
	if v.Who.Kind == "" && strings.EqualFold(fieldSegs(ev, append(claims, "idtyp")...), "app") {
		v.Who.Kind = "ServicePrincipal"
	}
	if u := field(ev, k8sLog+".user.username"); u != "" {
		v.Who.Name, v.Who.Kind = u, "Kubernetes user"
		if v.Who.ObjectID == "" {
			v.Who.ObjectID = field(ev, k8sLog+".user.extra.oid")
		}
	}

	// What.
	if verb := field(ev, k8sLog+".verb"); verb != "" {
		res := field(ev, k8sLog+".objectRef.resource")
		ns := field(ev, k8sLog+".objectRef.namespace")
		name := field(ev, k8sLog+".objectRef.name")
		parts := []string{verb}
		if res != "" {
			parts = append(parts, res)
		}
		switch {
		case ns != "" && name != "":
			parts = append(parts, ns+"/"+name)
		case name != "":
			parts = append(parts, name)
		case ns != "":
			parts = append(parts, "in namespace "+ns)
		}
		v.What = strings.Join(parts, " ")
		v.SourceIP = field(ev, k8sLog+".sourceIPs")
		if code := field(ev, k8sLog+".responseStatus.code"); code != "" {
			v.Outcome = "HTTP " + code
		}
	} else {
		v.What = first(ev, "azure.activitylogs.operation_name", "event.action")
	}
	if o := field(ev, "event.outcome"); o != "" {
		v.Outcome = o
	}
	if v.SourceIP == "" {
		v.SourceIP = first(ev, "source.ip", "source.address")
	}

	// Where.
	v.ResourceID = field(ev, "azure.resource.id")
	v.ResourceType = field(ev, "azure.resource.provider")
	v.ResourceName = field(ev, "azure.resource.name")
	v.ResourceKind = "Resource"
	if strings.Contains(strings.ToUpper(v.ResourceType), "CLUSTERS") || a.Source == "kube-audit" {
		v.ResourceKind = "Cluster"
	}
	v.ResourceGroup = field(ev, "azure.resource.group")
	v.Subscription = first(ev, "azure.subscription_id", "cloud.account.id")
	v.PortalURL = portalURL(first(ev, "azure.tenant_id", "azure.activitylogs.tenant_id"), v.ResourceID)

	// When.
	if ts, err := time.Parse(time.RFC3339Nano, field(ev, "@timestamp")); err == nil {
		v.EventTime = ts.UTC()
	} else {
		v.EventTime = a.FirstSeen
	}
	return v
}

// tenantRe and segmentRe are compiled when first used: their counted
// repetitions made compiling them at start-up a tenth of `tripline scan`'s
// start.
var (
	tenantRe  = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9.-]{0,252}$`) })
	segmentRe = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z0-9._()~-]{1,260}$`) })
)

// portalURL links to a resource in the Azure portal:
// https://portal.azure.com/#@<tenant>/resource<resourceId>. The parts come
// from the record, so they are validated: the id must start with
// /subscriptions/ and consist of plain path segments, and the tenant must be a
// GUID or domain. Anything else gives "" (no link) rather than a link whose
// target an attacker shaped.
func portalURL(tenant, resourceID string) string {
	if !strings.HasPrefix(strings.ToLower(resourceID), "/subscriptions/") || len(resourceID) > 2048 {
		return ""
	}
	segs := strings.Split(resourceID[1:], "/")
	for _, s := range segs {
		if !segmentRe().MatchString(s) {
			return ""
		}
	}
	path := "/" + strings.Join(segs, "/")
	if tenant != "" && tenantRe().MatchString(tenant) {
		return "https://portal.azure.com/#@" + url.PathEscape(tenant) + "/resource" + path
	}
	return "https://portal.azure.com/#resource" + path
}

// title is "<rule>: <what> on <resource> by <who>", omitting unknown parts.
func (v view) title() string {
	t := v.RuleName
	var tail []string
	if v.What != "" {
		tail = append(tail, v.What)
	}
	if v.ResourceName != "" {
		tail = append(tail, "on "+v.ResourceName)
	}
	if w := v.Who.Short(); w != "" {
		tail = append(tail, "by "+w)
	}
	if len(tail) > 0 {
		t += ": " + strings.Join(tail, " ")
	}
	return t
}

// fact is one labelled value of the alert, in display order.
type fact struct{ Label, Value string }

// facts lists what is known, in display order; empty values are left out.
func (v view) facts() []fact {
	var fs []fact
	add := func(l, val string) {
		if strings.TrimSpace(val) != "" {
			fs = append(fs, fact{l, val})
		}
	}
	add("Severity", v.severityText())
	add("Who", v.Who.String())
	what := v.What
	if v.Outcome != "" && what != "" {
		what += " (" + v.Outcome + ")"
	}
	add("What", what)
	res := v.ResourceName
	if res != "" && v.ResourceType != "" {
		res += " (" + v.ResourceType + ")"
	}
	add(v.ResourceKind, res)
	add("Resource group", v.ResourceGroup)
	add("Subscription", v.Subscription)
	add("Source IP", v.SourceIP)
	add("Event time", formatTime(v.EventTime))
	add("First seen", formatTime(v.FirstSeen))
	add("Last seen", formatTime(v.LastSeen))
	add("Count", fmt.Sprint(v.Count))
	add("MITRE ATT&CK", v.mitre())
	add("Rule", v.RuleName+ruleIDSuffix(v.RuleID))
	add("Alert id", v.AlertID)
	return fs
}

func ruleIDSuffix(id string) string {
	if id == "" {
		return ""
	}
	return " (" + id + ")"
}

func (v view) severityText() string {
	s := v.Severity
	if s == "" {
		s = "unknown"
	}
	return fmt.Sprintf("%s (risk score %d)", s, v.RiskScore)
}

func (v view) mitre() string {
	var ts []string
	for _, t := range v.Techniques {
		s := strings.TrimSpace(t.ID + " " + t.Name)
		if s != "" {
			ts = append(ts, s)
		}
	}
	return strings.Join(ts, "; ")
}

func formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// heldBackTitle is the one line a held-back summary says.
func heldBackTitle(h alert.HeldBack) string {
	name := h.Rule.Name
	if name == "" {
		name = h.Rule.ID
	}
	if h.Count == 1 {
		return fmt.Sprintf("1 more alert of rule %s was recorded but not notified (max_signals reached)", name)
	}
	return fmt.Sprintf("%d more alerts of rule %s were recorded but not notified (max_signals reached)", h.Count, name)
}
