package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/tripline/tripline/alert"
	"github.com/tripline/tripline/alerting"
	"github.com/tripline/tripline/bench/corpus"
	"github.com/tripline/tripline/detect"
	"github.com/tripline/tripline/detect/rules"
	"github.com/tripline/tripline/input"
	"github.com/tripline/tripline/internal/textdiff"
	"github.com/tripline/tripline/store"
	"github.com/tripline/tripline/store/memory"
)

// scanInOrder is the reference of scan's pipeline: the input cut by one
// stream Reader, each record evaluated as it comes, the matches recorded
// every scanChunkRecords records; what it prints and sums up, as
// pipelineScan does.
func scanInOrder(t testing.TB, e *detect.Engine, in []byte) string {
	p := &alerting.Pipeline{Engine: e, Store: memory.New(nil), TTL: 24 * time.Hour}
	var out bytes.Buffer
	sum := &scanSummary{heldBack: map[string]int{}, shown: map[string]bool{}}
	var res detect.Result
	record := func() {
		if res.Records == 0 {
			return
		}
		o, err := p.Record(context.Background(), 0, &res)
		if err != nil {
			t.Fatal(err)
		}
		account("in", o, sum)
		for _, al := range o.Alerts {
			if sum.shown[al.ID] && al.State == alert.StateDuplicate {
				continue
			}
			sum.shown[al.ID] = true
			printAlert(&out, al, true)
		}
		res = detect.Result{}
	}
	var notes []scanNote
	r := input.NewReader(bytes.NewReader(in))
	sr := scanReader{in: r, name: "in", notes: &notes, emit: func(rec input.Record) {
		e.EvaluateRecord(rec, &res)
		if res.Records == scanChunkRecords {
			record()
		}
	}}
	for {
		err := sr.next()
		for _, n := range notes {
			sum.skipped++
			sum.skips = append(sum.skips, fmt.Sprintf("in message %d (byte %d): %s", n.message, n.offset, n.text))
		}
		notes = notes[:0]
		if err == io.EOF {
			record()
			switch {
			case len(in) == 0:
				sum.skips = append(sum.skips, "in is empty")
			case sr.readerRecords == 0:
				sum.skips = append(sum.skips, "in holds no records")
			}
			break
		}
		if err != nil {
			record()
			sum.skipped++
			if sr.readerRecords == 0 {
				sum.skips = append(sum.skips, fmt.Sprintf("in holds no JSON records (not valid JSON %v)", err))
			} else {
				sum.skips = append(sum.skips, fmt.Sprintf("in not valid JSON %v; the rest of the file is not read", err))
			}
			break
		}
	}
	printSummary(&out, sum, "", false)
	return out.String()
}

// pipelineScan scans in as scan does, with blocks of blockBytes, read from r
// (in by default).
func pipelineScan(t testing.TB, e *detect.Engine, pool *scanPool, in []byte, r io.Reader) string {
	p := &alerting.Pipeline{Engine: e, Store: memory.New(nil), TTL: 24 * time.Hour}
	var out bytes.Buffer
	w := bufio.NewWriter(&out)
	sum := &scanSummary{heldBack: map[string]int{}, shown: map[string]bool{}}
	if r == nil {
		r = bytes.NewReader(in)
	}
	rec := startRecorder(context.Background(), p, w, true, sum, newProgress(io.Discard, false), func() {})
	if err := scanOne(context.Background(), p, pool, rec, "in", r); err != nil {
		t.Fatal(err)
	}
	if err := rec.close(); err != nil {
		t.Fatal(err)
	}
	w.Flush()
	printSummary(&out, sum, "", false)
	return out.String()
}

