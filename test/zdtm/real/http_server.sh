#!/bin/bash
# A small server: python3's http.server on loopback serving a file; a connection is made before
# the checkpoint and kept open, and after restore the file is fetched again over a new one.
# Needs TCP sockets (listening and established) to survive checkpoint/restore.
for a; do
	case $a in
	--pidfile=*) PIDFILE=${a#*=} ;;
	--outfile=*) OUTFILE=${a#*=} ;;
	esac
done
exec >>"$OUTFILE" 2>&1 </dev/null

mkdir -p www
head -c 1048576 /dev/urandom >www/blob
want=$(sha256sum <www/blob)
port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
/usr/bin/python3 -m http.server --bind 127.0.0.1 --directory www "$port" >server.log 2>&1 &
server=$!
for _ in $(seq 100); do
	curl -sf "http://127.0.0.1:$port/blob" -o /dev/null && break
	sleep 0.05
done
got=$(curl -sf "http://127.0.0.1:$port/blob" | sha256sum)
if [ "$got" != "$want" ]; then
	echo "FAIL: the server does not serve the file before the checkpoint"
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
kill -0 $server 2>/dev/null || { echo "FAIL: the server is gone"; ok=0; }
got=$(curl -sf --max-time 10 "http://127.0.0.1:$port/blob" | sha256sum)
[ "$got" = "$want" ] || { echo "FAIL: fetching after restore gave $got"; ok=0; }
kill $server
wait $server 2>/dev/null
[ $ok = 1 ] && echo PASS
