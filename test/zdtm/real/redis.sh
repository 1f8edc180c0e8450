#!/bin/bash
# redis-server (Debian's) on loopback holding 200000 keys, with a client connection kept open by
# this script across checkpoint/restore (--tcp-established). After restore: the same number of
# keys and the same dataset digest, the kept connection answers, new clients read and write.
for a; do
	case $a in
	--pidfile=*) PIDFILE=${a#*=} ;;
	--outfile=*) OUTFILE=${a#*=} ;;
	esac
done
exec >>"$OUTFILE" 2>&1 </dev/null

if ! command -v redis-server >/dev/null || ! command -v redis-cli >/dev/null; then
	echo "FAIL: redis-server is not installed (scripts/install-deps.sh)"
	exit 1
fi
port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --dir "$PWD" \
	--enable-debug-command local --logfile "$PWD/redis.log" --daemonize no &
server=$!
cli() { timeout 20 redis-cli -p "$port" "$@"; }
for _ in $(seq 100); do
	[ "$(cli ping 2>/dev/null)" = PONG ] && break
	sleep 0.05
done
cli debug populate 200000 key 64 >/dev/null
size=$(cli dbsize)
digest=$(cli debug digest)
if [ "$size" != 200000 ]; then
	echo "FAIL: redis holds $size keys before the checkpoint"
	kill $server
	exit 1
fi
exec 3<>"/dev/tcp/127.0.0.1/$port"
printf 'PING\r\n' >&3
read -r -t 5 line <&3
if [ "$line" != $'+PONG\r' ]; then
	echo "FAIL: the kept connection does not answer before the checkpoint"
	kill $server
	exit 1
fi

term=0
trap 'term=1' TERM
echo $$ >"$PIDFILE.tmp" && mv "$PIDFILE.tmp" "$PIDFILE"
while [ $term = 0 ]; do
	sleep 0.05 &
	wait $! 2>/dev/null
done

ok=1
kill -0 $server 2>/dev/null || { echo "FAIL: redis is gone"; ok=0; }
printf 'GET key:4242\r\n' >&3
read -r -t 5 line <&3
read -r -t 5 value <&3
[ "$line" = $'$64\r' ] && [ "${value:0:10}" = "value:4242" ] ||
	{ echo "FAIL: the kept connection gave '$line' '${value:0:20}'"; ok=0; }
[ "$(cli dbsize)" = "$size" ] || { echo "FAIL: dbsize is $(cli dbsize), was $size"; ok=0; }
[ "$(cli debug digest)" = "$digest" ] || { echo "FAIL: the dataset digest changed"; ok=0; }
[ "$(cli set after restore)" = OK ] && [ "$(cli get after)" = restore ] ||
	{ echo "FAIL: a new client cannot write and read"; ok=0; }
exec 3>&-
kill $server
wait $server 2>/dev/null
[ $ok = 1 ] && echo PASS
