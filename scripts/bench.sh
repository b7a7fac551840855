#!/usr/bin/env bash
# make bench: generate the benchmark corpus and measure Tripline against
# jq, an encoding/json baseline and a raw byte search, on the same bytes, in
# one run. Writes bench/out/ (corpus, results.json, RESULTS.md) and, with
# BENCH_WRITE_RESULTS=1, the committed bench/RESULTS.md. See bench/README.md.
set -euo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}
export GOFLAGS=${GOFLAGS:--buildvcs=false}

if ! command -v jq >/dev/null 2>&1; then
	echo "bench: jq is missing; installing it from Debian's packages (apt-get install -y jq)" >&2
	if [ "$(id -u)" = 0 ]; then
		apt-get install -y jq >&2 || { apt-get update >&2 && apt-get install -y jq >&2; } || true
	elif command -v sudo >/dev/null 2>&1; then
		sudo apt-get install -y jq >&2 || { sudo apt-get update >&2 && sudo apt-get install -y jq >&2; } || true
	fi
	if ! command -v jq >/dev/null 2>&1; then
		echo "bench: could not install jq. Install it yourself (Debian/Ubuntu: sudo apt-get install -y jq;" >&2
		echo "       macOS: brew install jq) and run make bench again. Continuing without jq." >&2
	fi
fi

mkdir -p bench/out
$GO build -o bench/out/tripline .
results=()
if [ "${BENCH_WRITE_RESULTS:-0}" = 1 ]; then
	results=(-results bench/RESULTS.md)
fi
$GO run ./bench/cmd/tripline-bench -root . -out bench/out -binary bench/out/tripline "${results[@]}" "$@"
echo
echo "bench: corpus and raw results in bench/out/ (results.json, RESULTS.md)"
