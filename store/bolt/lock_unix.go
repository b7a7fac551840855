//go:build unix

package bolt

import (
	"context"
	"errors"
	"os"
	"sync/atomic"
	"syscall"
	"time"
)

// errLockTimeout is returned by lockFile when the deadline passes.
var errLockTimeout = errors.New("lock timeout")

// lockFile takes a flock on f (shared or exclusive) before bbolt does, so
// that the wait is under the store's control: a blocking flock, queued by
// the kernel and woken as soon as the holder lets go (bbolt itself polls
// every 50 ms, which lets a busy process starve another), bounded by the
// deadline and ctx. bbolt's own flock on the same open file then succeeds
// at once, and bbolt releases the lock when it closes the file.
//
// On failure lockFile disposes of f: it closes it, or, when it gives up on a
// blocked flock, leaves it to the waiting goroutine, which closes it (and so
// drops the lock) as soon as its flock returns.
func lockFile(ctx context.Context, f *os.File, shared bool, deadline time.Time) error {
	how := syscall.LOCK_EX
	if shared {
		how = syscall.LOCK_SH
	}
	fd := int(f.Fd())
	err := flock(fd, how|syscall.LOCK_NB)
	if err == nil {
		return nil
	}
	if !errors.Is(err, syscall.EWOULDBLOCK) {
		f.Close()
		return &os.PathError{Op: "flock", Path: f.Name(), Err: err}
	}

	const (
		waiting = iota
		abandoned
		finished
	)
	var state atomic.Int32
	done := make(chan error, 1)
	go func() {
		err := flock(fd, how)
		if !state.CompareAndSwap(waiting, finished) {
			f.Close() // the caller gave up
			return
		}
		done <- err
	}()
	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	var giveUp error
	select {
	case err := <-done:
		return lockResult(f, err)
	case <-timer.C:
		giveUp = errLockTimeout
	case <-ctx.Done():
		giveUp = ctx.Err()
	}
	if state.CompareAndSwap(waiting, abandoned) {
		return giveUp
	}
	return lockResult(f, <-done) // the flock returned just now
}

func lockResult(f *os.File, err error) error {
	if err != nil {
		f.Close()
		return &os.PathError{Op: "flock", Path: f.Name(), Err: err}
	}
	return nil
}

// flock is syscall.Flock retried on EINTR.
func flock(fd, how int) error {
	for {
		err := syscall.Flock(fd, how)
		if !errors.Is(err, syscall.EINTR) {
			return err
		}
	}
}
