#!/usr/bin/env bash
# Runs the floor benchmarks that make built, each under a time bound, collects their
# `key value unit` lines in bench/out/ and writes bench/out/report.md (printed at the end).
# BENCH_FULL=1 runs every measurement longer. BENCH_ONLY="uffd-floor tcp-floor" picks a subset.
# BENCH_REPEAT=N runs the set N times (bench/out/run-K/) and reports the best of the runs for each
# figure: on a machine shared with other work, interference only ever makes a figure worse.
set -uo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
bin=$root/build/bench
out=$root/bench/out
default_set="uffd-floor zstd-floor fill-floor tcp-floor remote-floor lazy-restore remote-lazy"
set_=${BENCH_ONLY:-$default_set}
if [ "${BENCH_FULL:-0}" != 0 ]; then
	limit=900
else
	limit=90
fi

# CPU time (jiffies) the whole machine spent busy, and the part this shell's children used: the
# difference is what other work took while a benchmark ran, printed with each result.
busy_all() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9 }' /proc/stat; }
busy_ours() { awk '{ print $16 + $17 }' "/proc/$$/stat"; }

repeat=${BENCH_REPEAT:-1}
mkdir -p "$out"
rm -rf "$out"/run-* "$out"/report.md "$out"/*.txt "$out"/*.err "$out"/env.meta

failed=0
for r in $(seq "$repeat"); do
	rdir=$out/run-$r
	mkdir -p "$rdir"
	{
		echo "date $(date -u +%Y-%m-%dT%H:%M:%SZ)"
		echo "kernel $(uname -r)"
		echo "cpus $(nproc)"
		echo "mode $([ "${BENCH_FULL:-0}" != 0 ] && echo full || echo quick)"
		echo "load_before $(cut -d' ' -f1-3 /proc/loadavg)"
		echo "cpu_model $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)"
		echo "zstd $(pkg-config --modversion libzstd 2>/dev/null || echo unknown)"
	} >"$rdir/env.meta"

	for b in $set_; do
		exe=$bin/$b
		[ -x "$root/bench/$b.sh" ] && exe=$root/bench/$b.sh
		if [ ! -x "$exe" ]; then
			echo "bench: $exe is not built (run make first)" >&2
			failed=1
			continue
		fi
		echo "bench: run $r/$repeat: $b (at most ${limit}s)" >&2
		read -r b0 t0 < <(busy_all)
		o0=$(busy_ours)
		start=$(date +%s%N)
		timeout --kill-after=5 "$limit" "$exe" >"$rdir/$b.txt" 2>"$rdir/$b.err"
		rc=$?
		end=$(date +%s%N)
		read -r b1 t1 < <(busy_all)
		o1=$(busy_ours)
		others=$(awk -v b="$((b1 - b0))" -v t="$((t1 - t0))" -v o="$((o1 - o0))" \
			'BEGIN { v = t > 0 ? 100 * (b - o) / t : 0; printf "%d", v < 0 ? 0 : v }')
		echo "# $b exit $rc in $(((end - start) / 1000000)) ms; other work kept the CPUs $others% busy" \
			>>"$rdir/$b.txt"
		if [ $rc -ne 0 ]; then
			echo "bench: $b failed with status $rc (see $rdir/$b.err)" >&2
			failed=1
		fi
	done
	echo "load_after $(cut -d' ' -f1-3 /proc/loadavg)" >>"$rdir/env.meta"
done

"$root/bench/report.py" "$out"/run-* >"$out/report.md" || failed=1
cat "$out/report.md"
exit $failed
