#!/bin/bash
# Remote lazy restore over a link that breaks. A relay between lazy-pages and page-server resets
# every connection once some of the pages went through (tcp-cut-proxy.py), with the task restored
# and still missing most of its memory:
#   (1) the link comes back 2 s later: the daemon reconnects, the transfer goes on where it
#       stopped, the daemon ends with all pages in and the task verifies every byte of its memory;
#   (2) as (1), from a post-copy source (dump --lazy-pages) instead of page-server; the source
#       ends cleanly once every page is pulled;
#   (3) it never comes back: once --lazy-timeout (3 s) passes the task is killed, with an error
#       saying why, and never runs on zero pages.
# A 64 MiB workload restored three times, on loopback, about twenty seconds.
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
CRIU=$ROOT/build/bin/criu-lazy
WORKLOAD=$ROOT/build/test/zdtm/static/demo_workload
PROXY=$ROOT/test/migration/tcp-cut-proxy.py
WORK=$(mktemp -d /tmp/remote-link-cut.XXXXXX)
PIDS=()
FAILED=0
# below the ephemeral range (32768-60999): a port there may be taken by any outgoing connection
PORT=$((20000 + RANDOM % 12000))
CUT_AFTER=${CUT_AFTER:-262144} # bytes from the source before the cut

cleanup() {
	local p
	for p in "${PIDS[@]}"; do
		kill -KILL "$p" 2>/dev/null
	done
	wait 2>/dev/null
	if [ "$FAILED" = 0 ]; then rm -rf "$WORK"; else echo "  logs kept in $WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

fail() {
	echo "FAIL remote-link-cut: $*"
	FAILED=1
	exit 1
}

gone() {
	local st
	st=$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null)
	[ -z "$st" ] || [ "$st" = Z ] || [ "$st" = X ]
}

wait_file() { # FILE SECONDS
	local i
	for ((i = 0; i < $2 * 20; i++)); do
		[ -s "$1" ] && return 0
		sleep 0.05
	done
	return 1
}

ZDTM_DEMO_MB=64 "$WORKLOAD" --pidfile="$WORK/w.pid" --outfile="$WORK/w.out" ||
	fail "workload did not start"
PID=$(cat "$WORK/w.pid")
IMGPID=$PID
PIDS+=("$PID")
timeout 60 "$CRIU" dump -t "$PID" -D "$WORK/img" -o dump.log || fail "dump"

# run NAME OUTAGE LAZY_TIMEOUT [postcopy]: the source (page-server on the dump, or with postcopy
# a new workload's dump --lazy-pages; SRC is its pid), the cutting relay, lazy-pages through it,
# restore; LP is the daemon's pid
run() {
	local name=$1 outage=$2 tmo=$3 sport=$PORT pport=$((PORT + 1)) dst=$WORK/$1
	PORT=$((PORT + 2))
	mkdir -p "$dst"
	N0=$(grep -c PASS "$WORK/w.out")
	F0=$(grep -c FAIL "$WORK/w.out")
	if [ "${4:-}" = postcopy ]; then
		ZDTM_DEMO_MB=64 "$WORKLOAD" --pidfile="$WORK/w.pid" --outfile="$WORK/w.out" ||
			fail "$name: workload did not start"
		PID=$(cat "$WORK/w.pid")
		PIDS+=("$PID")
		exec 8>"$dst/ps.ready"
		"$CRIU" dump -t "$PID" -D "$dst/src" --lazy-pages --address 127.0.0.1 \
			--port "$sport" -o dump.log -v4 --lazy-timeout 20 --status-fd 8 \
			>"$dst/ps.err" 2>&1 &
		SRC=$!
		PIDS+=("$SRC")
		exec 8>&-
		wait_file "$dst/ps.ready" 20 || fail "$name: dump --lazy-pages not ready"
		cp "$dst/src/"*.img "$dst/"
	else
		PID=$IMGPID
		cp "$WORK/img/"*.img "$dst/"
		exec 8>"$dst/ps.ready"
		"$CRIU" page-server -D "$WORK/img" --lazy-pages --address 127.0.0.1 \
			--port "$sport" -o "ps-$name.log" -v4 --status-fd 8 >"$dst/ps.err" 2>&1 &
		SRC=$!
		PIDS+=("$SRC")
		exec 8>&-
		wait_file "$dst/ps.ready" 10 || fail "$name: page-server not ready"
	fi
	for _ in $(seq 200); do gone "$PID" && break; sleep 0.05; done
	gone "$PID" || fail "$name: pid $PID still taken"
	python3 "$PROXY" "$pport" "$sport" "$CUT_AFTER" "$outage" "$dst/proxy.ready" \
		>"$dst/proxy.out" 2>&1 &
	PIDS+=($!)
	wait_file "$dst/proxy.ready" 10 || fail "$name: relay not ready: $(cat "$dst/proxy.out")"
	exec 8>"$dst/lp.ready"
	"$CRIU" lazy-pages -D "$dst" --page-server --address 127.0.0.1 --port "$pport" \
		-o lazy-pages.log -v4 --lazy-timeout "$tmo" --status-fd 8 >"$dst/lp.err" 2>&1 &
	LP=$!
	PIDS+=("$LP")
	exec 8>&-
	wait_file "$dst/lp.ready" 10 || fail "$name: lazy-pages not ready: $(tail -2 "$dst/lp.err")"
	timeout 30 "$CRIU" restore -D "$dst" -d --lazy-pages -o restore.log ||
		fail "$name: restore: $(grep -h 'Error (' "$dst/restore.log" | head -1)"
}

