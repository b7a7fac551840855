package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/tripline/tripline/store"
)

// cmdDeadLetter lists the dead-letter place: what could not be recorded as
// an alert (matches whose group document the store refused or could not
// read, alerts pushed out of a full group document before their delivery).
// With no argument it prints the index, oldest first; with a dead-letter
// id, that dead letter's document (its records or its alert) as JSON.
func cmdDeadLetter(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("deadletter", flag.ContinueOnError)
	fs.SetOutput(stderr)
	state := fs.String("state", "", "embedded store file (default: TRIPLINE_STATE_FILE)")
	asJSON := fs.Bool("json", false, "print the index as JSON, one entry per line")
	if code := parseFlags(fs, args); code >= 0 {
		return code
	}
	if fs.NArg() > 1 {
		fmt.Fprintln(stderr, "usage: tripline deadletter [--state FILE] [--json] [ID]")
		return 2
	}
	a, err := newApp(ctx, appOptions{stateFile: *state, needStore: true, noDeliver: true})
	if err != nil {
		fmt.Fprintf(stderr, "tripline deadletter: %v\n", err)
		return 1
	}
	defer a.Close()
	if fs.NArg() == 1 {
		id := fs.Arg(0)
		body, err := a.pipeline.DeadLetterBody(ctx, id)
		if errors.Is(err, store.ErrNotFound) {
			fmt.Fprintf(stderr, "tripline deadletter: no dead letter %s in %s (expired, or never written)\n", id, a.storeDesc)
			return 1
		}
		if err != nil {
			fmt.Fprintf(stderr, "tripline deadletter: %v\n", err)
			return 1
		}
		var out bytes.Buffer
		if err := json.Indent(&out, body, "", "  "); err != nil {
			out.Reset()
			out.Write(body)
		}
		out.WriteByte('\n')
		_, _ = stdout.Write(out.Bytes())
		return 0
	}
	entries, total, err := a.pipeline.DeadLetters(ctx)
	if err != nil {
		fmt.Fprintf(stderr, "tripline deadletter: %v\n", err)
		return 1
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		for _, e := range entries {
			if err := enc.Encode(e); err != nil {
				fmt.Fprintf(stderr, "tripline deadletter: %v\n", err)
				return 1
			}
		}
		return 0
	}
	fmt.Fprintf(stdout, "%d dead letter(s) in %s (%d listed since the index began; it keeps the newest 1000)\n", len(entries), a.storeDesc, total)
	for _, e := range entries {
		fmt.Fprintf(stdout, "%s  %s  %-7s  rule %s  %d match(es)  %s\n", e.At.Format(time.RFC3339), e.ID, e.Kind, e.RuleID, e.Matches, e.Reason)
	}
	return 0
}
