// Package infra holds Tripline's Bicep (main.bicep, modules/) and these
// consistency tests. The Bicep CLI cannot run here, so the tests check what
// can be checked from text, against the Go code and tables of published facts
// (API versions and role GUIDs, each table naming its public source): every
// setting the code reads is an app setting, secrets are Key Vault references, function names and
// %settings% match the function.json folders, role GUIDs and API versions
// match the reference, module wiring is consistent, and the deployment
// package has the publish layout. Each checker is also run against mutated
// copies of the Bicep to show that it reports what it is meant to catch.
package infra

import (
	"archive/zip"
	"bytes"
	"debug/elf"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/tripline/tripline/internal/packager"
)

// apiVersions are the versions Azure Verified Modules used on 2026-08-07
// (Azure/bicep-registry-modules: avm/res/<provider>/<type>/main.bicep; the
// published schemas are under https://learn.microsoft.com/azure/templates/).
// Every resource declared in infra/ must use exactly these.
// blobServices is not a row of its own: row 3 gives 2025-01-01 for the
// account and its blobServices/containers, and the parent blobServices
// resource uses the same version.
var apiVersions = map[string]string{
	"Microsoft.Resources/resourceGroups":                            "2025-04-01",
	"Microsoft.ManagedIdentity/userAssignedIdentities":              "2024-11-30",
	"Microsoft.Storage/storageAccounts":                             "2025-01-01",
	"Microsoft.Storage/storageAccounts/blobServices":                "2025-01-01",
	"Microsoft.Storage/storageAccounts/blobServices/containers":     "2025-01-01",
	"Microsoft.OperationalInsights/workspaces":                      "2025-07-01",
	"Microsoft.Insights/components":                                 "2020-02-02",
	"Microsoft.Web/serverfarms":                                     "2025-03-01",
	"Microsoft.Web/sites":                                           "2025-03-01",
	"Microsoft.Web/sites/config":                                    "2025-03-01",
	"Microsoft.EventHub/namespaces":                                 "2024-01-01",
	"Microsoft.EventHub/namespaces/eventhubs":                       "2024-01-01",
	"Microsoft.EventHub/namespaces/eventhubs/consumergroups":        "2024-01-01",
	"Microsoft.EventHub/namespaces/authorizationRules":              "2024-01-01",
	"Microsoft.Insights/diagnosticSettings":                         "2021-05-01-preview",
	"Microsoft.DocumentDB/databaseAccounts":                         "2025-04-15",
	"Microsoft.DocumentDB/databaseAccounts/sqlDatabases":            "2025-04-15",
	"Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers": "2025-04-15",
	"Microsoft.DocumentDB/databaseAccounts/sqlRoleAssignments":      "2024-11-15",
	"Microsoft.KeyVault/vaults":                                     "2024-11-01",
	"Microsoft.KeyVault/vaults/secrets":                             "2024-11-01",
	"Microsoft.EventGrid/systemTopics":                              "2025-02-15",
	"Microsoft.EventGrid/systemTopics/eventSubscriptions":           "2025-02-15",
	"Microsoft.Authorization/roleAssignments":                       "2022-04-01",
}

// existingOnly lists types the reference table does not cover. They may only
// be declared `existing` (no PUT; used as the scope of a child or extension
// resource). managedClusters: the scope of the kube-audit-admin diagnostic
// setting in modules/aks-audit.bicep; only its id is used.
var existingOnly = map[string]string{
	"Microsoft.ContainerService/managedClusters": "2024-09-01",
}

// referenceRoles are Azure built-in role GUIDs and names, as published in
// https://learn.microsoft.com/azure/role-based-access-control/built-in-roles
// (MicrosoftDocs/azure-docs: articles/role-based-access-control/built-in-roles.md).
var referenceRoles = map[string]string{
	"b7e6dc6d-f1e8-4753-8033-0f276bb0955b": "Storage Blob Data Owner",
	"974c5e8b-45b9-4653-ba55-5f855dd0fb88": "Storage Queue Data Contributor",
	"0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3": "Storage Table Data Contributor",
	"a638d3c7-ab3a-418d-83e6-5f17a39d4fde": "Azure Event Hubs Data Receiver",
	"3913510d-42f4-4e42-8a64-420c390055eb": "Monitoring Metrics Publisher",
	"4633458b-17de-408a-b874-0445c86b69e6": "Key Vault Secrets User",
	"00000000-0000-0000-0000-000000000002": "Cosmos DB Built-in Data Contributor",
	"ba92f5b4-2d11-453d-a403-e96b0029c9fe": "Storage Blob Data Contributor",
}

// requiredRoles is exactly what is granted, no more: to the app identity,
// host storage (Blob Owner, Queue and Table Contributor, as the Azure-Samples
// Flex samples), the Event Hubs trigger, Entra telemetry, Key Vault
// references and Cosmos DB data; to the subscription system topic's own
// identity, Storage Blob Data Contributor for dead-lettering (the topic is
// shared between environments, so it carries no environment's identity).
var requiredRoles = []string{
	"Azure Event Hubs Data Receiver",
	"Cosmos DB Built-in Data Contributor",
	"Key Vault Secrets User",
	"Monitoring Metrics Publisher",
	"Storage Blob Data Contributor",
	"Storage Blob Data Owner",
	"Storage Queue Data Contributor",
	"Storage Table Data Contributor",
}

// notSetInAzure is the allow-list of settings Tripline reads that the
// Bicep deliberately does not set, with the reason.
var notSetInAzure = map[string]string{
	"TRIPLINE_COSMOS_KEY":      "key auth is for local emulators only; the Cosmos DB account has disableLocalAuth and the app uses its identity (must never be set in Azure)",
	"TRIPLINE_STATE_FILE":      "the embedded file store is only used without TRIPLINE_COSMOS_ENDPOINT; Flex instances have ephemeral per-instance disks, so Azure always uses Cosmos DB",
	"TRIPLINE_RULES_DIR":       "your rules travel in the package (make package RULES=DIR, config/rules) and the handler finds them through FUNCTIONS_APP_ROOT_PATH; the setting would point away from them",
	"TRIPLINE_EXCEPTIONS_FILE": "same as TRIPLINE_RULES_DIR: packaged as config/exceptions.toml (make package EXCEPTIONS=FILE)",
	"TRIPLINE_OVERRIDES_FILE":  "same as TRIPLINE_RULES_DIR: packaged as config/overrides.toml (make package OVERRIDES=FILE)",
}

// mustNotBeSet are app settings that break or are rejected on Flex
// Consumption (https://learn.microsoft.com/azure/azure-functions/functions-app-settings#flex-consumption-plan-deprecations),
// or would put a key in the app settings.
var mustNotBeSet = map[string]string{
	"FUNCTIONS_WORKER_RUNTIME":                 "derived from functionAppConfig.runtime on Flex",
	"FUNCTIONS_EXTENSION_VERSION":              "not used on Flex",
	"WEBSITE_RUN_FROM_PACKAGE":                 "rejected by Core Tools on Flex",
	"WEBSITE_CONTENTAZUREFILECONNECTIONSTRING": "not supported on Flex",
	"WEBSITE_CONTENTSHARE":                     "not supported on Flex",
	"AzureWebJobsStorage":                      "connection string; storage shared keys are disabled",
	"EventHubConnection":                       "connection string; the trigger uses the identity",
	"TRIPLINE_COSMOS_KEY":                      "Cosmos DB local auth is disabled",
}

// expectedFunctions is the trigger and binding name of every function folder.
var expectedFunctions = map[string]struct{ trigger, name string }{
	"ActivityLogEvents": {"eventHubTrigger", "events"},
	"ResourceEvents":    {"eventGridTrigger", "event"},
	"NotificationRetry": {"timerTrigger", "timer"},
}

func repoRoot(t testing.TB) string {
	t.Helper()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "host.json")); err != nil {
		t.Fatalf("repository root not found: %v", err)
	}
	return root
}

