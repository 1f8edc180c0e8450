#!/bin/bash
# Live migration of a running redis-server between two "hosts" (network namespaces joined by a
# veth pair), the way a container runtime would do it: pre-copy rounds while it serves, then a
# post-copy switch-over.
#
#   rounds:  pre-dump --track-mem (uffd-wp async + PAGEMAP_SCAN) into DIR/N, --prev-images-dir
#            ../N-1, until the pages a round writes stop shrinking (at most MAX_ROUNDS); each
#            round pushes its page images over the veth to a page-server at the destination
#            (--page-server) while the service runs; its few other images are copied
#   switch:  dump --lazy-pages --prev-images-dir (the freeze), metadata images to the
#            destination, the service address moves, restore --lazy-pages there (in a pid
#            namespace of its own, since the frozen source still holds the pids), pages pulled
#            over the veth from the source, which is killed once the last one is in
#
# The service has its own address (SVC_IP), which moves with it. A client in the destination
# namespace writes SET mig:N N without pause across the migration, reconnecting when the
# service is away; afterwards every key it had acknowledged must be there, with the dataset
# populated before the first round. Prints per round the pages written and bytes sent, the
# downtime (freeze -> running at the destination), the longest time the client went without an
# answer, and the total time. Always removes its namespaces.
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
CRIU=$ROOT/build/bin/criu-lazy
CLIENT=$ROOT/test/migration/redis-client.py
MAX_ROUNDS=${MAX_ROUNDS:-4} # 0: post-copy alone, for comparison
KEYS=${KEYS:-200000}
TAG=crp$$
SRC=$TAG-src DST=$TAG-dst
NET=10.$((RANDOM % 200 + 20)).$((RANDOM % 250)).
SRC_IP=${NET}1 DST_IP=${NET}2 SVC_IP=${NET}100
RPORT=6379
PORT=$((20000 + RANDOM % 20000))
WORK=$(mktemp -d /tmp/netns-precopy.XXXXXX)
PIDS=()
FAILED=0

cleanup() {
	local p
	touch "$WORK/stop" "$WORK/stop-dest" 2>/dev/null
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
	echo "FAIL netns-precopy-postcopy: $*"
	FAILED=1
	exit 1
}

now_ms() { echo $(($(date +%s%N) / 1000000)); }

if [ "$(id -u)" != 0 ] || ! ip netns add "$SRC" 2>/dev/null; then
	echo "SKIP netns-precopy-postcopy: needs root and ip netns"
	trap - EXIT
	exit 0
fi
if ! command -v redis-server >/dev/null || ! command -v redis-cli >/dev/null; then
	echo "SKIP netns-precopy-postcopy: redis-server is not installed (scripts/install-deps.sh)"
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
ip -n "$SRC" addr add "$SVC_IP/32" dev lo
ip -n "$DST" route add "$SVC_IP/32" via "$SRC_IP"

T0=$(now_ms)
mkdir -p "$WORK/src" "$WORK/dst"
(cd "$WORK" && exec ip netns exec "$SRC" setsid redis-server --port $RPORT --bind 0.0.0.0 \
	--protected-mode no --save '' --appendonly no --enable-debug-command yes \
	--logfile "$WORK/redis.log" --daemonize no </dev/null >/dev/null 2>&1) &
disown $! # killed by the final dump, not by us
cli() { timeout 20 ip netns exec "$DST" redis-cli -h "$SVC_IP" -p $RPORT "$@"; }
for _ in $(seq 100); do
	[ "$(cli ping 2>/dev/null)" = PONG ] && break
	sleep 0.05
done
[ "$(cli ping 2>/dev/null)" = PONG ] || fail "redis did not start"
RPID=$(ip netns pids "$SRC" | head -1)
[ "$(cat /proc/$RPID/comm 2>/dev/null)" = redis-server ] || fail "cannot find redis' pid"
cli debug populate "$KEYS" key 64 >/dev/null
DIGEST=$(cli debug digest-value $(for i in 1 777 4242 99999; do echo key:$i; done))

ip netns exec "$DST" timeout 90 "$CLIENT" load "$SVC_IP" $RPORT "$WORK/stop" "$WORK/load.out" &
LOAD=$!
PIDS+=("$LOAD")
for _ in $(seq 200); do
	[ -e "$WORK/load.out.started" ] && break
	sleep 0.05
