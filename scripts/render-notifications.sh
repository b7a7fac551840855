#!/usr/bin/env bash
# render-notifications.sh — pictures of Tripline's notifications for the docs.
#
#   scripts/render-notifications.sh            writes docs/img/teams-card.png and docs/img/slack-message.png
#   scripts/render-notifications.sh teams      only the Teams card
#   scripts/render-notifications.sh slack      only the Slack message
#
# Inputs are the golden payloads the notify tests generate from the repository's examples
# (notify/testdata/teams.golden.json, notify/testdata/slack.golden.json; refresh them with
# `go test ./notify -run 'TestGolden|TestDocExamples' -update`).
#
# Teams: the card (attachments[0].content) is rendered by Microsoft's Adaptive Cards JS renderer
# (npm `adaptivecards`, pinned in tools/render/package.json, markdown through `markdown-it`) with a
# host config modelled on Teams' light theme (tools/render/teams.js).
# Slack: there is no offline Slack renderer; tools/render/slack.js is a small renderer of the Block Kit
# blocks Tripline sends, styled like Slack's message view. That picture is an approximation.
#
# Needs node + npm (`npm ci --prefix tools/render`, run here only when needed) and headless Chromium
# (installed here with `apt-get install -y chromium` when missing and running as root with apt-get;
# otherwise install it yourself, or set CHROMIUM=/path/to/chrome). Optional, installed the same way
# when possible: fonts close to the real ones (fonts-open-sans standing in for Segoe UI, fonts-lato for
# Slack's Lato) and optipng. RENDER_SCALE (default 2) sets device pixels per CSS pixel.
# The pages load only local files over file://, never a CDN. Not part of `make test` or CI.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tools="$root/tools/render"
out="$root/docs/img"
testdata="$root/notify/testdata"
scale="${RENDER_SCALE:-2}"
work=""

die() { echo "render-notifications.sh: $*" >&2; exit 2; }
say() { echo "render-notifications.sh: $*" >&2; }

# apt_install PACKAGE...: as root with apt-get; otherwise say how. Non-zero when not installed.
apt_install() {
	if [[ $(id -u) -ne 0 ]] || ! command -v apt-get >/dev/null; then
		say "missing $*: install with 'sudo apt-get install -y $*' (Debian/Ubuntu) or your package manager"
		return 1
	fi
	say "installing $* with apt-get (chromium can take a few minutes)"
	apt-get install -y -q "$@" >/dev/null 2>&1 && return 0
	apt-get update -q >/dev/null 2>&1 && apt-get install -y -q "$@" >/dev/null 2>&1 && return 0
	say "apt-get install -y $* failed"
	return 1
}

