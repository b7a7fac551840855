package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"

	"github.com/tripline/tripline/alerting"
	"github.com/tripline/tripline/handler"
)

// Function names: the folders of function.json at the repository root.
const (
	fnActivityLogEvents = "ActivityLogEvents"
	fnResourceEvents    = "ResourceEvents"
	fnNotificationRetry = "NotificationRetry"
)

// deliverBatch bounds one retry pass (documents read from the store).
const deliverBatch = 200

func cmdServe(ctx context.Context, args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "", "listen address (default 127.0.0.1:$FUNCTIONS_CUSTOMHANDLER_PORT)")
	rulesDir := fs.String("rules", "", "directory tree of rule files (default: TRIPLINE_RULES_DIR, else the app package's config/rules)")
	if code := parseFlags(fs, args); code >= 0 {
		return code
	}
	logger := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{ReplaceAttr: durationText}))
	if *addr == "" {
		port, ok := handler.PortFromEnv()
		if !ok {
			fmt.Fprintln(stderr, "tripline serve: FUNCTIONS_CUSTOMHANDLER_PORT is not set (the Functions host sets it); use --addr to listen elsewhere")
			return 2
		}
		*addr = "127.0.0.1:" + port
	}
	a, err := newApp(ctx, appOptions{needStore: true, rulesDir: *rulesDir, logger: logger})
	if err != nil {
		fmt.Fprintf(stderr, "tripline serve: %v\n", err)
		return 1
	}
	defer a.Close()
	srv, err := handler.New(routes(a.pipeline), handler.Options{Logger: logger})
	if err != nil {
		fmt.Fprintf(stderr, "tripline serve: %v\n", err)
		return 1
	}
	logger.Info("tripline serving", "addr", *addr, "store", a.storeDesc, "rules", len(a.pipeline.Engine.Rules()))
	if err := srv.ListenAndServe(ctx, *addr); err != nil {
		fmt.Fprintf(stderr, "tripline serve: %v\n", err)
		return 1
	}
	return 0
}

// routes binds the three Azure Functions to the pipeline.
func routes(p *alerting.Pipeline) []handler.Route {
	process := handler.FuncOf(func(ctx context.Context, inv *handler.Invocation) (handler.Result, error) {
		out, err := p.Process(ctx, inv.Bodies())
		if err != nil {
			return handler.Result{}, err
		}
		return handler.Result{Logs: outcomeLogs(inv, out)}, nil
	})
	retry := handler.FuncOf(func(ctx context.Context, inv *handler.Invocation) (handler.Result, error) {
		// The timer respects backoff and other passes' claims.
		r, err := p.DeliverPending(ctx, deliverBatch, alerting.PassOptions{})
		if err != nil {
			return handler.Result{}, err
		}
		return handler.Result{Logs: []string{passSummary(r)}}, nil
	})
	return []handler.Route{
		{Function: fnActivityLogEvents, Trigger: handler.EventHubBatch, Binding: "events", Func: process},
		{Function: fnResourceEvents, Trigger: handler.EventGrid, Binding: "event", Func: process},
		{Function: fnNotificationRetry, Trigger: handler.Timer, Binding: "timer", Func: retry},
	}
}

// outcomeLogs renders an invocation's outcome for the host's Logs: a summary
// line, one line per alert (as JSON) and one per skipped record.
func outcomeLogs(inv *handler.Invocation, out *alerting.Outcome) []string {
	logs := []string{fmt.Sprintf("%s: %d message(s), %d record(s), %d skipped, %d matched; alerts: %d new, %d suppressed, %d duplicate match(es)",
		inv.Function, out.Messages, out.Records, len(out.Skips), out.Matched, out.New, out.Suppressed, out.Duplicates)}
	for _, a := range out.Alerts {
		b, _ := json.Marshal(struct {
			ID    string `json:"id"`
			Rule  string `json:"rule"`
			Name  string `json:"name"`
			State string `json:"state"`
			Count int    `json:"count"`
		}{a.ID, a.Rule.ID, a.Rule.Name, string(a.State), a.Count})
		logs = append(logs, "alert "+string(b))
	}
	for _, h := range out.HeldBack {
		logs = append(logs, fmt.Sprintf("held back by max_signals: %d alert(s) of rule %s", h.Count, h.Rule.ID))
	}
	for _, s := range out.Skips {
		logs = append(logs, "skipped "+s.String())
	}
	if out.Truncated > 0 {
		logs = append(logs, fmt.Sprintf("%d alert event(s) cut to fit the store (marked truncated)", out.Truncated))
	}
	for _, id := range out.DeadLetters {
		logs = append(logs, "dead-lettered "+id+": not recorded as an alert; see `tripline deadletter "+id+"`")
	}
	if out.Undelivered > 0 {
		logs = append(logs, fmt.Sprintf("%d alert(s) pending delivery; NotificationRetry will resend", out.Undelivered))
	}
	return logs
}

func cmdDeliver(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("deliver", flag.ContinueOnError)
	fs.SetOutput(stderr)
	state := fs.String("state", "", "embedded store file (default: TRIPLINE_STATE_FILE)")
	respectBackoff := fs.Bool("respect-backoff", false, "only channels whose backoff is over, as the timer does (default: flush every pending delivery now)")
	force := fs.Bool("force", false, "also take alerts another pass is delivering now (its claim has not expired): a channel may then get an alert twice")
	if code := parseFlags(fs, args); code >= 0 {
		return code
	}
	logger := slog.New(slog.NewTextHandler(stderr, nil))
	a, err := newApp(ctx, appOptions{stateFile: *state, needStore: true, logger: logger})
	if err != nil {
		fmt.Fprintf(stderr, "tripline deliver: %v\n", err)
		return 1
	}
	defer a.Close()
	if a.pipeline.Notifier == nil {
		fmt.Fprintln(stderr, "tripline deliver: no notification channel is configured (TRIPLINE_WEBHOOK_URL, TRIPLINE_TEAMS_WEBHOOK_URL, TRIPLINE_SLACK_WEBHOOK_URL, TRIPLINE_PAGERDUTY_ROUTING_KEY)")
		return 1
	}
	r, err := a.pipeline.DeliverPending(ctx, deliverBatch, alerting.PassOptions{Flush: !*respectBackoff, Force: *force})
	if err != nil {
		fmt.Fprintf(stderr, "tripline deliver: %v\n", err)
		return 1
	}
	fmt.Fprintln(stdout, passSummary(r))
	return 0
}

func passSummary(r alerting.DeliverResult) string {
	return fmt.Sprintf("delivery pass: %d pending alert(s), %d sent, %d failed, %d still pending (%d held by another pass)",
		r.Alerts, r.Sent, r.Failed, r.StillPending, r.Busy)
}

// durationText writes durations as Go prints them ("20s"): slog's JSON
// handler writes them as integer nanoseconds, which nobody reads right.
func durationText(_ []string, a slog.Attr) slog.Attr {
	if a.Value.Kind() == slog.KindDuration {
		return slog.String(a.Key, a.Value.Duration().String())
	}
	return a
}
