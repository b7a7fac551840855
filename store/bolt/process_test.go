package bolt_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/tripline/tripline/store/bolt"
	"github.com/tripline/tripline/store/storetest"
)

// Helper mode: the test binary re-executed by TestTwoProcesses runs
// incrementer instead of the tests.
const (
	helperEnv = "TRIPLINE_BOLT_TEST_HELPER"
	pathEnv   = "TRIPLINE_BOLT_TEST_PATH"
	countEnv  = "TRIPLINE_BOLT_TEST_COUNT"
)

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) == "increment" {
		if err := incrementer(); err != nil {
			fmt.Fprintln(os.Stderr, "helper:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// incrementer opens the store named by the environment, waits until the
// start file exists (so both processes begin together), and increments
// "counter" count times, printing how many stale retries it needed.
func incrementer() error {
	path := os.Getenv(pathEnv)
	count, err := strconv.Atoi(os.Getenv(countEnv))
	if err != nil {
		return err
	}
	s, err := bolt.Open(path, nil)
	if err != nil {
		return err
	}
	defer s.Close()
	start := path + ".start"
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(time.Millisecond) {
		if _, err := os.Stat(start); err == nil {
			break
		}
		if time.Now().After(deadline) {
			return errors.New("start file never appeared")
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	stale := 0
	for range count {
		n, err := storetest.Increment(ctx, s, "counter")
		if err != nil {
			return err
		}
		stale += n
	}
	fmt.Printf("stale=%d\n", stale)
	return nil
}

// TestTwoProcesses runs two processes that increment the same document in
// the same file with read, modify, replace-if-match and retry on ErrStale;
// the final count must be exact.
func TestTwoProcesses(t *testing.T) {
	const procs, perProc = 2, 100
	path := filepath.Join(t.TempDir(), "shared", "state.db")
	s, err := bolt.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Create(t.Context(), "counter", []byte(`{"id":"counter","ttl":3600,"n":0}`)); err != nil {
		t.Fatal(err)
	}
	cmds := make([]*exec.Cmd, procs)
	outs := make([]*strings.Builder, procs)
	for i := range cmds {
		cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), helperEnv+"=increment", pathEnv+"="+path, countEnv+"="+strconv.Itoa(perProc))
		outs[i] = &strings.Builder{}
		cmd.Stdout, cmd.Stderr = outs[i], outs[i]
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds[i] = cmd
	}
	if err := os.WriteFile(path+".start", nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for i, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			t.Fatalf("process %d: %v\n%s", i, err, outs[i])
		}
		t.Logf("process %d: %s", i, strings.TrimSpace(outs[i].String()))
	}
	it, err := s.Get(t.Context(), "counter")
	if err != nil {
		t.Fatal(err)
	}
	var got struct{ N int }
	if err := json.Unmarshal(it.Body, &got); err != nil {
		t.Fatal(err)
	}
	if got.N != procs*perProc {
		t.Fatalf("counter = %d, want %d", got.N, procs*perProc)
	}
	// Each successful replace is one version; the ETag counts them all
	// (1 for create + one per increment; retries write nothing).
	if want := strconv.Itoa(1 + procs*perProc); it.ETag != want {
		t.Fatalf("ETag = %s, want %s", it.ETag, want)
	}
}

// TestBusy holds the file's lock the way another process would and checks
// the error every operation returns once the lock timeout passes.
func TestBusy(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	s, err := bolt.Open(path, &bolt.Options{LockTimeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	holder, err := bbolt.Open(path, 0o600, nil) // exclusive flock until Close
	if err != nil {
		t.Fatal(err)
	}
	want := "state file " + path + " is busy"
	ops := map[string]func() error{
		"Get":     func() error { _, err := s.Get(t.Context(), "a"); return err },
		"Create":  func() error { _, err := s.Create(t.Context(), "a", []byte(`{"id":"a","ttl":60}`)); return err },
		"Replace": func() error { _, err := s.Replace(t.Context(), "a", []byte(`{"id":"a","ttl":60}`), "1"); return err },
		"Pending": func() error { _, err := s.Pending(t.Context(), 1); return err },
		"Open":    func() error { _, err := bolt.Open(path, &bolt.Options{LockTimeout: 50 * time.Millisecond}); return err },
	}
	for name, op := range ops {
		err := op()
		if !errors.Is(err, bolt.ErrBusy) || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want ErrBusy with %q", name, err, want)
		}
	}
	// A cancelled context ends the wait with the context's error.
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := s.Get(ctx, "a"); !errors.Is(err, context.Canceled) {
		t.Errorf("Get with cancelled context: %v, want context.Canceled", err)
	}
	if err := holder.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Create(t.Context(), "a", []byte(`{"id":"a","ttl":60}`)); err != nil {
		t.Fatalf("Create after the lock was released: %v", err)
	}
}

// TestOpen covers what Open creates and rejects.
func TestOpen(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "a", "b", "state.db")
	s, err := bolt.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	for _, p := range []string{filepath.Join(dir, "a"), filepath.Join(dir, "a", "b")} {
		if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != 0o700 {
			t.Errorf("directory %s: %v, mode %v, want 0700", p, err, fi.Mode().Perm())
		}
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("file: %v, want mode 0600", err)
	}
	if _, err := s.Get(t.Context(), "a"); err == nil || !strings.Contains(err.Error(), "closed") {
		t.Errorf("Get after Close: %v, want a closed error", err)
	}

	junk := filepath.Join(dir, "junk.db")
	if err := os.WriteFile(junk, []byte(strings.Repeat("not a bolt file ", 512)), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := bolt.Open(junk, nil); err == nil || !strings.Contains(err.Error(), "state file "+junk) {
		t.Errorf("Open of a non-bolt file: %v, want an error naming it", err)
	}
	if _, err := bolt.Open("", nil); err == nil {
		t.Error("Open(\"\") succeeded")
	}
}

// TestFileRemoved: a state file deleted behind the store's back reads as
// empty and is recreated by the next write.
func TestFileRemoved(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	s, err := bolt.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Create(t.Context(), "a", []byte(`{"id":"a","ttl":60,"pending":true}`)); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	items, err := s.Pending(t.Context(), 5)
	if err != nil || len(items) != 0 {
		t.Fatalf("Pending = %v, %v; want none", items, err)
	}
	if _, err := s.Create(t.Context(), "a", []byte(`{"id":"a","ttl":60}`)); err != nil {
		t.Fatalf("Create after removal: %v", err)
	}
}
