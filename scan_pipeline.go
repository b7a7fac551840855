package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"runtime"

	"github.com/tripline/tripline/detect"
	"github.com/tripline/tripline/handler"
	"github.com/tripline/tripline/input"
)

// scan's pipeline. Exports are JSON Lines, and a raw newline is never inside
// a JSON string, so an input is read in blocks of whole lines and every core
// cuts (input.Reader, the one cutter, in memory) and evaluates blocks as
// inputs of their own; scanMerger (scan.go) merges them in input order
// (detect.Engine.MergeRecords), numbering their messages and offsets after
// the blocks before, so the result is what cutting and evaluating the input
// in order gives.
//
// A block is only taken as its own input when the one before ended between
// two top-level values. When a value goes on past the end of a block (JSON
// that is not one value per line, or a line longer than scanMaxBlockBytes),
// the rest of the input, from that value's start, is cut on one goroutine
// into batches of records, which every core evaluates.
//
// The matches of every scanChunkRecords records are recorded, as one
// invocation would record them, on a goroutine of their own (scanRecorder).
// A bounded set of blocks and batches is reused, so memory stays flat
// however large the input.

const (
	// scanBlockBytes is how much of an input a block holds, up to its last
	// newline.
	scanBlockBytes = 256 << 10
	// scanMaxBlockBytes bounds a block that holds no newline: the line
	// goes on in the next block, and is cut as described above.
	scanMaxBlockBytes = 4 << 20
	// scanBatchBytes and scanBatchRecords bound a batch of records cut on
	// one goroutine.
	scanBatchBytes   = 256 << 10
	scanBatchRecords = 500
)

// scanBatch is a stretch of one input and what evaluating it gave.
type scanBatch struct {
	// text is a block: whole lines of the input (its records are
	// slices of it); or, with recs, the text of a batch's records,
	// copied out of the Reader's buffer: recs[i].Bytes is
	// text[starts[i]:ends[i]] once the batch is sealed.
	text         []byte
	block        bool
	recs         []input.Record
	starts, ends []int
	// part is what evaluating the stretch gave (BeginPart): messages
	// and offsets are numbered from the stretch's start.
	part detect.Result
	done chan struct{}
	// notes are the captured host requests that could not be decoded.
	notes []scanNote
	// messages is the number of messages the stretch begun (a captured
	// host request counts its messages), readerRecords the number of
	// records the Reader cut (not those of captured requests).
	messages, readerRecords int
	// err is the error that stopped cutting the stretch: for a batch, an
	// error of the input; for a block, maybe only its end (see cut).
	err error
	// cut is where a block's last top-level value begun starts, with
	// what came before it: a block whose end is inside a value is
	// merged up to there, and the input is read again from there.
	cut blockCut
	// forced: a block cut inside a line (no newline in
	// scanMaxBlockBytes); its end cannot be trusted either.
	forced bool
	// end is where a batch ends in what it was cut from.
	end int64
	// last is the input's last stretch; readErr is an error reading the
	// input after it.
	last    bool
	readErr error
}

// blockCut is a place in a block and what came before it there.
type blockCut struct {
	offset                           int64
	records, messages, readerRecords int
}

// scanNote is a problem found while cutting, numbered from the start of its
// stretch.
type scanNote struct {
	message int
	offset  int64
	text    string
}

