#!/usr/bin/env bash
# Builds the Linux handler and writes dist/tripline.zip: the publish layout
# (host.json, bin/tripline with mode 0755, every <Function>/function.json) and
# nothing else. The zip can be deployed without Core Tools:
#   az functionapp deployment source config-zip -g <rg> -n <app> --src dist/tripline.zip
# Usage: scripts/package.sh [output.zip]
set -euo pipefail
cd "$(dirname "$0")/.."

out="${1:-dist/tripline.zip}"
GOOS=linux GOARCH=amd64 CGO_ENABLED=0 go build -o bin/tripline .
go run scripts/package.go -root . -o "$out"