done
[ -e "$WORK/load.out.started" ] || fail "the load client never got an answer"
sleep 0.3

# Pre-copy rounds, while the client writes (none with MAX_ROUNDS=0).
prev=
last_stored=
round=0
while [ $round -lt "$MAX_ROUNDS" ]; do
	round=$((round + 1))
	t=$(now_ms)
	# the round's page images go over the veth to a page-server at the destination; its
	# other images (a few KiB) are copied
	mkdir -p "$WORK/dst/$round"
	rm -f "$WORK/ps-ready"
	timeout 60 ip netns exec "$DST" "$CRIU" page-server -D "$WORK/dst/$round" \
		--address "$DST_IP" --port "$PORT" -o page-server.log --status-fd 9 9>"$WORK/ps-ready" &
	ps=$!
	for _ in $(seq 200); do
		[ -s "$WORK/ps-ready" ] && break
		sleep 0.01
	done
	timeout 60 ip netns exec "$SRC" "$CRIU" pre-dump -t "$RPID" -D "$WORK/src/$round" \
		${prev:+--prev-images-dir ../$prev} --track-mem -o pre-dump.log --display-stats \
		--page-server --address "$DST_IP" --port "$PORT" \
		>"$WORK/round$round.out" 2>&1 || fail "pre-dump $round: $(tail -1 "$WORK/round$round.out")"
	wait $ps || fail "page-server of round $round exited $?"
	for f in "$WORK/src/$round"/*.img; do
		case ${f##*/} in
		pagemap-* | pages-*) ;;
		*) cp "$f" "$WORK/dst/$round/" ;;
		esac
	done
	cmp -s "$WORK/src/$round"/pages-$RPID.img "$WORK/dst/$round/pages-$RPID.img" ||
		fail "round $round: the pushed pages differ from the source's"
	stats=$(grep '^pre-dump:' "$WORK/round$round.out")
	stored=$(echo "$stats" | sed -n 's/.* \([0-9]*\) stored.*/\1/p')
	bytes=$(cat "$WORK/dst/$round"/page*-*.img | wc -c)
	frozen=$(grep -o 'frozen [0-9.]* ms' "$WORK/round$round.out")
	echo "  round $round: $stored pages stored (written since the last round), $bytes bytes sent," \
		"$(($(now_ms) - t)) ms ($frozen after start)"
	prev=$round
	# stop when the dirty set no longer shrinks by a quarter
	[ -n "$last_stored" ] && [ $((stored * 4)) -gt $((last_stored * 3)) ] && break
	last_stored=$stored
	sleep 0.3
done

# The destination: pid 1 of its own pid namespace; restores lazily, waits for every page, keeps
# the service until told to stop.
cat >"$WORK/dest.sh" <<'DEST'
set -u
CRIU=$1 DIR=$2 SRC_IP=$3 PORT=$4
$CRIU lazy-pages -D "$DIR" --page-server --address "$SRC_IP" --port "$PORT" -o lazy-pages.log \
	-v4 --lazy-timeout 10 &
LP=$!
for i in $(seq 200); do [ -S "$DIR/lazy-pages.socket" ] && break; sleep 0.01; done
timeout 20 $CRIU restore -D "$DIR" -d --lazy-pages --pidfile "$DIR/r.pid" -o restore.log -v4 --tcp-established ||
	{ echo "restore failed"; kill -KILL $LP; exit 1; }
date +%s%N >"$DIR/running"
wait $LP || { echo "lazy-pages exited $?"; exit 1; }
touch "$DIR/all-in"
for i in $(seq 600); do [ -e "$DIR/../../stop-dest" ] && break; sleep 0.05; done
kill -TERM "$(cat "$DIR/r.pid")"
exit 0
DEST

# The switch-over.
final=$((round + 1))
TF=$(now_ms)
ip netns exec "$SRC" "$CRIU" dump -t "$RPID" -D "$WORK/src/$final" ${prev:+--prev-images-dir ../$prev} \
	--lazy-pages --address "$SRC_IP" --port "$PORT" --tcp-established -o dump.log -v4 \
	--display-stats --status-fd 9 9>"$WORK/ready" >"$WORK/final.out" 2>&1 &
