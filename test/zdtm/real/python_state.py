#!/usr/bin/python3
"""A Python interpreter holding state: a big dict, a half-consumed generator, a closure and a
thread counting on its own; on SIGTERM it checks all of it."""
import hashlib
import os
import signal
import sys
import threading
import time

args = dict(a[2:].split("=", 1) for a in sys.argv[1:] if a.startswith("--"))
fd = os.open(args["outfile"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
os.dup2(fd, 1)
os.dup2(fd, 2)
sys.stdout = os.fdopen(1, "w", buffering=1)

table = {"key%06d" % i: (i * 7919) % 1000003 for i in range(200000)}
digest = hashlib.sha256(repr(sorted(table.items())).encode()).hexdigest()


def squares():
    n = 0
    while True:
        yield n * n
        n += 1


gen = squares()
for _ in range(1000):
    next(gen)


def make_counter(start):
    box = [start]

    def step():
        box[0] += 3
        return box[0]
    return step


step = make_counter(100)
step()

stop = threading.Event()
ticks = [0]


def ticker():
    while not stop.wait(0.01):
        ticks[0] += 1


th = threading.Thread(target=ticker, daemon=True)
th.start()
got_term = threading.Event()
signal.signal(signal.SIGTERM, lambda s, f: got_term.set())

with open(args["pidfile"] + ".tmp", "w") as f:
    f.write("%d\n" % os.getpid())
os.rename(args["pidfile"] + ".tmp", args["pidfile"])
while not got_term.is_set():
    time.sleep(0.05)

ok = True
before = ticks[0]
time.sleep(0.2)
if ticks[0] <= before:
    print("FAIL: the ticker thread stopped (%d ticks)" % ticks[0])
    ok = False
stop.set()
th.join(5)
if hashlib.sha256(repr(sorted(table.items())).encode()).hexdigest() != digest:
    print("FAIL: the dict changed")
    ok = False
if next(gen) != 1000 * 1000:
    print("FAIL: the generator lost its place")
    ok = False
if step() != 106:
    print("FAIL: the closure lost its state")
    ok = False
print("python state: %d ticks" % ticks[0])
if ok:
    print("PASS")