func mustProject(t testing.TB) *project {
	t.Helper()
	p, err := loadProject(repoRoot(t))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// setting is one row of docs/settings.md, which the main package's
// TestSettingsDoc generates from its Config struct, the single source of
// every setting Tripline reads.
type settingRow struct {
	key, def string
	secret   bool
}

// settingsTable reads docs/settings.md.
func settingsTable() []settingRow {
	data, err := os.ReadFile(filepath.Join("..", "docs", "settings.md"))
	if err != nil {
		panic(err)
	}
	var out []settingRow
	for _, line := range strings.Split(string(data), "\n") {
		cells := strings.Split(line, "|")
		if len(cells) < 5 || !strings.HasPrefix(strings.TrimSpace(cells[1]), "`") {
			continue
		}
		out = append(out, settingRow{
			key:    strings.Trim(strings.TrimSpace(cells[1]), "`"),
			def:    strings.TrimSpace(cells[2]),
			secret: strings.TrimSpace(cells[3]) == "yes",
		})
	}
	return out
}

// configKeys lists every environment variable Tripline reads (docs/settings.md).
func configKeys() []string {
	var keys []string
	for _, s := range settingsTable() {
		keys = append(keys, s.key)
	}
	sort.Strings(keys)
	return keys
}

// secretSettings lists the settings whose values are secrets.
func secretSettings() []string {
	var keys []string
	for _, s := range settingsTable() {
		if s.secret {
			keys = append(keys, s.key)
		}
	}
	return keys
}

// ---------------------------------------------------------------------------
// Function folders
// ---------------------------------------------------------------------------

type binding map[string]any

func (b binding) str(k string) string { s, _ := b[k].(string); return s }

type functionJSON struct {
	Bindings []binding `json:"bindings"`
}

// functionFolders reads every <dir>/function.json at the root.
func functionFolders(root string) (map[string]functionJSON, error) {
	out := map[string]functionJSON{}
	dirs, err := os.ReadDir(root)
	if err != nil {
		return nil, err
	}
	for _, d := range dirs {
		if !d.IsDir() || strings.HasPrefix(d.Name(), ".") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(root, d.Name(), "function.json"))
		if err != nil {
			continue
		}
		var fj functionJSON
		dec := json.NewDecoder(bytes.NewReader(b))
		if err := dec.Decode(&fj); err != nil {
			return nil, fmt.Errorf("%s/function.json: %w", d.Name(), err)
		}
		out[d.Name()] = fj
	}
	return out, nil
}

func triggerOf(fj functionJSON) binding {
	for _, b := range fj.Bindings {
		if strings.HasSuffix(b.str("type"), "Trigger") {
			return b
		}
	}
	return nil
}

var percentSetting = regexp.MustCompile(`%([A-Za-z0-9_]+)%`)

// ---------------------------------------------------------------------------
// Checkers. Each returns human-readable problems; none means consistent.
// ---------------------------------------------------------------------------

// appSettings finds the one Microsoft.Web/sites/config 'appsettings'
// resource and resolves its properties.
func appSettings(p *project) (map[string][]setting, *bicepFile, error) {
	files, err := p.parseAll()
	if err != nil {
		return nil, nil, err
	}
	var found []*bicepFile
	var settings []setting
	for _, name := range p.names() {
		f := files[name]
		if f == nil {
			continue
		}
		for _, d := range f.all("resource") {
			if !strings.HasPrefix(d.target, "Microsoft.Web/sites/config@") {
				continue
			}
			es, err := f.bodyEntries(d)
			if err != nil {
				return nil, nil, err
			}
			n, ok := lookup(es, "name")
			if !ok || f.text(n.start, n.end) != "'appsettings'" {
				continue
			}
			props, ok := lookup(es, "properties")
			if !ok {
				return nil, nil, fmt.Errorf("%s: appsettings without properties", f.pos(d.first))
			}
			s, err := f.settingsOf(props.start, props.end, false, 0)
			if err != nil {
				return nil, nil, err
			}
			settings = append(settings, s...)
			found = append(found, f)
		}
	}
	if len(found) != 1 {
		return nil, nil, fmt.Errorf("want exactly one Microsoft.Web/sites/config 'appsettings' resource, found %d", len(found))
	}
	m := map[string][]setting{}
	for _, s := range settings {
		m[s.name] = append(m[s.name], s)
	}
	return m, found[0], nil
}

// checkConfigCoverage: every setting the code reads is set, except the
// documented allow-list, which must be current and really unset.
func checkConfigCoverage(p *project, keys []string) []string {
	settings, _, err := appSettings(p)
	if err != nil {
		return []string{err.Error()}
	}
	var problems []string
	known := map[string]bool{}
	for _, k := range keys {
		known[k] = true
		if _, allowed := notSetInAzure[k]; allowed {
			if s, set := settings[k]; set {
				problems = append(problems, fmt.Sprintf("%s is set at %s but is allow-listed as not set in Azure (%s)", k, s[0].where, notSetInAzure[k]))
			}
			continue
		}
		if _, set := settings[k]; !set {
			problems = append(problems, fmt.Sprintf("%s is read by Tripline (docs/settings.md) but not set in the Bicep app settings", k))
		}
	}
	for k := range notSetInAzure {
		if !known[k] {
			problems = append(problems, fmt.Sprintf("allow-list entry %s is not a setting Tripline reads any more", k))
		}
	}
	for name, ss := range settings {
		unconditional := 0
		for _, s := range ss {
			if !s.conditional {
				unconditional++
			}
		}
		if unconditional > 1 || len(ss) > 2 {
			problems = append(problems, fmt.Sprintf("%s is set %d times (%s)", name, len(ss), ss[0].where))
		}
	}
	sort.Strings(problems)
	return problems
}

// kvSecretNames lists the literal names of Microsoft.KeyVault/vaults/secrets
// resources.
func kvSecretNames(p *project) (map[string]bool, error) {
	files, err := p.parseAll()
	if err != nil {
		return nil, err
	}
	out := map[string]bool{}
	for _, f := range files {
		for _, d := range f.all("resource") {
			if !strings.HasPrefix(d.target, "Microsoft.KeyVault/vaults/secrets@") {
				continue
			}
			es, err := f.bodyEntries(d)
			if err != nil {
				return nil, err
			}
			if n, ok := lookup(es, "name"); ok && n.end == n.start+1 && f.toks[n.start].kind == tString {
				out[f.toks[n.start].text] = true
			}
		}
	}
	return out, nil
}

var kvRef = regexp.MustCompile(`^@Microsoft\.KeyVault\(SecretUri=\$\{[A-Za-z0-9_.]+\}secrets/([A-Za-z0-9-]+)/?\)$`)

// checkSecrets: every secret setting in the Bicep is a Key Vault reference
// to a secret the Bicep creates; no app setting value uses a @secure() param.
func checkSecrets(p *project, secrets []string) []string {
	settings, f, err := appSettings(p)
	if err != nil {
		return []string{err.Error()}
	}
	names, err := kvSecretNames(p)
	if err != nil {
		return []string{err.Error()}
	}
	var problems []string
	for _, k := range secrets {
		if _, forbidden := mustNotBeSet[k]; forbidden {
			continue // checkForbidden reports it
		}
		for _, s := range settings[k] {
			if s.str == nil || !s.str.interp {
				problems = append(problems, fmt.Sprintf("%s (%s) is not a Key Vault reference: %s", k, s.where, s.value))
				continue
			}
			m := kvRef.FindStringSubmatch(s.str.text)
			if m == nil {
				problems = append(problems, fmt.Sprintf("%s (%s) is not a Key Vault reference @Microsoft.KeyVault(SecretUri=...): %s", k, s.where, s.value))
				continue
			}
			if !names[m[1]] {
				problems = append(problems, fmt.Sprintf("%s (%s) references Key Vault secret %s, which no Microsoft.KeyVault/vaults/secrets resource creates", k, s.where, m[1]))
			}
		}
	}
	secure := map[string]bool{}
	for _, d := range f.all("param") {
		for _, dec := range d.decorators {
			if strings.HasPrefix(dec, "@secure") {
				secure[d.name] = true
			}
		}
	}
	for name, ss := range settings {
		for _, s := range ss {
			toks, _ := lex(s.value)
			for _, t := range toks {
				ids := []string{t.text}
				if t.kind == tString {
					ids = interpIdents(t.text)
				} else if t.kind != tIdent {
					continue
				}
				for _, id := range ids {
					if secure[id] {
						problems = append(problems, fmt.Sprintf("%s (%s) uses secure parameter %s directly; use a Key Vault reference", name, s.where, id))
					}
				}
			}
		}
	}
	sort.Strings(problems)
	return problems
}