new_pass() { [ "$(grep -c PASS "$WORK/w.out")" -gt "$N0" ]; }
new_fail() { [ "$(grep -c FAIL "$WORK/w.out")" -gt "$F0" ]; }

# 1: the link comes back
run back 2 10
timeout 30 tail --pid="$LP" -f /dev/null || fail "back: lazy-pages still running after 30 s"
wait "$LP"
rc=$?
log=$WORK/back/lazy-pages.log
grep -q "^cut" "$WORK/back/proxy.out" || fail "back: the relay never cut the link: $(cat "$WORK/back/proxy.out")"
[ $rc = 0 ] || fail "back: lazy-pages exited $rc: $(grep -h 'Error (' "$log" | head -2)"
grep -q "made again" "$log" || fail "back: no reconnection in the daemon's log"
kill -TERM "$PID"
for _ in $(seq 100); do
	new_pass || new_fail && break
	sleep 0.1
done
new_fail && fail "back: the task found wrong memory: $(grep FAIL "$WORK/w.out" | tail -1)"
new_pass || fail "back: no PASS from the task"
echo "PASS remote-link-cut: $(head -1 "$WORK/back/proxy.out"), back after 2 s; reconnected" \
	"($(grep -c 'made again' "$log") connection(s)), all pages in, the task verified 64 MiB"

# 2: post-copy migration (the source serves the frozen tree's memory): the link breaks, comes back
run postcopy 2 10 postcopy
timeout 30 tail --pid="$LP" -f /dev/null || fail "postcopy: lazy-pages still running after 30 s"
wait "$LP"
rc=$?
log=$WORK/postcopy/lazy-pages.log
grep -q "^cut" "$WORK/postcopy/proxy.out" || fail "postcopy: the relay never cut the link"
[ $rc = 0 ] || fail "postcopy: lazy-pages exited $rc: $(grep -h 'Error (' "$log" | head -2)"
grep -q "made again" "$log" || fail "postcopy: no reconnection in the daemon's log"
timeout 30 tail --pid="$SRC" -f /dev/null || fail "postcopy: the source still serves after 30 s"
wait "$SRC"
rc=$?
[ $rc = 0 ] || fail "postcopy: dump --lazy-pages exited $rc: $(grep -h 'Error (' "$WORK/postcopy/src/dump.log" | head -2)"
kill -TERM "$PID"
for _ in $(seq 100); do
	new_pass || new_fail && break
	sleep 0.1
done
new_fail && fail "postcopy: the task found wrong memory: $(grep FAIL "$WORK/w.out" | tail -1)"
new_pass || fail "postcopy: no PASS from the task"
echo "PASS remote-link-cut: post-copy: $(head -1 "$WORK/postcopy/proxy.out"), back after 2 s;" \
	"the source ended cleanly, the task verified 64 MiB"

# 3: the link never comes back
run never -1 3
for _ in $(seq 150); do
	gone "$PID" && break
	new_pass || new_fail && break
	sleep 0.1
done
log=$WORK/never/lazy-pages.log
grep -q "^cut" "$WORK/never/proxy.out" || fail "never: the relay never cut the link"
new_fail && fail "never: the task ran on lost pages: $(grep FAIL "$WORK/w.out" | tail -1)"
new_pass && fail "never: the task finished although its source was gone"
gone "$PID" || fail "never: the task is still alive 15 s after its source went away"
timeout 10 tail --pid="$LP" -f /dev/null || fail "never: lazy-pages still running"
wait "$LP"
rc=$?
[ $rc != 0 ] || fail "never: lazy-pages exited 0 without its source"
# waited for the source the whole --lazy-timeout first (the daemon's retries, or its watchdog)
grep -q "did not come back within 3 s\|did not answer for 3 s" "$log" ||
	fail "never: the daemon gave up without waiting --lazy-timeout: $(grep -h 'Error (' "$log" | head -2)"
grep -q "Error (.*killing" "$log" "$WORK/never/lp.err" ||
	fail "never: no error saying the task was killed: $(grep -h 'Error (' "$log" | head -2)"
echo "PASS remote-link-cut: source gone for good -> $(grep -h 'Error (.*killing' "$log" | head -1 |
	sed 's/.*Error ([^)]*): //')"
exit 0
