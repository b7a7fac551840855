package procstat

import (
	"os"
	"runtime"
	"testing"
	"time"
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

func TestWatchOfThisProcess(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("VmHWM is read from Linux's /proc")
	}
	stop := Watch(os.Getpid(), time.Millisecond)
	time.Sleep(5 * time.Millisecond)
	if mb := stop(); mb <= 0 {
		t.Fatalf("Watch saw a peak of %v MB", mb)
	}
	if mb := Watch(-1, time.Millisecond)(); mb != 0 {
		t.Fatalf("Watch of a process that does not exist saw %v MB", mb)
	}
}
