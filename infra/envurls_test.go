package infra

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode"
)

// envURLHosts is the built-in host list of the Bicep linter rule
// no-hardcoded-env-urls: "disallowedhosts" in the Bicep repository's base
// configuration, Azure/bicep:src/Bicep.Core/Configuration/bicepconfig.json
// (rule documentation: https://learn.microsoft.com/azure/azure-resource-manager/bicep/linter-rule-no-hardcoded-env-urls).
// infra/bicepconfig.json raises the rule to "error", and an error-level
// finding fails `az bicep build` and the deployment.
var envURLHosts = []string{
	"api.loganalytics.io",
	"azuredatalakeanalytics.net",
	"azuredatalakestore.net",
	"batch.core.windows.net",
	"core.windows.net",
	"database.windows.net",
	"datalake.azure.net",
	"gallery.azure.com",
	"graph.windows.net",
	"login.microsoftonline.com",
	"management.azure.com",
	"management.core.windows.net",
	"region.asazure.windows.net",
	"trafficmanager.net",
	"vault.azure.net",
}

// envURLExcluded is the rule's built-in "excludedhosts": a match inside one
// of these is not reported.
var envURLExcluded = []string{"schema.management.azure.com"}

// hostMatches returns the start offsets of host in s as the rule finds them
// (Azure/bicep:src/Bicep.Core/Analyzers/Linter/Rules/NoHardcodedEnvironmentUrlsRule.cs,
// FindHostnameMatches): case-insensitive, and not directly preceded or
// followed by a letter or digit ("xvault.azure.net" is not a match,
// "https://<v>.vault.azure.net/" is).
func hostMatches(s, host string) []int {
	ls, lh := strings.ToLower(s), strings.ToLower(host)
	var out []int
	for from := 0; from+len(lh) <= len(ls); {
		i := strings.Index(ls[from:], lh)
		if i < 0 {
			break
		}
		i += from
		before := i > 0 && isAlnum(rune(ls[i-1]))
		after := i+len(lh) < len(ls) && isAlnum(rune(ls[i+len(lh)]))
		if !before && !after {
			out = append(out, i)
		}
		from = i + len(lh)
	}
	return out
}

func isAlnum(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) }

// checkEnvURLs reports every string literal in infra/ (decorators included:
// the rule visits every string, Azure/bicep#2959) that holds a listed host.
// Resource type and module path strings are skipped, as the rule skips them.
func checkEnvURLs(p *project) []string {
	var problems []string
	for _, name := range p.names() {
		f, err := p.parse(name)
		if err != nil {
			problems = append(problems, err.Error())
			continue
		}
		skip := map[int]bool{}
		for _, d := range f.decls {
			if d.kind == "resource" || d.kind == "module" {
				// The type/path literal directly follows the symbol name.
				for i := d.first; i < len(f.toks) && i < d.last; i++ {
					if f.toks[i].kind == tString {
						skip[i] = true
						break
					}
				}
			}
		}
		for i, tok := range f.toks {
			if tok.kind != tString || skip[i] {
				continue
			}
			for _, h := range envURLHosts {
				for _, at := range hostMatches(tok.text, h) {
					excluded := false
					for _, ex := range envURLExcluded {
						for _, e := range hostMatches(tok.text, ex) {
							if e <= at && at < e+len(ex) {
								excluded = true
							}
						}
					}
					if !excluded {
						problems = append(problems, fmt.Sprintf("%s: string literal contains %q, which no-hardcoded-env-urls rejects (error level in infra/bicepconfig.json); use environment() or reword: %q", f.pos(i), h, tok.text))
					}
				}
			}
		}
	}
	return problems
}

func TestNoHardcodedEnvURLs(t *testing.T) {
	for _, p := range checkEnvURLs(mustProject(t)) {
		t.Error(p)
	}
}

// TestEnvURLRuleIsError: the check above matters because the rule fails the
// build; if the level is lowered, this test says so instead of going quiet.
func TestEnvURLRuleIsError(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(repoRoot(t), "infra", "bicepconfig.json"))
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		Analyzers struct {
			Core struct {
				Rules map[string]struct {
					Level           string   `json:"level"`
					DisallowedHosts []string `json:"disallowedHosts"`
				} `json:"rules"`
			} `json:"core"`
		} `json:"analyzers"`
	}
	if err := json.Unmarshal(b, &cfg); err != nil {
		t.Fatal(err)
	}
	r := cfg.Analyzers.Core.Rules["no-hardcoded-env-urls"]
	if r.Level != "error" {
		t.Errorf(`infra/bicepconfig.json: no-hardcoded-env-urls level %q; the check above assumes "error"`, r.Level)
	}
	if len(r.DisallowedHosts) != 0 {
		t.Errorf("infra/bicepconfig.json overrides disallowedHosts; envURLHosts must follow it: %v", r.DisallowedHosts)
	}
}

func TestHostMatches(t *testing.T) {
	cases := []struct {
		s, host string
		want    int
	}{
		{"https://<vault>.vault.azure.net/", "vault.azure.net", 1},
		{"HTTPS://X.VAULT.AZURE.NET", "vault.azure.net", 1},
		{"myvault.azure.net", "vault.azure.net", 0},
		{"vault.azure.network", "vault.azure.net", 0},
		{"a.blob.core.windows.net and b.queue.core.windows.net", "core.windows.net", 2},
		{"x.servicebus.windows.net", "core.windows.net", 0},
		{"", "vault.azure.net", 0},
	}
	for _, c := range cases {
		if got := len(hostMatches(c.s, c.host)); got != c.want {
			t.Errorf("hostMatches(%q, %q): %d matches, want %d", c.s, c.host, got, c.want)
		}
	}
}

// TestEnvURLExclusions: the rule's excluded host and resource type strings
// are not findings, so the check is no stricter than the linter.
func TestEnvURLExclusions(t *testing.T) {
	base := mustProject(t)
	p := mutate(t, base, "infra/main.bicep", "targetScope = 'subscription'\n",
		"targetScope = 'subscription'\nvar schema = 'https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#'\n")
	if problems := checkEnvURLs(p); len(problems) != 0 {
		t.Errorf("excluded host reported: %q", problems)
	}
}
