#!/usr/bin/env bash
# runc driving criu-lazy through `criu swrk`: a busybox container that counts is checkpointed with
# `runc --criu criu-lazy checkpoint`, restored under a new id, and must count on from where it was.
#   test/runc/run.sh          checkpoint to images, restore from them
#   test/runc/run.sh --lazy   post-copy: checkpoint --lazy-pages --page-server, a lazy-pages daemon
#                             pulling from it, restore --lazy-pages
#   test/runc/run.sh --refusal  what `make test` runs while containers' namespaces are not dumped:
#                             runc gets through VERSION and the option mapping to the dump, which
#                             fails naming the namespaces; runc reports it and the container is
#                             left running and counting
# Needs root, runc and busybox-static: installs them with apt-get when missing (RUNC_TEST_INSTALL=0
# does not), and skips, saying so, without them. Every step is bounded; the containers, the daemon and the temporary bundle are
# removed on any exit (the logs are kept, and named, when the test fails).
set -u

here=$(cd "$(dirname "$0")" && pwd)
CRL=${CRL:-$here/../../build/bin/criu-lazy}
STEP=${STEP_TIMEOUT:-30}
lazy=0
refusal=0
case "${1:-}" in
--lazy) lazy=1 ;;
--refusal) refusal=1 ;;
"") ;;
*)
	echo "usage: $0 [--lazy|--refusal]" >&2
	exit 2
	;;
esac

skip() {
	echo "SKIP runc: $*"
	exit 0
}
[ "$(id -u)" = 0 ] || skip "needs root"
# runc and busybox-static are not in scripts/install-deps.sh while this is not part of make test
if ! command -v runc >/dev/null || ! command -v busybox >/dev/null; then
	if [ "${RUNC_TEST_INSTALL:-1}" = 1 ] && command -v apt-get >/dev/null; then
		timeout 300 apt-get install -y runc busybox-static >/dev/null 2>&1 ||
			echo "runc: apt-get install runc busybox-static failed"
	fi
fi
command -v runc >/dev/null || skip "runc is not installed (apt-get install runc)"
bb=$(command -v busybox) || skip "busybox is not installed (apt-get install busybox-static)"
file -L "$bb" 2>/dev/null | grep -q 'statically linked' || skip "$bb is not a static busybox"
[ -x "$CRL" ] || skip "$CRL is not built (make)"
CRL=$(readlink -f "$CRL")

tmp=$(mktemp -d /tmp/runc-test.XXXXXX)
id1=crl-test-$$-a
id2=crl-test-$$-b
daemon=
src=
failed=1

