package notify

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestSlackEscape(t *testing.T) {
	for in, want := range map[string]string{
		"<!channel> hi":              "&lt;!channel&gt; hi",
		"<@U123>":                    "&lt;@U123&gt;",
		"<http://evil|click>":        "&lt;http://evil|click&gt;",
		"a & b":                      "a &amp; b",
		"&lt; already":               "&amp;lt; already",
		"tab\tcr\rnul\x00 \u202eRTL": "tab cr nul  RTL",
	} {
		if got := slackEscape(in); got != want {
			t.Errorf("slackEscape(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestMarkdownEscape(t *testing.T) {
	for in, want := range map[string]string{
		"[x](http://evil)":  `\[x\]\(http://evil\)`,
		"![img](http://e)":  `\!\[img\]\(http://e\)`,
		"**bold** _it_ ~s~": `\*\*bold\*\* \_it\_ \~s\~`,
		"<http://evil>":     `\<http://evil\>`,
		"# heading":         `\# heading`,
		"- item":            `\- item`,
		"1. item":           `1\. item`,
		"2) item":           `2\) item`,
		"203.0.113.7":       "203.0.113.7",
		"2025-05-06":        "2025-05-06",
		"line\n- two":       `line - two`,
		`back\slash`:        `back\\slash`,
		"rg-aks-prod.x":     "rg-aks-prod.x",
	} {
		if got := mdEscape(in); got != want {
			t.Errorf("mdEscape(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestTruncate(t *testing.T) {
	long := strings.Repeat("é", 100)
	got := truncate(long, 50)
	if n := utf8.RuneCountInString(got); n != 50 || !strings.HasSuffix(got, truncMark) {
		t.Errorf("truncate: %d runes %q", n, got)
	}
	if truncate("short", 50) != "short" {
		t.Error("short text changed")
	}
	b := truncateBytes(long, 101)
	if len(b) > 101 || !utf8.ValidString(b) || !strings.HasSuffix(b, truncMark) {
		t.Errorf("truncateBytes: %d bytes %q", len(b), b)
	}
	// A cut inside an entity drops the partial entity.
	s := slackCut(strings.Repeat("a", 20)+"&amp;"+strings.Repeat("b", 20), 20+3+utf8.RuneCountInString(truncMark))
	if want := strings.Repeat("a", 20) + truncMark; s != want {
		t.Errorf("slackCut = %q, want %q", s, want)
	}
	// A cut right after an escaping backslash drops it.
	m := mdCut(strings.Repeat("a", 9)+`\[`+strings.Repeat("b", 20), 10+utf8.RuneCountInString(truncMark))
	if want := strings.Repeat("a", 9) + truncMark; m != want {
		t.Errorf("mdCut = %q, want %q", m, want)
	}
}
