#!/usr/bin/python3
"""Formats the `key value unit` lines of the floor benchmarks (bench/out/*.txt) as a markdown report,
with each headline figure next to the floor DESIGN.md recorded for this machine type (2026-11-24).

usage: bench/report.py RUNDIR [RUNDIR...]   (several: the best of the runs for each figure)
"""
import os
import re
import sys

# key -> (reference value, what DESIGN.md's floor table says it is)
REFERENCE = {
    "uffd.fault.copy4k.same.p50": (5.8, "uffd fault, UFFDIO_COPY 4 KiB, handler on the faulting CPU"),
    "uffd.fault.copy4k.cross.p50": (35.0, "uffd fault, UFFDIO_COPY 4 KiB, handler on the other CPU"),
    "uffd.fill.copy64k.t1": (5.5, "UFFDIO_COPY fill, 64 KiB, 1 thread"),
    "uffd.fill.copy64k.t2": (6.4, "UFFDIO_COPY fill, 64 KiB, 2 threads"),
    "uffd.fill.move2m_staged.t1": (16.9, "THP staging + UFFDIO_MOVE 2 MiB"),
    "zstd.heap.l1.f64k.ratio": (3.2, "zstd level 1 ratio, heap-like data"),
    "zstd.heap.l1.f64k.comp": (0.54, "zstd level 1 compress per core"),
    "zstd.heap.l1.f64k.dec": (1.5, "zstd level 1 decompress per core, 64 KiB frames"),
    "zstd.heap.l1.f4k.dec": (0.96, "zstd level 1 decompress per core, 4 KiB frames"),
    "zstd.heap.l1.f4k.page.p50": (4.8, "decode one 4 KiB page (4 KiB frame)"),
    "zstd.heap.l1.f64k.page.p50": (50.0, "decode one page from a 64 KiB frame"),
    "fill.zstd64k_copy.t2": (2.25, "decompress 64 KiB frames + UFFDIO_COPY, 2 threads"),
    "fresh.memcpy.4k": (2.75, "memcpy into fresh 4 KiB pages (plain restore floor)"),
    "fresh.memcpy.thp": (17.0, "memcpy into fresh THP"),
    "tcp.rtt.req64_reply64.same.p50": (11.5, "TCP loopback RTT 64 B, same CPU"),
    "tcp.rtt.req4k_reply4k.same.p50": (11.5, "TCP loopback RTT 4 KiB, same CPU"),
    "tcp.bulk.same": (5.5, "TCP loopback bulk"),
}

# the tool against CRIU 4.2 measured here and against its targets (DESIGN.md, Performance)
TARGETS = [
    ("lazy.resume.heap.64m", "lazy restore, time to resume, 64 MiB heap", "—", 8.0),
    ("lazy.resume.heap.1024m", "lazy restore, time to resume, 1 GiB heap", "18–85 ms", 8.0),
    ("lazy.resume.random.1024m", "lazy restore, time to resume, 1 GiB random", "18–85 ms", 8.0),
    ("lazy.resume.heap.4096m", "lazy restore, time to resume, 4 GiB heap", "24–30 ms", 8.0),
    ("lazy.allin.heap.1024m", "local lazy, all pages in, 1 GiB heap (cache warm)", "233–298 ms",
     298.0),
    ("lazy.allin.random.1024m", "local lazy, all pages in, 1 GiB random (cache warm)",
     "233–298 ms", 298.0),
    ("plain.restore.heap.1024m", "plain restore, 1 GiB heap", "420 ms", 250.0),
    ("plain.restore.random.1024m", "plain restore, 1 GiB random", "420 ms", 250.0),
]

LOWER_IS_BETTER_UNITS = {"us", "ms", "s"}


def load(outdir):
    vals, units, skips, comments = {}, {}, [], []
    for name in sorted(os.listdir(outdir)):
        if not name.endswith(".txt"):
            continue
        with open(os.path.join(outdir, name)) as f:
            for line in f:
                line = line.strip()
                if not line:
                    continue
                if line.startswith("#"):
                    comments.append(line[1:].strip())
                    continue
                parts = line.split()
                if len(parts) != 3:
                    continue
                key, value, unit = parts
                if value == "skip":
                    skips.append(key)
                    continue
                try:
                    vals[key] = float(value)
                except ValueError:
                    continue
                units[key] = unit
    return vals, units, skips, comments


def load_meta(outdir):
    meta = {}
    try:
        with open(os.path.join(outdir, "env.meta")) as f:
            for line in f:
                k, _, v = line.strip().partition(" ")
                meta[k] = v
    except OSError:
        pass
    return meta


def fmt(v):
    if v is None:
        return "—"
    if v >= 100:
        return "%.0f" % v
    if v >= 10:
        return "%.1f" % v
    return "%.2f" % v


class Report:
    def __init__(self, vals, units):
        self.vals, self.units, self.used = vals, units, set()
        self.lines = []

    def get(self, key):
        if key in self.vals:
            self.used.add(key)
            return self.vals[key]
        return None

    def out(self, s=""):
        self.lines.append(s)

    def table(self, header, rows):
        self.out("| " + " | ".join(header) + " |")
        self.out("|" + "|".join("---" for _ in header) + "|")
        for r in rows:
            self.out("| " + " | ".join(r) + " |")
        self.out()