func (b *scanBatch) reset(block bool) {
	b.text, b.recs, b.starts, b.ends, b.notes = b.text[:0], b.recs[:0], b.starts[:0], b.ends[:0], b.notes[:0]
	b.block, b.messages, b.readerRecords, b.err, b.cut, b.forced, b.end, b.last, b.readErr = block, 0, 0, nil, blockCut{}, false, 0, false, nil
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

// scanPool holds the blocks and batches of a scan, reused from one input to
// the next: fresh memory (zeroed, faulted in) was a good part of a short
// scan. Blocks and batches are apart, because the batches of an input are
// cut from the blocks read before it stopped splitting into lines.
type scanPool struct {
	workers int
	// blockBytes, maxBlockBytes and batchBytes are scanBlockBytes,
	// scanMaxBlockBytes and scanBatchBytes; tests make them small, to put
	// the edges of blocks everywhere.
	blockBytes, maxBlockBytes, batchBytes int
	// freeBlocks: enough (4 MB) for the reading to go on through most of a
	// chunk (scanChunkRecords of 2.5 KB records, 5 MB) while the chunk
	// before is recorded.
	freeBlocks, freeBatches chan *scanBatch
	// stream is the Reader batches are cut with.
	stream *input.Reader
}

func newScanPool() *scanPool {
	pool := &scanPool{workers: runtime.GOMAXPROCS(0), blockBytes: scanBlockBytes, maxBlockBytes: scanMaxBlockBytes, batchBytes: scanBatchBytes, freeBlocks: make(chan *scanBatch, 16), freeBatches: make(chan *scanBatch, 8)}
	for _, free := range []chan *scanBatch{pool.freeBlocks, pool.freeBatches} {
		for range cap(free) {
			// Memory is taken as it is first used: a small input
			// touches little of it.
			free <- &scanBatch{done: make(chan struct{}, 1)}
		}
	}
	return pool
}

// put hands a block or batch back.
func (pool *scanPool) put(b *scanBatch) {
	if b.block {
		pool.freeBlocks <- b
	} else {
		pool.freeBatches <- b
	}
}

// evaluate starts the workers: each cuts and evaluates what work sends
// until it is closed, and signals done.
func (pool *scanPool) evaluate(e *detect.Engine, decodeAll bool, name string, work <-chan *scanBatch) {
	for range pool.workers {
		go func() {
			in := input.NewBytesReader(nil)
			for b := range work {
				b.part.BeginPart(decodeAll)
				if b.block {
					cutBlock(e, name, in, b)
				} else {
					for _, rec := range b.recs {
						e.EvaluateRecord(rec, &b.part)
					}
				}
				b.done <- struct{}{}
			}
		}()
	}
}

// blocks starts reading r in blocks, which the workers cut and evaluate,
// and returns them in input order: the receiver waits on each one's done,
// uses it, and puts it back. stopEvaluating makes the workers leave the
// blocks after it to the receiver. Cancelling ctx stops the reading.
func (pool *scanPool) blocks(ctx context.Context, e *detect.Engine, decodeAll bool, name string, r io.Reader) (order <-chan *scanBatch, stopEvaluating func()) {
	ordered := make(chan *scanBatch, cap(pool.freeBlocks))
	work := make(chan *scanBatch, cap(pool.freeBlocks))
	pool.evaluate(e, decodeAll, name, work)
	stop := make(chan struct{})
	go func() {
		defer close(ordered)
		defer close(work)
		var carry []byte // the start of a line that goes on in the next block
		// rest: the receiver reads the rest of the input from the
		// blocks as they come (a block cut inside a line always ends
		// so): they are neither cut at lines nor evaluated, so a long
		// line does not make every block grow.
		rest := false
		for {
			var b *scanBatch
			select {
			case b = <-pool.freeBlocks:
			case <-ctx.Done():
				return
			}
			select {
			case <-stop:
				rest = true
			default:
			}
			b.reset(true)
			b.text = append(b.text, carry...)
			carry = pool.readBlock(r, b, carry[:0], !rest)
			// The channels hold every block there is: sending never
			// waits, and no block is lost when ctx is cancelled.
			ordered <- b
			if rest {
				b.done <- struct{}{} // not evaluated: the receiver cuts it
			} else {
				work <- b
			}
			rest = rest || b.forced
			if b.last {
				return
			}
		}
	}()
	stopped := false
	return ordered, func() {
		if !stopped {
			stopped = true
			close(stop)
		}
	}
}

// readBlock reads r into b after what it holds, up to blockBytes, and, for
// whole lines, keeps the whole lines: it returns the rest, copied into
// carry, which begins the next block. A block that holds no newline grows,
// up to maxBlockBytes.
func (pool *scanPool) readBlock(r io.Reader, b *scanBatch, carry []byte, wholeLines bool) []byte {
	// lastNewline is found going forward through what each read brought:
	// bytes.IndexByte uses vector instructions, bytes.LastIndexByte does
	// not, and export lines are long (a message of records each).
	lastNewline := -1
	for {
		if len(b.text) == cap(b.text) {
			// A block's memory is taken when it is first used (a
			// small input touches little of it), and grows for a
			// long line.
			b.text = append(b.text, make([]byte, max(pool.blockBytes+pool.blockBytes/2, len(b.text)))...)[:len(b.text)]
		}
		from := len(b.text)
		n, err := r.Read(b.text[from:cap(b.text)])
		b.text = b.text[:from+n]
		for i := from; ; {
			j := bytes.IndexByte(b.text[i:], '\n')
			if j < 0 {
				break
			}
			lastNewline = i + j
			i = lastNewline + 1
		}
		if err != nil {
			b.last = true
			if err != io.EOF {
				b.readErr = err
			}
			return nil
		}
		if len(b.text) < pool.blockBytes {
			continue
		}
		if !wholeLines {
			return carry
		}
		if lastNewline >= 0 {
			carry = append(carry, b.text[lastNewline+1:]...)
			b.text = b.text[:lastNewline+1]
			return carry
		}
		if len(b.text) >= pool.maxBlockBytes {
			b.forced = true
			return nil
		}
	}
}

// cutBlock cuts a block as an input of its own and evaluates its records
// into b.part, noting in b.cut where its last top-level value began.
func cutBlock(e *detect.Engine, name string, in *input.Reader, b *scanBatch) {
	in.ResetBytes(b.text)
	sr := scanReader{in: in, name: name, notes: &b.notes, emit: func(rec input.Record) { e.EvaluateRecord(rec, &b.part) }}
	known := int64(-1)
	for {
		// A call that begins a top-level value emits only records of
		// that value: what came before it is what came before the call.
		records, readerRecords, extra := b.part.Records, sr.readerRecords, sr.extra
		err := sr.next()
		if start, index := in.MessageStart(); start != known {
			known = start
			b.cut = blockCut{offset: start, records: records, messages: index + extra, readerRecords: readerRecords}
		}
		if err != nil {
			if err != io.EOF {
				b.err = err
			}
			b.messages, b.readerRecords = in.Messages()+sr.extra, sr.readerRecords
			return
		}
	}
}

// cutBatches starts cutting r into batches of records on one goroutine,
// which the workers evaluate, and returns them in input order as blocks
// does.
func (pool *scanPool) cutBatches(ctx context.Context, e *detect.Engine, decodeAll bool, name string, r io.Reader) <-chan *scanBatch {
	if pool.stream == nil {
		pool.stream = input.NewReader(r)
	} else {
		pool.stream.Reset(r)
	}
	in := pool.stream
	ordered := make(chan *scanBatch, cap(pool.freeBatches))
	work := make(chan *scanBatch, cap(pool.freeBatches))
	pool.evaluate(e, decodeAll, name, work)
	go func() {
		defer close(ordered)
		defer close(work)
		r := scanReader{in: in, name: name}
		for {
			var b *scanBatch
			select {
			case b = <-pool.freeBatches:
			case <-ctx.Done():
				return
			}
			b.reset(false)
			r.notes, r.emit = &b.notes, b.add
			readerRecords := r.readerRecords
			for len(b.text) < pool.batchBytes && len(b.recs) < scanBatchRecords {
				if err := r.next(); err != nil {
					if err != io.EOF {
						b.err = err
					}
					b.last = true
					break
				}
			}
			b.seal()
			b.readerRecords = r.readerRecords - readerRecords
			b.messages = in.Messages() + r.extra
			b.end = in.Offset()
			ordered <- b // as in blocks, never waits
			work <- b
			if b.last {
				return
			}
		}
	}()
	return ordered
}

// scanReader cuts an input into records, decoding captured host requests
// into the records of their messages, numbered after the input's own
// messages.
type scanReader struct {
	in    *input.Reader
	name  string
	notes *[]scanNote
	emit  func(input.Record)
	// extra is how many messages the captured host requests read so far
	// held beyond one each; readerRecords counts the records the Reader
	// cut.
	extra, readerRecords int
}

// next cuts the next record and emits it, or the records of a captured host
// request; the error is the Reader's (io.EOF at the end).
func (r *scanReader) next() error {
	rec, err := r.in.Next()
	if err != nil {
		return err
	}
	rec.Message += r.extra
	r.readerRecords++
	if rec.Skip != "" || rec.Index != 0 || !bytes.HasPrefix(rec.Bytes, []byte("{")) || !mentionsMetadata(rec.Bytes) {
		r.emit(rec)
		return nil
	}
	inv, err := handler.DecodeCaptured(rec.Bytes)
	if errors.Is(err, handler.ErrNotHostRequest) {
		r.emit(rec)
		return nil
	}
	if err != nil {
		*r.notes = append(*r.notes, scanNote{rec.Message, rec.Offset, "host request: " + err.Error()})
		return nil
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
				*r.notes = append(*r.notes, scanNote{message, rec.Offset, "host request message: not valid JSON: " + err.Error()})
				break
			}
			mr.Message, mr.Index, mr.Offset = message, index, rec.Offset
			r.emit(mr)
		}
	}
	r.extra += len(inv.Messages) - 1
	return nil
}

