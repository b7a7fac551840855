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