def headline(rep):
    rows = []
    for key, (ref, what) in REFERENCE.items():
        v = rep.get(key)
        unit = rep.units.get(key, "")
        if v is None:
            continue
        ratio = v / ref
        worse = ratio > 1 if unit in LOWER_IS_BETTER_UNITS else ratio < 1
        rows.append([what, "%s %s" % (fmt(v), unit), fmt(ref), "%.2fx" % ratio,
                     "worse" if worse and abs(ratio - 1) > 0.1 else "ok"])
    if not rows:
        return
    rep.out("## Against the floor recorded in DESIGN.md")
    rep.out()
    rep.out("Ratio = this run / DESIGN.md's floor. For latencies a ratio above 1 is slower; for "
            "throughputs and ratios a value below 1 is slower. 'worse' marks more than 10% off.")
    rep.out()
    rep.table(["figure", "this run", "DESIGN.md", "ratio", ""], rows)


def ordered(pattern, vals):
    """The first group of every key matching pattern, in the order the benchmarks printed them."""
    seen = []
    for k in vals:
        m = re.match(pattern, k)
        if m and m.group(1) not in seen:
            seen.append(m.group(1))
    return seen


def targets(rep):
    rows = []
    for key, what, criu, target in TARGETS:
        v = rep.get(key)
        if v is None:
            continue
        rows.append([what, "%s ms" % fmt(v), criu, "≤ %s ms" % fmt(target),
                     "meets" if v <= target else "misses (%.1fx)" % (v / target)])
    other = [k for k in rep.vals if k.startswith(("lazy.", "plain.")) and k not in rep.used]
    if not rows and not other:
        return
    rep.out("## The tool: lazy and plain restore (bench/lazy-restore.sh)")
    rep.out()
    if rows:
        rep.table(["figure", "this run", "CRIU 4.2 here", "target", ""], rows)
    if other:
        rep.table(["figure", "value", "unit"], [[k, fmt(rep.get(k)), rep.units[k]] for k in other])


def faults(rep):
    cfgs = ordered(r"uffd\.fault\.(.+)\.p50$", rep.vals)
    rows = []
    anon = "anon.fault.write4k"
    if rep.get(anon + ".p50") is not None:
        rows.append(["plain anonymous write fault (no uffd)"] +
                    [fmt(rep.get("%s.%s" % (anon, q))) for q in ("p50", "p99", "mean")])
    for c in cfgs:
        rows.append([c] + [fmt(rep.get("uffd.fault.%s.%s" % (c, q))) for q in ("p50", "p99", "mean")])
    if rows:
        rep.out("## uffd fault round trip (µs, faulting thread on CPU 0)")
        rep.out()
        rep.out("same: handler pinned on the faulting CPU; cross: on the other CPU (poll + non-blocking "
                "read); cross_spin: handler busy-reads on the other CPU; unpinned: scheduler's choice. "
                "blockread: blocking read() instead of poll. copy64k_around16: each fault fills the aligned "
                "16-page block around it (_first: faulting page first). zstd_fN_page/frame: the "
                "handler checks and decodes the N-byte frame, then copies the page or the whole frame "
                "(zstdfast: level -1; _bg_*: with a prefetcher running). remote_fN_frame: the "
                "handler fetches the frame from a loopback page server (srv_same: on the faulting "
                "CPU; srv_other: on the other), checks, decodes and copies it; remote_plain: the "
                "server sends the pages themselves.")
        rep.out()
        rep.table(["config", "p50", "p99", "mean"], rows)
    rows = [[c] + [fmt(rep.get("uffd.block64k.%s.%s" % (c, q))) for q in ("p50", "p99", "mean")]
            for c in ordered(r"uffd\.block64k\.(.+)\.p50$", rep.vals)]
    if rows:
        rep.out("## Reading 64 KiB of lazy memory page by page (µs per 64 KiB)")
        rep.out()
        rep.out("copy4k: a fault per page; around16: the first fault fills all 16 pages; _first: the "
                "faulting page is copied (and its thread woken) before the other 15; _yield: and the "
                "handler yields the CPU in between.")
        rep.out()
        rep.table(["config", "p50", "p99", "mean"], rows)


def fills(rep):
    keys = [k for k in rep.vals if k.startswith(("uffd.fill.", "fresh.", "fill."))
            and not k.endswith(".median")]
    rows = [[k, fmt(rep.get(k)), fmt(rep.get(k + ".median")), rep.units[k]] for k in keys]
    if rows:
        rep.out("## Filling memory")
        rep.out()
        rep.out("uffd.fill.copyN.tT: UFFDIO_COPY of N-byte chunks into a registered range nobody touches, "
                "T threads. move2m_staged: memcpy into a THP staging area + UFFDIO_MOVE 2 MiB; "
                "move2m_only: the ioctl alone. fresh.*: copy into freshly mapped memory (plain restore). "
                "fill.*: decompress frames and UFFDIO_COPY them (the prefetcher's floor).")
        rep.out()
        rep.table(["figure", "best", "median", "unit"], rows)


