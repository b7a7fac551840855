package hostsim

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// hostJSON is the part of host.json the simulator reads.
type hostJSON struct {
	CustomHandler *handlerSection `json:"customHandler"`
	HTTPWorker    *handlerSection `json:"httpWorker"` // legacy; customHandler wins
}

type handlerSection struct {
	Description struct {
		DefaultExecutablePath string   `json:"defaultExecutablePath"`
		WorkingDirectory      string   `json:"workingDirectory"`
		Arguments             []string `json:"arguments"`
	} `json:"description"`
}

// readHostJSON reads appRoot/host.json and returns its custom-handler
// description (customHandler, else the legacy httpWorker section).
func readHostJSON(appRoot string) (*handlerSection, error) {
	path := filepath.Join(appRoot, "host.json")
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read host.json: %w", err)
	}
	var h hostJSON
	if err := json.Unmarshal(data, &h); err != nil {
		return nil, fmt.Errorf("parse %s: %w", path, err)
	}
	switch {
	case h.CustomHandler != nil:
		return h.CustomHandler, nil
	case h.HTTPWorker != nil:
		return h.HTTPWorker, nil
	}
	return nil, fmt.Errorf("%s has no customHandler section", path)
}

var settingRef = regexp.MustCompile(`%([^%]+)%`)

// expand replaces %NAME% with the setting's value, as the host expands
// host.json arguments. An unknown name is left as written (Windows
// ExpandEnvironmentVariables semantics).
func expand(s string, lookup func(string) (string, bool)) string {
	return settingRef.ReplaceAllStringFunc(s, func(m string) string {
		if v, ok := lookup(m[1 : len(m)-1]); ok {
			return v
		}
		return m
	})
}

// functionConfig is what the simulator needs from <fn>/function.json.
type functionConfig struct {
	name        string
	triggerType string // e.g. "eventHubTrigger", as written
	binding     string // trigger binding name: the Data key
	dataType    string // "string", "binary" or "" (omitted)
	cardinality string // "many", "one" or ""
	retry       *retryPolicy
}

type functionJSON struct {
	Bindings []struct {
		Type        string `json:"type"`
		Direction   string `json:"direction"`
		Name        string `json:"name"`
		DataType    string `json:"dataType"`
		Cardinality string `json:"cardinality"`
	} `json:"bindings"`
	Retry *struct {
		Strategy        string `json:"strategy"`
		MaxRetryCount   *int   `json:"maxRetryCount"`
		DelayInterval   string `json:"delayInterval"`
		MinimumInterval string `json:"minimumInterval"`
		MaximumInterval string `json:"maximumInterval"`
	} `json:"retry"`
}

// retryPolicy is a function.json "retry" section, validated.
type retryPolicy struct {
	exponential bool
	// maxRetryCount counts retries after the first attempt; -1 is forever.
	maxRetryCount int
	delay         time.Duration // fixedDelay
	min, max      time.Duration // exponentialBackoff
}

