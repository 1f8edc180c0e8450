#!/bin/bash
# Post-copy migration between two "hosts" on one machine: the source tree runs in one network
# namespace, the destination is another network namespace (joined by a veth pair) with its own
# pid namespace, so the tree can get its pids back while the source still holds it frozen.
#
#   source:       dump -t PID --lazy-pages --address SRC_IP --port P   (serves from the frozen tree)
#   destination:  lazy-pages --page-server --address SRC_IP --port P ; restore --lazy-pages
#
# Checks: the restored test passes its own memory check, the source tree is killed once the
# destination has every page, and a destination whose source goes away kills its tasks with a
# clear error instead of running on zero pages; a destination that leaves before restoring leaves
# the source tree running; and one image set served by page-server to two destinations at once
# (fan-out). Always removes its namespaces. Usage:
#   test/migration/netns-postcopy.sh [TEST ...]   (default: static/heap static/lazy_threads
#                                                  static/demo_workload)
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
CRIU=$ROOT/build/bin/criu-lazy
TESTS=("$@")
[ ${#TESTS[@]} -eq 0 ] && TESTS=(static/heap static/lazy_threads static/demo_workload)
TAG=crl$$
SRC=$TAG-src DST=$TAG-dst
NET=10.$((RANDOM % 200 + 20)).$((RANDOM % 250)).
SRC_IP=${NET}1 DST_IP=${NET}2
WORK=$(mktemp -d /tmp/netns-postcopy.XXXXXX)
PIDS=()
FAILED=0

cleanup() {
	local p
	for p in "${PIDS[@]}"; do
		kill -KILL "$p" 2>/dev/null
	done
	ip netns pids "$SRC" 2>/dev/null | xargs -r kill -KILL 2>/dev/null
	ip netns pids "$DST" 2>/dev/null | xargs -r kill -KILL 2>/dev/null
	ip netns del "$SRC" 2>/dev/null
	ip netns del "$DST" 2>/dev/null
	if [ "$FAILED" = 0 ]; then rm -rf "$WORK"; else echo "  logs kept in $WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

fail() {
	echo "FAIL $*"
	FAILED=1
}

if [ "$(id -u)" != 0 ] || ! ip netns add "$SRC" 2>/dev/null; then
	echo "SKIP netns-postcopy: needs root and ip netns"
	trap - EXIT
	exit 0
fi
ip netns add "$DST"
ip link add "$TAG-a" netns "$SRC" type veth peer name "$TAG-b" netns "$DST"
ip -n "$SRC" addr add "$SRC_IP/24" dev "$TAG-a"
ip -n "$DST" addr add "$DST_IP/24" dev "$TAG-b"
ip -n "$SRC" link set "$TAG-a" up
ip -n "$DST" link set "$TAG-b" up
ip -n "$SRC" link set lo up
ip -n "$DST" link set lo up

# alive PID: the process exists and is not a zombie (within a second of being killed)
alive() {
	local i st
	for ((i = 0; i < 20; i++)); do
		st=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
		[ "$st" = Z ] || [ -z "$st" ] && return 1
		sleep 0.05
	done
	return 0
}

# wait_for FILE SECONDS: until FILE exists
wait_for() {
	local i
	for ((i = 0; i < $2 * 20; i++)); do
		[ -s "$1" ] && return 0
		sleep 0.05
	done
	return 1
}

# The destination, run as pid 1 of a new pid namespace: lazy-pages, restore, let the test check
# itself, report. Exits non-zero on any failure.
cat >"$WORK/dest.sh" <<'DEST'
set -u
CRIU=$1 DIR=$2 SRC_IP=$3 PORT=$4 EXPECT=$5 GO=${6:-}
cd "$DIR"
$CRIU lazy-pages -D dst --page-server --address "$SRC_IP" --port "$PORT" -o lazy-pages.log -v4 \
	--lazy-timeout 3 --pidfile lp.pid &
LP=$!
for i in $(seq 100); do [ -S dst/lazy-pages.socket ] && break; sleep 0.05; done
# fan-out: the daemon is connected to the server once its socket is there; restore only when
# every destination is, or a quick one could be done (and the server gone) before the next
if [ -n "$GO" ]; then
	echo up >lp-up
	for i in $(seq 200); do [ -e "$GO" ] && break; sleep 0.05; done
fi
t0=$(date +%s%N)
timeout 20 $CRIU restore -D dst -d --lazy-pages --pidfile r.pid -o restore.log -v4 || {
	echo "restore failed"; kill -KILL $LP; exit 1; }
t1=$(date +%s%N)
echo "restore: $(( (t1 - t0) / 1000 )) us" >times
wait $LP
LPRC=$?
R=$(cat r.pid)
if [ "$EXPECT" = lost ]; then
	# the source went away: the daemon must fail and the task must be gone
	sleep 0.2
	[ $LPRC != 0 ] || { echo "lazy-pages exited 0 without its source"; exit 1; }
	! kill -0 "$R" 2>/dev/null || { echo "task $R still runs without its pages"; kill -KILL "$R"; exit 1; }
	exit 0
fi
[ $LPRC = 0 ] || { echo "lazy-pages exited $LPRC"; exit 1; }
kill -TERM "$R"
for i in $(seq 1000); do kill -0 "$R" 2>/dev/null || break; sleep 0.01; done
grep -q PASS test.out || { echo "no PASS: $(tail -2 test.out)"; exit 1; }
exit 0
DEST

run_one() {
	local t=$1 expect=$2 MB=${3:-64} dir port pid dump rc i
	dir=$WORK/$(echo "$t-$expect" | tr / _)
	port=$((20000 + RANDOM % 20000))
	mkdir -p "$dir/work" "$dir/img" "$dir/dst"
	(cd "$dir/work" && ZDTM_DEMO_MB=$MB exec ip netns exec "$SRC" setsid "$ROOT/build/test/zdtm/$t" \
		--pidfile="$dir/test.pid" --outfile="$dir/test.out" </dev/null >/dev/null 2>&1) &
	wait_for "$dir/test.pid" 10 || { fail "$t: the test did not start"; return; }
	pid=$(cat "$dir/test.pid")
	ip netns exec "$SRC" "$CRIU" dump -t "$pid" -D "$dir/img" -o dump.log -v4 --lazy-pages \
		--address "$SRC_IP" --port "$port" --status-fd 9 9>"$dir/ready" &
	dump=$!
	PIDS+=("$dump" "$pid")
	for ((i = 0; i < 200; i++)); do
		[ -s "$dir/ready" ] && break
		kill -0 $dump 2>/dev/null || break
		sleep 0.05
	done
	[ -s "$dir/ready" ] || { fail "$t: dump not ready"; return; }
	# the images but the lazy pages go to the destination
	cp "$dir/img/"*.img "$dir/dst/"
	if [ "$expect" = lost ]; then
		# the source dies once the tree runs at the destination, its pages still on the way
		(wait_for "$dir/r.pid" 20 && kill -KILL $dump) &
		disown $dump
	fi
	ip netns exec "$DST" unshare --pid --fork --mount-proc \
		bash "$WORK/dest.sh" "$CRIU" "$dir" "$SRC_IP" "$port" "$expect" >"$dir/dest.out" 2>&1
	rc=$?
	if [ $rc != 0 ]; then
		fail "$t ($expect): $(tail -3 "$dir/dest.out" | tr '\n' ' ') $(grep -h 'Error (' "$dir"/dst/*.log | head -2)"
		return
	fi
	if [ "$expect" = lost ]; then
		grep -q "Error (" "$dir/dst/lazy-pages.log" || { fail "$t: no error logged for the lost source"; return; }
		echo "PASS $t: source gone mid-restore -> $(grep -h 'killing' "$dir/dst/lazy-pages.log" | head -1 | sed 's/.*: lazy: //')"
		return
	fi
	wait $dump
	rc=$?
	[ $rc = 0 ] || { fail "$t: dump exited $rc"; return; }
	alive "$pid" && { fail "$t: the source tree is still there"; return; }
	grep -q "Error (" "$dir/img/dump.log" "$dir/dst/"*.log && { fail "$t: $(grep -h 'Error (' "$dir/img/dump.log" "$dir/dst/"*.log | head -1)"; return; }
	echo "PASS $t: $(cat "$dir/times"), $(grep -h 'all pages in' "$dir/dst/lazy-pages.log" | sed 's/.*lazy-pages: //')"
}

# Fan-out: one image set (a plain dump) served by page-server --lazy-pages to two destinations at
# once, each in a pid namespace of its own; the server exits once both are done.
run_fanout() {
	local t=$1 dir=$WORK/fanout port pid ps rc k
	port=$((20000 + RANDOM % 20000))
	mkdir -p "$dir/work" "$dir/img"
	(cd "$dir/work" && exec ip netns exec "$SRC" setsid "$ROOT/build/test/zdtm/$t" \
		--pidfile="$dir/test.pid" --outfile="$dir/test.out" </dev/null >/dev/null 2>&1) &
	wait_for "$dir/test.pid" 10 || { fail "fan-out: the test did not start"; return; }
	pid=$(cat "$dir/test.pid")
	PIDS+=("$pid")
	timeout 20 ip netns exec "$SRC" "$CRIU" dump -t "$pid" -D "$dir/img" -o dump.log ||
		{ fail "fan-out: dump"; return; }
	ip netns exec "$SRC" "$CRIU" page-server -D "$dir/img" --lazy-pages --address "$SRC_IP" \
		--port "$port" -o page-server.log -v4 --status-fd 9 9>"$dir/ready" &
	ps=$!
	PIDS+=("$ps")
	wait_for "$dir/ready" 10 || { fail "fan-out: page-server not ready"; return; }
	for k in 1 2; do
		mkdir -p "$dir/d$k/dst"
		cp "$dir/img/"*.img "$dir/d$k/dst/"
		ln -s ../test.out "$dir/d$k/test.out"
		ip netns exec "$DST" unshare --pid --fork --mount-proc bash "$WORK/dest.sh" \
			"$CRIU" "$dir/d$k" "$SRC_IP" "$port" ok "$dir/go" >"$dir/d$k/dest.out" 2>&1 &
		eval "dest$k=\$!"
	done
	# the server ends once the clients it has are done: both must be connected before either
	# restores (bounded; a destination that never gets there fails below on its own)
	wait_for "$dir/d1/lp-up" 10 && wait_for "$dir/d2/lp-up" 10
	touch "$dir/go"
	for k in 1 2; do
		eval "wait \$dest$k"
		rc=$?
		[ $rc = 0 ] || { fail "fan-out: destination $k: $(tail -2 "$dir/d$k/dest.out" | tr '\n' ' ')"; return; }
	done
	wait $ps
	rc=$?
	[ $rc = 0 ] || { fail "fan-out: page-server exited $rc"; return; }
	grep -h "Error (" "$dir"/d*/dst/*.log "$dir/img/page-server.log" && { fail "fan-out: errors logged"; return; }
	echo "PASS fan-out of $t to 2 destinations: $(grep -h 'passed the hello' "$dir/img/page-server.log" | sed 's/.*page-server: //')"
}

# A destination that connects and leaves before it restored anything: the source tree was never
# replaced, so it runs on at the source (and still passes its own check).
run_abort() {
	local t=$1 dir=$WORK/abort port pid dump lp rc i
	port=$((20000 + RANDOM % 20000))
	mkdir -p "$dir/work" "$dir/img" "$dir/dst"
	(cd "$dir/work" && exec ip netns exec "$SRC" setsid "$ROOT/build/test/zdtm/$t" \
		--pidfile="$dir/test.pid" --outfile="$dir/test.out" </dev/null >/dev/null 2>&1) &
	wait_for "$dir/test.pid" 10 || { fail "abort: the test did not start"; return; }
	pid=$(cat "$dir/test.pid")
	PIDS+=("$pid")
	ip netns exec "$SRC" "$CRIU" dump -t "$pid" -D "$dir/img" -o dump.log --lazy-pages \
		--address "$SRC_IP" --port "$port" --status-fd 9 9>"$dir/ready" 2>"$dir/dump.err" &
	dump=$!
	PIDS+=("$dump")
	wait_for "$dir/ready" 10 || { fail "abort: dump not ready"; return; }
	cp "$dir/img/"*.img "$dir/dst/"
	ip netns exec "$DST" "$CRIU" lazy-pages -D "$dir/dst" --page-server --address "$SRC_IP" \
		--port "$port" -o lazy-pages.log >/dev/null 2>&1 &
	lp=$!
	for ((i = 0; i < 200; i++)); do
		[ -S "$dir/dst/lazy-pages.socket" ] && break
		sleep 0.05
	done
	[ -S "$dir/dst/lazy-pages.socket" ] || { fail "abort: lazy-pages did not start"; return; }
	kill -TERM $lp
	wait $lp 2>/dev/null
	wait $dump
	rc=$?
	[ $rc != 0 ] || { fail "abort: dump exited 0"; return; }
	grep -q "left without taking a page" "$dir/img/dump.log" || { fail "abort: no error logged"; return; }
	alive "$pid" || { fail "abort: the source tree is gone"; return; }
	kill -TERM "$pid"
	for i in $(seq 500); do kill -0 "$pid" 2>/dev/null || break; sleep 0.01; done
	grep -q PASS "$dir/test.out" || { fail "abort: the source tree failed its check"; return; }
	echo "PASS destination gone before restoring: the source tree runs on and passes"
}

for t in "${TESTS[@]}"; do
	run_one "$t" ok
done
run_abort static/heap
run_fanout static/heap
# 256 MiB take long enough to pull that the source can die in the middle
run_one static/demo_workload lost 256
exit $FAILED
