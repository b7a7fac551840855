package input

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/tripline/tripline/bench/corpus"
	"github.com/tripline/tripline/internal/jsonref"
)

// read returns what the Reader makes of in, one line per record (its
// message, index, offset and body, or its skip) and a last line for the
// error that ended the stream.
func read(in io.Reader, size int) []string {
	return readAll(newReaderSize(in, size))
}

// readBytes is read on a message in memory (NewBytesReader).
func readBytes(b []byte) []string {
	return readAll(NewBytesReader(b))
}

func readAll(r *Reader) []string {
	var out []string
	for {
		m, err := r.Next()
		if err != nil {
			return append(out, "end: "+err.Error())
		}
		pos := fmt.Sprintf("%d.%d@%d", m.Message, m.Index, m.Offset)
		if m.Skip != "" {
			out = append(out, pos+" SKIP "+m.Skip)
			continue
		}
		out = append(out, pos+" "+string(m.Bytes)+missingHints(m))
	}
}

// missingHints names the Hints a record that is valid JSON holds but was
// not given ("" when none is missing): a missing hint would let the
// prefilter pass over an escape that hides a literal.
func missingHints(m Record) string {
	if !json.Valid(m.Bytes) {
		return ""
	}
	var missing []string
	if bytes.Contains(m.Bytes, []byte(`\u`)) && m.Hints&EscapedU == 0 {
		missing = append(missing, "EscapedU")
	}
	if bytes.Contains(m.Bytes, []byte(`\/`)) && m.Hints&EscapedSlash == 0 {
		missing = append(missing, "EscapedSlash")
	}
	if bytes.ContainsFunc(m.Bytes, func(r rune) bool { return r >= 0x80 }) && m.Hints&NonASCII == 0 {
		missing = append(missing, "NonASCII")
	}
	if missing == nil {
		return ""
	}
	return " MISSING HINTS " + strings.Join(missing, ",")
}

// TestReaderHints: a record's Hints name every escape and non-ASCII byte
// it holds, wherever the buffer's edges fall, nested escapes included.
func TestReaderHints(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Hints
	}{
		{`{"a":"plain text, no escapes","b":[1,{"c":"\"\n"}]}`, 0},
		{`{"a":"caf\u00e9"}`, EscapedU},
		{`{"a":"{\"inner\":\"\\u0041\"}"}`, EscapedU},
		{`{"a":"x\\\\u"}`, EscapedU},
		{`{"a":"/subscriptions\/s"}`, EscapedSlash},
		{`{"a":"{\"p\":\"\\/x\"}"}`, EscapedSlash},
		{`{"a":"İstanbul"}`, NonASCII},
		{`{"k\u0041":"é\/"}`, EscapedU | EscapedSlash | NonASCII},
	} {
		in := `{"records":[` + tc.in + `,{"next":"record"}]}`
		for size := 16; size < 16+len(in); size++ {
			r := newReaderSize(strings.NewReader(in), size)
			rec, err := r.Next()
			if err != nil {
				t.Fatalf("%s: %v", tc.in, err)
			}
			if missing := missingHints(rec); missing != "" {
				t.Fatalf("%s, buffer %d:%s", tc.in, size, missing)
			}
			// A run that ends inside an escape may report more; a
			// whole record in one run reports exactly what it holds.
			if size >= len(in) && rec.Hints != tc.want {
				t.Errorf("%s: hints %03b, want %03b", tc.in, rec.Hints, tc.want)
			}
			if next, err := r.Next(); err != nil || next.Hints != 0 {
				t.Errorf("%s, buffer %d: the next record has hints %03b (%v); hints must not carry over", tc.in, size, next.Hints, err)
			}
		}
		if rec, _ := NewBytesReader([]byte(in)).Next(); rec.Hints != tc.want {
			t.Errorf("%s in memory: hints %03b, want %03b", tc.in, rec.Hints, tc.want)
		}
	}
}