// blockTail reads the rest of an input from its blocks: the rest of the
// block where it stopped splitting into lines, then every block after it.
type blockTail struct {
	pool   *scanPool
	blocks <-chan *scanBatch
	cur    *scanBatch
	rest   []byte
}

func (t *blockTail) Read(p []byte) (int, error) {
	for len(t.rest) == 0 {
		if t.cur != nil {
			last, err := t.cur.last, t.cur.readErr
			t.pool.put(t.cur)
			t.cur = nil
			if last {
				if err == nil {
					err = io.EOF
				}
				return 0, err
			}
		}
		b, ok := <-t.blocks
		if !ok {
			return 0, io.EOF // the reading was stopped
		}
		<-b.done
		t.cur, t.rest = b, b.text
	}
	n := copy(p, t.rest)
	t.rest = t.rest[n:]
	return n, nil
}

// drain puts back the blocks the rest of the input was not read from (the
// scan of the input stopped early), once their reading has stopped.
func (t *blockTail) drain() {
	if t.cur != nil {
		t.pool.put(t.cur)
		t.cur = nil
	}
	t.pool.drain(t.blocks)
}

// drain puts back the blocks or batches of a reading that was stopped (its
// context cancelled), as they come.
func (pool *scanPool) drain(ordered <-chan *scanBatch) {
	for b := range ordered {
		<-b.done
		pool.put(b)
	}
}
