package notify

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// truncMark is appended wherever text was cut to fit a channel's limits.
const truncMark = "… [truncated]"

// clean replaces control characters (other than newline) with spaces and
// drops invalid UTF-8, so untrusted text cannot smuggle terminal escapes,
// zero-width bidi tricks aside.
func clean(s string) string {
	s = strings.ToValidUTF8(s, "�")
	return strings.Map(func(r rune) rune {
		switch {
		case r == '\n':
			return r
		case r == '\r', r == '\t':
			return ' '
		case unicode.IsControl(r):
			return ' '
		case r >= 0x202A && r <= 0x202E, r >= 0x2066 && r <= 0x2069: // bidi overrides
			return -1
		}
		return r
	}, s)
}

// oneLine is clean with newlines folded to spaces.
func oneLine(s string) string {
	return strings.ReplaceAll(clean(s), "\n", " ")
}

// truncate cuts s to at most max runes, ending with truncMark when cut.
// max smaller than the marker gives a bare cut.
func truncate(s string, max int) string {
	if utf8.RuneCountInString(s) <= max {
		return s
	}
	keep := max - utf8.RuneCountInString(truncMark)
	if keep < 0 {
		return string([]rune(s)[:max])
	}
	return string([]rune(s)[:keep]) + truncMark
}

// truncateBytes cuts s to at most max bytes on a rune boundary, ending with
// truncMark when cut.
func truncateBytes(s string, max int) string {
	if len(s) <= max {
		return s
	}
	keep := max - len(truncMark)
	if keep < 0 {
		keep, max = max, 0
	}
	for keep > 0 && !utf8.RuneStart(s[keep]) {
		keep--
	}
	if max == 0 {
		return s[:keep]
	}
	return s[:keep] + truncMark
}

// slackEscape makes untrusted text inert in Slack mrkdwn: &, < and > become
// entities, so <!channel>, <@U123> and <http://x|y> show as typed. (Sent with
// verbatim:true, so bare URLs and names are not auto-linked either.)
func slackEscape(s string) string {
	return slackReplacer.Replace(clean(s))
}

var slackReplacer = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")

// slackCut is truncate for escaped Slack text: a cut never leaves half an
// entity behind.
func slackCut(s string, max int) string {
	t := truncate(s, max)
	if t == s {
		return t
	}
	body := strings.TrimSuffix(t, truncMark)
	if i := strings.LastIndexByte(body, '&'); i >= 0 && !strings.Contains(body[i:], ";") {
		body = body[:i]
	}
	return body + truncMark
}

// mdEscape makes untrusted text inert in Adaptive Card markdown (a CommonMark
// subset: emphasis, lists, [text](url) links). The characters that build
// inline markup (\ ` * _ ~ [ ] ( ) < > { }) are backslash-escaped wherever they
// appear, so no link, image, autolink or emphasis can be formed; newlines
// become spaces and a leading list, heading or quote marker is escaped, so no
// block structure can start.
func mdEscape(s string) string {
	s = strings.TrimSpace(oneLine(s))
	var b strings.Builder
	b.Grow(len(s) + len(s)/8)
	if s != "" && strings.ContainsRune("-+#>=|!", rune(s[0])) {
		b.WriteByte('\\')
	}
	digits := 0
	for digits < len(s) && s[digits] >= '0' && s[digits] <= '9' {
		digits++
	}
	for i, r := range s {
		listMarker := digits > 0 && i == digits && (r == '.' || r == ')') && (i+1 == len(s) || s[i+1] == ' ')
		if strings.ContainsRune("\\`*_~[](){}<>", r) || listMarker {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// mdCut is truncate for escaped markdown: a cut never leaves a dangling
// backslash that would escape the marker.
func mdCut(s string, max int) string {
	t := truncate(s, max)
	if t == s {
		return t
	}
	body := strings.TrimSuffix(t, truncMark)
	n := 0
	for i := len(body) - 1; i >= 0 && body[i] == '\\'; i-- {
		n++
	}
	if n%2 == 1 {
		body = body[:len(body)-1]
	}
	return body + truncMark
}
