package notify

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden.* (the examples in docs/notifications.md)")

// exampleSecret is the example secret of the Standard Webhooks spec; the
// golden headers are signed with it at exampleTimestamp.
const (
	exampleSecret    = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	exampleTimestamp = 1746523200
)

func TestGolden(t *testing.T) {
	a := kubeAlert()
	webhook, err := webhookBody(a)
	if err != nil {
		t.Fatal(err)
	}
	key, err := WebhookKey(exampleSecret)
	if err != nil {
		t.Fatal(err)
	}
	headers := fmt.Sprintf("Content-Type: application/json\nwebhook-id: %s\nwebhook-timestamp: %d\nwebhook-signature: %s\ntripline-event: alert\n",
		a.ID, exampleTimestamp, sign(key, a.ID, exampleTimestamp, webhook))
	for _, tc := range []struct {
		file string
		body func() ([]byte, error)
		json bool
	}{
		{"webhook.golden.json", func() ([]byte, error) { return webhook, nil }, true},
		{"webhook.headers.golden.txt", func() ([]byte, error) { return []byte(headers), nil }, false},
		{"teams.golden.json", func() ([]byte, error) { return teamsAlert(a) }, true},
		{"slack.golden.json", func() ([]byte, error) { return slackAlert(a) }, true},
		{"pagerduty.golden.json", func() ([]byte, error) { return pagerDutyAlert("<routing key>", a) }, true},
	} {
		t.Run(tc.file, func(t *testing.T) {
			got, err := tc.body()
			if err != nil {
				t.Fatal(err)
			}
			if tc.json {
				var b bytes.Buffer
				if err := json.Indent(&b, got, "", "  "); err != nil {
					t.Fatal(err)
				}
				b.WriteByte('\n')
				got = b.Bytes()
			}
			path := filepath.Join("testdata", tc.file)
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test ./notify -run TestGolden -update)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s differs from the golden file (run with -update if intended):\n%s", tc.file, got)
			}
		})
	}
}

// The golden headers verify with the official library.
func TestGoldenHeadersVerify(t *testing.T) {
	body, err := os.ReadFile(filepath.Join("testdata", "webhook.golden.json"))
	if err != nil {
		t.Fatal(err)
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, body); err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(filepath.Join("testdata", "webhook.headers.golden.txt"))
	h := http.Header{}
	for _, line := range strings.Split(strings.TrimSpace(string(raw)), "\n") {
		k, v, _ := strings.Cut(line, ": ")
		h.Set(k, v)
	}
	wh, _ := standardwebhooks.NewWebhook(exampleSecret)
	if err := wh.VerifyIgnoringTimestamp(compact.Bytes(), h); err != nil {
		t.Fatal(err)
	}
}

// TestDocExamples keeps docs/notifications.md in step with the golden files:
// each <!-- golden:FILE --> … <!-- /golden --> block holds FILE in a code
// fence; -update rewrites the blocks.
func TestDocExamples(t *testing.T) {
	path := filepath.Join("..", "docs", "notifications.md")
	doc, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	rest := string(doc)
	blocks := 0
	for {
		i := strings.Index(rest, "<!-- golden:")
		if i < 0 {
			out.WriteString(rest)
			break
		}
		j := strings.Index(rest[i:], " -->")
		end := strings.Index(rest[i:], "<!-- /golden -->")
		if j < 0 || end < 0 {
			t.Fatal("unterminated golden block")
		}
		name := rest[i+len("<!-- golden:") : i+j]
		golden, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		lang := "json"
		if !strings.HasSuffix(name, ".json") {
			lang = "text"
		}
		out.WriteString(rest[:i+j+len(" -->")])
		fmt.Fprintf(&out, "\n```%s\n%s```\n", lang, golden)
		rest = rest[i+end:]
		blocks++
	}
	if blocks != 5 {
		t.Errorf("%d golden blocks in %s, want 5", blocks, path)
	}
	if *update {
		if err := os.WriteFile(path, []byte(out.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if out.String() != string(doc) {
		t.Errorf("%s examples differ from notify/testdata (go test ./notify -run 'TestGolden|TestDocExamples' -update)", path)
	}
}
