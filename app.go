package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/tripline/tripline/alert"
	"github.com/tripline/tripline/alerting"
	"github.com/tripline/tripline/detect"
	"github.com/tripline/tripline/detect/rules"
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
	stateFile string // overrides TRIPLINE_STATE_FILE
	rulesDir  string // overrides TRIPLINE_RULES_DIR
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
	engine, err := loadEngine(cfg)
	if err != nil {
		return nil, err
	}
	logger := opts.logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	a := &app{cfg: cfg}
	a.pipeline = &alerting.Pipeline{Engine: engine, TTL: cfg.AlertTTL, Logger: logger, Stateful: &stateful.Decider{}}
	if opts.needStore {
		st, desc, closer, err := openStore(ctx, cfg)
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

// loadEngine loads the built-in rules, extra rules and exceptions.
func loadEngine(cfg Config) (*detect.Engine, error) {
	all, err := detect.LoadRules(rules.FS)
	if err != nil {
		return nil, fmt.Errorf("built-in rules: %w", err)
	}
	if cfg.RulesDir != "" {
		extra, err := detect.LoadRuleDir(cfg.RulesDir)
		if err != nil {
			return nil, fmt.Errorf("TRIPLINE_RULES_DIR: %w", err)
		}
		all = append(all, extra...)
	}
	var exceptions []detect.Exception
	if cfg.ExceptionsFile != "" {
		data, err := os.ReadFile(cfg.ExceptionsFile)
		if err != nil {
			return nil, fmt.Errorf("TRIPLINE_EXCEPTIONS_FILE: %w", err)
		}
		if exceptions, err = detect.LoadExceptions(cfg.ExceptionsFile, data); err != nil {
			return nil, fmt.Errorf("TRIPLINE_EXCEPTIONS_FILE: %w", err)
		}
	}
	return detect.NewEngine(all, exceptions)
}

// pipelineStore is the store surface main needs: the pipeline's plus Close.
type pipelineStore interface {
	alerting.Store
	Close() error
}

// openStore opens Cosmos DB when an endpoint is configured, else the
// embedded file store.
func openStore(ctx context.Context, cfg Config) (alerting.Store, string, func() error, error) {
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
		c, err := cosmos.New(ctx, opts)
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
			return nil, "", nil, fmt.Errorf("embedded store (TRIPLINE_STATE_FILE): %w", err)
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
