package main

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tripline/tripline/bench/corpus"
	"github.com/tripline/tripline/internal/procstat"
)

// TestScanStreamsInConstantMemory pipes 200 MB of Event Hubs bodies,
// generated on the fly, into `tripline scan -` and checks the process's peak
// resident set stays bounded: scan must stream, whatever the input size.
func TestScanStreamsInConstantMemory(t *testing.T) {
	const total = 200 << 20
	// It peaks near 20 MB (bench/RESULTS.md: 18 MB over 4 GB); the limit
	// leaves room for the race detector and a busy machine.
	const limitMB = 128
	c := corpus.Generate(corpus.Options{Messages: 100})
	var unit bytes.Buffer
	for _, b := range c.Bodies {
		unit.Write(b)
		unit.WriteByte('\n')
	}
	cmd := exec.Command(binary, "scan", "--no-deliver", "--json", "-")
	cmd.Env = os.Environ()
	for k, v := range isolatedEnv(t, nil) {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = io.Discard, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// The peak is read from /proc while the process runs (VmHWM, its high
	// water mark since exec). The rusage of a child is no measure: a child
	// started with vfork counts the parent's pages it saw before exec.
	stopWatching := procstat.Watch(cmd.Process.Pid, 20*time.Millisecond)
	written := 0
	for written < total {
		n, err := stdin.Write(unit.Bytes())
		written += n
		if err != nil {
			t.Fatalf("write after %d bytes: %v\n%s", written, err, stderr.String())
		}
	}
	stdin.Close()
	// Reading and evaluating end with the input; what is left is the
	// summary, so a reading now is near the end.
	time.Sleep(50 * time.Millisecond)
	peakMB := stopWatching()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("scan: %v\n%s", err, stderr.String())
	}
	records := written / unit.Len() * c.Records
	if !strings.Contains(stderr.String(), " record(s) read") {
		t.Fatalf("no summary:\n%s", stderr.String())
	}
	if !strings.Contains(stderr.String(), strconv.Itoa(records)+" record(s) read") {
		t.Errorf("summary does not count %d records:\n%s", records, stderr.String())
	}
	if peakMB == 0 {
		t.Skip("no /proc/PID/status VmHWM on this platform")
	}
	t.Logf("scanned %d MB (%d records): peak RSS %.1f MB", written>>20, records, peakMB)
	if peakMB > limitMB {
		t.Errorf("peak RSS %.1f MB scanning %d MB, want under %d MB", peakMB, written>>20, limitMB)
	}
}