func TestReaderRecords(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     []string
	}{
		{"records envelope", `{"records":[{"a":1},{"b":"x}"}]}`,
			[]string{`0.0@12 {"a":1}`, `0.1@20 {"b":"x}"}`, "end: EOF"}},
		{"envelope with more keys after the records", `{"records":[{"a":[1,{"c":2}]}],"other":{"d":"]"}}`,
			[]string{`0.0@12 {"a":[1,{"c":2}]}`, "end: EOF"}},
		{"JSON Lines", "{\"records\":[{\"a\":1}]}\n{\"records\":[{\"b\":2}]}\n",
			[]string{`0.0@12 {"a":1}`, `1.0@34 {"b":2}`, "end: EOF"}},
		{"bare array with a BOM", "\xef\xbb\xbf[{\"id\":\"1\"}, {\"id\":\"2\"}]",
			[]string{`0.0@4 {"id":"1"}`, `0.1@16 {"id":"2"}`, "end: EOF"}},
		{"an object that is not an envelope", ` {"id":"e","data":{"records":[1]}}`,
			[]string{`0.0@1 {"id":"e","data":{"records":[1]}}`, "end: EOF"}},
		{"escapes: quotes, backslashes, brackets in strings", `[{"k":"a\"]}\\","l":"\\\"{"}]`,
			[]string{`0.0@1 {"k":"a\"]}\\","l":"\\\"{"}`, "end: EOF"}},
		{"a string key before records", `{"records" : [ {"a":"b"} ] }`,
			[]string{`0.0@15 {"a":"b"}`, "end: EOF"}},
		{"scalars and strings as values", `[1, "two", true, null]`,
			[]string{"0.0@1 SKIP record is not a JSON object", "0.1@4 SKIP record is not a JSON object", "0.2@11 SKIP record is not a JSON object", "0.3@17 SKIP record is not a JSON object", "end: EOF"}},
		{"control characters in a string are copied", "[{\"k\":\"a\tb\x01\"}]",
			[]string{"0.0@1 {\"k\":\"a\tb\x01\"}", "end: EOF"}},
		{"truncated in a string", `{"records":[{"a":"bc`,
			[]string{"end: at byte 20: input ends inside a JSON value"}},
		{"truncated after a backslash", `{"records":[{"a":"b\`,
			[]string{"end: at byte 20: input ends inside a JSON value"}},
		{"truncated in a record", `{"records":[{"a":1},{"b":[2`,
			[]string{`0.0@12 {"a":1}`, "end: at byte 27: input ends inside a JSON value"}},
		{"truncated records array", `{"records":[{"a":1}`,
			[]string{`0.0@12 {"a":1}`, "end: at byte 19: input ends inside a JSON value"}},
		{"an array of envelopes: one message, their records in order", `[{"records":[{"a":1},{"b":2}]},{"c":3},{"records":[{"d":4}]}] {"e":5}`,
			[]string{`0.0@13 {"a":1}`, `0.1@21 {"b":2}`, `0.2@31 {"c":3}`, `0.3@51 {"d":4}`, `1.0@62 {"e":5}`, "end: EOF"}},
		{"top-level values that are not objects are messages of their own", `{"a":1} 7 "s" {"b":2}`,
			[]string{`0.0@0 {"a":1}`, "1.0@8 SKIP record is not a JSON object", "2.0@10 SKIP record is not a JSON object", `3.0@14 {"b":2}`, "end: EOF"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := readBytes([]byte(tc.in)); strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Fatalf("in memory:\ngot  %q\nwant %q", got, tc.want)
			}
			for _, size := range []int{16, 17, 64, 256 << 10} {
				got := read(strings.NewReader(tc.in), size)
				if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
					t.Fatalf("buffer %d:\ngot  %q\nwant %q", size, got, tc.want)
				}
			}
		})
	}
}

// TestReaderTooLarge checks a value over MaxRecordSize is skipped and
// counted, and the stream goes on after it.
func TestReaderTooLarge(t *testing.T) {
	big := `{"k":"` + strings.Repeat("x", MaxRecordSize) + `"}`
	in := `{"records":[` + big + `,{"a":1}]}`
	got := read(strings.NewReader(in), 256<<10)
	want := []string{"0.0@12 SKIP larger than 64 MB", fmt.Sprintf("0.1@%d {\"a\":1}", 12+len(big)+1), "end: EOF"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("got %q\nwant %q", got, want)
	}
}

// TestReaderReadError checks a read error stops the stream with the error
// and where it happened.
func TestReaderReadError(t *testing.T) {
	boom := errors.New("disk on fire")
	in := io.MultiReader(strings.NewReader(`{"records":[{"a":"bc`), iotest.ErrReader(boom))
	r := NewReader(in)
	_, err := r.Next()
	if !errors.Is(err, boom) || !strings.Contains(err.Error(), "at byte 20") {
		t.Fatalf("err = %v, want %v at byte 20", err, boom)
	}
	if _, again := r.Next(); again != err {
		t.Fatalf("after the error Next returned %v", again)
	}
}

// cut is a record as a test compares them: where it is and what it holds
// (nil when it is not a record).
type cut struct {
	offset int64
	raw    string
	skip   bool
}

// checkAgainstReference fails when the Reader cuts a valid JSON input
// differently from the encoding/json reference (internal/jsonref).
func checkAgainstReference(t *testing.T, in []byte) {
	t.Helper()
	refs, ok := jsonref.Cut(0, in)
	if !ok {
		return
	}
	var want []cut
	for _, r := range refs {
		want = append(want, cut{r.Offset, string(r.Raw), r.Raw == nil})
	}
	var got []cut
	r := NewReader(bytes.NewReader(in))
	for {
		rec, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("valid input %q: %v", in, err)
		}
		got = append(got, cut{rec.Offset, string(rec.Bytes), rec.Skip != ""})
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("input %.200q:\nreader    %v\nreference %v", in, got, want)
	}
}

// TestReaderMatchesReference: on valid inputs, the records are those
// encoding/json finds, at the same offsets.
func TestReaderMatchesReference(t *testing.T) {
	c := corpus.Generate(corpus.Options{Messages: 10})
	var lines bytes.Buffer
	for _, b := range c.Bodies {
		lines.Write(b)
		lines.WriteByte('\n')
	}
	for _, in := range []string{
		lines.String(),
		`[` + string(c.Bodies[0]) + `,` + string(c.Bodies[1]) + `]`,
		`{"records":[{"a":1},2,"x",[3],{"b":{"records":[4]}}],"tail":[{}]} {"c":"}"} [] {}`,
		"\xef\xbb\xbf[{\"a\":\"\\\"]\"}]",
	} {
		checkAgainstReference(t, []byte(in))
	}
}

// FuzzReaderChunking holds the Reader to the encoding/json reference on
// valid input, and to the same records, offsets and errors whatever the
// buffer size and however the input arrives, so the runs it copies at once
// never depend on where a buffer ends.
func FuzzReaderChunking(f *testing.F) {
	for _, s := range []string{
		`{"records":[{"a":"x\"y","b":[1,2,{"c":"]"}]},{"d":"\\"}]}`,
		"[{\"a\":1}, \"s\\\\\\\"\", 3, {\"b\":\"\x01\"}]\n{\"x\":",
		`{"records":[{"a":1}],"tail":{"k":"\""}} {"records":[{"b":2}]}`,
		`"\u0041\/" [] {} ] } {"records":{}}`,
	} {
		f.Add([]byte(s), uint8(0))
	}
	f.Fuzz(func(t *testing.T, in []byte, size uint8) {
		checkAgainstReference(t, in)
		want := read(bytes.NewReader(in), 256<<10)
		if s := strings.Join(want, "\n"); strings.Contains(s, "MISSING HINTS") {
			t.Fatalf("%s", s)
		}
		if got := readBytes(in); strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Fatalf("in memory:\ngot  %q\nwant %q", got, want)
		}
		for _, r := range []io.Reader{
			bytes.NewReader(in),
			iotest.OneByteReader(bytes.NewReader(in)),
			iotest.HalfReader(bytes.NewReader(in)),
		} {
			got := read(r, 16+int(size))
			if s := strings.Join(got, "\n"); strings.Contains(s, "MISSING HINTS") {
				t.Fatalf("buffer %d: %s", 16+int(size), s)
			}
			if strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Fatalf("buffer %d:\ngot  %q\nwant %q", 16+int(size), got, want)
			}
		}
	})
}

// BenchmarkReader cuts the benchmark corpus's message bodies, as JSON Lines,
// into records: read as a stream, and held in memory (as scan's blocks and
// the handler's messages are).
func BenchmarkReader(b *testing.B) {
	c := corpus.Generate(corpus.Options{Messages: 100})
	var lines bytes.Buffer
	for _, body := range c.Bodies {
		lines.Write(body)
		lines.WriteByte('\n')
	}
	in := lines.Bytes()
	for _, mode := range []string{"stream", "memory"} {
		b.Run(mode, func(b *testing.B) {
			b.SetBytes(int64(len(in)))
			b.ReportAllocs()
			r := NewBytesReader(nil)
			for b.Loop() {
				if mode == "stream" {
					r = NewReader(bytes.NewReader(in))
				} else {
					r.ResetBytes(in)
				}
				n := 0
				for {
					if _, err := r.Next(); err != nil {
						if err != io.EOF {
							b.Fatal(err)
						}
						break
					}
					n++
				}
				if n != c.Records {
					b.Fatalf("%d records, want %d", n, c.Records)
				}
			}
		})
	}
}
