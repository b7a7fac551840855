package detect

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// batchEncoding writes messages as the content of Data.<binding>: a JSON
// string holding a JSON array of JSON strings. The variants are the ways a
// host could spell the same batch.
type batchEncoding struct {
	name string
	enc  func(msgs [][]byte) []byte
}

// quoteJSON is encoding/json's string encoding, HTML escapes (\u003c) on
// or off.
func quoteJSON(s []byte, html bool) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(html)
	if err := enc.Encode(string(s)); err != nil {
		panic(err)
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
}

// quoteMinimal escapes only what JSON requires ('"', '\' and control
// characters, as \n or \u00XX) and leaves every other byte, even invalid
// UTF-8, as it is; slash also writes '/' as \/.
func quoteMinimal(s []byte, slash bool) []byte {
	out := []byte{'"'}
	for _, c := range s {
		switch {
		case c == '"' || c == '\\':
			out = append(out, '\\', c)
		case c == '/' && slash:
			out = append(out, '\\', '/')
		case c == '\n':
			out = append(out, '\\', 'n')
		case c == '\t':
			out = append(out, '\\', 't')
		case c == '\r':
			out = append(out, '\\', 'r')
		case c < 0x20:
			out = append(out, fmt.Sprintf(`\u%04x`, c)...)
		default:
			out = append(out, c)
		}
	}
	return append(out, '"')
}

func encodeWith(msgs [][]byte, quote func([]byte) []byte, sep string) []byte {
	arr := []byte("[")
	for i, m := range msgs {
		if i > 0 {
			arr = append(arr, sep...)
		}
		arr = append(arr, quote(m)...)
	}
	arr = append(arr, ']')
	outer := quote(arr)
	return outer[1 : len(outer)-1]
}

var batchEncodings = []batchEncoding{
	{"host", func(m [][]byte) []byte {
		return encodeWith(m, func(s []byte) []byte { return quoteMinimal(s, false) }, ",")
	}},
	{"encoding/json", func(m [][]byte) []byte {
		return encodeWith(m, func(s []byte) []byte { return quoteJSON(s, true) }, ",")
	}},
	{"no html escapes", func(m [][]byte) []byte {
		return encodeWith(m, func(s []byte) []byte { return quoteJSON(s, false) }, ",")
	}},
	{"spaced", func(m [][]byte) []byte {
		return encodeWith(m, func(s []byte) []byte { return quoteMinimal(s, false) }, " ,\n\t")
	}},
	{"escaped slashes", func(m [][]byte) []byte {
		return encodeWith(m, func(s []byte) []byte { return quoteMinimal(s, true) }, ",")
	}},
}

// decodeBatchText is the straightforward reading of a batch text: unquote
// it, then unmarshal the array of strings.
func decodeBatchText(t *testing.T, text []byte) [][]byte {
	t.Helper()
	var arr string
	if err := json.Unmarshal(append(append([]byte{'"'}, text...), '"'), &arr); err != nil {
		t.Fatalf("batch text does not unquote: %v", err)
	}
	var msgs []string
	if err := json.Unmarshal([]byte(arr), &msgs); err != nil {
		t.Fatalf("batch is not an array of strings: %v", err)
	}
	out := make([][]byte, len(msgs))
	for i, m := range msgs {
		out[i] = []byte(m)
	}
	return out
}

// checkBatch fails when EvaluateBatch on each encoding of msgs differs
// from EvaluateReference on the messages the encoding decodes to.
func checkBatch(t *testing.T, e *Engine, msgs ...[]byte) {
	t.Helper()
	for _, be := range batchEncodings {
		text := be.enc(msgs)
		var fast, ref Result
		n, ok := e.EvaluateBatch(text, &fast)
		if !ok {
			t.Errorf("%s: EvaluateBatch refused a well-formed batch", be.name)
			continue
		}
		decoded := decodeBatchText(t, text)
		if n != len(decoded) {
			t.Errorf("%s: %d messages, want %d", be.name, n, len(decoded))
		}
		for i, m := range decoded {
			e.EvaluateReference(i, m, &ref)
		}
		compareResults(t, &fast, &ref)
	}
}

