package bolt

// The state file: opening it for each operation, its lock, and what a
// damaged or busy file becomes.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	bbolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/tripline/tripline/store"
)

// view runs fn in a read transaction on the file, opened read-only with a
// shared lock. A missing or empty file reads as empty: fn gets a nil
// *bbolt.Tx.
func (s *Store) view(ctx context.Context, fn func(*bbolt.Tx) error) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if fi, err := os.Stat(s.path); err == nil && fi.Mode().IsRegular() && fi.Size() == 0 {
		// bbolt cannot open an empty file read-only; it holds nothing.
		return fn(nil)
	}
	err := s.withDB(ctx, true, func(db *bbolt.DB) error { return db.View(fn) })
	if errors.Is(err, os.ErrNotExist) {
		return fn(nil) // the file was removed since Open: it holds nothing
	}
	return err
}

// update runs fn in a write transaction on the file, opened with an
// exclusive lock; fn's error rolls it back.
func (s *Store) update(ctx context.Context, fn func(*bbolt.Tx) error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.withDB(ctx, false, func(db *bbolt.DB) error { return db.Update(fn) })
}

// withDB opens the file, runs fn on it and closes it, in every case: when
// fn fails; when bbolt panics (the panic becomes an ErrCorrupt error, and
// the store only unlocks and closes the file, since bbolt's state is then
// unknown); and when a function of the caller's panics inside fn (the
// database is closed, which rolls back, and the panic goes on). The caller
// holds s.mu.
func (s *Store) withDB(ctx context.Context, readOnly bool, fn func(*bbolt.DB) error) (err error) {
	var (
		file *os.File  // as bbolt opened it, to release the lock after a panic
		db   *bbolt.DB // nil once closed
	)
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		r := recover()
		if r == nil {
			return
		}
		if cp, ok := r.(callerPanic); ok {
			if db != nil {
				db.Close()
			}
			panic(cp.v)
		}
		if file != nil {
			// bbolt's memory map of the file stays (its address is
			// bbolt's), and holds the lock with it: unlock first.
			unlock(file)
			file.Close()
		}
		err = s.corrupt(fmt.Sprint(r))
	}()
	db, err = s.open(ctx, readOnly, &file)
	if err != nil {
		return err
	}
	err = fn(db)
	cerr := db.Close()
	db = nil
	if err != nil {
		return s.classify(err)
	}
	if cerr != nil {
		return fmt.Errorf("state file %s: close: %w", s.path, cerr)
	}
	return nil
}

// callerPanic carries a panic of the function given to Batch through
// withDB, which then releases the file and panics again with v.
type callerPanic struct{ v any }

// callFn runs Batch's function, marking a panic of it as the caller's.
func callFn(fn func(store.Tx) error, t *Tx) error {
	defer func() {
		if r := recover(); r != nil {
			panic(callerPanic{r})
		}
	}()
	return fn(t)
}

// guard runs fn, which uses a transaction of an open database, turning a
// panic of bbolt on a damaged page, or a fault on its memory map (a page
// past the end of a truncated file), into an ErrCorrupt error.
func (s *Store) guard(fn func() error) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			err = s.corrupt(fmt.Sprint(r))
		}
	}()
	return fn()
}

// open opens the file, waiting for its lock (bbolt's flock, polled) within
// the lock timeout and the context's deadline. *file is set to the file as
// soon as bbolt has opened it. The caller holds s.mu.
func (s *Store) open(ctx context.Context, readOnly bool, file **os.File) (*bbolt.DB, error) {
	if s.closed {
		return nil, errors.New("store is closed")
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	wait := s.lockTimeout
	if d, ok := ctx.Deadline(); ok && time.Until(d) < wait {
		wait = max(time.Until(d), time.Millisecond)
	}
	db, err := bbolt.Open(s.path, 0o600, &bbolt.Options{
		ReadOnly: readOnly,
		Timeout:  wait,
		OpenFile: func(name string, flag int, perm os.FileMode) (*os.File, error) {
			f, err := os.OpenFile(name, flag, perm)
			if err == nil {
				*file = f
			}
			return f, err
		},
	})
	switch {
	case err == nil:
		return db, nil
	case errors.Is(err, berrors.ErrTimeout):
		return nil, &busyError{path: s.path, waited: wait}
	case errors.Is(err, os.ErrNotExist):
		return nil, err
	}
	return nil, s.classify(err)
}

// classify names the file in err, and makes the errors of a file that is
// not a readable bbolt database match ErrCorrupt.
func (s *Store) classify(err error) error {
	switch {
	case errors.Is(err, berrors.ErrInvalid), errors.Is(err, berrors.ErrVersionMismatch),
		errors.Is(err, berrors.ErrChecksum), errors.Is(err, berrors.ErrInvalidMapping),
		// bbolt's error for a file shorter than its meta pages has no
		// sentinel.
		strings.HasPrefix(err.Error(), "file size too small"):
		return s.corrupt(err.Error())
	case errors.Is(err, syscall.EISDIR):
		return s.corrupt("it is a directory")
	case errors.Is(err, ErrCorrupt), errors.Is(err, ErrBusy),
		errors.Is(err, store.ErrExists), errors.Is(err, store.ErrStale), errors.Is(err, store.ErrNotFound):
		return err
	}
	if strings.Contains(err.Error(), s.path) {
		return err
	}
	return fmt.Errorf("state file %s: %w", s.path, err)
}

func (s *Store) corrupt(why string) error {
	return &corruptError{path: s.path, why: strings.Join(strings.Fields(why), " ")}
}

type corruptError struct{ path, why string }

func (e *corruptError) Error() string {
	return fmt.Sprintf("state file %s is damaged (%s): move it aside (mv %s %s.damaged) and run again to start an empty one; "+
		"the suppression windows and pending notifications it held are lost", e.path, e.why, e.path, e.path)
}

func (e *corruptError) Is(target error) bool { return target == ErrCorrupt }

type busyError struct {
	path   string
	waited time.Duration
}

func (e *busyError) Error() string {
	return fmt.Sprintf("state file %s is busy: another process held it for more than %s", e.path, e.waited)
}

func (e *busyError) Is(target error) bool { return target == ErrBusy }
