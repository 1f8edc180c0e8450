#!/usr/bin/python3
"""Steady write load on a redis across its migration, and the check afterwards.

  redis-client.py load HOST PORT STOPFILE OUTFILE   SET mig:N N until STOPFILE appears (bounded
      to 60 s); reconnects whenever the server is away; creates OUTFILE.started at the first
      answer; at the end writes to OUTFILE the last N the server
      acknowledged, the number of requests, and the longest time without an answer.
  redis-client.py check HOST PORT OUTFILE           every key acknowledged by `load` holds its value
"""

import socket
import sys
import time


def connect(host, port):
    s = socket.create_connection((host, port), timeout=1.0)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s, s.makefile("rb")


def load(host, port, stopfile, outfile):
    acked, reqs, gap, last_ok = 0, 0, 0.0, time.monotonic()
    deadline = last_ok + 60
    s = f = None
    n = 1
    while time.monotonic() < deadline:
        try:
            open(stopfile).close()
            break
        except OSError:
            pass
        try:
            if s is None:
                s, f = connect(host, port)
            s.sendall(b"SET mig:%d %d\r\n" % (n, n))
            reqs += 1
            if f.readline() != b"+OK\r\n":
                raise OSError("bad answer")
            now = time.monotonic()
            gap = max(gap, now - last_ok)
            last_ok, acked = now, n
            if n == 1:
                open(outfile + ".started", "w").close()
            n += 1
        except OSError:
            if s is not None:
                s.close()
            s = f = None
            time.sleep(0.005)
    with open(outfile, "w") as out:
        out.write("%d %d %.1f\n" % (acked, reqs, gap * 1000))


def check(host, port, outfile):
    acked = int(open(outfile).read().split()[0])
    s, f = connect(host, port)
    bad = 0
    for lo in range(1, acked + 1, 500):
        keys = range(lo, min(lo + 500, acked + 1))
        s.sendall(b"MGET " + b" ".join(b"mig:%d" % k for k in keys) + b"\r\n")
        if not f.readline().startswith(b"*"):
            print("bad MGET answer")
            return 1
        for k in keys:
            hdr = f.readline()
            if hdr.startswith(b"$-1"):
                bad += 1
                continue
            if f.readline().strip() != b"%d" % k:
                bad += 1
    if bad or acked == 0:
        print("%d of %d acknowledged keys missing or wrong" % (bad, acked))
        return 1
    print("all %d acknowledged keys there" % acked)
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 6 and sys.argv[1] == "load":
        load(sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5])
    elif len(sys.argv) == 5 and sys.argv[1] == "check":
        sys.exit(check(sys.argv[2], int(sys.argv[3]), sys.argv[4]))
    else:
        sys.exit(__doc__)