DUMP=$!
PIDS+=("$DUMP")
for _ in $(seq 1000); do
	[ -s "$WORK/ready" ] && break
	kill -0 $DUMP 2>/dev/null || break
	sleep 0.005
done
[ -s "$WORK/ready" ] || fail "final dump not ready: $(grep -h 'Error (' "$WORK/src/$final/dump.log" | head -1)"
mkdir -p "$WORK/dst/$final"
cp "$WORK/src/$final"/*.img "$WORK/dst/$final/"
meta=$(cat "$WORK/dst/$final"/*.img | wc -c)
ip -n "$SRC" addr del "$SVC_IP/32" dev lo
ip -n "$DST" route del "$SVC_IP/32"
ip -n "$DST" addr add "$SVC_IP/32" dev lo
ip netns exec "$DST" unshare --pid --fork --mount-proc bash "$WORK/dest.sh" "$CRIU" \
	"$WORK/dst/$final" "$SRC_IP" "$PORT" >"$WORK/dest.out" 2>&1 &
DEST=$!
PIDS+=("$DEST")
for _ in $(seq 2000); do
	[ -s "$WORK/dst/$final/running" ] && break
	kill -0 $DEST 2>/dev/null || break
	sleep 0.005
done
[ -s "$WORK/dst/$final/running" ] || fail "restore: $(tail -2 "$WORK/dest.out" | tr '\n' ' ') $(grep -h 'Error (' "$WORK/dst/$final"/*.log | head -2)"
TR=$(($(cat "$WORK/dst/$final/running") / 1000000))
for _ in $(seq 600); do
	[ -e "$WORK/dst/$final/all-in" ] && break
	kill -0 $DEST 2>/dev/null || break
	sleep 0.05
done
[ -e "$WORK/dst/$final/all-in" ] || fail "lazy-pages: $(tail -2 "$WORK/dest.out" | tr '\n' ' ')"
TA=$(now_ms)
for _ in $(seq 400); do kill -0 $DUMP 2>/dev/null || break; sleep 0.05; done
kill -0 $DUMP 2>/dev/null && fail "the final dump did not end once every page was in"
wait $DUMP
rc=$?
[ $rc = 0 ] || fail "the final dump exited $rc: $(grep -h 'Error (' "$WORK/src/$final/dump.log" | head -1)"
kill -0 "$RPID" 2>/dev/null && [ "$(awk '{print $3}' /proc/$RPID/stat 2>/dev/null)" != Z ] &&
	fail "the source redis is still there"

sleep 0.5
touch "$WORK/stop"
wait $LOAD || fail "the load client failed"
read -r acked reqs gap <"$WORK/load.out"
ip netns exec "$DST" timeout 30 "$CLIENT" check "$SVC_IP" $RPORT "$WORK/load.out" >"$WORK/check.out" ||
	fail "$(cat "$WORK/check.out")"
[ "$(cli dbsize)" -ge "$((KEYS + acked))" ] || fail "dbsize $(cli dbsize) < $KEYS + $acked"
[ "$(cli debug digest-value $(for i in 1 777 4242 99999; do echo key:$i; done))" = "$DIGEST" ] ||
	fail "the populated keys changed"
grep -h "Error (" "$WORK"/src/*/*.log "$WORK/dst/$final"/*.log &&
	fail "errors logged"
touch "$WORK/stop-dest"
wait $DEST || fail "destination: $(tail -2 "$WORK/dest.out" | tr '\n' ' ')"

allin=$(grep -h 'all pages in\|prefetched' "$WORK/dst/$final/lazy-pages.log" | sed 's/.*lazy-pages: //' | tr '\n' ';')
echo "  switch-over: final dump $(grep -o '[0-9]* pages seen' "$WORK/final.out"), $meta bytes of images moved;" \
	"post-copy: $allin"
echo "PASS netns-precopy-postcopy: redis with $KEYS keys, $round pre-copy round(s), downtime" \
	"$((TR - TF)) ms (freeze -> running at the destination), longest client wait ${gap} ms," \
	"all pages in $((TA - TF)) ms after the freeze, total $((TA - T0)) ms;" \
	"$acked writes acknowledged, all there"
exit 0