func TestEvaluateBatchMatchesReference(t *testing.T) {
	e := diffEngine(t)
	cases := diffCases()
	for _, name := range sortedKeys(cases) {
		msg := []byte(cases[name])
		t.Run(name, func(t *testing.T) { checkBatch(t, e, msg) })
	}
	files, _ := filepath.Glob("../examples/*.json")
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		t.Run(filepath.Base(f), func(t *testing.T) { checkBatch(t, e, b) })
	}
	var all [][]byte
	for _, name := range sortedKeys(cases) {
		all = append(all, []byte(cases[name]))
	}
	t.Run("every case in one batch", func(t *testing.T) { checkBatch(t, e, all...) })
	t.Run("empty batch", func(t *testing.T) { checkBatch(t, e) })
}

// TestEvaluateBatchReadsInPlace: the common messages are read without
// unescaping them (else the differential test above would prove nothing
// about the in-place path), and the ones that could hide a literal are not.
func TestEvaluateBatchReadsInPlace(t *testing.T) {
	e := diffEngine(t)
	cases := diffCases()
	done := []string{"seed match", "seed start (no match)", "kube match", "kube by node (no)", "mixed case Event Grid", "records not first",
		"json lines", "invalid inside", "bad escape", "numbers", "whitespace", "invalid utf8", "literals spread", "deep", "duplicate records key"}
	unescaped := []string{"control char", "escaped \\u0041 in op", "escaped \\/ in op", "records key escaped", "long s Event Grid", "dotless i Event Grid",
		"truncated", "top-level scalars", "trailing garbage", "invalid second value", "kube escaped two levels"}
	for _, want := range []struct {
		names []string
		st    inPlace
	}{{done, inPlaceDone}, {unescaped, inPlaceDecline}} {
		for _, name := range want.names {
			msg, ok := cases[name]
			if !ok {
				t.Fatalf("no case %q", name)
			}
			text := batchEncodings[0].enc([][]byte{[]byte(msg)})
			// text is [\"...\"]: the message starts after [\".
			var r Result
			if _, st := e.evaluateInPlace(0, text, 3, &r); st != want.st {
				t.Errorf("%s: in-place status %d, want %d", name, st, want.st)
			}
		}
	}
}

func TestEvaluateBatchRefusesWhatIsNotABatch(t *testing.T) {
	e := diffEngine(t)
	for _, text := range []string{``, `{}`, `[`, `[\"{}\"`, `[\"{}\",]`, `[\"{}\"] x`, `[1]`, `\"[]\"`, `[\"{}\" \"{}\"]`, `[\"{\\\"a\\\":\\x}\"]`, `[\"{}\"]"`,
		// A quote with no backslash ends the outer string wherever it is.
		`[\"{\\\"a\\\":\\\"x"y\\\"}\"]`, `[\"{\\\"a\\\":\\\"x\\\"}" \"]`} {
		var r Result
		if _, ok := e.EvaluateBatch([]byte(text), &r); ok {
			t.Errorf("EvaluateBatch accepted %q", text)
		}
	}
}

// TestBadRecordCostsOnlyItself: a record that is not valid JSON is skipped
// with its position; the records around it are still evaluated.
func TestBadRecordCostsOnlyItself(t *testing.T) {
	e := diffEngine(t)
	rec := func(n int) string { return fmt.Sprintf(seedRec, seedOp, "Success", n) }
	msg := `{"records":[` + rec(1) + `,{"operationName":"` + seedOp + `","resultType":"Success","x":tru},` + rec(2) + `]}`
	for name, eval := range map[string]func(*Result){
		"Evaluate":          func(r *Result) { e.Evaluate(0, []byte(msg), r) },
		"EvaluateReference": func(r *Result) { e.EvaluateReference(0, []byte(msg), r) },
		"EvaluateBatch":     func(r *Result) { e.EvaluateBatch(batchEncodings[0].enc([][]byte{[]byte(msg)}), r) },
	} {
		var r Result
		eval(&r)
		seed := 0
		for _, m := range r.Matches {
			if m.Rule.ID == "8b64d36a-1307-4b2e-a77b-a0027e4d27c8" {
				seed++
			}
		}
		if r.Records != 3 || seed != 2 || len(r.Skips) != 1 || r.Skips[0].Record != 1 || r.Skips[0].Offset != int64(strings.Index(msg, `{"operationName"`)) {
			t.Errorf("%s: records %d, seed matches %d, skips %v", name, r.Records, seed, r.Skips)
		}
	}
}

