package infra

import (
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
)

// subscription is one run of scripts/deploy.sh and scripts/destroy.sh
// against testdata/fakeaz (a logging stand-in for az and func, which cannot
// run here), in a copy of the scripts next to a stand-in main package so
// that the real `go build` stays quick and writes nothing into the tree.
type subscription struct {
	t     *testing.T
	root  string // the copied app root
	state string // the fake's model of the subscription
	path  string
}

func newSubscription(t *testing.T) *subscription {
	t.Helper()
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("bash not found")
	}
	repo := repoRoot(t)
	s := &subscription{t: t, root: t.TempDir(), state: t.TempDir()}
	for _, f := range []string{"scripts/deploy.sh", "scripts/destroy.sh"} {
		b, err := os.ReadFile(filepath.Join(repo, f))
		if err != nil {
			t.Fatal(err)
		}
		dst := filepath.Join(s.root, f)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dst, b, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for name, content := range map[string]string{
		"go.mod":  "module standin\n\ngo 1.21\n",
		"main.go": "package main\n\nfunc main() {}\n",
	} {
		if err := os.WriteFile(filepath.Join(s.root, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	s.path = filepath.Join(repo, "infra", "testdata", "fakeaz") + string(os.PathListSeparator) + os.Getenv("PATH")
	return s
}

// run runs script with env (KEY=VALUE) and returns the fake's log lines for
// this run and whether the script succeeded.
func (s *subscription) run(script string, env ...string) (calls []string, ok bool) {
	s.t.Helper()
	logPath := filepath.Join(s.state, "log")
	_ = os.Remove(logPath)
	cmd := exec.Command("bash", filepath.Join(s.root, "scripts", script))
	cmd.Dir = s.root
	cmd.Env = append(cleanEnv(), "PATH="+s.path, "FAKEAZ_STATE="+s.state, "TRIPLINE_RETRY_DELAY=0", "TRIPLINE_DESTROY_YES=1", "GOFLAGS=-buildvcs=false")
	cmd.Env = append(cmd.Env, env...)
	out, err := cmd.CombinedOutput()
	b, _ := os.ReadFile(logPath)
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if l != "" {
			calls = append(calls, l)
		}
	}
	if err != nil {
		s.t.Logf("%s %v: %v\n%s", script, env, err, out)
	}
	return calls, err == nil
}

// cleanEnv is the test's environment without TRIPLINE_* variables, so a
// developer's own settings cannot change what the scripts do here.
func cleanEnv() []string {
	var out []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "TRIPLINE_") && !strings.HasPrefix(kv, "PATH=") {
			out = append(out, kv)
		}
	}
	return out
}

// files lists the names in the fake's state directory dir ("" = file itself).
func (s *subscription) files(dir string) []string {
	entries, err := os.ReadDir(filepath.Join(s.state, dir))
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range entries {
		out = append(out, e.Name())
	}
	sort.Strings(out)
	return out
}

