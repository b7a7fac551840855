package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"

	"github.com/tripline/tripline/detect"
	"github.com/tripline/tripline/handler"
	"github.com/tripline/tripline/input"
)

// scan's pipeline: one goroutine reads the input and cuts it into records
// (input.Reader, the one cutter), copying them into batches; workers, one per
// core, evaluate batches; scanOne merges the batches in input order
// (detect.Engine.Merge), so the result is what evaluating every record in
// order gives, and records the matches of every scanChunkRecords records. A
// bounded set of batches is reused, so memory stays flat however large the
// input.

// scanBatchBytes and scanBatchRecords bound a batch: big enough that handing
// it over costs little against evaluating it, small enough that the workers
// share the work of a small file and that a batch is still in the
// processor's cache when a worker reads it.
const (
	scanBatchBytes   = 256 << 10
	scanBatchRecords = 500
)

// scanPool holds the batches and the Reader of a scan, reused from one
// input to the next: fresh memory (zeroed, faulted in) was a good part of
// a short scan.
type scanPool struct {
	workers int
	free    chan *scanBatch
	in      *input.Reader
}

// reader returns the scan's Reader, reading from r.
func (pool *scanPool) reader(r io.Reader) *input.Reader {
	if pool.in == nil {
		pool.in = input.NewReader(r)
	} else {
		pool.in.Reset(r)
	}
	return pool.in
}

func newScanPool() *scanPool {
	workers := runtime.GOMAXPROCS(0)
	// Enough batches (4 MB) for the reading to go on through most of a
	// chunk (scanChunkRecords of 2.5 KB records, 5 MB) while the chunk
	// before is recorded.
	pool := &scanPool{workers: workers, free: make(chan *scanBatch, 16)}
	for range cap(pool.free) {
		pool.free <- &scanBatch{
			text: make([]byte, 0, scanBatchBytes+64<<10),
			done: make(chan struct{}, 1),
		}
	}
	return pool
}

// scanBatch is a run of consecutive records of one input.
type scanBatch struct {
	// text holds the records' bytes, copied out of the Reader's buffer;
	// recs[i].Bytes is text[starts[i]:ends[i]] once the batch is sealed.
	text         []byte
	recs         []input.Record
	starts, ends []int
	// part is what evaluating recs gave (detect.Result.BeginPart).
	part detect.Result
	done chan struct{}
	// skipped and notes are the problems found while reading (a captured
	// host request that does not decode), in scan's skip format.
	skipped int
	notes   []string
	// chunkEnd: the matches so far are recorded after this batch.
	chunkEnd bool
	// end is the input offset after the batch (progress).
	end int64
	// last marks the input's last batch: err is the Reader's error that
	// stopped it (nil at the end of the input), and readerRecords the
	// number of records the Reader cut from it (not counting those of
	// captured host requests).
	last          bool
	err           error
	readerRecords int
}

func (b *scanBatch) reset() {
	b.text, b.recs, b.starts, b.ends = b.text[:0], b.recs[:0], b.starts[:0], b.ends[:0]
	b.skipped, b.notes, b.chunkEnd, b.last, b.err = 0, b.notes[:0], false, false, nil
}

func (b *scanBatch) add(rec input.Record) {
	b.starts = append(b.starts, len(b.text))
	b.text = append(b.text, rec.Bytes...)
	b.ends = append(b.ends, len(b.text))
	rec.Bytes = nil
	b.recs = append(b.recs, rec)
}

// seal points the records at text, where add copied them.
func (b *scanBatch) seal() {
	for i := range b.recs {
		if b.recs[i].Skip == "" {
			b.recs[i].Bytes = b.text[b.starts[i]:b.ends[i]:b.ends[i]]
		}
	}
}

func (b *scanBatch) full() bool {
	return len(b.text) >= scanBatchBytes || len(b.recs) >= scanBatchRecords
}

// batches starts reading in and evaluating its records with e and returns
// the batches in input order: the receiver waits on each batch's done, uses
// it, and hands it back to the pool (put). Cancelling ctx stops the reading
// at the next batch; the receiver must not put batches back after that.
func (pool *scanPool) batches(ctx context.Context, e *detect.Engine, decodeAll bool, name string, in *input.Reader) <-chan *scanBatch {
	order := make(chan *scanBatch, cap(pool.free))
	work := make(chan *scanBatch, cap(pool.free))
	for range pool.workers {
		go func() {
			for b := range work {
				b.part.BeginPart(decodeAll)
				for _, rec := range b.recs {
					e.EvaluateRecord(rec, &b.part)
				}
				b.done <- struct{}{}
			}
		}()
	}
	go func() {
		defer close(order)
		defer close(work)
		r := scanReader{in: in, name: name}
		for {
			var b *scanBatch
			select {
			case b = <-pool.free:
			case <-ctx.Done():
				return
			}
			b.reset()
			r.fill(b)
			b.seal()
			b.end = in.Offset()
			for _, ch := range []chan *scanBatch{order, work} {
				select {
				case ch <- b:
				case <-ctx.Done():
					return
				}
			}
			if b.last {
				return
			}
		}
	}()
	return order
}

// put hands a batch back.
func (pool *scanPool) put(b *scanBatch) { pool.free <- b }

// scanReader cuts an input into batches, numbering the records of captured
// host requests after the input's own messages.
type scanReader struct {
	in   *input.Reader
	name string
	// records counts the records cut (for the chunks); readerRecords
	// those the Reader cut itself.
	records, readerRecords int
	// extra is how many messages the captured host requests read so far
	// held beyond one each.
	extra int
}

// fill adds records to b until it is full, a chunk ends, or the input does.
func (r *scanReader) fill(b *scanBatch) {
	for !b.full() {
		rec, err := r.in.Next()
		if err != nil {
			if err != io.EOF {
				b.err = err
			}
			b.last, b.readerRecords = true, r.readerRecords
			return
		}
		rec.Message += r.extra
		r.readerRecords++
		r.records++
		if rec.Skip == "" && rec.Index == 0 && bytes.HasPrefix(rec.Bytes, []byte("{")) && mentionsMetadata(rec.Bytes) {
			r.records--
			r.addCaptured(b, rec)
		} else {
			b.add(rec)
		}
		if r.records >= scanChunkRecords {
			r.records, b.chunkEnd = 0, true
			return
		}
	}
}

// addCaptured adds the records of a captured host request's messages, or
// rec itself when it is not one.
func (r *scanReader) addCaptured(b *scanBatch, rec input.Record) {
	inv, err := handler.DecodeCaptured(rec.Bytes)
	if errors.Is(err, handler.ErrNotHostRequest) {
		r.records++
		b.add(rec)
		return
	}
	if err != nil {
		b.skipped++
		b.notes = append(b.notes, fmt.Sprintf("%s message %d (byte %d): host request: %v", r.name, rec.Message, rec.Offset, err))
		return
	}
	for i, msg := range inv.Messages {
		message := rec.Message + i
		in := input.NewBytesReader(msg.Body)
		for index := 0; ; index++ {
			mr, err := in.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				b.skipped++
				b.notes = append(b.notes, fmt.Sprintf("%s message %d (byte %d): host request message: not valid JSON: %v", r.name, message, rec.Offset, err))
				break
			}
			mr.Message, mr.Index, mr.Offset = message, index, rec.Offset
			r.records++
			b.add(mr)
		}
	}
	r.extra += len(inv.Messages) - 1
}
