package notify

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/tripline/tripline/alert"
	"github.com/tripline/tripline/detect/ecs"
	"github.com/tripline/tripline/input"
)

// TestRendersDetectOutput renders every record of the repository's examples
// as normalized by detect (not hand-built documents) on every channel, and
// checks the envelopes and what the seed records say.
func TestRendersDetectOutput(t *testing.T) {
	titles := map[string]bool{}
	for _, f := range []string{"activitylog-eventhub.json", "kube-audit-eventhub.json"} {
		b, err := os.ReadFile(filepath.Join("..", "examples", f))
		if err != nil {
			t.Fatal(err)
		}
		in := input.NewReader(bytes.NewReader(b))
		for {
			r, err := in.Next()
			if err != nil {
				break
			}
			ev, err := ecs.Normalize(r.Bytes)
			if err != nil {
				continue // plain-text component logs
			}
			a := &alert.Alert{ID: "al_test", Rule: alert.RuleInfo{Name: "R", Severity: "high"}, Source: ev.Source, Event: ev.Doc, FirstSeen: ev.Time, LastSeen: ev.Time, Count: 1}
			titles[newView(a).title()] = true
			checkTeams(t, mustBytes(t, teamsAlert, a))
			checkSlack(t, mustBytes(t, slackAlert, a))
			checkPD(t, mustBytes(t, func(a *alert.Alert) ([]byte, error) { return pagerDutyAlert(routingKey, a) }, a))
		}
	}
	for _, want := range []string{
		"R: delete events payments/payments-api-6f9d8c7b5d-qx2lm.183a4f2c9b7e1d05 on AKS-PROD-WEU-01 by dana.okafor@contoso-example.com",
		"R: MICROSOFT.KUBERNETES/CONNECTEDCLUSTERS/EVENTS.K8S.IO/EVENTS/DELETE on ARC-EDGE-STORE-042 by app 5d9e1f3a-7b2c-4d6e-8f0a-1c3e5a7b9d2f",
		"R: MICROSOFT.CONTAINERSERVICE/MANAGEDCLUSTERS/LISTCLUSTERADMINCREDENTIAL/ACTION on AKS-PROD-WEU-01 by Dana Okafor",
	} {
		if !titles[want] {
			t.Errorf("no record rendered as %q; got %v", want, titles)
		}
	}
}
