package procstat

import (
	"os"
	"runtime"
	"testing"
)

func TestPeakRSSMBOfThisProcess(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("VmHWM is read from Linux's /proc")
	}
	mb, ok := PeakRSSMB(os.Getpid())
	if !ok || mb <= 0 || mb > 1<<20 {
		t.Fatalf("PeakRSSMB = %v, %v", mb, ok)
	}
	if _, ok := PeakRSSMB(-1); ok {
		t.Fatal("a process that does not exist has a peak")
	}
}
