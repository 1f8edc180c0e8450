#!/usr/bin/env bash
# Post-copy migration with the real tool: a workload of N MiB is dumped with
# `dump --lazy-pages --address A --port P` and restored at once with `lazy-pages --page-server`
# + `restore --lazy-pages`; the workload checks all its memory afterwards.
#   downtime  from the start of the dump (the tree freezes within a millisecond) until
#             `restore -d` returns with the tree running at the destination
#   all in    from the start of the dump until the destination daemon has every page
#   faults    the daemon's own fault service times: the workload is told to check all its memory
#             as soon as it runs, so it faults on every page the prefetch has not brought yet
# Two links: "loopback" (destination on this host: the source copies the lazy pages out and
# kills the tree before it serves, so the pids are free) and "veth" (two network namespaces, the
# destination in its own pid namespace: pages come straight from the frozen tree). The TCP
# round trip of this machine is measured in the same run (build/bench/tcp-floor).
# Usage: bench/remote-lazy.sh [MiB ...]   (default: 256; BENCH_FULL=1: 256 1024 4096), RUNS=n
# (default 1), LINKS="loopback veth"
# Prints `key value unit` lines (bench/run.sh), the rest as # comments.
set -uo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
CRIU=$ROOT/build/bin/criu-lazy
WORKLOAD=$ROOT/build/test/zdtm/static/demo_workload
RUNS=${RUNS:-1}
LINKS=${LINKS:-loopback veth}
SIZES=("$@")
if [ ${#SIZES[@]} -eq 0 ]; then
	SIZES=(256)
	[ "${BENCH_FULL:-0}" != 0 ] && SIZES=(256 1024 4096)
fi
DIR=$(mktemp -d /tmp/remote-lazy.XXXXXX)
TAG=crlb$$
SRC=$TAG-s DST=$TAG-d
NETNS=0

cleanup() {
	[ -n "${WPID:-}" ] && kill -KILL "$WPID" 2>/dev/null
	[ -n "${DPID:-}" ] && kill -KILL "$DPID" 2>/dev/null
	if [ $NETNS = 1 ]; then
		ip netns pids "$SRC" 2>/dev/null | xargs -r kill -KILL 2>/dev/null
		ip netns pids "$DST" 2>/dev/null | xargs -r kill -KILL 2>/dev/null
		ip netns del "$SRC" 2>/dev/null
		ip netns del "$DST" 2>/dev/null
	fi
	[ -n "${KEEP:-}" ] && echo "kept $DIR" || rm -rf "$DIR"
}
trap cleanup EXIT
die() {
	echo "remote-lazy: FAILED: $*" >&2
	exit 1
}

setup_netns() {
	ip netns add "$SRC" && ip netns add "$DST" || die "ip netns"
	NETNS=1
	ip link add "$TAG-a" netns "$SRC" type veth peer name "$TAG-b" netns "$DST"
	ip -n "$SRC" addr add 10.199.77.1/24 dev "$TAG-a"
	ip -n "$DST" addr add 10.199.77.2/24 dev "$TAG-b"
	ip -n "$SRC" link set "$TAG-a" up
	ip -n "$DST" link set "$TAG-b" up
	ip -n "$SRC" link set lo up
	ip -n "$DST" link set lo up
}

# The destination: lazy-pages, restore, wait for all pages, check the workload. Prints
# "resume_ns allin_ns" relative to its start, as seen from the start time it is given.
cat >"$DIR/dest.sh" <<'DEST'
set -u
CRIU=$1 D=$2 ADDR=$3 PORT=$4 T0=$5
cd "$D"
$CRIU lazy-pages -D dst --page-server --address "$ADDR" --port "$PORT" -o lazy-pages.log &
LP=$!
for i in $(seq 400); do [ -S dst/lazy-pages.socket ] && break; sleep 0.005; done
tr=$(date +%s%N)
timeout 60 $CRIU restore -D dst -d --lazy-pages --pidfile r.pid -o restore.log || exit 1
t1=$(date +%s%N)
# the workload checks all its memory now: faults on every missing page, against the prefetch
R=$(cat r.pid)
kill -TERM "$R"
wait $LP || exit 2
t2=$(date +%s%N)
for i in $(seq 6000); do kill -0 "$R" 2>/dev/null || break; sleep 0.01; done
grep -q '^PASS$' w.out || exit 3
echo "$(( (t1 - T0) / 1000 )) $(( (t2 - T0) / 1000 )) $(( (tr - T0) / 1000 ))"
DEST

one_run() {
	local link=$1 mb=$2 d=$DIR/run addr port srcx=() dstx=() res rc
	rm -rf "$d"
	mkdir -p "$d/img" "$d/dst"
	port=$((20000 + RANDOM % 20000))
	if [ "$link" = veth ]; then
		addr=10.199.77.1
		srcx=(ip netns exec "$SRC")
		dstx=(ip netns exec "$DST" unshare --pid --fork --mount-proc)
	else
		addr=127.0.0.1
	fi
	(cd "$d" && ZDTM_DEMO_MB=$mb exec "${srcx[@]}" "$WORKLOAD" --pidfile="$d/w.pid" \
		--outfile="$d/w.out")
	WPID=$(cat "$d/w.pid")
	sleep 0.2
	t0=$(date +%s%N)
	"${srcx[@]}" "$CRIU" dump -t "$WPID" -D "$d/img" -o dump.log -v3 --lazy-pages \
		--address "$addr" --port "$port" ${DUMP_OPTS:-} --status-fd 9 9>"$d/ready" &
	DPID=$!
	for _ in $(seq 6000); do
		[ -s "$d/ready" ] && break
		kill -0 $DPID 2>/dev/null || die "dump failed: $(grep -h 'Error' "$d/img/dump.log")"
		sleep 0.002
	done
	cp "$d/img/"*.img "$d/dst/"
	res=$("${dstx[@]}" bash "$DIR/dest.sh" "$CRIU" "$d" "$addr" "$port" "$t0" | tail -1)
	rc=$?
	[ $rc = 0 ] || die "$link $mb MiB: destination failed ($rc): $(grep -h 'Error' "$d"/dst/*.log | head -2)"
	wait $DPID || die "dump exited with an error"
	DPID=
	WPID=
	set -- $res
	local k=postcopy.$link.${mb}m ready lat
	ready=$(grep -ho 'ready after [0-9.]* ms' "$d/img/dump.log" | grep -o '[0-9.]*' | head -1)
	lat=$(grep -h 'fault service' "$d/dst/lazy-pages.log" | sed 's/.*faults/faults/')
	printf '# %-8s %6s MiB  downtime %7.1f ms (restore started at %.1f)  all in %7.1f ms  source ready after %s ms | %s\n' \
		"$link" "$mb" "$(echo "$1 / 1000" | bc -l)" "$(echo "$3 / 1000" | bc -l)" \
		"$(echo "$2 / 1000" | bc -l)" "$ready" "$lat"
	# key value unit lines for bench/run.sh and report.py
	printf '%s.downtime %.1f ms\n%s.all_in %.1f ms\n%s.source_ready %s ms\n' \
		"$k" "$(echo "$1 / 1000" | bc -l)" "$k" "$(echo "$2 / 1000" | bc -l)" "$k" "${ready:-0}"
	echo "$lat" | sed -n 's/.*p50 \([0-9.]*\) us, p99 \([0-9.]*\) us.*/'"$k"'.fault_p50 \1 us\n'"$k"'.fault_p99 \2 us/p'
}

# loopback: run in a pid namespace of our own whose init (this script's bash) reaps the killed
# tree at once; the machine's init may take a second, and restore waits for the pids
if [ -n "${INNER_ONE:-}" ]; then
	one_run loopback "$INNER_ONE"
	exit
fi
[ -x build/bench/tcp-floor ] && build/bench/tcp-floor 2>/dev/null | grep -i "rtt.*p50\|rtt.*p99" |
	head -2 | sed 's/^/# /'
echo "# post-copy: downtime = dump start to the tree running at the destination"
for link in $LINKS; do
	[ "$link" = veth ] && setup_netns
	for mb in "${SIZES[@]}"; do
		for _ in $(seq "$RUNS"); do
			if [ "$link" = loopback ]; then
				INNER_ONE=$mb unshare --pid --fork --mount-proc bash "$0" ||
					die "loopback $mb MiB"
			else
				one_run "$link" "$mb"
			fi
		done
	done
done
