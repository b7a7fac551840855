package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/tripline/tripline/alert"
	"github.com/tripline/tripline/alerting"
	"github.com/tripline/tripline/detect"
	"github.com/tripline/tripline/detect/rules"
	"github.com/tripline/tripline/detect/ruleset"
	"github.com/tripline/tripline/internal/packager"
	"github.com/tripline/tripline/notify"
	"github.com/tripline/tripline/stateful"
	"github.com/tripline/tripline/store/bolt"
	"github.com/tripline/tripline/store/cosmos"
)

// app is everything a command needs, built from the settings.
type app struct {
	cfg      Config
	pipeline *alerting.Pipeline
	closers  []func() error
	// storeDesc says which store is in use, for messages.
	storeDesc string
}

type appOptions struct {
	stateFile string // overrides TRIPLINE_STATE_FILE (--state)
	rulesDir  string // overrides TRIPLINE_RULES_DIR
	// appRoot is the Function App folder holding packaged rules; default
	// FUNCTIONS_APP_ROOT_PATH (set by the Functions host).
	appRoot string
	// notice receives start-up notices (skipped rules); default: the logger.
	notice    func(string)
	noDeliver bool
	needStore bool
	logger    *slog.Logger
}

func (a *app) Close() {
	for i := len(a.closers) - 1; i >= 0; i-- {
		_ = a.closers[i]()
	}
}

// newApp reads the settings and builds the rule engine, the store and the
// channels. Any problem stops start-up with a message naming the setting.
func newApp(ctx context.Context, opts appOptions) (*app, error) {
	cfg, err := loadConfig()
	if err != nil {
		return nil, err
	}
	if opts.rulesDir != "" {
		cfg.RulesDir = opts.rulesDir
	}
	if opts.stateFile != "" {
		cfg.StateFile = opts.stateFile
	}
	logger := opts.logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	notice := opts.notice
	if notice == nil {
		notice = func(msg string) { logger.Info(msg) }
	}
	appRoot := opts.appRoot
	if appRoot == "" {
		appRoot = os.Getenv("FUNCTIONS_APP_ROOT_PATH")
	}
	src := sourcesFor(cfg, appRoot, false)
	if opts.rulesDir != "" {
		src.rulesOrigin = "--rules" // messages name what the user typed
	}
	engine, _, err := loadEngine(src, notice)
	if err != nil {
		return nil, err
	}
	a := &app{cfg: cfg}
	a.pipeline = &alerting.Pipeline{Engine: engine, TTL: cfg.AlertTTL, Logger: logger, Stateful: &stateful.Decider{}}
	if opts.needStore {
		stateOrigin := "TRIPLINE_STATE_FILE"
		if opts.stateFile != "" {
			stateOrigin = "--state" // messages name what the user typed
		}
		st, desc, closer, err := openStore(ctx, cfg, stateOrigin, notice)
		if err != nil {
			return nil, err
		}
		a.pipeline.Store = st
		a.storeDesc = desc
		a.closers = append(a.closers, closer)
	}
	if !opts.noDeliver {
		channels, err := notify.FromSettings(cfg.channels(), &http.Client{Timeout: 30 * time.Second})
		if err != nil {
			a.Close()
			return nil, err
		}
		if len(channels) > 0 {
			a.pipeline.Notifier = dispatcher{&notify.Dispatcher{Channels: channels, Horizon: cfg.DeliveryHorizon, RetryBase: cfg.DeliveryRetryBase, Logger: logger}, logger}
		}
	}
	return a, nil
}

// dispatcher adapts notify.Dispatcher to alerting.Notifier: a failed summary
// is logged, it never fails the invocation.
type dispatcher struct {
	*notify.Dispatcher
	log *slog.Logger
}

func (d dispatcher) SendHeldBack(ctx context.Context, h alert.HeldBack) {
	if err := d.Dispatcher.SendHeldBack(ctx, h); err != nil {
		d.log.Warn("held-back summary not delivered", "rule", h.Rule.ID, "count", h.Count, "error", err)
	}
}

