#!/usr/bin/env bash
# cosmos-server.sh — a local Cosmos DB protocol server for Tripline's store tests.
#
# It runs @vercel/cosmosdb-server (pinned in tools/cosmos/package.json) over plain HTTP on a
# free loopback port chosen by the kernel, so parallel runs never collide.
#
#   scripts/cosmos-server.sh run -- go test ./store/...
#       install if needed, start, run the command with TRIPLINE_TEST_COSMOS_ENDPOINT and
#       TRIPLINE_TEST_COSMOS_KEY exported, always stop the server, exit with the command's code.
#   eval "$(scripts/cosmos-server.sh start)"
#       start in the background and print `export ...` lines (endpoint, key, and
#       TRIPLINE_TEST_COSMOS_PID); stop it later with:
#   scripts/cosmos-server.sh stop [PID]      (default: $TRIPLINE_TEST_COSMOS_PID)
#   scripts/cosmos-server.sh install         (npm ci --prefix tools/cosmos, quietly, only when needed)
#
# The server accepts any key and charges no RUs; the key exported is the well-known public
# emulator key (azcosmos needs a base64 key to sign requests). It keeps data in memory only.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tools="$root/tools/cosmos"
cli="$tools/node_modules/@vercel/cosmosdb-server/lib/cli.js"
version="1.0.1"
# The Azure Cosmos DB emulator's documented, public key: not a secret.
emulator_key='C2y6yDjf5/R+ob0N8A7Cgv30VRDJIWEHLM+4QDU5DE2nQ9nDuVTqobD4b8mGGyPMbIZnqyMsEcaGQy67XIw/Jw=='

die() { echo "cosmos-server.sh: $*" >&2; exit 2; }

install() {
	command -v node >/dev/null || die "node is not installed (need Node.js >= 20: apt-get install nodejs npm)"
	command -v npm >/dev/null || die "npm is not installed (apt-get install npm)"
	local have=""
	if [[ -f "$tools/node_modules/@vercel/cosmosdb-server/package.json" ]]; then
		have="$(node -p "require('$tools/node_modules/@vercel/cosmosdb-server/package.json').version" 2>/dev/null || true)"
	fi
	if [[ "$have" != "$version" || "$tools/package-lock.json" -nt "$tools/node_modules/.package-lock.json" ]]; then
		npm ci --prefix "$tools" --silent --no-audit --no-fund >&2 || die "npm ci --prefix tools/cosmos failed"
	fi
}

# start_server sets pid and endpoint.
start_server() {
	install
	local log
	log="$(mktemp "${TMPDIR:-/tmp}/tripline-cosmos.XXXXXX.log")"
	# setsid: its own session, so it neither gets the caller's terminal signals nor blocks the
	# caller's pipes; --port 0 lets the kernel pick a free port, reported on the Ready line.
	setsid node "$cli" --no-ssl --host 127.0.0.1 --port 0 >"$log" 2>&1 </dev/null &
	pid=$!
	local port="" i
	for i in $(seq 1 300); do # up to 30 s
		port="$(sed -n 's/^Ready to accept HTTP connections at 127\.0\.0\.1:\([0-9][0-9]*\)$/\1/p' "$log")"
		[[ -n "$port" ]] && break
		if ! kill -0 "$pid" 2>/dev/null; then
			cat "$log" >&2
			die "the server exited before it was ready"
		fi
		sleep 0.1
	done
	[[ -n "$port" ]] || { kill "$pid" 2>/dev/null || true; cat "$log" >&2; die "the server was not ready after 30 s"; }
	endpoint="http://127.0.0.1:$port/"
	# It listens; check that it answers the account read azcosmos starts with.
	for i in $(seq 1 50); do
		if curl -fsS -o /dev/null --max-time 2 "$endpoint"; then
			rm -f "$log"
			return 0
		fi
		sleep 0.1
	done
	kill "$pid" 2>/dev/null || true
	cat "$log" >&2
	die "the server at $endpoint does not answer"
}

stop_server() {
	local p="$1"
	[[ -n "$p" ]] || return 0
	# Only ever the server this script started: a stale PID may be reused.
	if [[ -r "/proc/$p/cmdline" ]] && ! tr '\0' ' ' <"/proc/$p/cmdline" | grep -q cosmosdb-server; then
		return 0
	fi
	kill "$p" 2>/dev/null || return 0
	local i
	for i in $(seq 1 50); do
		kill -0 "$p" 2>/dev/null || return 0
		sleep 0.1
	done
	kill -9 "$p" 2>/dev/null || true
}

cmd="${1:-}"
shift || true
case "$cmd" in
install)
	install
	;;
start)
	start_server
	printf 'export TRIPLINE_TEST_COSMOS_ENDPOINT=%q\n' "$endpoint"
	printf 'export TRIPLINE_TEST_COSMOS_KEY=%q\n' "$emulator_key"
	printf 'export TRIPLINE_TEST_COSMOS_PID=%q\n' "$pid"
	;;
stop)
	stop_server "${1:-${TRIPLINE_TEST_COSMOS_PID:-}}"
	;;
run)
	[[ "${1:-}" == "--" ]] && shift
	[[ $# -gt 0 ]] || die "usage: $0 run -- COMMAND [ARGS...]"
	start_server
	trap 'stop_server "$pid"' EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
	echo "cosmos-server.sh: Cosmos protocol server at $endpoint (pid $pid)" >&2
	set +e
	TRIPLINE_TEST_COSMOS_ENDPOINT="$endpoint" TRIPLINE_TEST_COSMOS_KEY="$emulator_key" "$@"
	rc=$?
	set -e
	exit "$rc"
	;;
*)
	sed -n '2,17p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
	exit 2
	;;
esac
