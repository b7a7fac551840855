package infra

import (
	"fmt"
	"strings"
	"testing"
)

// checkEnvironments: several environments can share a subscription. What
// Azure keeps once per subscription or per foreign resource group must be
// named after the environment or be created by the feeds owner only:
//   - the resource group default and every module deployed outside the
//     environment's own resource group carry ${environmentName} in their name
//     (a deployment name is unique per scope; another environment's run would
//     overwrite it);
//   - the subscription Activity Log export, the shared resource group and the
//     system topic are conditional on ownsSubscriptionFeeds (the topic also on
//     no existing topic: Event Grid allows one system topic per source);
//   - the Event Grid event subscription and the AKS diagnostic settings are
//     named after the environment.
func checkEnvironments(p *project) []string {
	var problems []string
	f, err := p.parse("infra/main.bicep")
	if err != nil {
		return []string{err.Error()}
	}
	value := func(kind, name string) string {
		d := f.find(kind, name)
		if d == nil {
			problems = append(problems, fmt.Sprintf("infra/main.bicep: no %s %s", kind, name))
			return ""
		}
		return f.text(d.start, d.end)
	}
	if v := value("param", "resourceGroupName"); !strings.Contains(v, "${environmentName}") {
		problems = append(problems, "infra/main.bicep: resourceGroupName's default must contain ${environmentName}, got "+v)
	}
	if v := value("var", "createSystemTopic"); strings.ReplaceAll(v, " ", "") != "ownsSubscriptionFeeds&&empty(existingSystemTopicId)" {
		problems = append(problems, "infra/main.bicep: createSystemTopic must be ownsSubscriptionFeeds && empty(existingSystemTopicId), got "+v)
	}
	conditions := map[string]string{ // declaration → required condition
		"resource activityLogExport": "if (ownsSubscriptionFeeds)",
		"resource sharedRg":          "if (createSystemTopic)",
		"module systemTopic":         "if (createSystemTopic)",
		"module eventGrid":           "if (ownsSubscriptionFeeds && deployEventGridSubscription)",
	}
	for key, cond := range conditions {
		kind, name, _ := strings.Cut(key, " ")
		if v := value(kind, name); !strings.HasPrefix(v, cond) {
			problems = append(problems, fmt.Sprintf("infra/main.bicep: %s must be %s", key, cond))
		}
	}
	for _, d := range f.all("module") {
		es, err := f.bodyEntries(d)
		if err != nil {
			problems = append(problems, err.Error())
			continue
		}
		scope, _ := lookup(es, "scope")
		name, _ := lookup(es, "name")
		if f.text(scope.start, scope.end) == "rg" {
			continue
		}
		if !strings.Contains(f.text(name.start, name.end), "${environmentName}") {
			problems = append(problems, fmt.Sprintf("%s: module %s is deployed outside the environment's resource group, so its deployment name must contain ${environmentName}, got %s", f.pos(d.first), d.name, f.text(name.start, name.end)))
		}
		params, _ := lookup(es, "params")
		ps, err := f.object(params.start)
		if err != nil {
			problems = append(problems, err.Error())
			continue
		}
		for _, key := range []string{"settingName", "eventSubscriptionName"} {
			if e, ok := lookup(ps, key); ok && !strings.Contains(f.text(e.start, e.end), "${environmentName}") {
				problems = append(problems, fmt.Sprintf("%s: module %s param %s must contain ${environmentName}, got %s", f.pos(d.first), d.name, key, f.text(e.start, e.end)))
			}
		}
	}
	// The topic is declared in one place only, and never in an environment's
	// resource group.
	for _, name := range p.names() {
		g, err := p.parse(name)
		if err != nil {
			continue
		}
		for _, d := range g.all("resource") {
			if strings.HasPrefix(d.target, "Microsoft.EventGrid/systemTopics@") && !d.existing && name != "infra/modules/eventgrid-topic.bicep" {
				problems = append(problems, fmt.Sprintf("%s: system topic %s declared outside modules/eventgrid-topic.bicep", g.pos(d.first), d.name))
			}
		}
	}
	return problems
}

func TestEnvironmentsShareASubscription(t *testing.T) {
	for _, p := range checkEnvironments(mustProject(t)) {
		t.Error(p)
	}
}

func TestEnvironmentChecksCatchMutations(t *testing.T) {
	base := mustProject(t)
	const m = "infra/main.bicep"
	cases := []struct {
		name string
		p    *project
		want string
	}{
		{"fixed resource group", mutate(t, base, m, "param resourceGroupName string = 'rg-tripline-${environmentName}'", "param resourceGroupName string = 'rg-tripline'"), "resourceGroupName's default"},
		{"export for every environment", mutate(t, base, m, "= if (ownsSubscriptionFeeds) {", "= {"), "resource activityLogExport must be if (ownsSubscriptionFeeds)"},
		{"topic despite an existing one", mutate(t, base, m, "var createSystemTopic = ownsSubscriptionFeeds && empty(existingSystemTopicId)", "var createSystemTopic = ownsSubscriptionFeeds"), "createSystemTopic must be"},
		{"fixed aks deployment name", mutate(t, base, m, "name: 'tripline-${environmentName}-aks-audit-${i}'", "name: 'tripline-aks-audit-${i}'"), "module aksAudit is deployed outside"},
		{"fixed aks setting name", mutate(t, base, m, "settingName: 'tripline-${environmentName}-kube-audit-admin'", "settingName: 'tripline-kube-audit-admin'"), "param settingName must contain"},
		{"fixed event subscription name", mutate(t, base, m, "eventSubscriptionName: 'tripline-${environmentName}'", "eventSubscriptionName: 'tripline-resource-events'"), "param eventSubscriptionName must contain"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			problems := checkEnvironments(c.p)
			for _, p := range problems {
				if strings.Contains(p, c.want) {
					return
				}
			}
			t.Errorf("checkEnvironments did not report %q; got %q", c.want, problems)
		})
	}
}
