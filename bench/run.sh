#!/usr/bin/env bash
# Runs the floor benchmarks that make built, each under a time bound, collects their
# `key value unit` lines in bench/out/ and writes bench/out/report.md (printed at the end).
# BENCH_FULL=1 runs every measurement longer. BENCH_ONLY="uffd-floor tcp-floor" picks a subset.
set -uo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
bin=$root/build/bench
out=$root/bench/out
default_set="uffd-floor zstd-floor fill-floor tcp-floor lazy-restore"
set_=${BENCH_ONLY:-$default_set}
if [ "${BENCH_FULL:-0}" != 0 ]; then
	limit=900
else
	limit=90
fi

mkdir -p "$out"
rm -f "$out"/*.txt "$out"/*.err

{
	echo "date $(date -u +%Y-%m-%dT%H:%M:%SZ)"
	echo "kernel $(uname -r)"
	echo "cpus $(nproc)"
	echo "mode $([ "${BENCH_FULL:-0}" != 0 ] && echo full || echo quick)"
	echo "load_before $(cut -d' ' -f1-3 /proc/loadavg)"
	echo "cpu_model $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)"
	echo "zstd $(pkg-config --modversion libzstd 2>/dev/null || echo unknown)"
} >"$out/env.meta"

failed=0
for b in $set_; do
	exe=$bin/$b
	[ -x "$root/bench/$b.sh" ] && exe=$root/bench/$b.sh
	if [ ! -x "$exe" ]; then
		echo "bench: $exe is not built (run make first)" >&2
		failed=1
		continue
	fi
	echo "bench: running $b (at most ${limit}s)" >&2
	start=$(date +%s%N)
	timeout --kill-after=5 "$limit" "$exe" >"$out/$b.txt" 2>"$out/$b.err"
	rc=$?
	end=$(date +%s%N)
	echo "# $b exit $rc in $(((end - start) / 1000000)) ms" >>"$out/$b.txt"
	if [ $rc -ne 0 ]; then
		echo "bench: $b failed with status $rc (see $out/$b.err)" >&2
		failed=1
	fi
done
echo "load_after $(cut -d' ' -f1-3 /proc/loadavg)" >>"$out/env.meta"

"$root/bench/report.py" "$out" >"$out/report.md" || failed=1
cat "$out/report.md"
exit $failed
