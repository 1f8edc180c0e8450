#!/bin/bash
# memcached (Debian's: worker threads, eventfds, epoll) on loopback holding 20000 keys, with a
# client connection kept open by this script across checkpoint/restore (--tcp-established).
# After restore the kept connection and a new one read the keys back and store new ones.
for a; do
	case $a in
	--pidfile=*) PIDFILE=${a#*=} ;;
	--outfile=*) OUTFILE=${a#*=} ;;
	esac
done
exec >>"$OUTFILE" 2>&1 </dev/null

if ! command -v memcached >/dev/null; then
	echo "FAIL: memcached is not installed (scripts/install-deps.sh)"
	exit 1
fi
port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
memcached -l 127.0.0.1 -p "$port" -U 0 -t 4 -m 64 -u root &
server=$!
# $1 commands, sent on a new connection; prints the answers
mc() { /usr/bin/python3 - "$port" "$1" <<'PY'
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
s.sendall(sys.argv[2].encode().decode("unicode_escape").encode() + b"quit\r\n")
out = b""
while True:
    d = s.recv(65536)
    if not d:
        break
    out += d
sys.stdout.write(out.decode())
PY
}
for _ in $(seq 100); do
	mc 'version\r\n' 2>/dev/null | grep -q VERSION && break
	sleep 0.05
done
/usr/bin/python3 - "$port" <<'PY'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
s.sendall(b"".join(b"set k%d 0 0 %d noreply\r\nv%d\r\n" % (i, len(b"v%d" % i), i) for i in range(20000)))
s.sendall(b"quit\r\n")
while s.recv(65536):
    pass
PY
items() { mc 'stats\r\n' | sed -n 's/^STAT curr_items \([0-9]*\).*/\1/p'; }
[ "$(items)" = 20000 ] || { echo "FAIL: memcached holds $(items) keys before the checkpoint"; kill $server; exit 1; }
exec 3<>"/dev/tcp/127.0.0.1/$port"
printf 'get k7\r\n' >&3
read -r -t 5 l1 <&3; read -r -t 5 l2 <&3; read -r -t 5 l3 <&3
[ "$l2" = $'v7\r' ] || { echo "FAIL: the kept connection does not answer before"; kill $server; exit 1; }

term=0
trap 'term=1' TERM
echo $$ >"$PIDFILE.tmp" && mv "$PIDFILE.tmp" "$PIDFILE"
while [ $term = 0 ]; do
	sleep 0.05 &
	wait $! 2>/dev/null
done

ok=1
printf 'get k19999\r\n' >&3
read -r -t 5 l1 <&3; read -r -t 5 l2 <&3; read -r -t 5 l3 <&3
[ "$l2" = $'v19999\r' ] && [ "$l3" = $'END\r' ] || { echo "FAIL: the kept connection gave '$l1' '$l2' '$l3'"; ok=0; }
[ "$(items)" = 20000 ] || { echo "FAIL: $(items) keys after restore"; ok=0; }
mc 'get k12345\r\n' | grep -q '^v12345' || { echo "FAIL: a new connection cannot read a key"; ok=0; }
mc 'set after 0 0 7\r\nrestore\r\nget after\r\n' | grep -q '^restore' ||
	{ echo "FAIL: a new connection cannot store a key"; ok=0; }
exec 3>&-
kill $server
wait $server 2>/dev/null
[ $ok = 1 ] && echo PASS
