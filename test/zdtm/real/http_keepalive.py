#!/usr/bin/python3
"""python3's http.server (HTTP/1.1, a thread per connection) on loopback with a client in the
tree that holds a keep-alive connection open across checkpoint/restore (--tcp-established):
after restore the same connection, from the same local port, fetches the file again, and a new
connection does too."""
import hashlib
import http.client
import os
import signal
import socket
import subprocess
import sys
import threading
import time

args = dict(a[2:].split("=", 1) for a in sys.argv[1:] if a.startswith("--"))
fd = os.open(args["outfile"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
os.dup2(fd, 1)
os.dup2(fd, 2)
sys.stdout = os.fdopen(1, "w", buffering=1)

os.makedirs("www", exist_ok=True)
blob = os.urandom(1 << 20)
with open("www/blob", "wb") as f:
    f.write(blob)
want = hashlib.sha256(blob).hexdigest()
s = socket.socket()
s.bind(("127.0.0.1", 0))
port = s.getsockname()[1]
s.close()
server = subprocess.Popen([sys.executable, "-m", "http.server", "--bind", "127.0.0.1",
                           "--directory", "www", "--protocol", "HTTP/1.1", str(port)],
                          stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                          stderr=open("server.log", "wb"))


def fetch(conn):
    conn.request("GET", "/blob")
    r = conn.getresponse()
    return r.status, hashlib.sha256(r.read()).hexdigest()


conn = None
for _ in range(100):
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        if fetch(conn) == (200, want):
            break
    except OSError:
        pass
    conn = None
    time.sleep(0.05)
if conn is None:
    print("FAIL: the server does not serve the file before the checkpoint")
    server.kill()
    sys.exit(1)
local = conn.sock.getsockname()

got_term = threading.Event()
signal.signal(signal.SIGTERM, lambda s, f: got_term.set())
with open(args["pidfile"] + ".tmp", "w") as f:
    f.write("%d\n" % os.getpid())
os.rename(args["pidfile"] + ".tmp", args["pidfile"])
while not got_term.is_set():
    time.sleep(0.05)

ok = True
if server.poll() is not None:
    print("FAIL: the server is gone")
    ok = False
try:
    t0 = time.monotonic()
    res = fetch(conn)
    if res != (200, want):
        print("FAIL: the kept connection gave %r" % (res,))
        ok = False
    elif conn.sock.getsockname() != local:
        print("FAIL: the client connected again (%r, was %r)" % (conn.sock.getsockname(), local))
        ok = False
    else:
        print("kept connection %s:%d: 1 MiB in %.1f ms after restore" %
              (local[0], local[1], (time.monotonic() - t0) * 1e3))
except OSError as e:
    print("FAIL: the kept connection broke: %s" % e)
    ok = False
try:
    if fetch(http.client.HTTPConnection("127.0.0.1", port, timeout=10)) != (200, want):
        print("FAIL: a new connection did not get the file")
        ok = False
except OSError as e:
    print("FAIL: a new connection failed: %s" % e)
    ok = False
conn.close()
server.kill()
server.wait()
if ok:
    print("PASS")