cleanup() {
	local id
	[ -n "$daemon" ] && kill -9 "$daemon" 2>/dev/null
	[ -n "$src" ] && kill -9 "$src" 2>/dev/null
	for id in "$id1" "$id2"; do
		timeout 10 runc kill "$id" KILL >/dev/null 2>&1
		timeout 10 runc delete -f "$id" >/dev/null 2>&1
	done
	wait 2>/dev/null
	if [ "$failed" = 0 ]; then
		rm -rf "$tmp"
	else
		for f in "$tmp"/img/*.log "$tmp"/work/*.log; do
			[ -f "$f" ] && { echo "--- $f"; tail -n 15 "$f"; }
		done
		rm -rf "$tmp/bundle/rootfs"
		echo "logs kept in $tmp"
	fi
}
trap cleanup EXIT
trap 'exit 1' INT TERM

fail() {
	echo "FAIL runc: $*"
	exit 1
}

# the bundle: a static busybox, links for the applets used, a counting shell
mkdir -p "$tmp/bundle/rootfs/bin" "$tmp/bundle/rootfs/tmp" "$tmp/img" "$tmp/work"
cp "$bb" "$tmp/bundle/rootfs/bin/busybox"
for a in sh sleep cat echo; do
	ln -s busybox "$tmp/bundle/rootfs/bin/$a"
done
(cd "$tmp/bundle" && timeout "$STEP" runc spec) || fail "runc spec"
/usr/bin/python3 - "$tmp/bundle/config.json" <<'EOF' || fail "cannot edit config.json"
import json, sys
p = sys.argv[1]
c = json.load(open(p))
c["process"]["terminal"] = False
c["process"]["args"] = ["/bin/sh", "-c",
	"i=0; while true; do i=$((i+1)); echo $i > /tmp/count; sleep 0.05; done"]
c["root"]["readonly"] = False
json.dump(c, open(p, "w"), indent=1)
EOF
count=$tmp/bundle/rootfs/tmp/count

read_count() {
	cat "$count" 2>/dev/null || echo 0
}

# waits until the count passes $1 (or fails after 5 s)
wait_above() {
	local i
	for i in $(seq 100); do
		[ "$(read_count)" -gt "$1" ] 2>/dev/null && return 0
		sleep 0.05
	done
	return 1
}

(cd "$tmp/bundle" && timeout "$STEP" runc run -d "$id1" </dev/null >/dev/null 2>&1) ||
	fail "runc run"
wait_above 5 || fail "the container does not count"

if [ "$refusal" = 1 ]; then
	out=$( (cd "$tmp/bundle" && timeout "$STEP" runc --criu "$CRL" checkpoint --image-path \
		"$tmp/img" --work-path "$tmp/work" "$id1") 2>&1) &&
		fail "runc checkpoint of a container succeeded: switch make test to the full run"
	echo "$out" | grep -q "criu failed: type DUMP errno 95" ||
		fail "runc did not report the refusal: $out"
	grep -q "in namespaces of its own (pid, mnt, uts, ipc" "$tmp/work/dump.log" ||
		fail "dump.log does not name the container's namespaces"
	timeout "$STEP" runc list | grep -q "^$id1 .* running " || fail "the container is not running"
	wait_above "$(read_count)" || fail "the container stopped counting after the refusal"
	echo "PASS runc --refusal: checkpoint refused naming the namespaces, the container counts on"
	failed=0
	exit 0
fi

t0=$(date +%s%N)
if [ "$lazy" = 0 ]; then
	(cd "$tmp/bundle" && timeout "$STEP" runc --criu "$CRL" checkpoint --image-path "$tmp/img" \
		--work-path "$tmp/work" "$id1") || fail "runc checkpoint"
else
	port=$((20000 + $$ % 20000))
	(cd "$tmp/bundle" && exec timeout "$STEP" runc --criu "$CRL" checkpoint --lazy-pages \
		--page-server "127.0.0.1:$port" --status-fd 3 --image-path "$tmp/img" \
		--work-path "$tmp/work" "$id1" 3>"$tmp/status") &
	src=$!
	for i in $(seq 200); do
		[ -s "$tmp/status" ] && break
		kill -0 "$src" 2>/dev/null || fail "runc checkpoint --lazy-pages ended before ready"
		sleep 0.05
	done
	[ -s "$tmp/status" ] || fail "runc checkpoint --lazy-pages: not ready in 10 s"
fi
t1=$(date +%s%N)
stopped=$(read_count)
sleep 0.3
[ "$(read_count)" = "$stopped" ] || fail "the count goes on after the checkpoint"

if [ "$lazy" = 1 ]; then
	timeout "$STEP" "$CRL" lazy-pages --page-server --address 127.0.0.1 --port "$port" \
		-D "$tmp/img" -o lazy-pages.log &
	daemon=$!
	for i in $(seq 100); do
		[ -S "$tmp/img/lazy-pages.socket" ] && break
		sleep 0.05
	done
	lazy_opt=--lazy-pages
else
	lazy_opt=
fi
t2=$(date +%s%N)
(cd "$tmp/bundle" && timeout "$STEP" runc --criu "$CRL" restore -d $lazy_opt --image-path \
	"$tmp/img" --work-path "$tmp/work" "$id2" </dev/null >/dev/null 2>&1) || fail "runc restore"
t3=$(date +%s%N)
wait_above "$stopped" || fail "the restored container does not count on from $stopped"
[ "$(read_count)" -lt $((stopped + 1000)) ] || fail "the count restarted instead of going on"
echo "PASS runc$([ "$lazy" = 1 ] && echo ' --lazy'): counted on from $stopped;" \
	"checkpoint $(((t1 - t0) / 1000000)) ms, restore $(((t3 - t2) / 1000000)) ms"
failed=0
