//go:build unix

package bolt

import (
	"os"
	"syscall"
)

// unlock drops bbolt's flock on f. Closing f alone does not when bbolt has
// mapped the file: the mapping keeps the open file, and its lock, alive.
func unlock(f *os.File) {
	syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
}
