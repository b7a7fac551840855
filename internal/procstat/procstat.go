// Package procstat reads a running process's peak resident set size from
// /proc (Linux), for the benchmarks and the memory tests. The rusage of a
// child is no measure: a child started with vfork counts the parent's pages
// it saw before exec, while VmHWM starts again at exec.
package procstat

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// PeakRSSMB returns VmHWM of process pid, in MB; ok is false when it cannot
// be read (no /proc, or the process has exited).
func PeakRSSMB(pid int) (mb float64, ok bool) {
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, false
	}
	for _, line := range strings.Split(string(status), "\n") {
		if rest, found := strings.CutPrefix(line, "VmHWM:"); found {
			kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
			return kb / 1024, err == nil
		}
	}
	return 0, false
}

// Watch reads the peak RSS of process pid every interval, from now until
// stop is called, and stop returns the highest seen, in MB (0 when it could
// never be read). The last reading before the process exits is the peak of
// its whole run, as VmHWM never goes down.
func Watch(pid int, interval time.Duration) (stop func() float64) {
	peak := make(chan float64, 1)
	done := make(chan struct{})
	go func() {
		var hwm float64
		defer func() { peak <- hwm }()
		for {
			if mb, ok := PeakRSSMB(pid); ok {
				hwm = max(hwm, mb)
			}
			select {
			case <-done:
				return
			case <-time.After(interval):
			}
		}
	}()
	return func() float64 {
		close(done)
		return <-peak
	}
}
