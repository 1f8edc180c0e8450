#!/bin/bash
# nginx (Debian's) on loopback: a master and two workers that share the listening socket and talk
# over socketpairs, with a keep-alive client connection held by this script across
# checkpoint/restore (--tcp-established). After restore the kept connection and new ones get the
# page, and a reload (SIGHUP: new workers, old ones told to quit over their channels) works.
for a; do
	case $a in
	--pidfile=*) PIDFILE=${a#*=} ;;
	--outfile=*) OUTFILE=${a#*=} ;;
	esac
done
exec >>"$OUTFILE" 2>&1 </dev/null

NGINX=$(command -v nginx || echo /usr/sbin/nginx)
if [ ! -x "$NGINX" ]; then
	echo "FAIL: nginx is not installed (scripts/install-deps.sh)"
	exit 1
fi
port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
mkdir -p www logs tmp
echo "criu-lazy nginx page" >www/index.html
cat >nginx.conf <<CONF
daemon off;
master_process on;
worker_processes 2;
pid $PWD/nginx.pid;
error_log $PWD/logs/error.log;
events { worker_connections 64; }
http {
	access_log $PWD/logs/access.log;
	client_body_temp_path $PWD/tmp;
	proxy_temp_path $PWD/tmp;
	fastcgi_temp_path $PWD/tmp;
	uwsgi_temp_path $PWD/tmp;
	scgi_temp_path $PWD/tmp;
	server { listen 127.0.0.1:$port; root $PWD/www; }
}
CONF
"$NGINX" -c "$PWD/nginx.conf" -p "$PWD" &
master=$!
for _ in $(seq 100); do
	curl -sf "http://127.0.0.1:$port/" -o /dev/null && break
	sleep 0.05
done

# one request on the kept connection: prints the body
get3() {
	local l len=0
	printf 'GET / HTTP/1.1\r\nHost: x\r\n\r\n' >&3
	while IFS= read -r -t 5 l <&3; do
		[ "$l" = $'\r' ] && break
		case $l in Content-Length:*) len=${l#*: } len=${len%$'\r'} ;; esac
	done
	[ "$len" -gt 0 ] && head -c "$len" <&3
}
exec 3<>"/dev/tcp/127.0.0.1/$port"
if [ "$(get3)" != "criu-lazy nginx page" ]; then
	echo "FAIL: nginx does not serve the page before the checkpoint"
	kill $master
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
[ "$(get3)" = "criu-lazy nginx page" ] || { echo "FAIL: the kept connection broke"; ok=0; }
[ "$(curl -sf --max-time 10 "http://127.0.0.1:$port/")" = "criu-lazy nginx page" ] ||
	{ echo "FAIL: a new connection did not get the page"; ok=0; }
workers=$(pgrep -P $master | sort)
kill -HUP $master
for _ in $(seq 100); do
	now=$(pgrep -P $master | sort)
	[ -n "$now" ] && [ -z "$(comm -12 <(echo "$workers") <(echo "$now"))" ] && break
	sleep 0.05
done
[ -z "$(comm -12 <(echo "$workers") <(echo "$now"))" ] ||
	{ echo "FAIL: the old workers did not quit on reload"; ok=0; }
[ "$(curl -sf --max-time 10 "http://127.0.0.1:$port/")" = "criu-lazy nginx page" ] ||
	{ echo "FAIL: no page after reload"; ok=0; }
exec 3>&-
kill -QUIT $master
wait $master 2>/dev/null
[ $ok = 1 ] && echo PASS
