// Command echohandler is a custom handler for hostsim's tests. It serves
// every function.json under its app root with handler.Server and an echo
// Func whose Logs describe what the handler decoded:
//
//	Logs[0]   {"function":…,"id":…,"trigger":…,"retry":n,"maxRetry":n,"partition":…,"count":n}
//	Logs[1+i] {"body":"<base64>","seq":n,"time":"<RFC 3339 or empty>"}
//
// and for timers one more entry {"args":[…],"cwd":…,"env":{…}} describing the
// process. A message body steers the Func:
//
//	fail-until:N    fail while RetryContext.RetryCount < N
//	panic           panic
//	wait-file:PATH  print "echo: waiting for PATH" to stderr, then block until PATH exists
//
// For an Event Grid event the command is its "subject".
//
// With ECHO_IGNORE_SIGTERM set the process ignores SIGTERM.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/tripline/tripline/handler"
)

func main() {
	sigs := []os.Signal{syscall.SIGTERM, os.Interrupt}
	if os.Getenv("ECHO_IGNORE_SIGTERM") != "" {
		signal.Ignore(syscall.SIGTERM) // to test the simulator's SIGKILL
		sigs = sigs[1:]
	}
	ctx, stop := signal.NotifyContext(context.Background(), sigs...)
	defer stop()
	if err := run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "echohandler:", err)
		os.Exit(1)
	}
	fmt.Fprintln(os.Stderr, "echohandler: exited cleanly")
}

func run(ctx context.Context) error {
	port, ok := handler.PortFromEnv()
	if !ok {
		return errors.New("FUNCTIONS_CUSTOMHANDLER_PORT is not set")
	}
	root := os.Getenv("FUNCTIONS_APP_ROOT_PATH")
	if root == "" {
		root = "."
	}
	routes, err := loadRoutes(root)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	srv, err := handler.New(routes, handler.Options{Logger: log, ShutdownTimeout: 10 * time.Second})
	if err != nil {
		return err
	}
	return srv.ListenAndServe(ctx, "127.0.0.1:"+port)
}

// loadRoutes makes one route per <dir>/function.json with a supported trigger.
func loadRoutes(root string) ([]handler.Route, error) {
	paths, err := filepath.Glob(filepath.Join(root, "*", "function.json"))
	if err != nil {
		return nil, err
	}
	var routes []handler.Route
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		var fj struct {
			Bindings []struct{ Type, Direction, Name, DataType, Cardinality string }
		}
		if err := json.Unmarshal(data, &fj); err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		for _, b := range fj.Bindings {
			r := handler.Route{Function: filepath.Base(filepath.Dir(p)), Binding: b.Name, Func: handler.FuncOf(echo)}
			switch {
			case strings.EqualFold(b.Type, "eventHubTrigger") && strings.EqualFold(b.Cardinality, "many"):
				r.Trigger = handler.EventHubBatch
				switch strings.ToLower(b.DataType) {
				case "binary":
					r.DataType = handler.DataTypeBinary
				case "":
					r.DataType = handler.DataTypeOmitted
				}
			case strings.EqualFold(b.Type, "eventGridTrigger"):
				r.Trigger = handler.EventGrid
			case strings.EqualFold(b.Type, "timerTrigger"):
				r.Trigger = handler.Timer
			default:
				continue
			}
			routes = append(routes, r)
		}
	}
	return routes, nil
}

func echo(ctx context.Context, inv *handler.Invocation) (handler.Result, error) {
	var logs []string
	add := func(v any) {
		b, _ := json.Marshal(v)
		logs = append(logs, string(b))
	}
	add(map[string]any{"function": inv.Function, "id": inv.ID, "trigger": inv.Trigger.String(),
		"retry": inv.RetryCount, "maxRetry": inv.MaxRetryCount, "partition": inv.Partition, "count": len(inv.Messages)})
	for _, m := range inv.Messages {
		t := ""
		if !m.EnqueuedTime.IsZero() {
			t = m.EnqueuedTime.Format(time.RFC3339Nano)
		}
		add(map[string]any{"body": m.Body, "seq": m.SequenceNumber, "time": t})
	}
	if inv.Trigger == handler.Timer {
		cwd, _ := os.Getwd()
		env := map[string]string{}
		for _, kv := range os.Environ() {
			k, v, _ := strings.Cut(kv, "=")
			if strings.HasPrefix(k, "FUNCTIONS_") || strings.HasPrefix(k, "ECHO_") {
				env[k] = v
			}
		}
		add(map[string]any{"args": os.Args[1:], "cwd": cwd, "env": env})
	}
	for _, m := range inv.Messages {
		body := command(m.Body)
		switch {
		case strings.HasPrefix(body, "fail-until:"):
			n, _ := strconv.Atoi(strings.TrimPrefix(body, "fail-until:"))
			if inv.RetryCount < n {
				return handler.Result{Logs: logs}, fmt.Errorf("echo: failing attempt with RetryCount %d (until %d)", inv.RetryCount, n)
			}
		case body == "panic":
			panic("echo: asked to panic")
		case strings.HasPrefix(body, "wait-file:"):
			path := strings.TrimPrefix(body, "wait-file:")
			fmt.Fprintln(os.Stderr, "echo: waiting for", path)
			for {
				if _, err := os.Stat(path); err == nil {
					break
				}
				select {
				case <-ctx.Done():
					return handler.Result{Logs: logs}, ctx.Err()
				case <-time.After(5 * time.Millisecond):
				}
			}
		}
	}
	return handler.Result{Logs: logs}, nil
}

// command is the body, or the "subject" of a JSON object body.
func command(body []byte) string {
	var ev struct{ Subject string }
	if len(body) > 0 && body[0] == '{' && json.Unmarshal(body, &ev) == nil {
		return ev.Subject
	}
	return string(body)
}
