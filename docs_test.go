package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"unicode"
)

// The documentation is part of the product: these tests keep it true to the
// tree it ships in and to what the code does.

// skipDir is what the documentation tests do not read: VCS data, installed
// packages, build and benchmark output.
func skipDir(rel string, name string) bool {
	switch {
	case rel == ".":
		return false
	case strings.HasPrefix(name, "."), name == "node_modules", name == "bin", name == "dist":
		return true
	case rel == filepath.Join("bench", "out"):
		return true
	}
	return false
}

// repoFiles lists the files of the tree whose name matches keep.
func repoFiles(t *testing.T, keep func(rel string) bool) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if skipDir(p, d.Name()) {
				return fs.SkipDir
			}
			return nil
		}
		if keep(p) {
			out = append(out, p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

var (
	mdLink      = regexp.MustCompile(`!?\[[^\]]*\]\(([^)\s]+)(?:\s+"[^"]*")?\)`)
	mdRefLink   = regexp.MustCompile(`(?m)^\s*\[[^\]]+\]:\s*(\S+)`)
	mdCodeSpan  = regexp.MustCompile("`([^`\n]+)`")
	mdHeading   = regexp.MustCompile(`(?m)^#{1,6}\s+(.+?)\s*$`)
	fenceLine   = regexp.MustCompile("(?m)^\\s*```")
	topLevelDir = map[string]bool{}
)

// stripFences removes fenced code blocks: their text is code, not links.
func stripFences(s string) string {
	var b strings.Builder
	in := false
	for _, line := range strings.SplitAfter(s, "\n") {
		if fenceLine.MatchString(line) {
			in = !in
			continue
		}
		if !in {
			b.WriteString(line)
		}
	}
	return b.String()
}

// anchors are the heading ids GitHub gives a Markdown file.
func anchors(text string) map[string]bool {
	out := map[string]bool{}
	for _, m := range mdHeading.FindAllStringSubmatch(stripFences(text), -1) {
		h := strings.ToLower(m[1])
		h = regexp.MustCompile("[`*_]|\\[|\\]\\([^)]*\\)").ReplaceAllString(h, "")
		var b strings.Builder
		for _, r := range h {
			switch {
			case r == ' ' || r == '-':
				b.WriteRune('-')
			case unicode.IsLetter(r) || unicode.IsDigit(r) || r == '_':
				b.WriteRune(r)
			}
		}
		id := b.String()
		for n := 0; out[id]; n++ {
			id = strings.TrimSuffix(id, "-"+itoa(n)) + "-" + itoa(n+1)
		}
		out[id] = true
	}
	return out
}

// TestDocLinksStayInTheTree: every relative link in every Markdown file
// resolves to a file or directory of the repository (and, with a #fragment
// into a Markdown file, to one of its headings); a path in a code span that
// names a file of the tree exists.
func TestDocLinksStayInTheTree(t *testing.T) {
	root, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(".")
	for _, e := range entries {
		if e.IsDir() && !strings.HasPrefix(e.Name(), ".") {
			topLevelDir[e.Name()] = true
		}
	}
	docs := repoFiles(t, func(p string) bool { return strings.HasSuffix(p, ".md") })
	if len(docs) < 8 {
		t.Fatalf("found only %d Markdown files: %v", len(docs), docs)
	}
	checked := 0
	for _, doc := range docs {
		b, err := os.ReadFile(doc)
		if err != nil {
			t.Fatal(err)
		}
		text := stripFences(string(b))
		var targets []string
		for _, m := range mdLink.FindAllStringSubmatch(text, -1) {
			targets = append(targets, m[1])
		}
		for _, m := range mdRefLink.FindAllStringSubmatch(text, -1) {
			targets = append(targets, m[1])
		}
		for _, target := range targets {
			if strings.HasPrefix(target, "http://") || strings.HasPrefix(target, "https://") || strings.HasPrefix(target, "mailto:") {
				continue
			}
			checked++
			path, frag, _ := strings.Cut(target, "#")
			file := doc
			if path != "" {
				if filepath.IsAbs(path) {
					t.Errorf("%s: link %q is an absolute path", doc, target)
					continue
				}
				file = filepath.Join(filepath.Dir(doc), filepath.FromSlash(path))
				abs, _ := filepath.Abs(file)
				if rel, err := filepath.Rel(root, abs); err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
					t.Errorf("%s: link %q leaves the repository", doc, target)
					continue
				}
				if _, err := os.Stat(file); err != nil {
					t.Errorf("%s: link %q: %s does not exist", doc, target, file)
					continue
				}
			}
			if frag != "" && strings.HasSuffix(file, ".md") {
				fb, err := os.ReadFile(file)
				if err == nil && !anchors(string(fb))[frag] {
					t.Errorf("%s: link %q: %s has no heading #%s", doc, target, file, frag)
				}
			}
		}
		// Paths in code spans that name a file of the tree, e.g.
		// `infra/main.bicep` or `detect/rules/`, must exist. The
		// benchmark notes are a record of earlier rounds and name files
		// as they were then; their links are still checked above.
		if filepath.Dir(doc) == "bench" {
			continue
		}
		for _, m := range mdCodeSpan.FindAllStringSubmatch(text, -1) {
			p := strings.TrimPrefix(m[1], "./")
			first, _, ok := strings.Cut(p, "/")
			if !ok || !topLevelDir[first] || strings.ContainsAny(p, "*<>{}… $=:,()|") || strings.Contains(p, "...") {
				continue
			}
			checked++
			if _, err := os.Stat(filepath.FromSlash(p)); err != nil {
				t.Errorf("%s: path `%s` does not exist in the tree", doc, m[1])
			}
		}
	}
	if checked < 50 {
		t.Errorf("checked only %d links and paths: is the link pattern still right?", checked)
	}
}

// TestNothingCitesOutsideTheTree: no file of the repository refers to a
// file outside it (the design notes and references the project was built
// from are not shipped; cite public sources instead).
func TestNothingCitesOutsideTheTree(t *testing.T) {
	// Built from parts, so that this file does not match itself.
	bad := regexp.MustCompile(`\.\./` + `shared|/` + `work/|reference/[a-z-]+\.` + `md|DESIGN\.` + `md|performance-` + `notes|reference ` + `§`)
	text := map[string]bool{".go": true, ".md": true, ".bicep": true, ".bicepparam": true, ".sh": true, ".json": true, ".toml": true, ".js": true, ".html": true, ".yml": true, ".yaml": true, ".txt": true, "": true}
	files := repoFiles(t, func(p string) bool {
		return text[filepath.Ext(p)] && !strings.Contains(p, "testdata"+string(filepath.Separator)+"fuzz")
	})
	if len(files) < 100 {
		t.Fatalf("found only %d files", len(files))
	}
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(fh)
		sc.Buffer(nil, 16<<20)
		for n := 1; sc.Scan(); n++ {
			if m := bad.FindString(sc.Text()); m != "" {
				t.Errorf("%s:%d cites %q, outside the repository", f, n, m)
			}
		}
		fh.Close()
	}
}