func builtinEngine(t testing.TB) *detect.Engine {
	all, err := detect.LoadRules(rules.FS)
	if err != nil {
		t.Fatal(err)
	}
	e, err := detect.NewEngine(all, nil)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func smallPool(blockBytes int) *scanPool {
	pool := newScanPool()
	pool.blockBytes, pool.maxBlockBytes, pool.batchBytes = blockBytes, 4*blockBytes, blockBytes
	return pool
}

// scanInputs are inputs of every shape scan meets: JSON Lines (the corpus,
// with captured host requests and a line that is not a record among them),
// pretty-printed JSON, one long line, and broken, truncated and empty ones.
func scanInputs(t testing.TB) map[string][]byte {
	c := corpus.Generate(corpus.Options{Messages: 45}) // 2,250 records: two chunks
	captured, err := os.ReadFile("examples/host-request-activitylogevents.json")
	if err != nil {
		t.Fatal(err)
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, captured); err != nil {
		t.Fatal(err)
	}
	var lines bytes.Buffer
	for i, b := range c.Bodies {
		lines.Write(b)
		lines.WriteByte('\n')
		switch i {
		case 3:
			lines.Write(compact.Bytes())
			lines.WriteByte('\n')
		case 7:
			lines.WriteString("{\"Data\":{\"events\":5},\"Metadata\":{}}\n\"just a string\"\n")
		}
	}
	var pretty bytes.Buffer
	for _, b := range c.Bodies[:6] {
		if err := json.Indent(&pretty, b, "", "  "); err != nil {
			t.Fatal(err)
		}
		pretty.WriteByte('\n')
	}
	var array bytes.Buffer
	array.WriteString("[")
	for i, b := range c.Bodies[:8] {
		if i > 0 {
			array.WriteString(",")
		}
		array.Write(b)
	}
	array.WriteString("]")
	all := lines.Bytes()
	return map[string][]byte{
		"JSON Lines":                          all,
		"JSON Lines without the last newline": all[:len(all)-1],
		"pretty-printed":                      pretty.Bytes(),
		"pretty-printed after lines":          append(append([]byte(nil), all[:len(all)/2+1]...), append([]byte("\n"), pretty.Bytes()...)...),
		"one line":                            array.Bytes(),
		"truncated":                           all[:len(all)*2/3],
		"broken in the middle":                append(append([]byte(nil), all[:len(all)/3]...), append([]byte("}}garbage\n"), all[len(all)/3:]...)...),
		"captured request, pretty":            captured,
		"empty":                               {},
		"blank lines":                         []byte("\n\n  \n"),
		"scalars split by lines":              []byte("12\n34\ntrue\n\"x\"\n{\"a\":1}\n"),
		"many values on one line":             bytes.Repeat([]byte(`0 "s" {"a":1} [] `), 40),
		"numbers on one line":                 bytes.Repeat([]byte("7 "), 400),
	}
}

// TestScanPipelineIsReadingInOrder: whatever the input's shape and wherever
// blocks end, scan's pipeline prints and sums up what cutting and
// evaluating the input in order does.
func TestScanPipelineIsReadingInOrder(t *testing.T) {
	e := builtinEngine(t)
	for name, in := range scanInputs(t) {
		want := scanInOrder(t, e, in)
		for _, size := range []int{16, 100, 4096, 64 << 10, scanBlockBytes} {
			pool := smallPool(size)
			if got := pipelineScan(t, e, pool, in, nil); got != want {
				t.Errorf("%s, blocks of %d bytes:\n%s", name, size, textdiff.First(got, want))
			}
			// As through a pipe: reads return less than asked.
			if got := pipelineScan(t, e, pool, in, iotest.HalfReader(bytes.NewReader(in))); got != want {
				t.Errorf("%s, blocks of %d bytes, half reads:\n%s", name, size, textdiff.First(got, want))
			}
		}
	}
}

// TestScanPipelineReadError: an input that cannot be read to its end is
// reported where it stopped, after the records before.
func TestScanPipelineReadError(t *testing.T) {
	e := builtinEngine(t)
	in := scanInputs(t)["JSON Lines"]
	broken := io.MultiReader(bytes.NewReader(in[:100000]), iotest.ErrReader(errors.New("disk on fire")))
	got := pipelineScan(t, e, smallPool(4096), in, broken)
	if !strings.Contains(got, "disk on fire; the rest of the file is not read") {
		t.Errorf("the read error is not reported:\n%s", got)
	}
}

// FuzzScanPipeline holds scan's pipeline to reading in order on any input
// and block size.
func FuzzScanPipeline(f *testing.F) {
	e := builtinEngine(f)
	for _, in := range scanInputs(f) {
		if len(in) < 20000 {
			f.Add(in, uint16(17))
		}
	}
	c := corpus.Generate(corpus.Options{Messages: 3})
	f.Add(bytes.Join(c.Bodies, []byte("\n")), uint16(300))
	f.Fuzz(func(t *testing.T, in []byte, size uint16) {
		want := scanInOrder(t, e, in)
		if got := pipelineScan(t, e, smallPool(16+int(size)%4096), in, nil); got != want {
			t.Fatalf("blocks of %d bytes:\n%s", 16+int(size)%4096, textdiff.First(got, want))
		}
	})
}

// failingStore fails every read: a store that is down.
type failingStore struct{ alerting.Store }

func (failingStore) Get(context.Context, string) (store.Item, error) {
	return store.Item{}, errors.New("store is down")
}

// TestScanStopsWhenRecordingFails: when the matches of a chunk cannot be
// recorded, the reading stops, the recorder says why, and nothing hangs;
// the pool is whole again for the next input.
func TestScanStopsWhenRecordingFails(t *testing.T) {
	e := builtinEngine(t)
	in := scanInputs(t)["JSON Lines"]
	p := &alerting.Pipeline{Engine: e, Store: failingStore{memory.New(nil)}, TTL: 24 * time.Hour}
	sum := &scanSummary{heldBack: map[string]int{}, shown: map[string]bool{}}
	pool := smallPool(4096)
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	rec := startRecorder(context.Background(), p, bufio.NewWriter(io.Discard), false, sum, newProgress(io.Discard, false), stop)
	// The reading may end before the recorder fails: no error then.
	if err := scanOne(ctx, p, pool, rec, "in", bytes.NewReader(in)); err != nil && !errors.Is(err, context.Canceled) {
		t.Errorf("scanOne: %v, want the reading cancelled or done", err)
	}
	err := rec.close()
	if err == nil || !strings.Contains(err.Error(), "in: alerts not recorded") || !strings.Contains(err.Error(), "store is down") {
		t.Fatalf("recorder: %v, want the recording failure", err)
	}
	p.Store = memory.New(nil)
	rec = startRecorder(context.Background(), p, bufio.NewWriter(io.Discard), false, sum, newProgress(io.Discard, false), func() {})
	if err := scanOne(context.Background(), p, pool, rec, "next", bytes.NewReader(in)); err != nil {
		t.Fatal(err)
	}
	if err := rec.close(); err != nil {
		t.Fatal(err)
	}
}

// TestScanLongLineGrowsOneBlock: a line longer than a block grows the block
// that holds its start, up to maxBlockBytes; the rest of the input is read
// in blocks of the usual size, so memory stays bounded on a file that is
// one long line.
func TestScanLongLineGrowsOneBlock(t *testing.T) {
	e := builtinEngine(t)
	in := scanInputs(t)["one line"]
	pool := smallPool(4096)
	if want, got := scanInOrder(t, e, in), pipelineScan(t, e, pool, in, nil); got != want {
		t.Fatalf("%s", textdiff.First(got, want))
	}
	grown := 0
	for range cap(pool.freeBlocks) {
		if b := <-pool.freeBlocks; cap(b.text) > 2*pool.blockBytes {
			grown++
		}
	}
	if grown != 1 {
		t.Errorf("%d blocks grew past %d bytes for a %d-byte line, want 1", grown, 2*pool.blockBytes, len(in))
	}
}
