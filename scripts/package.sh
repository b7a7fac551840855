#!/usr/bin/env bash
# Builds the Linux handler and writes dist/tripline.zip: the publish layout
# (host.json, bin/tripline with mode 0755, every <Function>/function.json) and,
# when given, your rules, exceptions and overrides under config/ (the handler
# loads them from there at start). The zip can be deployed without Core Tools:
#   az functionapp deployment source config-zip -g <rg> -n <app> --src dist/tripline.zip
# Usage: [RULES=DIR] [EXCEPTIONS=FILE] [OVERRIDES=FILE] scripts/package.sh [output.zip]
# (make package RULES=DIR ... sets these). The rules are loaded and their test
# cases run first, exactly as the function will load them: a rule file in error
# stops packaging, a rule Tripline cannot run is reported as skipped.
set -euo pipefail
cd "$(dirname "$0")/.."

out="${1:-dist/tripline.zip}"
RULES="${RULES:-}" EXCEPTIONS="${EXCEPTIONS:-}" OVERRIDES="${OVERRIDES:-}"

if [ -n "$RULES$EXCEPTIONS$OVERRIDES" ]; then
  echo "==> checking the packaged rules (tripline rules test)"
  env -u FUNCTIONS_APP_ROOT_PATH TRIPLINE_RULES_DIR="$RULES" TRIPLINE_EXCEPTIONS_FILE="$EXCEPTIONS" \
    TRIPLINE_OVERRIDES_FILE="$OVERRIDES" go run . rules test ||
    { echo "package: the rules do not load or their tests fail; run: TRIPLINE_RULES_DIR=$RULES go run . rules test" >&2; exit 1; }
fi
GOOS=linux GOARCH=amd64 CGO_ENABLED=0 go build -o bin/tripline .
go run scripts/package.go -root . -o "$out" -rules "$RULES" -exceptions "$EXCEPTIONS" -overrides "$OVERRIDES"
