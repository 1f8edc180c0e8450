#!/usr/bin/env bash
# Lazy restore's time to resume against memory size: a workload holding N MiB is dumped, then
# restored with --lazy-pages against a local lazy-pages daemon. "resume" is the wall time of
# `restore -d --lazy-pages` (it returns once the tree runs); "all in" is the time until the daemon
# has every page and exits. The workload checks all its memory afterwards.
# Usage: bench/lazy-resume.sh [MiB ...]   (default: 64 1024), RUNS=n per size (default 3),
# REMOTE=1: pages come from `page-server --lazy-pages` over loopback TCP (post-copy) instead.
set -euo pipefail

cd "$(dirname "$0")/.."
CRIU=$PWD/build/bin/criu-lazy
WORKLOAD=$PWD/build/test/zdtm/static/demo_workload
RUNS=${RUNS:-3}
SIZES=("$@")
[ ${#SIZES[@]} -gt 0 ] || SIZES=(64 1024)
DIR=$(mktemp -d /tmp/lazy-resume.XXXXXX)
WPID=
LPID=
SPID=
REMOTE=${REMOTE:-0}
PORT=$((20000 + RANDOM % 20000))

cleanup() {
	[ -n "$WPID" ] && kill -KILL "$WPID" 2>/dev/null
	[ -n "$LPID" ] && kill -KILL "$LPID" 2>/dev/null
	[ -n "$SPID" ] && kill -KILL "$SPID" 2>/dev/null
	rm -rf "$DIR"
}
trap cleanup EXIT

now() { date +%s.%N; }
ms() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", (b - a) * 1000 }'; }
die() {
	echo "lazy-resume: FAILED: $*" >&2
	exit 1
}
gone() { # the pid is free again (restore needs it)
	[ ! -e "/proc/$1" ]
}

one_run() {
	local mb=$1 img=$DIR/img t0 t1 resume allin
	rm -rf "$img" "$DIR"/*.out "$DIR"/*.pid "$DIR/status"
	mkdir -p "$img"
	ZDTM_DEMO_MB=$mb "$WORKLOAD" --pidfile="$DIR/w.pid" --outfile="$DIR/w.out"
	WPID=$(cat "$DIR/w.pid")
	timeout 300 "$CRIU" dump -t "$WPID" -D "$img" -o dump.log || die "dump of $mb MiB"
	for _ in $(seq 500); do gone "$WPID" && break; sleep 0.01; done
	gone "$WPID" || die "the workload survived its dump"
	mkfifo "$DIR/status"
	src=()
	if [ "$REMOTE" = 1 ]; then
		timeout 300 "$CRIU" page-server -D "$img" --port "$PORT" --address 127.0.0.1 \
			--lazy-pages -o page-server.log --status-fd 3 3>"$DIR/status" >/dev/null &
		SPID=$!
		[ "$(timeout 30 head -c1 "$DIR/status" | od -An -tx1 | tr -d ' ')" = "00" ] ||
			die "page-server not ready"
		src=(--page-server --address 127.0.0.1 --port "$PORT")
	fi
	timeout 300 "$CRIU" lazy-pages -D "$img" "${src[@]}" -o lazy-pages.log --status-fd 3 \
		3>"$DIR/status" >/dev/null &
	LPID=$!
	[ "$(timeout 30 head -c1 "$DIR/status" | od -An -tx1 | tr -d ' ')" = "00" ] ||
		die "lazy-pages not ready"
	t0=$(now)
	timeout 120 "$CRIU" restore -D "$img" -d --pidfile "$DIR/r.pid" --lazy-pages \
		-o restore.log || die "restore of $mb MiB"
	t1=$(now)
	resume=$(ms "$t0" "$t1")
	wait "$LPID" || die "lazy-pages failed"
	LPID=
	if [ -n "$SPID" ]; then
		wait "$SPID" || die "page-server failed"
		SPID=
	fi
	allin=$(ms "$t0" "$(now)")
	kill -TERM "$WPID"
	for _ in $(seq 600); do gone "$WPID" && break; sleep 0.05; done
	grep -q '^PASS$' "$DIR/w.out" || die "the workload's memory is wrong: $(cat "$DIR/w.out")"
	WPID=
	printf '%6s MiB  resume %7s ms  all in %8s ms  | %s\n' "$mb" "$resume" "$allin" \
		"$(grep -h 'fault service' "$img/lazy-pages.log" | sed 's/.*lazy-pages: //')"
}

for mb in "${SIZES[@]}"; do
	for _ in $(seq "$RUNS"); do
		one_run "$mb"
	done
done