// FuzzEvaluateBatch: for any messages (the input split at 0xFF bytes),
// every encoding of the batch gives the reference's matches.
func FuzzEvaluateBatch(f *testing.F) {
	for _, c := range diffCases() {
		f.Add([]byte(c))
	}
	f.Add([]byte(diffCases()["seed match"] + "\xff" + diffCases()["kube match"] + "\xff" + diffCases()["numbers"]))
	e := diffEngine(f)
	f.Fuzz(func(t *testing.T, in []byte) {
		checkBatch(t, e, bytes.Split(in, []byte{0xff})...)
	})
}

// unquoteEachLevel is unquoteLevels(nil, s, 2) level by level, the path
// unquoteTwice stands in for.
func unquoteEachLevel(s []byte) ([]byte, bool) {
	once, ok := unquote(nil, s)
	if !ok {
		return nil, false
	}
	return unquote(nil, once)
}

// TestUnquoteTwice: the one-pass unescaping of the host's two layers gives
// what unescaping them one at a time gives, and leaves what it does not
// read to that path.
func TestUnquoteTwice(t *testing.T) {
	for _, tc := range []struct {
		in   string
		fast bool // unquoteTwice answers itself
	}{
		{`{\\\"records\\\":[{\\\"a\\\":\\\"x\\\\\\\"y\\\"}]}`, true}, // a quote in a string of the message
		{`{\\\"a\\\":\\\"line\\\\\\\\nbreak\\\"}`, true},             // \n in the message
		{`[1,\\n2]`, true},  // a newline in the message
		{`a\\/b \/c`, true}, // \/ at either level
		{`\\\\\\\\/`, true}, // two backslashes of the message, then /
		{`\\\\\\\\`, false}, // a run at the end: left to the other path
		{`\\\\u0041`, true}, // \u0041 in the message
		{`\\u0041`, false},  // \u0041 at the inner level
		{`\u0041`, false},   // at the outer level
		{`a\nb`, false},     // a newline at the outer level: not string content
		{`a"b`, false},      // an unescaped quote
		{`a\"b`, false},     // a quote unescaped at the inner level
		{`é`, false},        // non-ASCII
		{"a\x01b", false},   // a control character
		{`ab\`, false},      // a backslash at the end
		{`\\x`, false},      // not an escape
	} {
		want, wantOK := unquoteEachLevel([]byte(tc.in))
		got, ok := unquoteTwice([]byte("keep"), []byte(tc.in))
		if ok != tc.fast {
			t.Errorf("%q: unquoteTwice ok %v, want %v", tc.in, ok, tc.fast)
		}
		if ok && (!wantOK || string(got) != "keep"+string(want)) {
			t.Errorf("%q: unquoteTwice %q, level by level %q (ok %v)", tc.in, got, want, wantOK)
		}
		if !ok && string(got) != "keep" {
			t.Errorf("%q: dst changed to %q on a false answer", tc.in, got)
		}
		all, allOK := unquoteLevels(nil, []byte(tc.in), 2)
		if allOK != wantOK || allOK && string(all) != string(want) {
			t.Errorf("%q: unquoteLevels %q %v, level by level %q %v", tc.in, all, allOK, want, wantOK)
		}
	}
}

// FuzzUnquoteTwice: unquoteTwice never answers where unescaping level by
// level would not, nor differently.
func FuzzUnquoteTwice(f *testing.F) {
	for _, s := range []string{`{\\\"a\\\":\\\"x\\\\\\\"y\\\"}`, `\\\\u0041`, `a\\/b`, `[1,\\n2]`, `\\\\\\\\\\\"`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, s []byte) {
		got, ok := unquoteTwice(nil, s)
		if !ok {
			return
		}
		want, wantOK := unquoteEachLevel(s)
		if !wantOK || string(got) != string(want) {
			t.Fatalf("%q: unquoteTwice %q, level by level %q (ok %v)", s, got, want, wantOK)
		}
	})
}
