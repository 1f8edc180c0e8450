#!/usr/bin/env bash
# The tool against its targets: dump a workload of N MiB, restore it with --lazy-pages from local
# images and measure the time until it runs again (time to resume) and until every page is in;
# then a plain restore of the same images. Each run is checked: the workload verifies all of its
# memory on SIGTERM. Prints `key value unit` lines like the floor benchmarks.
# Two workloads: heap (build/bench/heap-workload: heap-like memory, compresses ~3x) and random
# (the zdtm demo workload: incompressible pattern, stored raw).
# Sizes in MiB: BENCH_HEAP_MB (default "64 1024"), BENCH_RANDOM_MB (default "1024"); BENCH_FULL=1
# adds 4096 to both.
set -uo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
CRIU=$root/build/bin/criu-lazy
RANDOMW=$root/build/test/zdtm/static/demo_workload
HEAPW=$root/build/bench/heap-workload
if [ "${BENCH_FULL:-0}" != 0 ]; then
	heap_sizes=${BENCH_HEAP_MB:-64 1024 4096}
	random_sizes=${BENCH_RANDOM_MB:-1024 4096}
else
	heap_sizes=${BENCH_HEAP_MB:-64 1024}
	random_sizes=${BENCH_RANDOM_MB:-1024}
fi
DIR=$(mktemp -d /tmp/criu-lazy-bench.XXXXXX)
PIDS=()

cleanup() {
	local p
	for p in "${PIDS[@]}"; do
		kill -KILL "$p" 2>/dev/null || true
	done
	rm -rf "$DIR"
}
trap cleanup EXIT

die() {
	echo "lazy-restore: $*" >&2
	local f
	for f in "$DIR"/*/img/*.log; do
		[ -f "$f" ] || continue
		echo "--- last lines of ${f#"$DIR"/}" >&2
		tail -n 3 "$f" | sed 's/^/    /' >&2
	done
	exit 1
}

not_built() {
	die "restore not built yet: $*"
}

# Drops PID from the kill list once it is known to be gone: a PID is reused, and cleanup must
# only ever kill what this script started.
forget() {
	local p keep=()
	for p in "${PIDS[@]}"; do
		[ "$p" = "$1" ] || keep+=("$p")
	done
	PIDS=("${keep[@]}")
}

ns() { date +%s%N; }
ms() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b - a) / 1e6 }'; }

# Waits (bounded) until PID is gone or a zombie nobody reaped yet; its PID must be free to restore.
wait_gone() {
	local pid=$1 i
	for i in $(seq 200); do
		[ -e "/proc/$pid" ] || return 0
		sleep 0.05
	done
	return 1
}

# Sends SIGTERM and waits for the workload's verdict (it checks every byte of its memory).
verify() {
	local pid=$1 out=$2 want=$3 i
	kill -TERM "$pid" 2>/dev/null || return 1
	for i in $(seq 600); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.05
	done
	[ "$(grep -c '^PASS$' "$out")" -ge "$want" ]
}

[ -x "$CRIU" ] || not_built "$CRIU is missing (run make)"
[ -x "$RANDOMW" ] || die "$RANDOMW is missing (run make)"
[ -x "$HEAPW" ] || die "$HEAPW is missing (run make)"
usage=$("$CRIU" --help 2>&1)
case $usage in
*--lazy-pages*) ;;
*) not_built "criu-lazy has no --lazy-pages" ;;
esac

# run_one KIND MIB: one workload through dump, lazy restore, check, plain restore, check.
run_one() {
	local kind=$1 mb=$2 d=$DIR/$1-$2 img key wpid lpid ready stored t0 t1 t2
	img=$d/img
	key=$kind.$mb"m"
	mkdir -p "$img"

	if [ "$kind" = heap ]; then
		timeout 120 "$HEAPW" "$mb" "$d/w.pid" "$d/w.out" ||
			die "the $mb MiB heap workload did not start"
	else
		ZDTM_DEMO_MB=$mb timeout 120 "$RANDOMW" --pidfile="$d/w.pid" --outfile="$d/w.out" ||
			die "the $mb MiB random workload did not start"
	fi
	wpid=$(cat "$d/w.pid")
	PIDS+=("$wpid")

	t0=$(ns)
	timeout 300 "$CRIU" dump -t "$wpid" -D "$img" -o dump.log || die "dump of $mb MiB failed"
	t1=$(ns)
	echo "lazy.dump.$key $(ms "$t0" "$t1") ms"
	wait_gone "$wpid" || die "pid $wpid still exists after dump"
	stored=$(cat "$img"/pages-*.img | wc -c)
	awk -v k="$key" -v m="$mb" -v s="$stored" \
		'BEGIN { if (s > 0) printf "lazy.image_ratio.%s %.3f x\n", k, s / (m * 1048576) }'

	# lazy restore: the daemon first, ready when it writes a zero byte to its status fd
	mkfifo "$d/status"
	timeout 600 "$CRIU" lazy-pages -D "$img" -o lazy-pages.log --status-fd 3 3>"$d/status" \
		>"$d/lazy-pages.out" 2>&1 &
	lpid=$!
	PIDS+=("$lpid")
	ready=$(timeout 30 head -c1 "$d/status" | od -An -tx1 | tr -d ' ') || true
	[ "$ready" = "00" ] || not_built "lazy-pages did not become ready"
	t0=$(ns)
	timeout 120 "$CRIU" restore -D "$img" -d --pidfile "$d/r.pid" --lazy-pages -o restore.log ||
		not_built "restore --lazy-pages of $mb MiB failed"
	t1=$(ns)
	[ "$(cat "$d/r.pid" 2>/dev/null)" = "$wpid" ] || die "restored pid is not $wpid"
	wait "$lpid" || die "lazy-pages exited with an error"
	t2=$(ns)
	forget "$lpid"
	echo "lazy.resume.$key $(ms "$t0" "$t1") ms"
	echo "lazy.allin.$key $(ms "$t0" "$t2") ms"
	awk -v k="$key" -v m="$mb" -v a="$t0" -v b="$t2" \
		'BEGIN { printf "lazy.allin_rate.%s %.3f GB/s\n", k, m * 1048576 / (b - a) }'
	sed -n 's/.*fault service p50 \([0-9.]*\) us, p99 \([0-9.]*\) us.*/\1 \2/p' \
		"$img/lazy-pages.log" | tail -1 | while read -r p50 p99; do
		echo "lazy.fault_service.$key.p50 $p50 us"
		echo "lazy.fault_service.$key.p99 $p99 us"
	done
	grep -q "Error (" "$img"/*.log && die "errors in the logs of the $mb MiB lazy restore"
	verify "$wpid" "$d/w.out" 1 || die "the $mb MiB workload's memory did not survive lazy restore"
	wait_gone "$wpid" || die "pid $wpid still exists after its check"

	# plain restore of the same images, for comparison
	t0=$(ns)
	timeout 120 "$CRIU" restore -D "$img" -d --pidfile "$d/r2.pid" -o restore-plain.log ||
		not_built "plain restore of $mb MiB failed"
	t1=$(ns)
	echo "plain.restore.$key $(ms "$t0" "$t1") ms"
	verify "$wpid" "$d/w.out" 2 || die "the $mb MiB workload's memory did not survive plain restore"
	wait_gone "$wpid" && forget "$wpid"
	rm -rf "$img"
}

echo "# lazy-restore: local images, heap ${heap_sizes// /,} MiB, random ${random_sizes// /,} MiB"
for mb in $heap_sizes; do
	run_one heap "$mb"
done
for mb in $random_sizes; do
	run_one random "$mb"
done
