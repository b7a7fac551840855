# Tripline. `make test` is the README's test command and what CI runs (through `make ci`).
SHELL := bash
GO ?= go
export GOFLAGS ?= -buildvcs=false
STATICCHECK_VERSION := v0.8.2
STATICCHECK := $(shell $(GO) env GOPATH)/bin/staticcheck
BIN := bin/tripline
# TESTFLAGS: extra go test flags, e.g. make test TESTFLAGS=-v to see every test's name (Cosmos ones included)
TESTFLAGS ?=

.PHONY: build run test test-short lint staticcheck ci bench cost package deploy destroy examples clean elastic-compat

## build: the binary the Functions host starts (host.json defaultExecutablePath), for this machine
build:
	$(GO) build -o $(BIN) .

## run: scan the examples on the embedded store (no Azure needed)
run:
	$(GO) run . scan examples/activitylog-eventhub.json examples/kube-audit-eventhub.json

## test: the whole suite with -race, against a Cosmos-protocol server started (and stopped) here; every
## benchmark once
test:
	TRIPLINE_TEST_REQUIRE_COSMOS=1 scripts/cosmos-server.sh run -- $(GO) test -race -count=1 $(TESTFLAGS) ./...
	$(GO) test -run '^$$' -bench . -benchtime=1x ./... > /dev/null

## test-short: the suite without the Cosmos server (Cosmos tests skip, saying why)
test-short:
	$(GO) test -count=1 ./...

$(STATICCHECK):
	GOFLAGS=-mod=mod $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)

## lint: gofmt, go vet, staticcheck
lint: $(STATICCHECK)
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(STATICCHECK) ./...

## ci: what .ci/run calls
ci: lint test

## bench: the performance comparison (see bench/README.md)
bench:
	scripts/bench.sh

## cost: USD per million records by Azure service, and the same records in Sentinel, Log Analytics and
## Elastic (docs/cost.md holds the default output); RATE=<records/s> PROFILE=realtime|economy for your own
RATE ?= 0
PROFILE ?=
cost:
	$(GO) run ./tools/cost -rate $(RATE) $(if $(PROFILE),-profile $(PROFILE))

# RULES=DIR, EXCEPTIONS=FILE, OVERRIDES=FILE: your rule tree, exceptions and overrides, packaged under
# config/ and loaded by the function at start (docs/rules.md)
RULES ?=
EXCEPTIONS ?=
OVERRIDES ?=

## package: dist/tripline.zip with the layout `func azure functionapp publish` uploads, plus RULES,
## EXCEPTIONS and OVERRIDES when given
package:
	RULES="$(RULES)" EXCEPTIONS="$(EXCEPTIONS)" OVERRIDES="$(OVERRIDES)" scripts/package.sh

## deploy: provision one environment (TRIPLINE_ENV, default main): phase 1, publish (with RULES,
## EXCEPTIONS, OVERRIDES when given), phase 2; see docs/deploy.md
deploy:
	@command -v az >/dev/null || { echo "make deploy: the Azure CLI (az) is not installed; see docs/deploy.md" >&2; exit 1; }
	RULES="$(RULES)" EXCEPTIONS="$(EXCEPTIONS)" OVERRIDES="$(OVERRIDES)" scripts/deploy.sh

## elastic-compat: load a checkout of Elastic's detection-rules (DIR=its rules/ folder or a part of it) as
## Tripline loads TRIPLINE_RULES_DIR: how many load, why the rest are skipped
elastic-compat:
	@test -n "$(DIR)" || { echo "usage: make elastic-compat DIR=<detection-rules checkout>/rules"; exit 2; }
	TRIPLINE_ELASTIC_RULES="$(abspath $(DIR))" $(GO) test -count=1 -run 'TestElasticCheckout' -v ./detect/ruleset/

## destroy: remove one environment (TRIPLINE_ENV) and only what its deployment created
destroy:
	@command -v az >/dev/null || { echo "make destroy: the Azure CLI (az) is not installed; see docs/deploy.md" >&2; exit 1; }
	scripts/destroy.sh

clean:
	rm -rf bin dist