// TestReadmeSize: the README is read in five minutes.
func TestReadmeSize(t *testing.T) {
	fi, err := os.Stat("README.md")
	if err != nil {
		t.Fatal(err)
	}
	if fi.Size() > 8192 {
		t.Errorf("README.md is %d bytes; keep it at most 8 KB and move detail to docs/", fi.Size())
	}
}

var cronEveryMinutes = regexp.MustCompile(`^0 \*/(\d+) \* \* \* \*$`)

// TestRetryScheduleAgrees: the NotificationRetry schedule in the Bicep
// default, the parameters file and local.settings.sample.json is one value,
// and every "every N minutes" the documentation says of it is that value.
func TestRetryScheduleAgrees(t *testing.T) {
	read := func(p string) string {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	find := func(p, pattern string) string {
		m := regexp.MustCompile(pattern).FindStringSubmatch(read(p))
		if m == nil {
			t.Fatalf("%s: no match for %s", p, pattern)
		}
		return m[1]
	}
	schedules := map[string]string{
		"infra/main.bicep":      find("infra/main.bicep", `(?m)^param notificationRetrySchedule string = '([^']+)'`),
		"infra/main.bicepparam": find("infra/main.bicepparam", `(?m)^param notificationRetrySchedule = '([^']+)'`),
	}
	var local struct {
		Values map[string]any `json:"Values"`
	}
	if err := json.Unmarshal([]byte(read("local.settings.sample.json")), &local); err != nil {
		t.Fatal(err)
	}
	schedules["local.settings.sample.json"], _ = local.Values["NotificationRetrySchedule"].(string)
	want := schedules["infra/main.bicep"]
	for where, s := range schedules {
		if s != want {
			t.Errorf("%s: NotificationRetrySchedule %q, infra/main.bicep %q", where, s, want)
		}
	}
	m := cronEveryMinutes.FindStringSubmatch(want)
	if m == nil {
		t.Fatalf("schedule %q is not of the form 0 */N * * * *; update this test", want)
	}
	minutes := m[1]
	// What the documentation says of the schedule.
	every := regexp.MustCompile(`(?s)NotificationRetry[^.]{0,200}?every (\d+) minutes?|every (\d+) minutes?[^.]{0,120}?NotificationRetry`)
	cron := regexp.MustCompile("`(0 \\*/\\d+ \\* \\* \\* \\*)`")
	said := 0
	for _, doc := range repoFiles(t, func(p string) bool { return strings.HasSuffix(p, ".md") }) {
		text := read(doc)
		for _, m := range every.FindAllStringSubmatch(text, -1) {
			said++
			if n := m[1] + m[2]; n != minutes {
				t.Errorf("%s says NotificationRetry runs every %s minutes; the schedule is %q", doc, n, want)
			}
		}
		for _, m := range cron.FindAllStringSubmatch(text, -1) {
			said++
			if m[1] != want {
				t.Errorf("%s shows the schedule %q; the Bicep and local settings say %q", doc, m[1], want)
			}
		}
	}
	if said < 3 {
		t.Errorf("the documentation states the schedule only %d times; the README, docs/deploy.md and docs/settings.md should", said)
	}
}

// readmeBlock is a fenced block of the README with the test marker before it.
type readmeBlock struct {
	marker, lang string
	lines        []string
	line         int
}

func readmeBlocks(t *testing.T) []readmeBlock {
	b, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	var out []readmeBlock
	lines := strings.Split(string(b), "\n")
	for i := 0; i < len(lines); i++ {
		l := strings.TrimSpace(lines[i])
		if !strings.HasPrefix(l, "```") {
			continue
		}
		blk := readmeBlock{lang: strings.TrimPrefix(l, "```"), line: i + 1}
		for j := i - 1; j >= 0 && j >= i-2; j-- {
			if m := strings.TrimSpace(lines[j]); strings.HasPrefix(m, "<!-- test:") {
				blk.marker = strings.TrimSpace(strings.TrimSuffix(strings.TrimPrefix(m, "<!-- test:"), "-->"))
				break
			}
		}
		for i++; i < len(lines) && strings.TrimSpace(lines[i]) != "```"; i++ {
			blk.lines = append(blk.lines, lines[i])
		}
		out = append(out, blk)
	}
	return out
}

// TestReadmeCommands runs the README's command blocks as written, on a
// fresh state file, with the binary standing in for `go run .`: every
// command exits 0, and the first scan prints exactly what the README shows.
// Every shell block is marked: run, or skip with the reason (Azure).
// `make test` is not run here: it is what runs this test.
func TestReadmeCommands(t *testing.T) {
	repo, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	work, home := t.TempDir(), t.TempDir()
	for _, d := range []string{"examples", "detect"} {
		if err := os.Symlink(filepath.Join(repo, d), filepath.Join(work, d)); err != nil {
			t.Fatal(err)
		}
	}
	env := isolatedEnv(t, map[string]string{"HOME": home, "XDG_STATE_HOME": "", "TRIPLINE_STATE_FILE": ""})
	var firstOutput string
	var wantOutput *readmeBlock
	ran := 0
	blocks := readmeBlocks(t)
	for i := range blocks {
		blk := &blocks[i]
		switch {
		case blk.marker == "output":
			if wantOutput == nil {
				wantOutput = blk
			}
			continue
		case blk.lang != "sh":
			continue
		case blk.marker == "":
			t.Errorf("README.md:%d: a sh block without a <!-- test: run --> or <!-- test: skip: why --> marker", blk.line)
			continue
		case strings.HasPrefix(blk.marker, "skip:"):
			continue
		case blk.marker != "run":
			t.Errorf("README.md:%d: unknown marker %q", blk.line, blk.marker)
			continue
		}
		for _, line := range blk.lines {
			cmd := strings.TrimSpace(line)
			if cmd == "" || strings.HasPrefix(cmd, "#") {
				continue
			}
			if strings.HasPrefix(cmd, "make test") {
				continue // the command that runs this test
			}
			script := cmd
			if rest, ok := strings.CutPrefix(cmd, "go run . "); ok {
				script = `"$TRIPLINE_BIN" ` + rest
			}
			c := exec.Command("bash", "-euo", "pipefail", "-c", script)
			c.Dir = work
			c.Env = os.Environ()
			for k, v := range env {
				c.Env = append(c.Env, k+"="+v)
			}
			c.Env = append(c.Env, "TRIPLINE_BIN="+binary)
			var stdout, stderr bytes.Buffer
			c.Stdout, c.Stderr = &stdout, &stderr
			if err := c.Run(); err != nil {
				t.Errorf("README.md:%d: %s: %v\n%s%s", blk.line, cmd, err, stdout.String(), stderr.String())
			}
			ran++
			if ran == 1 {
				firstOutput = strings.ReplaceAll(stdout.String()+stderr.String(), home, "/home/you")
			}
		}
	}
	if ran < 4 {
		t.Fatalf("ran %d README commands; the markers or the blocks changed", ran)
	}
	if wantOutput == nil {
		t.Fatal("README.md has no <!-- test: output --> block")
	}
	if want := strings.Join(wantOutput.lines, "\n") + "\n"; firstOutput != want {
		t.Errorf("README.md:%d shows an output the first command does not print; it prints:\n%s", wantOutput.line, firstOutput)
	}
}
