package main

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/tripline/tripline/bench/corpus"
)

// TestScanStreamsInConstantMemory pipes 200 MB of Event Hubs bodies,
// generated on the fly, into `tripline scan -` and checks the process's peak
// resident set stays bounded: scan must stream, whatever the input size.
func TestScanStreamsInConstantMemory(t *testing.T) {
	const total = 200 << 20
	// Alone it peaks near 40 MB for 200 or 600 MB of input; under the full
	// -race suite on 2 cores the collector lags and peaks near 150 MB seen.
	const limitMB = 256
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
	written := 0
	for written < total {
		n, err := stdin.Write(unit.Bytes())
		written += n
		if err != nil {
			t.Fatalf("write after %d bytes: %v\n%s", written, err, stderr.String())
		}
	}
	stdin.Close()
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
	ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	if !ok {
		t.Skip("no rusage on this platform")
	}
	peakMB := float64(ru.Maxrss) / 1024 // KiB on Linux
	t.Logf("scanned %d MB (%d records): peak RSS %.1f MB", written>>20, records, peakMB)
	if peakMB > limitMB {
		t.Errorf("peak RSS %.1f MB scanning %d MB, want under %d MB", peakMB, written>>20, limitMB)
	}
}