func (s *subscription) read(name string) string {
	b, err := os.ReadFile(filepath.Join(s.state, name))
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// wantState checks the whole model: deployments, resource groups, the
// Activity Log export's resource group, the topic and its event subscriptions.
func (s *subscription) wantState(step string, deployments, groups []string, exportRG string, topic bool, eventSubs []string) {
	s.t.Helper()
	if got := s.files("deployments"); !reflect.DeepEqual(got, deployments) {
		s.t.Errorf("%s: deployments %v, want %v", step, got, deployments)
	}
	if got := s.files("groups"); !reflect.DeepEqual(got, groups) {
		s.t.Errorf("%s: resource groups %v, want %v", step, got, groups)
	}
	diag := s.read("diag")
	switch {
	case exportRG == "" && diag != "":
		s.t.Errorf("%s: Activity Log export %s, want none", step, diag)
	case exportRG != "" && !strings.Contains(diag, "/resourceGroups/"+exportRG+"/"):
		s.t.Errorf("%s: Activity Log export %q, want it in %s", step, diag, exportRG)
	}
	if got := s.read("topic") != ""; got != topic {
		s.t.Errorf("%s: system topic exists = %v, want %v", step, got, topic)
	}
	if got := s.files("eventsubs"); !reflect.DeepEqual(got, eventSubs) {
		s.t.Errorf("%s: event subscriptions %v, want %v", step, got, eventSubs)
	}
}

// wantCalls checks the az/func commands of one run, in order, by prefix.
func wantCalls(t *testing.T, step string, calls, prefixes []string) {
	t.Helper()
	if len(calls) != len(prefixes) {
		t.Errorf("%s: %d commands, want %d:\n  %s", step, len(calls), len(prefixes), strings.Join(calls, "\n  "))
		return
	}
	for i := range calls {
		if !strings.HasPrefix(calls[i], prefixes[i]) {
			t.Errorf("%s: command %d is\n  %s\nwant prefix\n  %s", step, i+1, calls[i], prefixes[i])
		}
	}
}

const topicID = "/subscriptions/00000000-0000-0000-0000-0000000000aa/resourceGroups/rg-tripline-shared/providers/Microsoft.EventGrid/systemTopics/evgt-tripline-x"

// TestTwoEnvironmentsOneSubscription deploys two environments into one
// subscription and removes them in both orders: distinct deployment names and
// resource groups, one system topic and one Activity Log export between
// them, and removing either leaves the other's resources in place.
func TestTwoEnvironmentsOneSubscription(t *testing.T) {
	s := newSubscription(t)
	east := []string{"TRIPLINE_ENV=east", "TRIPLINE_LOCATION=eastus"}
	west := []string{"TRIPLINE_ENV=west", "TRIPLINE_LOCATION=westeurope"}

	calls, ok := s.run("deploy.sh", east...)
	if !ok {
		t.Fatal("deploying east failed")
	}
	wantCalls(t, "deploy east", calls, []string{
		"az account show --query id",
		"az deployment sub show --name tripline-east --query location",
		"az monitor diagnostic-settings subscription show --name tripline-activity-log",
		"az eventgrid system-topic list",
		"az deployment sub create --name tripline-east --location eastus --template-file infra/main.bicep --parameters infra/main.bicepparam --output none [env=east rg=rg-tripline-east feeds=true topic= eventgrid=false]",
		"az deployment sub show --name tripline-east --query properties.outputs.functionAppName.value",
		"func azure functionapp publish func-east --custom",
		"az deployment sub create --name tripline-east --location eastus --template-file infra/main.bicep --parameters infra/main.bicepparam --output none [env=east rg=rg-tripline-east feeds=true topic= eventgrid=true]",
		"az deployment sub show --name tripline-east --query properties.outputs --output jsonc",
	})
	s.wantState("after deploying east", []string{"tripline-east"}, []string{"rg-tripline-east", "rg-tripline-shared"}, "rg-tripline-east", true, []string{"tripline-east"})

	calls, ok = s.run("deploy.sh", west...)
	if !ok {
		t.Fatal("deploying west failed")
	}
	wantCalls(t, "deploy west", calls, []string{
		"az account show --query id",
		"az deployment sub show --name tripline-west --query location",
		"az monitor diagnostic-settings subscription show --name tripline-activity-log",
		"az eventgrid system-topic list",
		"az deployment sub create --name tripline-west --location westeurope --template-file infra/main.bicep --parameters infra/main.bicepparam --output none [env=west rg=rg-tripline-west feeds=false topic=" + topicID + " eventgrid=false]",
		"az deployment sub show --name tripline-west --query properties.outputs.functionAppName.value",
		"func azure functionapp publish func-west --custom",
		"az resource show --ids " + topicID + "/eventSubscriptions/tripline-west",
		"az deployment sub show --name tripline-west --query properties.outputs --output jsonc",
	})
	s.wantState("after deploying west", []string{"tripline-east", "tripline-west"}, []string{"rg-tripline-east", "rg-tripline-shared", "rg-tripline-west"}, "rg-tripline-east", true, []string{"tripline-east"})

	// The same environment in another region is refused before anything changes.
	calls, ok = s.run("deploy.sh", "TRIPLINE_ENV=east", "TRIPLINE_LOCATION=westeurope")
	if ok {
		t.Error("deploying east into a second region succeeded; want a refusal naming its region")
	}
	wantCalls(t, "east in another region", calls, []string{"az account show", "az deployment sub show --name tripline-east --query location"})

	// Removing the environment that does not own the feeds.
	calls, ok = s.run("destroy.sh", "TRIPLINE_ENV=west")
	if !ok {
		t.Fatal("destroying west failed")
	}
	wantCalls(t, "destroy west", calls, []string{
		"az account show --query id",
		"az deployment sub show --name tripline-west --query properties.outputs.keyVaultName.value",
		"az monitor diagnostic-settings subscription show --name tripline-activity-log",
		"az eventgrid system-topic list",
		"az resource show --ids " + topicID + "/eventSubscriptions/tripline-west",
		"az group exists --name rg-tripline-west",
		"az group delete --name rg-tripline-west --yes",
		"az keyvault show-deleted --name kv-west",
		"az keyvault purge --name kv-west",
		"az group show --name rg-tripline-shared",
		"az eventgrid system-topic event-subscription list --resource-group rg-tripline-shared --system-topic-name evgt-tripline-x",
		"az deployment sub show --name tripline-west",
		"az deployment sub delete --name tripline-west",
	})
	s.wantState("after destroying west", []string{"tripline-east"}, []string{"rg-tripline-east", "rg-tripline-shared"}, "rg-tripline-east", true, []string{"tripline-east"})

	// Removing the owner leaves the other environment in place; its next
	// deployment takes the feeds over and recreates the topic.
	if _, ok := s.run("deploy.sh", west...); !ok {
		t.Fatal("redeploying west failed")
	}
	calls, ok = s.run("destroy.sh", "TRIPLINE_ENV=east")
	if !ok {
		t.Fatal("destroying east failed")
	}
	wantCalls(t, "destroy east", calls, []string{
		"az account show --query id",
		"az deployment sub show --name tripline-east --query properties.outputs.keyVaultName.value",
		"az monitor diagnostic-settings subscription show --name tripline-activity-log",
		"az monitor diagnostic-settings subscription delete --name tripline-activity-log --yes",
		"az eventgrid system-topic list",
		"az resource show --ids " + topicID + "/eventSubscriptions/tripline-east",
		"az resource delete --ids " + topicID + "/eventSubscriptions/tripline-east",
		"az group exists --name rg-tripline-east",
		"az group delete --name rg-tripline-east --yes",
		"az keyvault show-deleted --name kv-east",
		"az keyvault purge --name kv-east",
		"az group show --name rg-tripline-shared",
		"az eventgrid system-topic event-subscription list --resource-group rg-tripline-shared --system-topic-name evgt-tripline-x",
		"az group delete --name rg-tripline-shared --yes",
		"az deployment sub show --name tripline-east",
		"az deployment sub delete --name tripline-east",
	})
	s.wantState("after destroying east", []string{"tripline-west"}, []string{"rg-tripline-west"}, "", false, nil)

	calls, ok = s.run("deploy.sh", west...)
	if !ok {
		t.Fatal("redeploying west after east left failed")
	}
	if len(calls) < 5 || !strings.Contains(calls[4], "[env=west rg=rg-tripline-west feeds=true topic= eventgrid=false]") {
		t.Errorf("west did not take the feeds over: %q", calls)
	}
	s.wantState("west owns the feeds", []string{"tripline-west"}, []string{"rg-tripline-shared", "rg-tripline-west"}, "rg-tripline-west", true, []string{"tripline-west"})

	if _, ok := s.run("destroy.sh", "TRIPLINE_ENV=west"); !ok {
		t.Fatal("destroying west failed")
	}
	s.wantState("all removed", nil, nil, "", false, nil)
}

// TestExplicitFeedsOwner: TRIPLINE_SUBSCRIPTION_FEEDS moves the feeds to
// another environment; the former owner's event subscription is removed by
// its next deployment and its removal no longer touches the export.
func TestExplicitFeedsOwner(t *testing.T) {
	s := newSubscription(t)
	if _, ok := s.run("deploy.sh", "TRIPLINE_ENV=a"); !ok {
		t.Fatal("deploying a failed")
	}
	if _, ok := s.run("deploy.sh", "TRIPLINE_ENV=b", "TRIPLINE_SUBSCRIPTION_FEEDS=true"); !ok {
		t.Fatal("deploying b as owner failed")
	}
	s.wantState("b took the feeds", []string{"tripline-a", "tripline-b"}, []string{"rg-tripline-a", "rg-tripline-b", "rg-tripline-shared"}, "rg-tripline-b", true, []string{"tripline-a", "tripline-b"})
	calls, ok := s.run("deploy.sh", "TRIPLINE_ENV=a")
	if !ok {
		t.Fatal("redeploying a failed")
	}
	found := false
	for _, c := range calls {
		if c == "az resource delete --ids "+topicID+"/eventSubscriptions/tripline-a" {
			found = true
		}
	}
	if !found {
		t.Errorf("a's redeployment did not remove its former event subscription: %q", calls)
	}
	if _, ok := s.run("destroy.sh", "TRIPLINE_ENV=a"); !ok {
		t.Fatal("destroying a failed")
	}
	s.wantState("a removed", []string{"tripline-b"}, []string{"rg-tripline-b", "rg-tripline-shared"}, "rg-tripline-b", true, []string{"tripline-b"})
}

// TestScriptsNeedAzureCLI: both scripts stop with a clear message when az is
// missing, before doing anything.
func TestScriptsNeedAzureCLI(t *testing.T) {
	s := newSubscription(t)
	empty := t.TempDir()
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("bash not found")
	}
	for _, script := range []string{"deploy.sh", "destroy.sh"} {
		cmd := exec.Command(bash, filepath.Join(s.root, "scripts", script))
		cmd.Env = append(cleanEnv(), "PATH="+empty, "TRIPLINE_DESTROY_YES=1")
		out, err := cmd.CombinedOutput()
		if err == nil || !strings.Contains(string(out), "az is not installed") {
			t.Errorf("%s without az: err %v, output %q; want a failure saying az is not installed", script, err, out)
		}
	}
}
