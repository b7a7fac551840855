//go:build unix

package bolt_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tripline/tripline/store"
	"github.com/tripline/tripline/store/bolt"
)

// goodFile writes a state file with enough documents to fill many pages
// and returns its path and page size.
func goodFile(t *testing.T, dir string) (string, int) {
	t.Helper()
	path := filepath.Join(dir, "state.db")
	s, err := bolt.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = s.Batch(t.Context(), func(tx store.Tx) error {
		for i := range 300 {
			id := fmt.Sprintf("doc%03d", i)
			body := fmt.Appendf(nil, `{"id":%q,"ttl":-1,"pending":true,"pad":%q}`, id, strings.Repeat("x", 500))
			if _, err := tx.Create(t.Context(), id, body); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Size() < 40*int64(os.Getpagesize()) {
		t.Fatalf("the good file has only %d bytes", fi.Size())
	}
	return path, os.Getpagesize()
}

// overwrite replaces n bytes at off with what fill makes.
func overwrite(t *testing.T, path string, off, n int64, fill func([]byte)) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, n)
	fill(b)
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}

func zeros([]byte) {}

func garbage(seed uint64) func([]byte) {
	return func(b []byte) {
		r := rand.New(rand.NewPCG(seed, seed))
		for i := range b {
			b[i] = byte(r.Uint32())
		}
	}
}

// damages are the ways a state file goes bad. Each takes a good file.
var damages = []struct {
	name   string
	damage func(t *testing.T, path string, page int)
}{
	{"truncated", func(t *testing.T, path string, page int) {
		fi, _ := os.Stat(path)
		if err := os.Truncate(path, fi.Size()/3); err != nil {
			t.Fatal(err)
		}
	}},
	{"truncated to one page", func(t *testing.T, path string, page int) {
		if err := os.Truncate(path, int64(page)); err != nil {
			t.Fatal(err)
		}
	}},
	{"zeroed data pages", func(t *testing.T, path string, page int) {
		fi, _ := os.Stat(path)
		overwrite(t, path, int64(2*page), fi.Size()-int64(2*page), zeros)
	}},
	{"garbage data pages", func(t *testing.T, path string, page int) {
		fi, _ := os.Stat(path)
		overwrite(t, path, int64(2*page), fi.Size()-int64(2*page), garbage(1))
	}},
	{"garbage meta pages", func(t *testing.T, path string, page int) {
		overwrite(t, path, 0, int64(2*page), garbage(2))
	}},
	{"not a bolt file", func(t *testing.T, path string, page int) {
		if err := os.WriteFile(path, []byte(strings.Repeat("not a bolt file ", 512)), 0o600); err != nil {
			t.Fatal(err)
		}
	}},
	{"a directory", func(t *testing.T, path string, page int) {
		if err := os.Remove(path); err != nil {
			t.Fatal(err)
		}
		if err := os.Mkdir(path, 0o700); err != nil {
			t.Fatal(err)
		}
	}},
}

// wantCorrupt checks that err is the one-line damaged-file error.
func wantCorrupt(t *testing.T, what, path string, err error) {
	t.Helper()
	if !errors.Is(err, bolt.ErrCorrupt) {
		t.Errorf("%s: %v, want ErrCorrupt", what, err)
		return
	}
	msg := err.Error()
	for _, want := range []string{"state file " + path + " is damaged", "move it aside"} {
		if !strings.Contains(msg, want) {
			t.Errorf("%s: %q does not say %q", what, msg, want)
		}
	}
	if strings.Contains(msg, "\n") {
		t.Errorf("%s: the message has several lines: %q", what, msg)
	}
}

// wantUnlocked checks that nothing in this process holds the file's lock:
// an exclusive flock on a new descriptor succeeds at once.
func wantUnlocked(t *testing.T, path string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		t.Errorf("the state file's lock is still held: %v", err)
	}
}

// TestDamagedFile: for each kind of damage, Open, and every operation of
// a store opened before the damage, return ErrCorrupt naming the file,
// never panic, leave the file unlocked, and leave the process able to use
// a good file.
func TestDamagedFile(t *testing.T) {
	ctx := t.Context()
	body := []byte(`{"id":"new","ttl":60}`)
	for _, d := range damages {
		t.Run(d.name, func(t *testing.T) {
			dir := t.TempDir()
			path, page := goodFile(t, dir)
			before, err := bolt.Open(path, &bolt.Options{LockTimeout: time.Second})
			if err != nil {
				t.Fatal(err)
			}
			defer before.Close()
			d.damage(t, path, page)

			_, err = bolt.Open(path, &bolt.Options{LockTimeout: time.Second})
			wantCorrupt(t, "Open", path, err)
			ops := []struct {
				name string
				op   func() error
			}{
				{"Get", func() error { _, err := before.Get(ctx, "doc150"); return err }},
				{"Pending", func() error { _, err := before.Pending(ctx, 1000); return err }},
				{"Create", func() error { _, err := before.Create(ctx, "new", body); return err }},
				{"Replace", func() error {
					_, err := before.Replace(ctx, "doc150", []byte(`{"id":"doc150","ttl":60}`), "151")
					return err
				}},
				{"Batch", func() error {
					return before.Batch(ctx, func(tx store.Tx) error {
						if _, err := tx.Get(ctx, "doc007"); err != nil {
							return err
						}
						_, err := tx.Create(ctx, "new", body)
						return err
					})
				}},
			}
			for _, o := range ops {
				wantCorrupt(t, o.name, path, o.op())
			}
			if d.name != "a directory" {
				wantUnlocked(t, path)
			}

			// The process goes on with a good file.
			good, err := bolt.Open(filepath.Join(dir, "good.db"), nil)
			if err != nil {
				t.Fatal(err)
			}
			defer good.Close()
			if _, err := good.Create(ctx, "a", []byte(`{"id":"a","ttl":60}`)); err != nil {
				t.Fatal(err)
			}
			if _, err := good.Get(ctx, "a"); err != nil {
				t.Fatal(err)
			}

			// Moved aside as the message says, the path starts afresh.
			if err := os.Rename(path, path+".damaged"); err != nil {
				t.Fatal(err)
			}
			if _, err := before.Create(ctx, "new", body); err != nil {
				t.Errorf("Create after the file was moved aside: %v", err)
			}
		})
	}
}

// TestEmptyFile: an empty file at the path holds nothing to lose, so it
// reads as empty and the first write makes it a new database (as bbolt
// does), rather than being reported damaged.
func TestEmptyFile(t *testing.T) {
	ctx := t.Context()
	path, _ := goodFile(t, t.TempDir())
	s, err := bolt.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	if items, err := s.Pending(ctx, 10); err != nil || len(items) != 0 {
		t.Fatalf("Pending on an emptied file = %d items, %v; want none", len(items), err)
	}
	if _, err := s.Get(ctx, "doc001"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Get on an emptied file: %v, want ErrNotFound", err)
	}
	if _, err := s.Create(ctx, "a", []byte(`{"id":"a","ttl":60}`)); err != nil {
		t.Fatalf("Create on an emptied file: %v", err)
	}
	if err := os.WriteFile(path+"2", nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := bolt.Open(path+"2", nil); err != nil {
		t.Fatalf("Open of an empty file: %v", err)
	}
	wantUnlocked(t, path)
}