// ruleSources is where rules come from for the settings: a setting (or
// --rules) wins over the packaged file of the same kind. Packaged files:
// `make package RULES=DIR EXCEPTIONS=FILE OVERRIDES=FILE` puts them under the
// app root (internal/packager), and the Functions host says where that is
// in FUNCTIONS_APP_ROOT_PATH.
type ruleSources struct {
	rulesDir, rulesOrigin            string
	exceptionsFile, exceptionsOrigin string
	overridesFile, overridesOrigin   string
	strict                           bool
}

func sourcesFor(cfg Config, appRoot string, strict bool) ruleSources {
	s := ruleSources{
		rulesDir: cfg.RulesDir, rulesOrigin: "TRIPLINE_RULES_DIR",
		exceptionsFile: cfg.ExceptionsFile, exceptionsOrigin: "TRIPLINE_EXCEPTIONS_FILE",
		overridesFile: cfg.OverridesFile, overridesOrigin: "TRIPLINE_OVERRIDES_FILE",
		strict: strict,
	}
	if appRoot == "" {
		return s
	}
	packaged := func(rel string) string {
		p := filepath.Join(appRoot, filepath.FromSlash(rel))
		if _, err := os.Stat(p); err == nil {
			return p
		}
		return ""
	}
	if s.rulesDir == "" {
		s.rulesDir, s.rulesOrigin = packaged(packager.RulesPath), "package"
	}
	if s.exceptionsFile == "" {
		s.exceptionsFile, s.exceptionsOrigin = packaged(packager.ExceptionsPath), "package"
	}
	if s.overridesFile == "" {
		s.overridesFile, s.overridesOrigin = packaged(packager.OverridesPath), "package"
	}
	return s
}

// loadRuleSet is the one loading rule of every command (package ruleset):
// the built-in pack, the rules tree, overrides and exceptions. extra are
// rule files or trees named on the command line (rules check). The Set is
// returned with the error, so that rules check can show every verdict.
func loadRuleSet(src ruleSources, extra ...string) (*ruleset.Set, error) {
	opts := ruleset.Options{Builtin: rules.FS, Strict: src.strict}
	var errs []error
	if src.rulesDir != "" {
		if err := checkRulesDir(src.rulesDir, src.rulesOrigin); err != nil {
			return nil, err
		}
		opts.Trees = append(opts.Trees, ruleset.Tree{FS: os.DirFS(src.rulesDir), Name: src.rulesDir, Origin: src.rulesOrigin})
	}
	for _, p := range extra {
		st, err := os.Stat(p)
		switch {
		case err != nil:
			errs = append(errs, err)
		case st.IsDir():
			opts.Trees = append(opts.Trees, ruleset.Tree{FS: os.DirFS(p), Name: p, Origin: "command line"})
		default:
			data, err := os.ReadFile(p)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			opts.Paths = append(opts.Paths, ruleset.PathFile{Name: p, Origin: "command line", Data: data})
		}
	}
	readFile := func(path, origin string) *ruleset.File {
		if path == "" {
			return nil
		}
		data, err := os.ReadFile(path)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", origin, err))
			return nil
		}
		return &ruleset.File{Name: path, Data: data}
	}
	opts.Exceptions = readFile(src.exceptionsFile, src.exceptionsOrigin)
	opts.Overrides = readFile(src.overridesFile, src.overridesOrigin)
	set, err := ruleset.Load(opts)
	set.Problems = append(errs, set.Problems...)
	return set, errors.Join(append(errs, err)...)
}

// checkRulesDir says what is wrong with a rules directory, naming where it
// came from (the flag or the setting the user typed): it does not exist, it
// is not a directory, or, when the user named it, it holds no rule file. A
// packaged rules folder may be empty (make package RULES= with no rules).
func checkRulesDir(dir, origin string) error {
	st, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("%s: %s does not exist", origin, dir)
	case err != nil:
		return fmt.Errorf("%s: %w", origin, err)
	case !st.IsDir():
		return fmt.Errorf("%s: %s is not a directory", origin, dir)
	case origin == "package":
		return nil
	}
	found := false
	walkErr := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		switch {
		case err != nil:
			return err
		case d.IsDir() && p != dir && strings.HasPrefix(d.Name(), "."):
			return fs.SkipDir // as the loader does (.git)
		case !d.IsDir() && strings.HasSuffix(d.Name(), ".toml"):
			found = true
			return fs.SkipAll
		}
		return nil
	})
	if walkErr != nil {
		return fmt.Errorf("%s: %w", origin, walkErr)
	}
	if !found {
		return fmt.Errorf("%s: %s has no rule files (*.toml, searched recursively)", origin, dir)
	}
	return nil
}

