#!/usr/bin/env bash
# Runs every unit test binary given as an argument, each bounded by `timeout`, and adds up the
# test cases they report ("unit-result: P passed, F failed, S skipped"). A binary that crashes,
# hangs or ends without that line counts as one failed case more. Closing line:
# "unit: N passed, N failed"; exits non-zero if anything failed.
set -u

bin_timeout=${UNIT_BIN_TIMEOUT:-600}
passed=0
failed=0
skipped=0
broken=()

for bin in "$@"; do
	out=$(mktemp)
	timeout -k 10 "$bin_timeout" "$bin" 2>&1 | tee "$out"
	rc=${PIPESTATUS[0]}
	line=$(grep -E '^unit-result: [0-9]+ passed, [0-9]+ failed, [0-9]+ skipped$' "$out" | tail -n 1)
	rm -f "$out"
	if [ -z "$line" ]; then
		if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
			echo "FAIL $bin: timed out after ${bin_timeout}s"
		else
			echo "FAIL $bin: exited with $rc without a result line"
		fi
		failed=$((failed + 1))
		broken+=("$bin")
		continue
	fi
	read -r p f s <<<"$(echo "$line" | sed -E 's/^unit-result: ([0-9]+) passed, ([0-9]+) failed, ([0-9]+) skipped$/\1 \2 \3/')"
	passed=$((passed + p))
	failed=$((failed + f))
	skipped=$((skipped + s))
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		echo "FAIL $bin: exited with $rc although it reported no failure"
		failed=$((failed + 1))
	fi
	[ "$rc" -ne 0 ] && broken+=("$bin")
done

[ "$skipped" -gt 0 ] && echo "unit: $skipped skipped (see SKIP lines above)"
[ ${#broken[@]} -gt 0 ] && echo "unit: failing binaries: ${broken[*]}"
echo "unit: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