// readFunction reads appRoot/<name>/function.json and finds its trigger
// binding (direction "in", type ending in "Trigger").
func readFunction(appRoot, name string) (*functionConfig, error) {
	if name == "" || strings.ContainsAny(name, `/\`) {
		return nil, fmt.Errorf("function name %q is not a folder name", name)
	}
	path := filepath.Join(appRoot, name, "function.json")
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("function %s: %w", name, err)
	}
	var fj functionJSON
	if err := json.Unmarshal(data, &fj); err != nil {
		return nil, fmt.Errorf("parse %s: %w", path, err)
	}
	fc := &functionConfig{name: name}
	for _, b := range fj.Bindings {
		if strings.EqualFold(b.Direction, "in") && strings.HasSuffix(strings.ToLower(b.Type), "trigger") {
			if fc.triggerType != "" {
				return nil, fmt.Errorf("%s: more than one trigger binding", path)
			}
			fc.triggerType, fc.binding = b.Type, b.Name
			fc.dataType, fc.cardinality = strings.ToLower(b.DataType), strings.ToLower(b.Cardinality)
		}
	}
	if fc.triggerType == "" {
		return nil, fmt.Errorf("%s: no trigger binding (direction \"in\", type ending in \"Trigger\")", path)
	}
	if fc.binding == "" {
		return nil, fmt.Errorf("%s: trigger binding has no name", path)
	}
	switch fc.dataType {
	case "", "string", "binary":
	default:
		return nil, fmt.Errorf("%s: dataType %q not simulated (want string, binary or none)", path, fc.dataType)
	}
	if r := fj.Retry; r != nil {
		p, err := parseRetry(r.Strategy, r.MaxRetryCount, r.DelayInterval, r.MinimumInterval, r.MaximumInterval)
		if err != nil {
			return nil, fmt.Errorf("%s: retry: %w", path, err)
		}
		fc.retry = p
	}
	return fc, nil
}

// parseRetry validates a retry section as the host does when indexing
// (Utility.ValidateRetryOptions): a known strategy, maxRetryCount >= -1, and
// the intervals that strategy needs.
func parseRetry(strategy string, maxRetry *int, delay, minI, maxI string) (*retryPolicy, error) {
	if maxRetry == nil {
		return nil, errors.New("maxRetryCount is required")
	}
	if *maxRetry < -1 {
		return nil, fmt.Errorf("maxRetryCount %d: must be -1 (forever) or more", *maxRetry)
	}
	p := &retryPolicy{maxRetryCount: *maxRetry}
	var err error
	switch strings.ToLower(strategy) {
	case "fixeddelay":
		if p.delay, err = parseTimeSpan(delay); err != nil {
			return nil, fmt.Errorf("delayInterval: %w", err)
		}
	case "exponentialbackoff":
		p.exponential = true
		if p.min, err = parseTimeSpan(minI); err != nil {
			return nil, fmt.Errorf("minimumInterval: %w", err)
		}
		if p.max, err = parseTimeSpan(maxI); err != nil {
			return nil, fmt.Errorf("maximumInterval: %w", err)
		}
		if p.min > p.max {
			return nil, errors.New("minimumInterval is greater than maximumInterval")
		}
	default:
		return nil, fmt.Errorf("strategy %q: want fixedDelay or exponentialBackoff", strategy)
	}
	return p, nil
}

// parseTimeSpan parses .NET TimeSpan text: [-][d.]hh:mm[:ss[.fffffff]], or a
// whole number of days.
func parseTimeSpan(s string) (time.Duration, error) {
	orig := s
	bad := func() (time.Duration, error) {
		return 0, fmt.Errorf("%q is not a TimeSpan (want hh:mm:ss)", orig)
	}
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, errors.New("missing TimeSpan")
	}
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var d time.Duration
	if !strings.Contains(s, ":") {
		days, err := strconv.Atoi(s)
		if err != nil {
			return bad()
		}
		d = time.Duration(days) * 24 * time.Hour
	} else {
		parts := strings.Split(s, ":")
		if len(parts) > 3 {
			return bad()
		}
		if i := strings.IndexByte(parts[0], '.'); i >= 0 {
			days, err := strconv.Atoi(parts[0][:i])
			if err != nil {
				return bad()
			}
			d += time.Duration(days) * 24 * time.Hour
			parts[0] = parts[0][i+1:]
		}
		h, err1 := strconv.Atoi(parts[0])
		m, err2 := strconv.Atoi(parts[1])
		if err1 != nil || err2 != nil || h > 23 || m > 59 {
			return bad()
		}
		d += time.Duration(h)*time.Hour + time.Duration(m)*time.Minute
		if len(parts) == 3 {
			sec, frac, _ := strings.Cut(parts[2], ".")
			n, err := strconv.Atoi(sec)
			if err != nil || n > 59 || len(frac) > 7 {
				return bad()
			}
			d += time.Duration(n) * time.Second
			if frac != "" {
				f, err := strconv.Atoi(frac + strings.Repeat("0", 7-len(frac)))
				if err != nil {
					return bad()
				}
				d += time.Duration(f) * 100
			}
		}
	}
	if neg {
		d = -d
	}
	if d < 0 {
		return 0, fmt.Errorf("%q: negative interval", orig)
	}
	return d, nil
}
