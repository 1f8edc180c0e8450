#!/bin/bash
# The lazy-pages daemon killed by SIGKILL in the middle of a lazy restore: the restored task must
# either be killed (by the daemon's guard, which holds the task's userfaultfd) or have all its data;
# it must never run on zero pages where its memory was, and never stay blocked on a fault.
# One 1 GiB workload, about ten seconds.
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

ZDTM_DEMO_MB=1024 "$WORKLOAD" --pidfile="$WORK/w.pid" --outfile="$WORK/w.out" ||
	fail "workload did not start"
PID=$(cat "$WORK/w.pid")
PIDS+=("$PID")
timeout 60 "$CRIU" dump -t "$PID" -D "$WORK/img" -o dump.log || fail "dump"
for _ in $(seq 200); do [ -e "/proc/$PID" ] || break; sleep 0.05; done

exec 8>"$WORK/ready"
"$CRIU" lazy-pages -D "$WORK/img" -o lazy-pages.log -v4 --status-fd 8 2>"$WORK/lp.err" &
LP=$!
PIDS+=("$LP")
exec 8>&-
timeout 10 cat "$WORK/ready" >/dev/null
timeout 30 "$CRIU" restore -D "$WORK/img" -d --lazy-pages -o restore.log || fail "restore"
# Freeze the daemon at once so pages stay missing, let the task fault on them, then kill it.
kill -STOP "$LP"
kill -TERM "$PID"
sleep 0.3
kill -KILL "$LP"
{ wait "$LP"; } 2>/dev/null

for _ in $(seq 100); do
	gone "$PID" && break
	grep -q 'PASS\|FAIL' "$WORK/w.out" 2>/dev/null && break
	sleep 0.1
done
if grep -q FAIL "$WORK/w.out"; then
	fail "the task ran on lost pages: $(grep FAIL "$WORK/w.out")"
elif grep -q PASS "$WORK/w.out"; then
	echo "PASS lazy-daemon-killed: every page was in before the daemon died; the task verified its memory"
elif gone "$PID"; then
	grep -q "killing it rather than let it read zeros" "$WORK/lp.err" "$WORK/img/lazy-pages.log" ||
		fail "the task died, but not by the guard: $(tail -2 "$WORK/lp.err")"
	echo "PASS lazy-daemon-killed: the guard killed the task whose pages were lost"
else
	fail "the task is still alive and has not finished its check after 10 s"
fi