// checkForbidden: settings Flex rejects, and keys, are absent; host storage
// and telemetry use the identity.
func checkForbidden(p *project) []string {
	settings, _, err := appSettings(p)
	if err != nil {
		return []string{err.Error()}
	}
	var problems []string
	for k, why := range mustNotBeSet {
		if s, ok := settings[k]; ok {
			problems = append(problems, fmt.Sprintf("%s must not be set (%s): %s", k, why, s[0].where))
		}
	}
	want := map[string]string{
		"AzureWebJobsStorage__credential": "'managedidentity'",
		"EventHubConnection__credential":  "'managedidentity'",
	}
	for k, v := range want {
		if s, ok := settings[k]; !ok || s[0].value != v {
			problems = append(problems, fmt.Sprintf("%s must be %s", k, v))
		}
	}
	for _, k := range []string{"AzureWebJobsStorage__blobServiceUri", "AzureWebJobsStorage__queueServiceUri", "AzureWebJobsStorage__tableServiceUri", "AzureWebJobsStorage__clientId", "EventHubConnection__clientId", "AZURE_CLIENT_ID", "APPLICATIONINSIGHTS_CONNECTION_STRING"} {
		if _, ok := settings[k]; !ok {
			problems = append(problems, k+" is not set")
		}
	}
	if s, ok := settings["APPLICATIONINSIGHTS_AUTHENTICATION_STRING"]; !ok || !strings.Contains(s[0].value, "ClientId=") || !strings.Contains(s[0].value, "Authorization=AAD") {
		problems = append(problems, "APPLICATIONINSIGHTS_AUTHENTICATION_STRING must be 'ClientId=<identity client id>;Authorization=AAD'")
	}
	sort.Strings(problems)
	return problems
}

// checkHostBindings: every %setting% and connection in function.json resolves
// from the app settings.
func checkHostBindings(p *project, fns map[string]functionJSON) []string {
	settings, _, err := appSettings(p)
	if err != nil {
		return []string{err.Error()}
	}
	var problems []string
	for name, fj := range fns {
		for _, b := range fj.Bindings {
			for k, v := range b {
				s, ok := v.(string)
				if !ok {
					continue
				}
				for _, m := range percentSetting.FindAllStringSubmatch(s, -1) {
					if _, set := settings[m[1]]; !set {
						problems = append(problems, fmt.Sprintf("%s/function.json %s: %%%s%% is not an app setting", name, k, m[1]))
					}
				}
			}
			if c := b.str("connection"); c != "" {
				if _, set := settings[c+"__fullyQualifiedNamespace"]; !set {
					problems = append(problems, fmt.Sprintf("%s/function.json connection %s: %s__fullyQualifiedNamespace is not an app setting", name, c, c))
				}
			}
		}
	}
	sort.Strings(problems)
	return problems
}

var functionRef = regexp.MustCompile(`/functions/([A-Za-z0-9_-]+)`)

// checkFunctionNames: every function the Bicep names exists as a folder with
// the right trigger, and every Event Grid function is subscribed.
func checkFunctionNames(p *project, fns map[string]functionJSON) []string {
	files, err := p.parseAll()
	if err != nil {
		return []string{err.Error()}
	}
	var problems []string
	referenced := map[string]bool{}
	for _, name := range p.names() {
		f := files[name]
		if f == nil {
			continue
		}
		for i, t := range f.toks {
			if t.kind != tString {
				continue
			}
			for _, m := range functionRef.FindAllStringSubmatch(t.text, -1) {
				fn := m[1]
				referenced[fn] = true
				fj, ok := fns[fn]
				if !ok {
					problems = append(problems, fmt.Sprintf("%s names function %s, but there is no %s/function.json", f.pos(i), fn, fn))
					continue
				}
				if tr := triggerOf(fj); tr == nil || tr.str("type") != "eventGridTrigger" {
					problems = append(problems, fmt.Sprintf("%s: Event Grid delivers to %s, whose trigger is not eventGridTrigger", f.pos(i), fn))
				}
			}
		}
	}
	for fn, fj := range fns {
		if tr := triggerOf(fj); tr != nil && tr.str("type") == "eventGridTrigger" && !referenced[fn] {
			problems = append(problems, fmt.Sprintf("function %s has an eventGridTrigger but no event subscription in the Bicep delivers to it", fn))
		}
	}
	sort.Strings(problems)
	return problems
}

var guidRe = regexp.MustCompile(`[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}`)