setup() {
	command -v node >/dev/null || die "node is not installed (need Node.js >= 18: apt-get install nodejs npm)"
	command -v npm >/dev/null || die "npm is not installed (apt-get install npm)"
	if [[ ! -f "$tools/node_modules/.package-lock.json" || "$tools/package-lock.json" -nt "$tools/node_modules/.package-lock.json" ]]; then
		say "npm ci --prefix tools/render"
		npm ci --prefix "$tools" --silent --no-audit --no-fund >&2 || die "npm ci --prefix tools/render failed"
	fi

	if [[ -z "${CHROMIUM:-}" ]]; then
		local c
		for c in chromium chromium-browser google-chrome google-chrome-stable; do
			if command -v "$c" >/dev/null; then CHROMIUM="$(command -v "$c")"; break; fi
		done
	fi
	if [[ -z "${CHROMIUM:-}" ]]; then
		apt_install chromium || die "need headless Chromium: apt-get install -y chromium, or set CHROMIUM=/path/to/chrome"
		CHROMIUM="$(command -v chromium)" || die "chromium still not found after apt-get install"
	fi

	local extra=() families
	command -v optipng >/dev/null || extra+=(optipng)
	if command -v fc-list >/dev/null; then
		families="$(fc-list : family)"
		grep -q 'Open Sans' <<<"$families" || extra+=(fonts-open-sans)
		grep -q 'Lato' <<<"$families" || extra+=(fonts-lato)
	fi
	if ((${#extra[@]})); then
		apt_install "${extra[@]}" ||
			say "warning: going on without ${extra[*]}: fonts fall back to others, PNGs are not optimized"
	fi
}

# chrome URL WIDTH HEIGHT (--screenshot=FILE | --dump-dom): one headless run with a fresh profile.
chrome() {
	local url="$1" w="$2" h="$3" mode="$4" profile
	profile="$(mktemp -d "$work/profile.XXXXXX")"
	"$CHROMIUM" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
		--disable-background-networking --disable-component-update --disable-sync \
		--hide-scrollbars --force-device-scale-factor="$scale" --virtual-time-budget=5000 \
		--user-data-dir="$profile" --window-size="$w,$h" "$mode" "$url" 2>"$profile.log" || {
		cat "$profile.log" >&2
		die "chromium failed on $url"
	}
	rm -rf "$profile" "$profile.log"
}

# body_attr DOM NAME: the value of data-NAME on <body> in a dumped DOM.
body_attr() { sed -n "s/.*<body[^>]* data-$2=\"\([^\"]*\)\".*/\1/p" <<<"$1"; }

# shoot PAGE WIDTH PNG: lay the page out once to measure it (the page writes data-size on <body>,
# or data-error), then screenshot at exactly that size, so the picture is cropped to the content.
shoot() {
	local page="$1" width="$2" png="$3" dom size err warn height
	dom="$(chrome "file://$page" "$width" 4000 --dump-dom)"
	err="$(body_attr "$dom" error)"
	[[ -z "$err" ]] || die "$(basename "$page"): $err"
	warn="$(body_attr "$dom" warnings)"
	[[ -z "$warn" ]] || say "$(basename "$page"): renderer warnings: $warn"
	size="$(body_attr "$dom" size)"
	[[ -n "$size" ]] || die "$(basename "$page") did not render (no data-size on <body>)"
	height="${size#*x}"
	chrome "file://$page" "$width" "$height" --screenshot="$png"
	if command -v optipng >/dev/null; then optipng -quiet -o2 -strip all "$png"; fi
	say "wrote ${png#"$root"/} ($(($(stat -c %s "$png") / 1024)) KB, ${width}x${height} CSS px at ${scale}x)"
}

# payload_js NAME GOLDEN: a script setting window.NAME to the golden JSON (file:// pages cannot fetch).
payload_js() {
	[[ -f "$2" ]] || die "missing ${2#"$root"/}: run go test ./notify -run 'TestGolden|TestDocExamples' -update"
	{
		printf 'window.%s = ' "$1"
		cat "$2"
		printf ';\n'
	}
}

main() {
	local which="${1:-all}"
	case "$which" in all | teams | slack) ;; *) die "usage: $0 [all|teams|slack]" ;; esac
	setup
	mkdir -p "$out"
	work="$(mktemp -d)"
	trap 'rm -rf "$work"' EXIT
	if [[ "$which" != slack ]]; then
		cp "$tools/teams.html" "$tools/teams.js" "$work/"
		# The renderer's own dist bundle and stylesheet, and markdown-it's, next to the page.
		cp "$tools/node_modules/adaptivecards/dist/adaptivecards.min.js" \
			"$tools/node_modules/adaptivecards/dist/adaptivecards.css" \
			"$tools/node_modules/markdown-it/dist/markdown-it.min.js" "$work/"
		payload_js TEAMS_PAYLOAD "$testdata/teams.golden.json" >"$work/payload-teams.js"
		shoot "$work/teams.html" 720 "$out/teams-card.png"
	fi
	if [[ "$which" != teams ]]; then
		cp "$tools/slack.html" "$tools/slack.js" "$work/"
		payload_js SLACK_PAYLOAD "$testdata/slack.golden.json" >"$work/payload-slack.js"
		shoot "$work/slack.html" 760 "$out/slack-message.png"
	fi
}

main "$@"
