package httpsurl

import (
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		raw, err string
	}{
		{"https://example.com/hook?token=s3cret", ""},
		{" https://example.com/x ", ""},
		{"http://127.0.0.1:8080/x", ""},
		{"http://[::1]:8080/x", ""},
		{"http://localhost/x", ""},
		{"http://example.com/x?token=s3cret", "loopback"},
		{"ftp://example.com/x", "scheme not allowed"},
		{"example.com/x", "not an absolute URL"},
		{"https://", "not an absolute URL"},
		{"://bad", "not an absolute URL"},
	} {
		_, err := Parse(tc.raw)
		switch {
		case tc.err == "" && err != nil:
			t.Errorf("%q: %v", tc.raw, err)
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("%q: error %v, want %q", tc.raw, err, tc.err)
		case err != nil && strings.Contains(err.Error(), "s3cret"):
			t.Errorf("%q: the error shows the URL's token: %v", tc.raw, err)
		}
	}
}
