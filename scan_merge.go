package main

// How scan merges the stretches of an input (scan_pipeline.go) in order and
// records them a chunk at a time.

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/tripline/tripline/alert"
	"github.com/tripline/tripline/alerting"
	"github.com/tripline/tripline/detect"
	"github.com/tripline/tripline/input"
)

// read merges the stretches of r as they come, and hands the chunks to the
// recorder. Cancelling ctx stops it.
func (m *scanMerger) read(ctx context.Context, pool *scanPool, r io.Reader) error {
	p := m.p
	// stopReading ends the reading of an input that stopped early.
	ctx, stopReading := context.WithCancel(ctx)
	defer stopReading()
	blocks, stopEvaluating := pool.blocks(ctx, p.Engine, p.CheckEveryRecord, m.name, r)
	var tail *blockTail
	for b := range blocks {
		<-b.done
		// A block whose end is inside a value (not the input's last)
		// was not cut as the input is: the input goes on from that
		// value's start.
		ends := b.last || !b.forced && (b.err == nil || !errors.Is(b.err, input.ErrTruncated))
		if !ends {
			stopEvaluating()
			m.merge(&b.part, b.notes, b.cut.records, b.cut.messages, b.cut.readerRecords, b.cut.offset)
			tail = &blockTail{pool: pool, blocks: blocks, cur: b, rest: b.text[b.cut.offset:]}
			break
		}
		base := m.offset
		m.merge(&b.part, b.notes, b.part.Records, b.messages, b.readerRecords, int64(len(b.text)))
		err, readErr, size := b.err, b.readErr, len(b.text)
		pool.put(b)
		if err != nil || readErr != nil {
			if err == nil {
				err = &input.Error{Offset: int64(size), Err: readErr}
			}
			m.stop(err, base)
			stopReading()
			pool.drain(blocks)
			return nil
		}
	}
	if tail != nil {
		base := m.offset
		batches := pool.cutBatches(ctx, p.Engine, p.CheckEveryRecord, m.name, tail)
		defer func() {
			// Once the cutting has stopped, nothing reads the
			// blocks but drain.
			stopReading()
			pool.drain(batches)
			tail.drain()
		}()
		for b := range batches {
			<-b.done
			// Messages and offsets run on through the batches of
			// the rest: each is merged from where the rest starts.
			m.mergeFrom(&b.part, b.notes, b.readerRecords, m.message, base)
			m.offset = base + b.end
			err := b.err
			pool.put(b)
			if err != nil {
				m.stop(err, base)
				return nil
			}
		}
	}
	if err := ctx.Err(); err != nil {
		return err // cancelled (the recording failed, say)
	}
	m.finish()
	return nil
}

// scanMerger merges the stretches of one input in order into chunks of
// scanChunkRecords records, which a scanRecorder records.
type scanMerger struct {
	p    *alerting.Pipeline
	name string
	// res is the chunk being merged, notes the problems found in it.
	res   *detect.Result
	notes []string
	// message and offset are where the next stretch starts in the input;
	// readerRecords counts the records the Reader cut.
	message       int
	offset        int64
	readerRecords int
	chunks        chan<- *scanChunk
}

// scanChunk is what to record of a chunk of the input name.
type scanChunk struct {
	name string
	res  *detect.Result
	// notes come before the chunk's own skips; ending, how the input
	// ended when the chunk is its last, after them (a skip when the input
	// stopped at an error).
	notes        []string
	ending       string
	endingIsSkip bool
	// offset is where the chunk ends in the input.
	offset int64
}

// merge merges a stretch up to its record to, which is where its messages
// and bytes end (messages and bytes), and moves on to after it.
func (m *scanMerger) merge(part *detect.Result, notes []scanNote, to, messages, readerRecords int, bytes int64) {
	m.mergeFrom(part, notes[:notesBefore(notes, messages)], readerRecords, m.message, m.offset, to)
	m.message += messages
	m.offset += bytes
}

// mergeFrom merges part's records up to to (all by default), numbered from
// message and offset.
func (m *scanMerger) mergeFrom(part *detect.Result, notes []scanNote, readerRecords, message int, offset int64, to ...int) {
	upTo := part.Records
	if len(to) > 0 {
		upTo = to[0]
	}
	for _, n := range notes {
		m.notes = append(m.notes, fmt.Sprintf("%s message %d (byte %d): %s", m.name, n.message+message, n.offset+offset, n.text))
	}
	m.readerRecords += readerRecords
	for from := 0; ; {
		room := scanChunkRecords - m.res.Records
		if upTo-from < room {
			m.p.Engine.MergeRecords(m.res, part, from, upTo, message, offset)
			return
		}
		m.p.Engine.MergeRecords(m.res, part, from, from+room, message, offset)
		m.flush()
		if from += room; from == upTo && upTo == part.Records {
			return
		}
	}
}