def zstd(rep):
    combos = []
    for k in rep.vals:
        m = re.match(r"zstd\.(\w+)\.l(-?\d+)\.f\w+\.ratio$", k)
        if m and (m.group(1), int(m.group(2))) not in combos:
            combos.append((m.group(1), int(m.group(2))))
    sizes = ["4k", "16k", "64k", "256k", "2m"]
    for data, level in combos:
        rows = []
        for s in sizes:
            p = "zstd.%s.l%d.f%s" % (data, level, s)
            if rep.get(p + ".ratio") is None:
                continue
            for m in ("comp", "dec", "dec_t2"):
                rep.get(p + "." + m + ".median")
            rep.get(p + ".page.mean")
            rows.append([s] + [fmt(rep.get(p + "." + m)) for m in
                               ("ratio", "comp", "dec", "dec_t2", "page.p50", "page.p99")])
        rep.out("## zstd level %d, %s data (one core unless t2; best pass)" % (level, data))
        rep.out()
        rep.table(["frame", "ratio", "compress GB/s", "decompress GB/s", "decompress GB/s t2",
                   "one-frame decode p50 µs", "p99 µs"], rows)
    csum = [[k, fmt(rep.get(k)), fmt(rep.get(k + ".median"))] for k in list(rep.vals)
            if k.startswith("csum.") and not k.endswith(".median")]
    if csum:
        rep.out("## Frame checksum (GB/s, one core)")
        rep.out()
        rep.table(["figure", "best", "median"], csum)


def tcp(rep):
    cfgs = ordered(r"tcp\.rtt\.(.+)\.same\.p50$", rep.vals)
    rows = []
    for c in cfgs:
        rows.append([c.replace("_", " ")] +
                    [fmt(rep.get("tcp.rtt.%s.%s.%s" % (c, w, q)))
                     for w in ("same", "cross") for q in ("p50", "p99", "mean")])
    if rows:
        rep.out("## TCP loopback round trip (µs)")
        rep.out()
        rep.table(["request / reply", "same p50", "same p99", "same mean", "cross p50",
                   "cross p99", "cross mean"], rows)
    bulk = [[w, fmt(rep.get("tcp.bulk." + w)), fmt(rep.get("tcp.bulk.%s.median" % w))]
            for w in ("same", "cross") if rep.get("tcp.bulk." + w) is not None]
    if bulk:
        rep.table(["bulk, one way", "best GB/s", "median GB/s"], bulk)


def merge(runs):
    """Best of the runs for each figure: the lowest time, the highest throughput."""
    vals, units, skips, comments = {}, {}, [], []
    for rv, ru, rs, rc in runs:
        for k, v in rv.items():
            if k not in vals:
                vals[k], units[k] = v, ru[k]
            elif ru[k] in LOWER_IS_BETTER_UNITS:
                vals[k] = min(vals[k], v)
            else:
                vals[k] = max(vals[k], v)
        skips += [k for k in rs if k not in skips]
        comments += rc
    skips = [k for k in skips if k not in vals]
    return vals, units, skips, comments


def main():
    if len(sys.argv) < 2:
        print("usage: report.py RUNDIR [RUNDIR...]", file=sys.stderr)
        return 2
    dirs = sys.argv[1:]
    vals, units, skips, comments = merge([load(d) for d in dirs])
    if not vals:
        print("report.py: no results in %s" % " ".join(dirs), file=sys.stderr)
        return 1
    rep = Report(vals, units)
    rep.out("# criu-lazy floor benchmarks")
    rep.out()
    if len(dirs) > 1:
        rep.out("Best of %d runs for each figure (lowest time, highest throughput); each run's "
                "lines below." % len(dirs))
        rep.out()
    for i, d in enumerate(dirs):
        meta = load_meta(d)
        if len(dirs) > 1:
            rep.out("Run %d:" % (i + 1))
        for k in ("date", "kernel", "cpus", "cpu_model", "zstd", "mode", "load_before",
                  "load_after"):
            if k in meta:
                rep.out("- %s: %s" % (k.replace("_", " "), meta[k]))
        for c in load(d)[3]:
            rep.out("- %s" % c)
        rep.out()
    headline(rep)
    targets(rep)
    faults(rep)
    fills(rep)
    zstd(rep)
    tcp(rep)
    rest = [k for k in vals if k not in rep.used and not k.endswith((".mean", ".median"))]
    if rest:
        rep.out("## Other figures")
        rep.out()
        rep.table(["figure", "value", "unit"], [[k, fmt(vals[k]), units[k]] for k in rest])
    if skips:
        rep.out("## Skipped")
        rep.out()
        for k in skips:
            rep.out("- %s" % k)
        rep.out()
    print("\n".join(rep.lines).rstrip())
    return 0


if __name__ == "__main__":
    sys.exit(main())
