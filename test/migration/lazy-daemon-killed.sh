#!/bin/bash
# The lazy-pages daemon killed by SIGKILL in the middle of a lazy restore. Its guard keeps the
# tasks' userfaultfds: (1) a new lazy-pages started within --lazy-timeout takes the tasks over and
# they finish with all their data; (2) when none comes, the guard kills them once the timeout
# passes. Never may a task run on zero pages where its memory was, nor stay blocked for good.
# A 512 MiB workload restored twice, about fifteen seconds.
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
CRIU=$ROOT/build/bin/criu-lazy
WORKLOAD=$ROOT/build/test/zdtm/static/demo_workload
WORK=$(mktemp -d /tmp/lazy-killed.XXXXXX)
PIDS=()
FAILED=0

cleanup() {
	local p
	for p in "${PIDS[@]}"; do
		kill -CONT "$p" 2>/dev/null
		kill -KILL "$p" 2>/dev/null
	done
	if [ "$FAILED" = 0 ]; then rm -rf "$WORK"; else echo "  logs kept in $WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

fail() {
	echo "FAIL lazy-daemon-killed: $*"
	FAILED=1
	exit 1
}

gone() {
	local st
	st=$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null)
	[ -z "$st" ] || [ "$st" = Z ] || [ "$st" = X ]
}

ZDTM_DEMO_MB=512 "$WORKLOAD" --pidfile="$WORK/w.pid" --outfile="$WORK/w.out" ||
	fail "workload did not start"
PID=$(cat "$WORK/w.pid")
PIDS+=("$PID")
timeout 60 "$CRIU" dump -t "$PID" -D "$WORK/img" -o dump.log || fail "dump"

# start_daemon NAME: a lazy-pages daemon, ready when this returns; its pid in LP
start_daemon() {
	exec 8>"$WORK/ready.$1"
	"$CRIU" lazy-pages -D "$WORK/img" -o "$1.log" -v4 --lazy-timeout 3 --status-fd 8 \
		>"$WORK/$1.err" 2>&1 &
	LP=$!
	PIDS+=("$LP")
	exec 8>&-
	# the daemon writes one byte to its --status-fd when it is ready
	for _ in $(seq 200); do [ -s "$WORK/ready.$1" ] && break; sleep 0.05; done
	[ -s "$WORK/ready.$1" ] || fail "lazy-pages $1 never said it was ready"
}

# restore_and_kill_daemon: a lazy restore whose daemon is frozen at once, so pages stay missing,
# while the task faults on them; then the daemon is killed
restore_and_kill_daemon() {
	for _ in $(seq 200); do [ -e "/proc/$PID" ] || break; sleep 0.05; done
	N0=$(grep -c PASS "$WORK/w.out")
	F0=$(grep -c FAIL "$WORK/w.out")
	start_daemon "$1"
	timeout 30 "$CRIU" restore -D "$WORK/img" -d --lazy-pages -o restore.log || fail "restore"
	kill -STOP "$LP"
	kill -TERM "$PID"
	sleep 0.3
	kill -KILL "$LP"
	{ wait "$LP"; } 2>/dev/null
}

new_pass() { [ "$(grep -c PASS "$WORK/w.out")" -gt "$N0" ]; }
new_fail() { [ "$(grep -c FAIL "$WORK/w.out")" -gt "$F0" ]; }

# 1: a new daemon takes over
restore_and_kill_daemon first
start_daemon second
for _ in $(seq 100); do
	new_pass || new_fail && break
	sleep 0.1
done
new_fail && fail "the task ran on lost pages: $(grep FAIL "$WORK/w.out")"
new_pass ||
	fail "taken over: no PASS from the task; $(tail -2 "$WORK/second.err" "$WORK/img/second.log")"
if grep -q "took over 1 task" "$WORK/second.err" "$WORK/img/second.log" 2>/dev/null; then
	echo "PASS lazy-daemon-killed: a new lazy-pages took the task over; it verified all its memory"
else
	echo "PASS lazy-daemon-killed: every page was in before the daemon died; the task verified its memory"
fi

# 2: the same images restored again (they are never consumed); nobody comes after the daemon
# dies: the guard kills the task after --lazy-timeout (3 s)
restore_and_kill_daemon third
for _ in $(seq 100); do
	gone "$PID" && break
	new_pass || new_fail && break
	sleep 0.1
done
if new_fail; then
	fail "the task ran on lost pages: $(grep FAIL "$WORK/w.out")"
elif new_pass; then
	echo "PASS lazy-daemon-killed: every page was in before the daemon died; the task verified its memory"
elif gone "$PID"; then
	grep -q "killing it rather than let it read zeros" "$WORK/third.err" "$WORK/img/third.log" ||
		fail "the task died, but not by the guard: $(tail -2 "$WORK/third.err")"
	echo "PASS lazy-daemon-killed: nobody took over; the guard killed the task after the timeout"
else
	fail "the task is still alive and has not finished its check after 10 s"
fi