// notesBefore is how many of notes concern messages before message.
func notesBefore(notes []scanNote, message int) int {
	n := 0
	for n < len(notes) && notes[n].message < message {
		n++
	}
	return n
}

// flush hands the chunk merged so far to the recorder.
func (m *scanMerger) flush() { m.end("", false) }

// end hands the last chunk of the input to the recorder, with how the input
// ended.
func (m *scanMerger) end(ending string, isSkip bool) {
	m.chunks <- &scanChunk{name: m.name, res: m.res, notes: m.notes, ending: ending, endingIsSkip: isSkip, offset: m.offset}
	m.res, m.notes = &detect.Result{DecodeAll: m.res.DecodeAll}, nil
}

// stop ends the input at err; its offset counts from base.
func (m *scanMerger) stop(err error, base int64) {
	var ie *input.Error
	if errors.As(err, &ie) {
		err = &input.Error{Offset: ie.Offset + base, Err: ie.Err}
	}
	if m.readerRecords == 0 {
		m.end(fmt.Sprintf("%s holds no JSON records (not valid JSON %v)", m.name, err), true)
	} else {
		m.end(fmt.Sprintf("%s not valid JSON %v; the rest of the file is not read", m.name, err), true)
	}
}

// finish ends the input, noting one without records.
func (m *scanMerger) finish() {
	switch {
	case m.offset == 0:
		m.end(m.name+" is empty", false)
	case m.readerRecords == 0:
		m.end(m.name+" holds no records", false)
	default:
		m.flush()
	}
}

// scanRecorder records the chunks of a scan's inputs, in order, on a
// goroutine of its own, so that the reading goes on meanwhile (the next
// input's too), prints their alerts and sums them up.
type scanRecorder struct {
	ctx      context.Context
	p        *alerting.Pipeline
	stdout   *bufio.Writer
	asJSON   bool
	sum      *scanSummary
	progress *progress
	// stopReading cancels the scan's reading when a chunk cannot be
	// recorded.
	stopReading func()
	chunks      chan *scanChunk
	done        chan error
}

// startRecorder starts recording chunks; close ends it.
func startRecorder(ctx context.Context, p *alerting.Pipeline, stdout *bufio.Writer, asJSON bool, sum *scanSummary, progress *progress, stopReading func()) *scanRecorder {
	rec := &scanRecorder{ctx: ctx, p: p, stdout: stdout, asJSON: asJSON, sum: sum, progress: progress, stopReading: stopReading,
		chunks: make(chan *scanChunk, 2), done: make(chan error, 1)}
	go func() { rec.done <- rec.run() }()
	return rec
}

// close waits for the chunks sent so far to be recorded, and returns the
// first failure.
func (rec *scanRecorder) close() error {
	close(rec.chunks)
	return <-rec.done
}

// run records chunks until there are no more; after a failure, it stops
// the reading and records nothing more.
func (rec *scanRecorder) run() error {
	var failed error
	for ch := range rec.chunks {
		if failed != nil {
			continue
		}
		rec.sum.skipped += len(ch.notes)
		rec.sum.skips = append(rec.sum.skips, ch.notes...)
		if failed = rec.record(ch); failed != nil {
			rec.stopReading()
			continue
		}
		if ch.endingIsSkip {
			rec.sum.skipped++
		}
		if ch.ending != "" {
			rec.sum.skips = append(rec.sum.skips, ch.ending)
		}
	}
	return failed
}

func (rec *scanRecorder) record(ch *scanChunk) error {
	if ch.res.Records == 0 {
		return nil
	}
	out, err := rec.p.Record(rec.ctx, 0, ch.res)
	if err != nil {
		return fmt.Errorf("%s: alerts not recorded: %w", ch.name, err)
	}
	account(ch.name, out, rec.sum)
	for _, al := range out.Alerts {
		if rec.sum.shown[al.ID] && al.State == alert.StateDuplicate {
			continue // already printed by this scan
		}
		rec.sum.shown[al.ID] = true
		printAlert(rec.stdout, al, rec.asJSON)
	}
	rec.stdout.Flush()
	rec.progress.update(ch.offset, rec.sum)
	return nil
}