func normalizeName(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// checkRoles: every GUID in the Bicep is a reference-table role, named after
// it (var name or object key), and the roles actually used are exactly
// requiredRoles.
func checkRoles(p *project) []string {
	files, err := p.parseAll()
	if err != nil {
		return []string{err.Error()}
	}
	var problems []string
	used := map[string]bool{}
	for _, name := range p.names() {
		f := files[name]
		if f == nil {
			continue
		}
		for i, t := range f.toks {
			if t.kind != tString || !guidRe.MatchString(t.text) {
				continue
			}
			if t.text != guidRe.FindString(t.text) {
				problems = append(problems, fmt.Sprintf("%s: role GUID inside a longer string %q; name it in a variable", f.pos(i), t.text))
				continue
			}
			role, ok := referenceRoles[strings.ToLower(t.text)]
			if !ok {
				problems = append(problems, fmt.Sprintf("%s: GUID %s is not a role in the reference table", f.pos(i), t.text))
				continue
			}
			// Label: "var <label> = '<guid>'" or "<label>: '<guid>'".
			label, refs := "", 0
			if i >= 2 && isP(f.toks[i-1], ":") {
				label = f.toks[i-2].text
				for k := 0; k+1 < len(f.toks); k++ {
					if (isP(f.toks[k], ".") || isP(f.toks[k], ".?")) && f.toks[k+1].kind == tIdent && f.toks[k+1].text == label {
						refs++
					}
				}
			} else if i >= 2 && isP(f.toks[i-1], "=") && f.toks[i-2].kind == tIdent {
				label = f.toks[i-2].text
				if d := f.find("var", label); d != nil {
					refs = f.identRefs(label, d.first, d.first+2)
				}
			}
			if label == "" {
				problems = append(problems, fmt.Sprintf("%s: role GUID %s (%s) must be a variable or object entry named after the role", f.pos(i), t.text, role))
				continue
			}
			if normalizeName(label) != normalizeName(role) {
				problems = append(problems, fmt.Sprintf("%s: %s is named %q, but the reference calls it %q", f.pos(i), t.text, label, role))
				continue
			}
			if refs > 0 {
				used[role] = true
			}
		}
	}
	for _, r := range requiredRoles {
		if !used[r] {
			problems = append(problems, fmt.Sprintf("role %q is required but not assigned", r))
		}
		delete(used, r)
	}
	for r := range used {
		problems = append(problems, fmt.Sprintf("role %q is assigned but not required", r))
	}
	sort.Strings(problems)
	return problems
}

// checkAPIVersions: every resource type@version is the reference's.
func checkAPIVersions(p *project) []string {
	files, err := p.parseAll()
	if err != nil {
		return []string{err.Error()}
	}
	var problems []string
	for _, name := range p.names() {
		f := files[name]
		if f == nil {
			continue
		}
		for _, d := range f.all("resource") {
			typ, ver, ok := strings.Cut(d.target, "@")
			if !ok {
				problems = append(problems, fmt.Sprintf("%s: resource %s has no API version (%q); declare child resources with their full type and parent:", f.pos(d.first), d.name, d.target))
				continue
			}
			want, known := apiVersions[typ]
			if !known && d.existing {
				want, known = existingOnly[typ]
			}
			switch {
			case !known:
				problems = append(problems, fmt.Sprintf("%s: resource type %s is not in the reference table", f.pos(d.first), typ))
			case ver != want:
				problems = append(problems, fmt.Sprintf("%s: %s@%s, the reference table says @%s", f.pos(d.first), typ, ver, want))
			}
		}
	}
	sort.Strings(problems)
	return problems
}

// paramInfo describes the params of one Bicep file.
func paramInfo(f *bicepFile) map[string]bool { // name → required
	out := map[string]bool{}
	for _, d := range f.all("param") {
		end := d.last
		if d.start > d.first {
			end = d.start - 1
		}
		s, e := f.trim(d.first+2, end)
		nullable := e > s && isP(f.toks[e-1], "?")
		out[d.name] = d.start == d.end && !nullable
	}
	return out
}

// checkModules: module params match the target's declarations, referenced
// outputs exist, params and variables are used, and main.bicepparam matches
// main.bicep. This is what the Bicep compiler would otherwise catch.
func checkModules(p *project) []string {
	files, err := p.parseAll()
	if err != nil {
		return []string{err.Error()}
	}
	var problems []string
	for _, name := range p.names() {
		f := files[name]
		if f == nil {
			continue
		}
		modules := map[string]*bicepFile{}
		for _, d := range f.all("module") {
			target := modulePath(name, d.target)
			tf := files[target]
			if tf == nil {
				problems = append(problems, fmt.Sprintf("%s: module %s: %s does not exist", f.pos(d.first), d.name, target))
				continue
			}
			modules[d.name] = tf
			es, err := f.bodyEntries(d)
			if err != nil {
				problems = append(problems, err.Error())
				continue
			}
			params := paramInfo(tf)
			passed := map[string]bool{}
			if pe, ok := lookup(es, "params"); ok {
				s, _ := f.trim(pe.start, pe.end)
				pes, err := f.object(s)
				if err != nil {
					problems = append(problems, err.Error())
					continue
				}
				for _, e := range pes {
					passed[e.key] = true
					if _, declared := params[e.key]; !declared {
						problems = append(problems, fmt.Sprintf("%s: module %s passes %s, which %s does not declare", f.pos(e.keyTok), d.name, e.key, target))
					}
				}
			}
			for prm, required := range params {
				if required && !passed[prm] {
					problems = append(problems, fmt.Sprintf("%s: module %s does not pass required parameter %s of %s", f.pos(d.first), d.name, prm, target))
				}
			}
		}
		// <module>.outputs.<name> must be an output of the module's file.
		check := func(toks []token, where func(int) string) {
			for k := 0; k+4 < len(toks); k++ {
				tf, ok := modules[toks[k].text]
				if toks[k].kind != tIdent || !ok || !isP(toks[k+1], ".") || toks[k+2].text != "outputs" || !isP(toks[k+3], ".") {
					continue
				}
				if tf.find("output", toks[k+4].text) == nil {
					problems = append(problems, fmt.Sprintf("%s: %s.outputs.%s: %s has no such output", where(k), toks[k].text, toks[k+4].text, tf.name))
				}
			}
		}
		check(f.toks, f.pos)
		for i, t := range f.toks {
			if t.kind == tString && t.interp {
				if inner, err := lex(strings.ReplaceAll(strings.ReplaceAll(t.text, "${", " "), "}", " ")); err == nil {
					check(inner, func(int) string { return f.pos(i) })
				}
			}
		}
		for _, kind := range []string{"param", "var"} {
			for _, d := range f.all(kind) {
				if f.identRefs(d.name, d.first, d.first+2) == 0 {
					problems = append(problems, fmt.Sprintf("%s: %s %s is never used", f.pos(d.first), kind, d.name))
				}
			}
		}
	}
	// main.bicepparam ↔ main.bicep
	pf, err := p.parse("infra/main.bicepparam")
	if err != nil {
		return append(problems, err.Error())
	}
	main := files["infra/main.bicep"]
	if main == nil {
		return append(problems, "infra/main.bicep missing")
	}
	if u := pf.all("using"); len(u) != 1 || u[0].target != "main.bicep" {
		problems = append(problems, "infra/main.bicepparam must start with using 'main.bicep'")
	}
	params := paramInfo(main)
	set := map[string]bool{}
	for _, d := range pf.all("param") {
		set[d.name] = true
		if _, ok := params[d.name]; !ok {
			problems = append(problems, fmt.Sprintf("%s: param %s is not a parameter of main.bicep", pf.pos(d.first), d.name))
		}
	}
	for prm, required := range params {
		if required && !set[prm] {
			problems = append(problems, fmt.Sprintf("infra/main.bicepparam does not set required parameter %s", prm))
		}
	}
	sort.Strings(problems)
	return problems
}

var ruleOperation = regexp.MustCompile(`operation_name\s*:\s*("(?:[^"\\]|\\.)*"|\([^)]*\))`)
var quoted = regexp.MustCompile(`"((?:[^"\\]|\\.)*)"`)

// ruleOperations lists the Activity Log operation names the built-in rules
// match (azure.activitylogs.operation_name:"..." in detect/rules/*.toml).
func ruleOperations(root string) ([]string, error) {
	paths, err := filepath.Glob(filepath.Join(root, "detect", "rules", "*.toml"))
	if err != nil {
		return nil, err
	}
	var ops []string
	for _, fp := range paths {
		b, err := os.ReadFile(fp)
		if err != nil {
			return nil, err
		}
		for _, m := range ruleOperation.FindAllStringSubmatch(string(b), -1) {
			for _, q := range quoted.FindAllStringSubmatch(m[1], -1) {
				ops = append(ops, q[1])
			}
		}
	}
	sort.Strings(ops)
	return ops, nil
}

// arrayStrings returns the string elements of the array literal of var name.
func arrayStrings(f *bicepFile, name string) ([]string, error) {
	d := f.find("var", name)
	if d == nil {
		return nil, fmt.Errorf("%s: var %s not found", f.name, name)
	}
	s, e := f.trim(d.start, d.end)
	if s >= e || !isP(f.toks[s], "[") || !isP(f.toks[e-1], "]") {
		return nil, fmt.Errorf("%s: var %s is not an array literal", f.pos(d.first), name)
	}
	var out []string
	for k := s + 1; k < e-1; k++ {
		switch t := f.toks[k]; t.kind {
		case tString:
			out = append(out, t.text)
		case tNL:
		default:
			return nil, fmt.Errorf("%s: var %s must list plain strings", f.pos(k), name)
		}
	}
	return out, nil
}

// checkEventGridOperations: the Event Grid filter covers every operation the
// built-in rules match, within Event Grid's 25-value limit.
func checkEventGridOperations(p *project, ruleOps []string) []string {
	main, err := p.parse("infra/main.bicep")
	if err != nil {
		return []string{err.Error()}
	}
	ops, err := arrayStrings(main, "builtinEventGridOperations")
	if err != nil {
		return []string{err.Error()}
	}
	var problems []string
	have := map[string]bool{}
	for _, o := range ops {
		have[strings.ToLower(o)] = true
	}
	for _, o := range ruleOps {
		if strings.Contains(o, "*") {
			problems = append(problems, fmt.Sprintf("rule operation %q has a wildcard; Event Grid StringIn cannot express it", o))
			continue
		}
		if !have[strings.ToLower(o)] {
			problems = append(problems, fmt.Sprintf("built-in rules match operation %q, missing from builtinEventGridOperations in infra/main.bicep", o))
		}
	}
	if len(ops) > 25 {
		problems = append(problems, fmt.Sprintf("builtinEventGridOperations has %d values; Event Grid allows 25", len(ops)))
	}
	eg, err := p.parse("infra/modules/eventgrid.bicep")
	if err != nil {
		return append(problems, err.Error())
	}
	if d := eg.find("param", "operationNames"); d == nil || !strings.Contains(strings.Join(d.decorators, " "), "@maxLength(25)") {
		problems = append(problems, "infra/modules/eventgrid.bicep: param operationNames must carry @maxLength(25)")
	}
	return problems
}

// ---------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------

func TestBicepFilesParse(t *testing.T) {
	p := mustProject(t)
	want := []string{
		"infra/main.bicep", "infra/main.bicepparam",
		"infra/modules/aks-audit.bicep", "infra/modules/cosmos.bicep", "infra/modules/eventgrid-topic.bicep", "infra/modules/eventgrid.bicep",
		"infra/modules/eventhubs.bicep", "infra/modules/functionapp.bicep", "infra/modules/identity.bicep",
		"infra/modules/keyvault.bicep", "infra/modules/monitoring.bicep", "infra/modules/roles.bicep",
		"infra/modules/storage.bicep",
	}
	if got := p.names(); !reflect.DeepEqual(got, want) {
		t.Errorf("Bicep files = %v, want %v", got, want)
	}
	for _, n := range p.names() {
		if _, err := p.parse(n); err != nil {
			t.Error(err)
		}
	}
	main, err := p.parse("infra/main.bicep")
	if err != nil {
		t.Fatal(err)
	}
	if d := main.all("targetScope"); len(d) != 1 || main.text(d[0].start, d[0].end) != "'subscription'" {
		t.Errorf("infra/main.bicep must declare targetScope = 'subscription'")
	}
}

func TestAppSettingsCoverConfig(t *testing.T) {
	keys := configKeys()
	if len(keys) == 0 {
		t.Fatal("docs/settings.md lists no settings")
	}
	for _, p := range checkConfigCoverage(mustProject(t), keys) {
		t.Error(p)
	}
}

func TestSecretsAreKeyVaultReferences(t *testing.T) {
	p := mustProject(t)
	for _, prob := range checkSecrets(p, secretSettings()) {
		t.Error(prob)
	}
	settings, _, err := appSettings(p)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range secretSettings() {
		if _, forbidden := mustNotBeSet[k]; forbidden {
			continue
		}
		if len(settings[k]) == 0 {
			t.Errorf("secret setting %s is never set (not even as a Key Vault reference)", k)
		}
		for _, s := range settings[k] {
			if !s.conditional {
				t.Errorf("%s must only be set when its Key Vault secret exists (%s)", k, s.where)
			}
		}
	}
}

func TestNoForbiddenAppSettings(t *testing.T) {
	for _, p := range checkForbidden(mustProject(t)) {
		t.Error(p)
	}
}

func TestFunctionJSONSettingsResolve(t *testing.T) {
	fns, err := functionFolders(repoRoot(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range checkHostBindings(mustProject(t), fns) {
		t.Error(p)
	}
}

func TestFunctionNamesMatchFolders(t *testing.T) {
	fns, err := functionFolders(repoRoot(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range checkFunctionNames(mustProject(t), fns) {
		t.Error(p)
	}
}

func TestRoleAssignmentsMatchReference(t *testing.T) {
	for _, p := range checkRoles(mustProject(t)) {
		t.Error(p)
	}
}

func TestAPIVersionsMatchReference(t *testing.T) {
	for _, p := range checkAPIVersions(mustProject(t)) {
		t.Error(p)
	}
}

func TestModuleWiring(t *testing.T) {
	for _, p := range checkModules(mustProject(t)) {
		t.Error(p)
	}
}

func TestEventGridFilterCoversRules(t *testing.T) {
	ops, err := ruleOperations(repoRoot(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range checkEventGridOperations(mustProject(t), ops) {
		t.Error(p)
	}
}

// TestFlexSiteShape pins the properties the reference calls out for a Flex
// custom handler; a typo here would only show at deployment.
func TestFlexSiteShape(t *testing.T) {
	p := mustProject(t)
	src := p.files["infra/modules/functionapp.bicep"]
	for _, want := range []string{
		"name: 'FC1'", "tier: 'FlexConsumption'", "reserved: true", "kind: 'functionapp,linux'",
		"type: 'UserAssigned'", "keyVaultReferenceIdentity: identityId", "type: 'blobContainer'",
		"type: 'UserAssignedIdentity'", "userAssignedIdentityResourceId: identityId",
		"maximumInstanceCount: maximumInstanceCount", "instanceMemoryMB: instanceMemoryMB",
		"name: 'custom'", "version: '1.0'", "httpsOnly: true",
	} {
		if !strings.Contains(src, want) {
			t.Errorf("infra/modules/functionapp.bicep lacks %q", want)
		}
	}
	checks := map[string][]string{
		"infra/modules/storage.bicep":         {"allowSharedKeyAccess: false", "allowBlobPublicAccess: false"},
		"infra/modules/monitoring.bicep":      {"DisableLocalAuth: true"},
		"infra/modules/cosmos.bicep":          {"name: 'EnableServerless'", "disableLocalAuth: true", "'/id'", "defaultTtl: -1", "isZoneRedundant: false"},
		"infra/modules/eventhubs.bicep":       {"name: 'Standard'", "disableLocalAuth: false", "'Listen'", "'Manage'", "'Send'"},
		"infra/modules/keyvault.bicep":        {"enableRbacAuthorization: true"},
		"infra/modules/eventgrid-topic.bicep": {"location: 'global'", "topicType: 'Microsoft.Resources.Subscriptions'", "type: 'SystemAssigned'"},
		"infra/modules/eventgrid.bicep":       {"endpointType: 'AzureFunction'", "deadLetterWithResourceIdentity", "type: 'SystemAssigned'", "key: 'data.operationName'"},
		"infra/modules/aks-audit.bicep":       {"category: 'kube-audit-admin'"},
		"infra/main.bicep":                    {"'Administrative'", "'Security'", "param deployEventGridSubscription bool = false", "if (ownsSubscriptionFeeds && deployEventGridSubscription)"},
	}
	for file, wants := range checks {
		for _, w := range wants {
			if !strings.Contains(p.files[file], w) {
				t.Errorf("%s lacks %q", file, w)
			}
		}
	}
	// Secure parameters: @secure(), empty default, never in an output.
	main, err := p.parse("infra/main.bicep")
	if err != nil {
		t.Fatal(err)
	}
	secure := 0
	for _, d := range main.all("param") {
		isSecure := strings.Contains(strings.Join(d.decorators, " "), "@secure()")
		if isSecure {
			secure++
			if v := main.text(d.start, d.end); v != "''" {
				t.Errorf("secure param %s has default %s, want ''", d.name, v)
			}
			for _, o := range main.all("output") {
				if strings.Contains(" "+main.text(o.start, o.end)+" ", d.name) {
					t.Errorf("output %s mentions secure param %s", o.name, d.name)
				}
			}
		}
	}
	if secure != 5 {
		t.Errorf("main.bicep has %d @secure() params, want 5 (one per channel secret)", secure)
	}
	for _, o := range []string{"functionAppName", "resourceGroupName", "eventHubName", "cosmosEndpoint", "nextCommand"} {
		if main.find("output", o) == nil {
			t.Errorf("main.bicep lacks output %s", o)
		}
	}
}

func TestBicepConfig(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(repoRoot(t), "infra", "bicepconfig.json"))
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		Analyzers struct {
			Core struct {
				Enabled bool `json:"enabled"`
				Rules   map[string]struct {
					Level string `json:"level"`
				} `json:"rules"`
			} `json:"core"`
		} `json:"analyzers"`
	}
	if err := json.Unmarshal(b, &cfg); err != nil {
		t.Fatal(err)
	}
	if !cfg.Analyzers.Core.Enabled {
		t.Error("bicepconfig.json: analyzers.core.enabled must be true")
	}
	for _, r := range []string{"no-hardcoded-env-urls", "no-unused-params", "no-unused-vars", "outputs-should-not-contain-secrets", "secure-parameter-default", "use-parent-property", "no-unnecessary-dependson"} {
		if l := cfg.Analyzers.Core.Rules[r].Level; l != "warning" && l != "error" {
			t.Errorf("bicepconfig.json: rule %s level %q, want warning or error", r, l)
		}
	}
}

func TestHostJSON(t *testing.T) {
	root := repoRoot(t)
	b, err := os.ReadFile(filepath.Join(root, "host.json"))
	if err != nil {
		t.Fatal(err)
	}
	var host struct {
		Version         string `json:"version"`
		ExtensionBundle struct {
			ID      string `json:"id"`
			Version string `json:"version"`
		} `json:"extensionBundle"`
		CustomHandler struct {
			Description struct {
				DefaultExecutablePath string `json:"defaultExecutablePath"`
			} `json:"description"`
			EnableForwardingHTTPRequest bool `json:"enableForwardingHttpRequest"`
		} `json:"customHandler"`
		Extensions struct {
			EventHubs map[string]any `json:"eventHubs"`
		} `json:"extensions"`
	}
	if err := json.Unmarshal(b, &host); err != nil {
		t.Fatalf("host.json: %v", err)
	}
	if host.Version != "2.0" {
		t.Errorf("host.json version %q, want 2.0", host.Version)
	}
	if got := host.CustomHandler.Description.DefaultExecutablePath; got != "bin/tripline" {
		t.Errorf("defaultExecutablePath %q, want bin/tripline (the binary deploy.sh builds)", got)
	}
	if exe, err := packager.ExecutablePath(root); err != nil || exe != "bin/tripline" {
		t.Errorf("packager.ExecutablePath = %q, %v", exe, err)
	}
	if host.ExtensionBundle.ID != "Microsoft.Azure.Functions.ExtensionBundle" || host.ExtensionBundle.Version != "[4.*, 5.0.0)" {
		t.Errorf("extensionBundle = %+v, want Microsoft.Azure.Functions.ExtensionBundle [4.*, 5.0.0) (Flex needs 4.x or later)", host.ExtensionBundle)
	}
	if host.CustomHandler.EnableForwardingHTTPRequest {
		t.Error("enableForwardingHttpRequest must be false (no HTTP functions)")
	}
	for _, k := range []string{"maxEventBatchSize", "minEventBatchSize", "maxWaitTime", "batchCheckpointFrequency", "prefetchCount"} {
		if _, ok := host.Extensions.EventHubs[k]; !ok {
			t.Errorf("host.json extensions.eventHubs.%s missing", k)
		}
	}
}

func TestFunctionJSON(t *testing.T) {
	fns, err := functionFolders(repoRoot(t))
	if err != nil {
		t.Fatal(err)
	}
	for name := range expectedFunctions {
		if _, ok := fns[name]; !ok {
			t.Errorf("%s/function.json missing", name)
		}
	}
	for name, fj := range fns {
		want, ok := expectedFunctions[name]
		if !ok {
			t.Errorf("%s/function.json is not a known function; add it to expectedFunctions (and to the Bicep if it needs wiring)", name)
			continue
		}
		triggers := 0
		for _, b := range fj.Bindings {
			if strings.HasSuffix(b.str("type"), "Trigger") {
				triggers++
			}
		}
		tr := triggerOf(fj)
		if triggers != 1 || tr == nil {
			t.Errorf("%s: want exactly one trigger binding, got %d", name, triggers)
			continue
		}
		if tr.str("type") != want.trigger || tr.str("name") != want.name || tr.str("direction") != "in" {
			t.Errorf("%s: trigger %s %q direction %q, want %s %q in", name, tr.str("type"), tr.str("name"), tr.str("direction"), want.trigger, want.name)
		}
		switch want.trigger {
		case "eventHubTrigger":
			for k, v := range map[string]string{"eventHubName": "%EventHubName%", "consumerGroup": "%EventHubConsumerGroup%", "connection": "EventHubConnection", "cardinality": "many"} {
				if tr.str(k) != v {
					t.Errorf("%s: %s = %q, want %q", name, k, tr.str(k), v)
				}
			}
		case "timerTrigger":
			if tr.str("schedule") != "%NotificationRetrySchedule%" {
				t.Errorf("%s: schedule = %q, want %%NotificationRetrySchedule%%", name, tr.str("schedule"))
			}
		}
	}
}

// fileSet lists the regular files under dir (slash paths), skipping .git.
func fileSet(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(fp string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == ".git" {
			return filepath.SkipDir
		}
		if d.Type().IsRegular() {
			rel, err := filepath.Rel(dir, fp)
			if err != nil {
				return err
			}
			out = append(out, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(out)
	return out
}

// buildLinuxBinary builds the root main package for linux/amd64 into out. If
// the root has no main package yet, it builds a stand-in so that the layout
// is still tested (logged).
func buildLinuxBinary(t *testing.T, root, out string) {
	t.Helper()
	env := append(os.Environ(), "GOOS=linux", "GOARCH=amd64", "CGO_ENABLED=0", "GOFLAGS=-buildvcs=false")
	list := exec.Command("go", "list", "-f", "{{.Name}}", ".")
	list.Dir, list.Env = root, env
	pkg := root
	if name, err := list.Output(); err != nil || strings.TrimSpace(string(name)) != "main" {
		t.Logf("repository root has no main package yet (%v); packaging a stand-in binary", err)
		pkg = t.TempDir()
		if err := os.WriteFile(filepath.Join(pkg, "go.mod"), []byte("module standin\n\ngo 1.26\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(pkg, "main.go"), []byte("package main\n\nfunc main() {}\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	build := exec.Command("go", "build", "-o", out, ".")
	build.Dir, build.Env = pkg, env
	if b, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build (linux/amd64): %v\n%s", err, b)
	}
}

// stageApp copies host.json and every function.json into a temporary app
// root, adds decoy source files the package must not contain, and builds
// bin/tripline.
func stageApp(t *testing.T) string {
	t.Helper()
	root := repoRoot(t)
	app := t.TempDir()
	copyFile := func(rel string) {
		b, err := os.ReadFile(filepath.Join(root, rel))
		if err != nil {
			t.Fatal(err)
		}
		dst := filepath.Join(app, rel)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dst, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	copyFile("host.json")
	fns, err := functionFolders(root)
	if err != nil {
		t.Fatal(err)
	}
	for name := range fns {
		copyFile(filepath.Join(name, "function.json"))
	}
	for _, decoy := range []string{"main.go", "go.mod", "go.sum", "infra/main.bicep", "infra/main.bicepparam", "README.md", "local.settings.json", "ResourceEvents/handler.go", "detect/rules/x.toml", "bin/README.md", ".git/config"} {
		dst := filepath.Join(app, decoy)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dst, []byte("decoy\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if b, err := os.ReadFile(filepath.Join(root, ".funcignore")); err == nil {
		if err := os.WriteFile(filepath.Join(app, ".funcignore"), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	buildLinuxBinary(t, root, filepath.Join(app, "bin", "tripline"))
	return app
}

func expectedPackage(t *testing.T) []string {
	fns, err := functionFolders(repoRoot(t))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"bin/tripline", "host.json"}
	for name := range fns {
		want = append(want, name+"/function.json")
	}
	sort.Strings(want)
	return want
}

func TestPackageLayout(t *testing.T) {
	app := stageApp(t)
	out := filepath.Join(t.TempDir(), "dist", "tripline.zip")
	if err := packager.WriteFile(app, out); err != nil {
		t.Fatal(err)
	}
	zr, err := zip.OpenReader(out)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	var names []string
	for _, f := range zr.File {
		names = append(names, f.Name)
		switch ext := filepath.Ext(f.Name); ext {
		case ".go", ".bicep", ".bicepparam", ".mod", ".sum", ".md", ".toml":
			t.Errorf("package contains source file %s", f.Name)
		}
		if f.Name == "bin/tripline" {
			if f.CreatorVersion>>8 != 3 {
				t.Errorf("bin/tripline: zip creator OS %d, want 3 (Unix) so the mode is honoured", f.CreatorVersion>>8)
			}
			if f.Mode().Perm() != 0o755 {
				t.Errorf("bin/tripline mode %v, want -rwxr-xr-x", f.Mode())
			}
			rc, err := f.Open()
			if err != nil {
				t.Fatal(err)
			}
			b, err := io.ReadAll(rc)
			rc.Close()
			if err != nil {
				t.Fatal(err)
			}
			ef, err := elf.NewFile(bytes.NewReader(b))
			if err != nil {
				t.Fatalf("bin/tripline is not ELF: %v", err)
			}
			if ef.Machine != elf.EM_X86_64 {
				t.Errorf("bin/tripline machine %v, want x86-64", ef.Machine)
			}
		} else if f.Mode().Perm()&0o111 != 0 {
			t.Errorf("%s is executable (%v)", f.Name, f.Mode())
		}
	}
	if want := expectedPackage(t); !reflect.DeepEqual(names, want) {
		t.Errorf("package entries = %v, want %v", names, want)
	}

	// A binary for the wrong platform is refused.
	if err := os.WriteFile(filepath.Join(app, "bin", "tripline"), []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := packager.WriteFile(app, filepath.Join(t.TempDir(), "bad.zip")); err == nil || !strings.Contains(err.Error(), "not a Linux ELF") {
		t.Errorf("packaging a non-ELF binary: err = %v, want a 'not a Linux ELF' error", err)
	}
}

// coreToolsIgnore re-implements Azure Functions Core Tools' .funcignore
// matcher (src/Cli/func/Common/GitIgnoreParser.cs, a port of
// codemix/gitignore-parser): patterns are anchored at the start of the
// relative path and end at a word boundary; "!" patterns re-include.
func coreToolsIgnore(content string) func(path string) (accepted bool) {
	var pos, neg []string
	for _, line := range strings.Split(content, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		negative := strings.HasPrefix(line, "!")
		line = strings.TrimPrefix(line, "!")
		line = strings.TrimPrefix(line, "/")
		var b strings.Builder
		for _, r := range line {
			if strings.ContainsRune(`-[]/{}()+?.\^$|`, r) {
				b.WriteByte('\\')
			}
			b.WriteRune(r)
		}
		re := strings.ReplaceAll(b.String(), "**", "(.+)")
		re = strings.ReplaceAll(re, "*", `([^\/]+)`)
		if negative {
			neg = append(neg, re)
		} else {
			pos = append(pos, re)
		}
	}
	compile := func(parts []string) *regexp.Regexp {
		if len(parts) == 0 {
			return regexp.MustCompile(`$^`)
		}
		return regexp.MustCompile(`^((` + strings.Join(parts, ")|(") + `))\b`)
	}
	p, n := compile(pos), compile(neg)
	return func(path string) bool { return n.MatchString(path) || !p.MatchString(path) }
}

// TestFuncignoreMatchesPackage: `func azure functionapp publish` uploads the
// same files as scripts/package.sh.
func TestFuncignoreMatchesPackage(t *testing.T) {
	root := repoRoot(t)
	b, err := os.ReadFile(filepath.Join(root, ".funcignore"))
	if err != nil {
		t.Fatal(err)
	}
	accepts := coreToolsIgnore(string(b))
	// Files Core Tools never uploads, whatever .funcignore says.
	skipped := map[string]bool{".funcignore": true, ".gitignore": true, "local.settings.json": true, "project.lock.json": true}
	published := func(dir string) []string {
		var out []string
		for _, f := range fileSet(t, dir) {
			if skipped[filepath.Base(f)] || strings.HasPrefix(f, ".vscode/") {
				continue
			}
			if accepts(f) {
				out = append(out, f)
			}
		}
		return out
	}
	app := stageApp(t)
	if got, want := published(app), expectedPackage(t); !reflect.DeepEqual(got, want) {
		t.Errorf(".funcignore publishes %v, want %v (the packager's layout)", got, want)
	}
	// The real tree: only package files, whatever else other work has added.
	want := map[string]bool{}
	for _, f := range expectedPackage(t) {
		want[f] = true
	}
	for _, f := range published(root) {
		if !want[f] {
			t.Errorf(".funcignore would publish %s from the repository", f)
		}
	}
}

func TestLocalSettingsSample(t *testing.T) {
	root := repoRoot(t)
	b, err := os.ReadFile(filepath.Join(root, "local.settings.sample.json"))
	if err != nil {
		t.Fatal(err)
	}
	var sample struct {
		Comments    map[string]string          `json:"_comments"`
		IsEncrypted *bool                      `json:"IsEncrypted"`
		Values      map[string]json.RawMessage `json:"Values"`
	}
	if err := json.Unmarshal(b, &sample); err != nil {
		t.Fatal(err)
	}
	if sample.IsEncrypted == nil || *sample.IsEncrypted {
		t.Error("IsEncrypted must be false (Core Tools assumes true when it is missing)")
	}
	values := map[string]string{}
	for k, raw := range sample.Values {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			t.Errorf("Values.%s is not a string: Core Tools would ignore the whole file", k)
		}
		values[k] = s
		if sample.Comments[k] == "" {
			t.Errorf("Values.%s is not explained in _comments", k)
		}
	}
	want := map[string]bool{"FUNCTIONS_WORKER_RUNTIME": true, "AzureWebJobsStorage": true, "EventHubConnection__fullyQualifiedNamespace": true}
	for _, k := range configKeys() {
		want[k] = true
	}
	fns, err := functionFolders(root)
	if err != nil {
		t.Fatal(err)
	}
	for _, fj := range fns {
		for _, bd := range fj.Bindings {
			for _, v := range bd {
				if s, ok := v.(string); ok {
					for _, m := range percentSetting.FindAllStringSubmatch(s, -1) {
						want[m[1]] = true
					}
				}
			}
		}
	}
	for k := range want {
		if _, ok := values[k]; !ok {
			t.Errorf("local.settings.sample.json lacks Values.%s", k)
		}
	}
	if values["FUNCTIONS_WORKER_RUNTIME"] != "custom" {
		t.Errorf("FUNCTIONS_WORKER_RUNTIME = %q, want custom", values["FUNCTIONS_WORKER_RUNTIME"])
	}
	for _, k := range secretSettings() {
		if values[k] != "" {
			t.Errorf("%s must be empty in the sample (secrets never go in the repository)", k)
		}
	}
	// Settings with a default must not be present-but-empty: envconfig would
	// parse "" instead of using the default.
	for _, st := range settingsTable() {
		if v, ok := values[st.key]; ok && v == "" && st.def != "" {
			t.Errorf("%s is empty; remove it or set a value (default %s)", st.key, st.def)
		}
	}
}

// TestDocsQuoteDeployCommands: docs/deploy.md shows the exact commands
// scripts/deploy.sh runs.
func TestDocsQuoteDeployCommands(t *testing.T) {
	root := repoRoot(t)
	script, err := os.ReadFile(filepath.Join(root, "scripts", "deploy.sh"))
	if err != nil {
		t.Fatal(err)
	}
	doc, err := os.ReadFile(filepath.Join(root, "docs", "deploy.md"))
	if err != nil {
		t.Fatal(err)
	}
	docLines := map[string]bool{}
	for _, l := range strings.Split(string(doc), "\n") {
		docLines[strings.TrimSpace(l)] = true
	}
	var cmds []string
	for _, l := range strings.Split(string(script), "\n") {
		l = strings.TrimSpace(l)
		for _, prefix := range []string{"TRIPLINE_DEPLOY_EVENTGRID_SUBSCRIPTION=", "GOOS=linux", "func azure functionapp publish", "APP=\"$(az deployment sub show"} {
			if strings.HasPrefix(l, prefix) {
				cmds = append(cmds, l)
			}
		}
	}
	if len(cmds) != 5 {
		t.Errorf("found %d commands in scripts/deploy.sh, want 5 (phase 1, app name, build, publish, phase 2): %q", len(cmds), cmds)
	}
	for _, c := range cmds {
		if !docLines[c] {
			t.Errorf("docs/deploy.md does not quote deploy.sh's command:\n  %s", c)
		}
	}
}

func TestScripts(t *testing.T) {
	root := repoRoot(t)
	for _, s := range []string{"deploy.sh", "destroy.sh", "package.sh"} {
		fp := filepath.Join(root, "scripts", s)
		st, err := os.Stat(fp)
		if err != nil {
			t.Error(err)
			continue
		}
		if st.Mode().Perm()&0o111 == 0 {
			t.Errorf("scripts/%s is not executable", s)
		}
		b, err := os.ReadFile(fp)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(string(b), "#!/usr/bin/env bash\n") || !strings.Contains(string(b), "\nset -euo pipefail\n") {
			t.Errorf("scripts/%s must start with #!/usr/bin/env bash and set -euo pipefail", s)
		}
	}
	destroy, _ := os.ReadFile(filepath.Join(root, "scripts", "destroy.sh"))
	for _, want := range []string{"az group delete", "az monitor diagnostic-settings subscription delete"} {
		if !strings.Contains(string(destroy), want) {
			t.Errorf("scripts/destroy.sh lacks %q", want)
		}
	}
}

// ---------------------------------------------------------------------------
// The checkers catch what they are meant to catch.
// ---------------------------------------------------------------------------

// mutate returns a copy of p with old replaced by new (exactly once) in file.
func mutate(t *testing.T, p *project, file, old, new string) *project {
	t.Helper()
	src, ok := p.files[file]
	if !ok {
		t.Fatalf("mutation: no file %s", file)
	}
	if n := strings.Count(src, old); n != 1 {
		t.Fatalf("mutation: %q occurs %d times in %s, want once", old, n, file)
	}
	c := p.clone()
	c.files[file] = strings.Replace(src, old, new, 1)
	return c
}

// removeDecl returns a copy of p without the declaration kind name in file.
func removeDecl(t *testing.T, p *project, file, kind, name string) *project {
	t.Helper()
	f, err := p.parse(file)
	if err != nil {
		t.Fatal(err)
	}
	d := f.find(kind, name)
	if d == nil {
		t.Fatalf("mutation: no %s %s in %s", kind, name, file)
	}
	return mutate(t, p, file, f.text(d.first, d.last), "")
}

func TestCheckersCatchMutations(t *testing.T) {
	base := mustProject(t)
	root := repoRoot(t)
	fns, err := functionFolders(root)
	if err != nil {
		t.Fatal(err)
	}
	ops, err := ruleOperations(root)
	if err != nil {
		t.Fatal(err)
	}
	keys, secrets := configKeys(), secretSettings()
	const fa = "infra/modules/functionapp.bicep"
	cases := []struct {
		name  string
		p     func() *project
		check func(*project) []string
		want  string
	}{
		{"setting removed", func() *project { return mutate(t, base, fa, "  TRIPLINE_COSMOS_ENDPOINT: cosmosEndpoint\n", "") },
			func(p *project) []string { return checkConfigCoverage(p, keys) }, "TRIPLINE_COSMOS_ENDPOINT is read by Tripline (docs/settings.md) but not set"},
		{"client id removed", func() *project { return mutate(t, base, fa, "  AZURE_CLIENT_ID: identityClientId\n", "") },
			func(p *project) []string { return checkConfigCoverage(p, keys) }, "AZURE_CLIENT_ID is read"},
		{"allow-listed setting set", func() *project {
			return mutate(t, base, fa, "  TRIPLINE_ALERT_TTL: alertTtl\n", "  TRIPLINE_ALERT_TTL: alertTtl\n  TRIPLINE_STATE_FILE: '/tmp/x'\n")
		}, func(p *project) []string { return checkConfigCoverage(p, keys) }, "TRIPLINE_STATE_FILE is set"},
		{"plain secret", func() *project {
			return mutate(t, base, fa, "'@Microsoft.KeyVault(SecretUri=${keyVaultUri}secrets/tripline-slack-webhook-url/)'", "pagerDutyEventsUrl")
		}, func(p *project) []string { return checkSecrets(p, secrets) }, "TRIPLINE_SLACK_WEBHOOK_URL"},
		{"secret not created", func() *project {
			return mutate(t, base, "infra/modules/keyvault.bicep", "name: 'tripline-teams-webhook-url'", "name: 'tripline-teams-url'")
		}, func(p *project) []string { return checkSecrets(p, secrets) }, "tripline-teams-webhook-url, which no"},
		{"cosmos key set", func() *project {
			return mutate(t, base, fa, "  TRIPLINE_ALERT_TTL: alertTtl\n", "  TRIPLINE_ALERT_TTL: alertTtl\n  TRIPLINE_COSMOS_KEY: 'k'\n")
		}, checkForbidden, "TRIPLINE_COSMOS_KEY must not be set"},
		{"worker runtime set", func() *project {
			return mutate(t, base, fa, "  TRIPLINE_ALERT_TTL: alertTtl\n", "  TRIPLINE_ALERT_TTL: alertTtl\n  FUNCTIONS_WORKER_RUNTIME: 'custom'\n")
		}, checkForbidden, "FUNCTIONS_WORKER_RUNTIME must not be set"},
		{"binding setting removed", func() *project { return mutate(t, base, fa, "  EventHubConsumerGroup: eventHubConsumerGroup\n", "") },
			func(p *project) []string { return checkHostBindings(p, fns) }, "%EventHubConsumerGroup% is not an app setting"},
		{"function renamed", func() *project {
			return mutate(t, base, "infra/modules/eventgrid.bicep", "/functions/ResourceEvents'", "/functions/ResourceEvent'")
		}, func(p *project) []string { return checkFunctionNames(p, fns) }, "no ResourceEvent/function.json"},
		{"role removed", func() *project {
			return removeDecl(t, base, "infra/modules/roles.bicep", "resource", "eventHubReceiver")
		},
			checkRoles, `"Azure Event Hubs Data Receiver" is required but not assigned`},
		{"role misnamed", func() *project {
			return mutate(t, base, "infra/modules/roles.bicep", "keyVaultSecretsUser: '4633458b-17de-408a-b874-0445c86b69e6'", "keyVaultSecretsUser: 'ba92f5b4-2d11-453d-a403-e96b0029c9fe'")
		}, checkRoles, `the reference calls it "Storage Blob Data Contributor"`},
		{"cosmos data role removed", func() *project {
			return removeDecl(t, base, "infra/modules/cosmos.bicep", "resource", "dataContributor")
		},
			checkRoles, `"Cosmos DB Built-in Data Contributor" is required`},
		{"api version changed", func() *project {
			return mutate(t, base, fa, "'Microsoft.Web/sites@2025-03-01'", "'Microsoft.Web/sites@2024-04-01'")
		}, checkAPIVersions, "Microsoft.Web/sites@2024-04-01, the reference table says @2025-03-01"},
		{"module param missing", func() *project {
			return mutate(t, base, "infra/main.bicep", "    cosmosEndpoint: cosmos.outputs.endpoint\n", "")
		},
			checkModules, "does not pass required parameter cosmosEndpoint"},
		{"module output missing", func() *project {
			return mutate(t, base, "infra/main.bicep", "cosmos.outputs.endpoint\n    cosmosDatabase", "cosmos.outputs.documentEndpoint\n    cosmosDatabase")
		}, checkModules, "cosmos.outputs.documentEndpoint"},
		{"key vault host in a description", func() *project {
			return mutate(t, base, fa, "@description('Key Vault URI with its trailing slash: the vault\\'s properties.vaultUri (keyvault.bicep output uri).')", "@description('Key Vault URI with trailing slash (https://<vault>.vault.azure.net/).')")
		}, checkEnvURLs, `infra/modules/functionapp.bicep:24: string literal contains "vault.azure.net"`},
		{"management host in a new literal", func() *project {
			return mutate(t, base, "infra/main.bicep", "targetScope = 'subscription'\n", "targetScope = 'subscription'\nvar arm = 'HTTPS://Management.Azure.Com/subscriptions'\n")
		}, checkEnvURLs, `contains "management.azure.com"`},
		{"storage host in a module", func() *project {
			return mutate(t, base, "infra/modules/storage.bicep", "param name string\n", "param name string\n@description('e.g. https://x.blob.core.windows.net/')\n")
		}, checkEnvURLs, `contains "core.windows.net"`},
		{"rule operation not filtered", func() *project {
			return mutate(t, base, "infra/main.bicep", "  'Microsoft.Kubernetes/connectedClusters/events/delete'\n", "")
		}, func(p *project) []string { return checkEventGridOperations(p, ops) }, "MICROSOFT.KUBERNETES/CONNECTEDCLUSTERS/EVENTS/DELETE"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			problems := c.check(c.p())
			found := false
			for _, p := range problems {
				if strings.Contains(p, c.want) {
					found = true
				}
			}
			if !found {
				t.Errorf("checker did not report %q; got %q", c.want, problems)
			}
		})
	}
}
