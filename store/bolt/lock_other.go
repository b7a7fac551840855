//go:build !unix

package bolt

import (
	"context"
	"errors"
	"os"
	"time"
)

// errLockTimeout is never returned here: bbolt's own lock (with
// bbolt.Options.Timeout) does the waiting on these platforms.
var errLockTimeout = errors.New("lock timeout")

// lockFile leaves locking to bbolt. It never fails, so it never closes f.
func lockFile(ctx context.Context, f *os.File, shared bool, deadline time.Time) error {
	return nil
}