// loadEngine loads the rule set and compiles it; skips are reported to
// notice one line per reason.
func loadEngine(src ruleSources, notice func(string)) (*detect.Engine, *ruleset.Set, error) {
	set, err := loadRuleSet(src)
	if err != nil {
		return nil, nil, fmt.Errorf("rules: %w", err)
	}
	for _, line := range set.SkipSummary() {
		notice(line)
	}
	e, err := detect.NewEngine(set.Rules, set.Exceptions)
	return e, set, err
}

// pipelineStore is the store surface main needs: the pipeline's plus Close.
type pipelineStore interface {
	alerting.Store
	Close() error
}

// storeSlowNotice is how long opening Cosmos DB may stay silent: an
// endpoint that does not answer costs the client's retries (tens of
// seconds) before the error, and the user should know what it is waiting on.
var storeSlowNotice = 2 * time.Second

// openStore opens Cosmos DB when an endpoint is configured, else the
// embedded file store. stateOrigin names where the state file came from
// (--state or TRIPLINE_STATE_FILE); notice hears that Cosmos DB is slow to
// answer.
func openStore(ctx context.Context, cfg Config, stateOrigin string, notice func(string)) (alerting.Store, string, func() error, error) {
	var st pipelineStore
	var desc string
	if cfg.CosmosEndpoint != "" {
		opts := cosmos.Options{
			Endpoint:    cfg.CosmosEndpoint,
			Database:    cfg.CosmosDatabase,
			Container:   cfg.CosmosContainer,
			Key:         string(cfg.CosmosKey),
			RetryBudget: cfg.CosmosRetryBudget,
		}
		if opts.Key != "" {
			// Key auth is for local emulators: work around the npm
			// emulator's 500 on a read of a missing item.
			opts.HTTPClient = cosmos.EmulatorClient(nil)
		} else {
			cred, err := cosmos.DefaultCredential(cfg.ClientID)
			if err != nil {
				return nil, "", nil, fmt.Errorf("managed identity for Cosmos DB (AZURE_CLIENT_ID): %w", err)
			}
			opts.Credential = cred
		}
		done, waited := make(chan struct{}), make(chan struct{})
		go func() {
			defer close(waited)
			select {
			case <-done:
			case <-time.After(storeSlowNotice):
				notice(fmt.Sprintf("waiting for Cosmos DB at %s (TRIPLINE_COSMOS_ENDPOINT): no answer yet", cfg.CosmosEndpoint))
			}
		}()
		c, err := cosmos.New(ctx, opts)
		close(done)
		<-waited
		if err != nil {
			return nil, "", nil, fmt.Errorf("open the Cosmos DB store (TRIPLINE_COSMOS_ENDPOINT): %w", err)
		}
		st, desc = c, "Cosmos DB "+cfg.CosmosDatabase+"/"+cfg.CosmosContainer
	} else {
		path := cfg.StateFile
		if path == "" {
			var err error
			if path, err = defaultStateFile(); err != nil {
				return nil, "", nil, err
			}
		}
		b, err := bolt.Open(path, nil)
		if err != nil {
			return nil, "", nil, fmt.Errorf("embedded store (%s): %w", stateOrigin, err)
		}
		st, desc = b, "embedded store "+path
	}
	return st, desc, st.Close, nil
}

// defaultStateFile is $XDG_STATE_HOME/tripline/state.db, or
// ~/.local/state/tripline/state.db.
func defaultStateFile() (string, error) {
	if d := os.Getenv("XDG_STATE_HOME"); d != "" {
		return filepath.Join(d, "tripline", "state.db"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", errors.New("no home directory for the embedded store: set TRIPLINE_STATE_FILE or pass --state")
	}
	return filepath.Join(home, ".local", "state", "tripline", "state.db"), nil
}
