package detect_test

import (
	"strings"
	"testing"

	"github.com/tripline/tripline/detect"
)

// TestLoadErrorsDoNotEchoOtherFiles: a *.toml that is not a rule file (a
// symlink to a system file, say) gets an error that shows none of its
// content; a rule file's error still shows its offending line.
func TestLoadErrorsDoNotEchoOtherFiles(t *testing.T) {
	secret := "root:x:0:0:root:/root:/bin/bash\nsvc:$6$hash$:1000:1000::/home/svc:/bin/sh\n"
	_, err := detect.ParseRule("evil.toml", []byte(secret))
	if err == nil || strings.Contains(err.Error(), "root:x") || !strings.Contains(err.Error(), "not a rule file") {
		t.Fatalf("error %q", err)
	}
	_, err = detect.ParseRule("bad.toml", []byte("[rule]\nname = \"x\"\nrule_id = oops\n"))
	if err == nil || !strings.Contains(err.Error(), "rule_id = oops") {
		t.Fatalf("a rule file's error should show its line: %v", err)
	}
}
