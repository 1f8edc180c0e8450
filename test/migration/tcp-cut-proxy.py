#!/usr/bin/env python3
"""A TCP relay that breaks the link on purpose, for the link-failure tests.

  tcp-cut-proxy.py LISTEN_PORT TARGET_PORT CUT_AFTER OUTAGE READYFILE

Relays every connection made to 127.0.0.1:LISTEN_PORT to 127.0.0.1:TARGET_PORT. Once CUT_AFTER
bytes have come back from the target (over all connections), it resets every connection (RST on
both sides, as a broken link or a middlebox would) and stops listening: for OUTAGE seconds, then
it listens again and relays without further cuts; with OUTAGE < 0 it exits instead. Writes
READYFILE once it listens, and prints one line per cut and per reopening. Bounded to 120 s.
"""
import selectors
import socket
import struct
import sys
import time

lport, tport, cut_after, outage = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
ready = sys.argv[5]
sel = selectors.DefaultSelector()
pairs = {}  # socket -> (direction, the other socket)
down = 0
cut = False
reopen_at = None
t_end = time.monotonic() + 120


def listen():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", lport))
    s.listen(16)
    s.setblocking(False)
    sel.register(s, selectors.EVENT_READ, None)
    return s


def drop(s, reset):
    if s not in pairs:
        return
    _, o = pairs.pop(s)
    pairs.pop(o, None)
    for x in (s, o):
        sel.unregister(x)
        if reset:
            x.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        x.close()


ls = listen()
with open(ready, "w") as f:
    f.write("ready\n")
while time.monotonic() < t_end:
    for key, _ in sel.select(0.05):
        s = key.fileobj
        if key.data is None:
            try:
                c, _ = s.accept()
                t = socket.create_connection(("127.0.0.1", tport), timeout=5)
            except OSError:
                continue
            for x in (c, t):
                x.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                x.setblocking(False)
            pairs[c] = ("up", t)
            pairs[t] = ("down", c)
            sel.register(c, selectors.EVENT_READ, "up")
            sel.register(t, selectors.EVENT_READ, "down")
            continue
        if s not in pairs:
            continue
        direction, o = pairs[s]
        try:
            d = s.recv(1 << 16)
        except OSError:
            d = b""
        if not d:
            drop(s, False)
            continue
        try:
            o.setblocking(True)
            o.settimeout(10)
            o.sendall(d)
            o.setblocking(False)
        except OSError:
            drop(s, False)
            continue
        if direction == "down":
            down += len(d)
    if not cut and down >= cut_after:
        cut = True
        n = len(pairs) // 2
        for s in list(pairs):
            drop(s, True)
        sel.unregister(ls)
        ls.close()
        print("cut %d connection(s) after %d bytes" % (n, down), flush=True)
        if outage < 0:
            sys.exit(0)
        reopen_at = time.monotonic() + outage
    if reopen_at is not None and time.monotonic() >= reopen_at:
        reopen_at = None
        ls = listen()
        print("listening again", flush=True)
