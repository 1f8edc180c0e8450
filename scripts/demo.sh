#!/usr/bin/env bash
# make demo: checkpoint a sample workload, restore it lazily, and check its memory came back.
# Every step is timed; any failure stops the demo with a non-zero exit.
set -euo pipefail

cd "$(dirname "$0")/.."
CRIU=$PWD/build/bin/criu-lazy
WORKLOAD=$PWD/build/test/zdtm/static/demo_workload
MB=${DEMO_MB:-256}
DIR=$(mktemp -d /tmp/criu-lazy-demo.XXXXXX)
IMG=$DIR/img
PIDS=()

say() { printf '%s\n' "demo: $*"; }
now() { date +%s.%N; }
ms() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f ms", (b - a) * 1000 }'; }

cleanup() {
	local p
	for p in "${PIDS[@]}"; do
		kill -KILL "$p" 2>/dev/null || true
	done
	if [ -n "${WPID:-}" ]; then
		kill -KILL "$WPID" 2>/dev/null || true
	fi
	rm -rf "$DIR"
}
trap cleanup EXIT

die() {
	say "FAILED: $*"
	local f
	for f in "$IMG"/*.log "$DIR"/*.out; do
		[ -f "$f" ] || continue
		say "--- last lines of ${f#"$DIR"/}"
		tail -n 5 "$f" | sed 's/^/    /'
	done
	exit 1
}

[ -x "$CRIU" ] || die "$CRIU is not built: run make"
[ -x "$WORKLOAD" ] || die "$WORKLOAD is not built: run make"
mkdir -p "$IMG"

say "1. start a workload holding $MB MiB of patterned memory"
t0=$(now)
ZDTM_DEMO_MB=$MB "$WORKLOAD" --pidfile="$DIR/workload.pid" --outfile="$DIR/workload.out"
WPID=$(cat "$DIR/workload.pid")
t1=$(now)
say "   pid $WPID ready in $(ms "$t0" "$t1")"

say "2. criu-lazy dump -t $WPID -D $IMG"
t0=$(now)
timeout 120 "$CRIU" dump -t "$WPID" -D "$IMG" -v4 -o dump.log || die "dump failed"
t1=$(now)
# dump kills the tree; a zombie waiting for a slow reaper does not count as running
state=$(awk '{ print $3 }' "/proc/$WPID/stat" 2>/dev/null || true)
case "$state" in
"" | Z | X) ;;
*) die "the workload is still running after dump (state $state)" ;;
esac
# Its pid is free again only once init reaps the zombie; wait for that outside restore's timing.
for _ in $(seq 100); do
	[ -e "/proc/$WPID" ] || break
	sleep 0.05
done
say "   dumped in $(ms "$t0" "$t1"); images: $(du -sh "$IMG" | cut -f1) for $MB MiB of memory"

say "3. criu-lazy lazy-pages -D $IMG (waiting until it is ready)"
mkfifo "$DIR/status"
timeout 300 "$CRIU" lazy-pages -D "$IMG" -v4 -o lazy-pages.log --status-fd 3 3>"$DIR/status" &
LPID=$!
PIDS+=("$LPID")
t0=$(now)
ready=$(timeout 30 head -c1 "$DIR/status" | od -An -tx1 | tr -d ' ') || true
[ "$ready" = "00" ] || die "lazy-pages did not become ready"
t1=$(now)
say "   lazy-pages ready in $(ms "$t0" "$t1")"

say "4. criu-lazy restore -D $IMG -d --lazy-pages"
t0=$(now)
timeout 120 "$CRIU" restore -D "$IMG" -d --pidfile "$DIR/restored.pid" --lazy-pages -v4 \
	-o restore.log || die "restore failed"
t1=$(now)
RPID=$(cat "$DIR/restored.pid" 2>/dev/null || true)
[ "$RPID" = "$WPID" ] || die "restored pid is '$RPID', expected $WPID"
say "   running again as pid $RPID after $(ms "$t0" "$t1") (memory arrives lazily)"

say "5. wait for lazy-pages to bring in every page and exit"
t0=$(now)
wait "$LPID" || die "lazy-pages exited with an error"
t1=$(now)
say "   all pages in after $(ms "$t0" "$t1")"
grep -h "Error (" "$IMG"/*.log && die "errors in the logs"

say "6. verify: SIGTERM makes the workload check all $MB MiB"
kill -TERM "$WPID"
# Finished means gone or a zombie (init may reap it later).
finished() {
	local st
	st=$(awk '{ print $3 }' "/proc/$WPID/stat" 2>/dev/null || true)
	[ -z "$st" ] || [ "$st" = Z ] || [ "$st" = X ]
}
for _ in $(seq 300); do
	finished && break
	sleep 0.1
done
finished || die "the workload did not finish its check"
grep -q '^PASS$' "$DIR/workload.out" || die "the workload reports: $(grep FAIL "$DIR/workload.out")"
grep 'intact' "$DIR/workload.out" | sed 's/^/   /'
say "OK: the workload's memory survived checkpoint and lazy restore"
