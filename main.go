// Command tripline is Tripline's single binary: the Azure Functions custom
// handler (serve), the offline scanner (scan), the notification retry pass
// (deliver) and the rule tools (rules list|test|check).
//
// Only this package wires concrete parts together: detect, function, the
// stores, the channels and the handler know nothing of each other beyond the
// small interfaces they declare.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/tripline/tripline/handler"
)

const usage = `usage:
  tripline scan [--json] [--state FILE] [--no-deliver] [--rules DIR] [--quiet] [--check-records] FILE...
                                               evaluate exported logs (- = standard input)
  tripline serve [--addr ADDR] [--rules DIR]   run the Functions custom handler
  tripline deliver [--state FILE] [--respect-backoff] [--force]
                                               one pass of pending notifications
  tripline deadletter [--state FILE] [--json] [ID]
                                               list what could not be recorded (docs/store.md)
  tripline rules list | test | check FILE...   rule tools (tripline rules --help)
  tripline learn [--until TIME] [--state FILE] [--rules DIR] FILE...
                                               seed new_terms history from exported logs

Flags may come before or after the files. Each command's flags: tripline COMMAND --help.
With no arguments and FUNCTIONS_CUSTOMHANDLER_PORT set, tripline serves.
Settings are environment variables (TRIPLINE_*): docs/settings.md.
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// run is main without the process: it returns the exit code.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if len(args) == 0 {
		if _, ok := handler.PortFromEnv(); ok {
			return cmdServe(ctx, nil, stderr)
		}
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "scan":
		return cmdScan(ctx, args[1:], stdin, stdout, stderr)
	case "serve":
		return cmdServe(ctx, args[1:], stderr)
	case "deliver":
		return cmdDeliver(ctx, args[1:], stdout, stderr)
	case "deadletter":
		return cmdDeadLetter(ctx, args[1:], stdout, stderr)
	case "rules":
		return cmdRules(args[1:], stdout, stderr)
	case "learn":
		return cmdLearn(ctx, args[1:], stdout, stderr)
	case "-h", "--help", "help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "tripline: unknown command %q\n\n%s", args[0], usage)
	return 2
}

// parseFlags parses a command's flags. code is -1 to go on, else the exit
// code: 0 after -h (the usage is the answer asked for), 2 for an unusable
// flag (the flag package has said why).
func parseFlags(fs *flag.FlagSet, args []string) (code int) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	return -1
}
