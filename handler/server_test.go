package handler

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// serve runs s.Serve on a fresh loopback listener and returns its URL and
// the channel Serve's result arrives on.
func serve(t *testing.T, ctx context.Context, s *Server) (string, <-chan error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	return "http://" + ln.Addr().String(), done
}

// waitRefused dials addr until the connection is refused (the listener is
// closed). It polls because "stopped accepting" has no event to wait on.
func waitRefused(t *testing.T, url string) {
	t.Helper()
	addr := strings.TrimPrefix(url, "http://")
	for i := 0; i < 1000; i++ {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			return
		}
		c.Close()
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatal("listener still accepting 5 s after cancel")
}

func TestGracefulShutdown(t *testing.T) {
	entered := make(chan struct{})
	release := make(chan struct{})
	f := FuncOf(func(ctx context.Context, inv *Invocation) (Result, error) {
		close(entered)
		<-release
		return Result{Logs: []string{"finished after shutdown began"}}, ctx.Err()
	})
	s, err := New([]Route{{Function: "Slow", Trigger: Timer, Func: f}}, Options{ShutdownTimeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	url, done := serve(t, ctx, s)

	client := &http.Client{}
	type result struct {
		status int
		body   string
		err    error
	}
	res := make(chan result, 1)
	go func() {
		resp, err := client.Post(url+"/Slow", "application/json", strings.NewReader(`{"Data":{},"Metadata":{}}`))
		if err != nil {
			res <- result{err: err}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		res <- result{resp.StatusCode, string(b), err}
	}()
	<-entered
	cancel()
	waitRefused(t, url) // new connections are no longer accepted…
	select {
	case err := <-done:
		t.Fatalf("Serve returned %v while an invocation was in flight", err)
	default:
	}
	close(release) // …but the in-flight invocation completes
	r := <-res
	if r.err != nil || r.status != http.StatusOK || r.body != `{"Outputs":{},"Logs":["finished after shutdown began"],"ReturnValue":null}`+"\n" {
		t.Errorf("in-flight invocation: %d %q %v", r.status, r.body, r.err)
	}
	if err := <-done; err != nil {
		t.Errorf("Serve: %v, want nil", err)
	}
}

func TestShutdownTimeout(t *testing.T) {
	entered := make(chan struct{})
	cancelled := make(chan error, 1)
	f := FuncOf(func(ctx context.Context, inv *Invocation) (Result, error) {
		close(entered)
		<-ctx.Done() // only the forced close ends this invocation
		cancelled <- ctx.Err()
		return Result{}, ctx.Err()
	})
	s, err := New([]Route{{Function: "Stuck", Trigger: Timer, Func: f}}, Options{ShutdownTimeout: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	url, done := serve(t, ctx, s)
	client := &http.Client{}
	posted := make(chan error, 1)
	go func() {
		resp, err := client.Post(url+"/Stuck", "application/json", strings.NewReader(`{}`))
		if err == nil {
			resp.Body.Close()
		}
		posted <- err
	}()
	<-entered
	cancel()
	if err := <-done; !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Serve: %v, want context.DeadlineExceeded", err)
	}
	if err := <-cancelled; !errors.Is(err, context.Canceled) {
		t.Errorf("invocation context: %v, want context.Canceled", err)
	}
	if err := <-posted; err == nil {
		t.Error("client got an answer from a forcibly closed invocation")
	}
}

func TestListenAndServe(t *testing.T) {
	s, err := New(nil, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- s.ListenAndServe(ctx, addr) }()

	client := &http.Client{}
	var resp *http.Response
	for i := 0; i < 1000; i++ { // until it listens
		if resp, err = client.Get("http://" + addr + "/"); err == nil {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("never answered: %v", err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || string(b) != "{}" {
		t.Errorf("GET /: %d %q", resp.StatusCode, b)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("ListenAndServe after cancel: %v", err)
	}
	if err := s.ListenAndServe(context.Background(), "256.0.0.1:1"); err == nil || !strings.Contains(err.Error(), "listen on 256.0.0.1:1") {
		t.Errorf("bad address: %v", err)
	}
}
