#!/usr/bin/python3
"""zdtm: run the criu-lazy test programs through checkpoint/restore and check they survive.

  zdtm.py run -t static/maps00 [--lazy-pages | --remote-lazy-pages | --nocr] [--iters N] [--pre N]
  zdtm.py run -a [-T REGEX] [-x REGEX] [--list FILE] [--real]
  zdtm.py list [-a] [--real]
  zdtm.py selfcheck

A test is started with --pidfile/--outfile, becomes ready (pidfile appears), is checkpointed
and restored according to the mode, gets SIGTERM and writes PASS or FAIL to its outfile.
"""

import argparse
import ast
import ctypes
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

ZDTM_DIR = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(ZDTM_DIR))
BUILD = os.path.join(REPO, "build")
CRIU = os.path.join(BUILD, "bin", "criu-lazy")
DUMP_ROOT = os.path.join(ZDTM_DIR, "dump")
AUTO_DIRS = ("static", "transition")
MODES = ("nocr", "plain", "lazy", "remote-lazy")

PIDFILE_TIMEOUT = 10.0
RESULT_TIMEOUT = 30.0
CRIU_TIMEOUT = 120.0
STATUS_TIMEOUT = 30.0
TRANSITION_RUN = 0.5


class TestFailed(Exception):
    pass


class Interrupted(BaseException):
    pass


def on_signal(signum, frame):
    raise Interrupted("signal %d" % signum)


def log(msg):
    print(msg, flush=True)


# ---------------------------------------------------------------- processes


def proc_stat(pid):
    """(state, ppid, pgid, sid) of pid, or None if it is gone."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            s = f.read()
    except OSError:
        return None
    rest = s[s.rindex(")") + 2:].split()
    return rest[0], int(rest[1]), int(rest[2]), int(rest[3])


def all_ppids():
    ppids = {}
    for e in os.listdir("/proc"):
        if e.isdigit():
            st = proc_stat(int(e))
            if st:
                ppids[int(e)] = st[1]
    return ppids


def descendants(root, ppids=None):
    """Every process below root (not root itself)."""
    if ppids is None:
        ppids = all_ppids()
    children = {}
    for pid, ppid in ppids.items():
        children.setdefault(ppid, []).append(pid)
    out, todo = [], list(children.get(root, []))
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


def alive(pid):
    st = proc_stat(pid)
    return st is not None and st[0] not in ("Z", "X")


def reap(pid):
    """Collect pid if it is our zombie child: its wait status, or None."""
    try:
        wpid, status = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return None
    return status if wpid == pid else None


def set_subreaper():
    # Daemonized and restored tests reparent to us, so we can wait for them and kill them.
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(36, 1, 0, 0, 0) != 0:  # PR_SET_CHILD_SUBREAPER
            log("zdtm: warning: cannot become a child subreaper")
    except OSError:
        log("zdtm: warning: no prctl()")


def kill_everything(popens):
    """Kill every process this harness started (all our descendants), and reap them."""
    me = os.getpid()
    for _ in range(50):
        pids = descendants(me)
        live = [p for p in pids if alive(p)]
        for p in live:
            try:
                os.kill(p, signal.SIGKILL)
            except ProcessLookupError:
                pass
        for p in popens:
            if p.returncode is None:
                try:
                    p.wait(timeout=0.1)
                except subprocess.TimeoutExpired:
                    pass
        popen_pids = {p.pid for p in popens if p.returncode is None}
        for p in pids:
            if p not in popen_pids:
                reap(p)
        if not any(alive(p) for p in descendants(me)):
            break
        time.sleep(0.02)
    # Zombies left to us by daemonized tests.
    for p in descendants(me):
        st = proc_stat(p)
        if st and st[0] == "Z" and p not in {q.pid for q in popens if q.returncode is None}:
            reap(p)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


# ---------------------------------------------------------------- tests


class Test:
    def __init__(self, name, exe, desc=None):
        self.name = name
        self.exe = exe
        self.desc = desc or {}
        self.flags = set(self.desc.get("flags", "").split())
        if name.startswith("real/"):
            self.flags.add("real")
        if name.startswith("transition/"):
            self.flags.add("transition")

    @property
    def opts(self):
        return self.desc.get("opts", "").split()


def load_desc(path):
    if not os.path.exists(path):
        return {}
    with open(path) as f:
        text = f.read()
    try:
        desc = ast.literal_eval(text.strip() or "{}")
    except (ValueError, SyntaxError) as e:
        raise SystemExit("zdtm: %s: bad .desc: %s" % (path, e))
    if not isinstance(desc, dict):
        raise SystemExit("zdtm: %s: a .desc is a dict literal" % path)
    return desc


def discover(dirs):
    tests = {}
    for d in dirs:
        src = os.path.join(ZDTM_DIR, d)
        if not os.path.isdir(src):
            continue
        for f in sorted(os.listdir(src)):
            base, ext = os.path.splitext(f)
            if d == "real":
                if ext not in (".sh", ".py"):
                    continue
                exe = os.path.join(src, f)
            elif ext == ".c":
                exe = os.path.join(BUILD, "test", "zdtm", d, base)
            else:
                continue
            name = "%s/%s" % (d, base)
            tests[name] = Test(name, exe, load_desc(os.path.join(src, base + ".desc")))
    return tests


def read_list(path):
    names = []
    with open(path) as f:
        for line in f:
            line = line.split("#", 1)[0].strip()
            if line and line not in names:  # a name listed twice runs once
                names.append(line)
    return names


# ---------------------------------------------------------------- state snapshots


def norm_fd_target(t):
    return re.sub(r"\[\d+\]", "[]", t)


def read_maps(pid):
    """VMAs as (start, end, perms, path), adjacent compatible ones merged: the kernel may
    merge or split anonymous VMAs differently after restore without the test noticing."""
    out = []
    try:
        with open("/proc/%d/maps" % pid) as f:
            lines = f.read().splitlines()
    except OSError:
        return None
    for line in lines:
        parts = line.split(None, 5)
        start, end = (int(x, 16) for x in parts[0].split("-"))
        path = parts[5] if len(parts) > 5 else ""
        e = [start, end, parts[1], path]
        if out and out[-1][1] == start and out[-1][2] == e[2] and out[-1][3] == path:
            out[-1][1] = end
        else:
            out.append(e)
    return [tuple(e) for e in out]


def snapshot(root):
    """What must be identical after restore: the tree, each task's threads, VMAs and fds."""
    ppids = all_ppids()
    snap = {}
    for pid in [root] + descendants(root, ppids):
        st = proc_stat(pid)
        if st is None:
            continue
        ent = {"ppid": st[1] if pid != root else None, "pgid": st[2], "sid": st[3],
               "zombie": st[0] == "Z"}
        try:
            ent["threads"] = sorted(int(t) for t in os.listdir("/proc/%d/task" % pid))
            fds = {}
            for fd in os.listdir("/proc/%d/fd" % pid):
                try:
                    fds[int(fd)] = norm_fd_target(os.readlink("/proc/%d/fd/%s" % (pid, fd)))
                except OSError:
                    pass
            ent["fds"] = fds
        except OSError:
            pass
        ent["maps"] = read_maps(pid)
        snap[pid] = ent
    return snap


def diff_snapshots(a, b):
    errs = []
    if sorted(a) != sorted(b):
        errs.append("process set differs: %s before, %s after" % (sorted(a), sorted(b)))
    for pid in sorted(set(a) & set(b)):
        for key in ("ppid", "pgid", "sid", "zombie", "threads", "fds"):
            if a[pid].get(key) != b[pid].get(key):
                errs.append("pid %d: %s %r before, %r after" %
                            (pid, key, a[pid].get(key), b[pid].get(key)))
        ma, mb = a[pid].get("maps") or [], b[pid].get("maps") or []
        if ma != mb:
            only_a = [m for m in ma if m not in mb][:3]
            only_b = [m for m in mb if m not in ma][:3]
            errs.append("pid %d: maps differ: before only %s; after only %s" % (
                pid, ["%x-%x %s %s" % m for m in only_a], ["%x-%x %s %s" % m for m in only_b]))
    return errs


# ---------------------------------------------------------------- one test run


class Run:
    """One test in one mode; everything it makes lives in dump/NAME/."""

    def __init__(self, test, mode, args, criu=CRIU):
        self.test = test
        self.mode = mode
        self.args = args
        self.criu = criu
        self.dir = os.path.join(args.dump_root, test.name)
        self.popens = []
        self.pid = None
        self.pidfile_timeout = args.pidfile_timeout
        self.result_timeout = args.result_timeout

    def path(self, *p):
        return os.path.join(self.dir, *p)

    # -- criu-lazy commands

    def criu_cmd(self, action, imgdir, *extra):
        cmd = [self.criu, action, "-D", imgdir, "-v4", "-o", action + ".log"]
        return cmd + list(extra) + self.test.opts

    def start_criu(self, action, imgdir, *extra, status=False):
        """Start a criu-lazy command; with status=True wait for its --status-fd byte."""
        cmd = self.criu_cmd(action, imgdir, *extra)
        rfd = wfd = None
        if status:
            rfd, wfd = os.pipe()
            cmd += ["--status-fd", str(wfd)]
        err = open(self.path("%s.stderr" % action), "ab")
        try:
            p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=err, stderr=err,
                                 start_new_session=True, pass_fds=[wfd] if status else [])
        except OSError as e:
            if status:
                os.close(rfd)
                os.close(wfd)
            raise TestFailed("cannot run %s: %s" % (self.criu, e))
        finally:
            err.close()
        self.popens.append(p)
        if not status:
            return p
        os.close(wfd)
        try:
            deadline = time.monotonic() + STATUS_TIMEOUT
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TestFailed("%s: no status byte within %ds" % (action, STATUS_TIMEOUT))
                r, _, _ = select.select([rfd], [], [], min(left, 0.5))
                if r:
                    data = os.read(rfd, 1)
                    if data == b"\0":
                        return p
                    try:
                        rc = p.wait(timeout=5)
                    except subprocess.TimeoutExpired:
                        rc = "none: it closed the status fd without a byte"
                    raise TestFailed("%s exited (code %s) before it was ready%s" %
                                     (action, rc, self.first_error(imgdir)))
        finally:
            os.close(rfd)

    def run_criu(self, action, imgdir, *extra):
        p = self.start_criu(action, imgdir, *extra)
        try:
            rc = p.wait(timeout=CRIU_TIMEOUT)
        except subprocess.TimeoutExpired:
            raise TestFailed("%s did not finish within %ds" % (action, CRIU_TIMEOUT))
        if rc != 0:
            raise TestFailed("%s exited with %d%s" % (action, rc, self.first_error(imgdir)))

    def first_error(self, imgdir):
        try:
            self.grep_logs()
        except TestFailed as e:
            return ": " + str(e)
        return ""

    def wait_popen(self, p, what, timeout):
        try:
            rc = p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise TestFailed("%s still running %ds after the test ended" % (what, timeout))
        if rc != 0:
            raise TestFailed("%s exited with %d" % (what, rc))

    # -- the test process

    def start_test(self):
        work = self.path("work")
        os.makedirs(work)
        self.pidfile = self.path("test.pid")
        self.outfile = self.path("test.out")
        env = dict(os.environ, ZDTM_TEST=self.test.name)
        if not os.path.exists(self.test.exe):
            raise TestFailed("%s is not built (run make)" % self.test.exe)
        launch = open(self.path("launcher.out"), "wb")
        self.launcher = subprocess.Popen(
            [self.test.exe, "--pidfile=" + self.pidfile, "--outfile=" + self.outfile],
            cwd=work, env=env, stdin=subprocess.DEVNULL, stdout=launch, stderr=launch,
            start_new_session=True)
        launch.close()
        self.popens.append(self.launcher)
        deadline = time.monotonic() + self.pidfile_timeout
        while not os.path.exists(self.pidfile):
            if self.launcher.poll() is not None and not os.path.exists(self.pidfile):
                raise TestFailed("test exited with %s before it was ready%s" %
                                 (self.launcher.returncode, self.out_tail()))
            if time.monotonic() > deadline:
                raise TestFailed("no pidfile within %ds" % self.pidfile_timeout)
            time.sleep(0.01)
        with open(self.pidfile) as f:
            self.pid = int(f.read().strip())
        # A test that does not daemonize is our Popen child until it is checkpointed.
        self.direct = self.launcher.pid == self.pid
        if self.launcher.pid != self.pid:
            self.wait_popen(self.launcher, "test launcher", 5)

    def out_tail(self):
        try:
            with open(self.outfile, errors="replace") as f:
                lines = f.read().splitlines()
        except OSError:
            return ""
        return "; output: " + " | ".join(lines[-3:]) if lines else ""

    def stop_test(self):
        if not alive(self.pid):
            raise TestFailed("test %d is not running before SIGTERM%s" % (self.pid, self.out_tail()))
        os.kill(self.pid, signal.SIGTERM)
        deadline = time.monotonic() + self.result_timeout
        status = None
        while True:
            if self.direct:
                if self.launcher.poll() is not None:
                    status = self.launcher.returncode
                    break
            else:
                st = reap(self.pid)
                if st is not None:
                    status = os.waitstatus_to_exitcode(st)
                    break
                if not alive(self.pid):
                    break
            if time.monotonic() > deadline:
                raise TestFailed("no result within %ds after SIGTERM%s" %
                                 (self.result_timeout, self.out_tail()))
            time.sleep(0.01)
        with open(self.outfile, errors="replace") as f:
            out = f.read().splitlines()
        fails = [l for l in out if "FAIL" in l]
        if fails:
            raise TestFailed(fails[0])
        if "PASS" not in out:
            raise TestFailed("no PASS in the output (exit status %s)%s" % (status, self.out_tail()))
        if status not in (0, None):
            raise TestFailed("test exited with %s after PASS" % status)

    # -- checkpoint/restore

    def reap_orphans(self):
        """Tasks killed by dump that were reparented to us stay zombies, holding their pids
        (which restore needs back), until we collect them."""
        for p in self.popens:
            st = proc_stat(p.pid)
            if st and st[0] == "Z":
                p.poll()
        # A restored task may have the pid of a Popen child already collected.
        me, popen_pids = os.getpid(), {p.pid for p in self.popens if p.returncode is None}
        for e in os.listdir("/proc"):
            if e.isdigit() and int(e) not in popen_pids:
                st = proc_stat(int(e))
                if st and st[0] == "Z" and st[1] == me:
                    reap(int(e))

    def wait_gone(self, pids, what):
        """Wait until the dumped tree is gone: its pids must be free for restore."""
        deadline = time.monotonic() + 10
        while True:
            self.reap_orphans()
            left = [p for p in pids if proc_stat(p) is not None]
            if not left:
                return
            if time.monotonic() > deadline:
                raise TestFailed("%s: %s still exist" % (
                    what, ", ".join("%d (state %s, parent %s)" % ((p,) + tuple(
                        (proc_stat(p) or ("gone", "-"))[:2])) for p in left)))
            time.sleep(0.01)

    def restore(self, imgdir, lazy):
        self.direct = False  # whatever runs from now on was made by restore
        rpid = self.path("restore.pid")
        if os.path.exists(rpid):
            os.unlink(rpid)
        extra = ["-d", "--pidfile", rpid] + (["--lazy-pages"] if lazy else [])
        self.run_criu("restore", imgdir, *extra)
        try:
            with open(rpid) as f:
                got = int(f.read().strip())
        except (OSError, ValueError):
            raise TestFailed("restore wrote no pidfile %s" % rpid)
        if got != self.pid:
            raise TestFailed("restored root has pid %d, not %d" % (got, self.pid))

    def pre_dumps(self, it, imgdir):
        """--pre N: N pre-dumps, each on top of the previous; returns the dump's options."""
        prev = None
        for k in range(self.args.pre):
            pdir = self.path("img-%d-pre%d" % (it, k))
            os.makedirs(pdir)
            extra = ["-t", str(self.pid), "--track-mem"]
            if prev:
                extra += ["--prev-images-dir", os.path.relpath(prev, pdir)]
            self.run_criu("pre-dump", pdir, *extra)
            if not alive(self.pid):
                raise TestFailed("the tree is gone after pre-dump %d" % k)
            if self.test.flags & {"transition", "real"}:
                time.sleep(TRANSITION_RUN / 2)
            prev = pdir
        if prev is None:
            return []
        return ["--track-mem", "--prev-images-dir", os.path.relpath(prev, imgdir)]

    def cr_once(self, it):
        imgdir = self.path("img-%d" % it)
        os.makedirs(imgdir)
        before = snapshot(self.pid)
        pids = list(before)
        if self.mode == "remote-lazy":
            port = str(free_port())
            dump = self.start_criu("dump", imgdir, "-t", str(self.pid), "--lazy-pages",
                                   "--address", "127.0.0.1", "--port", port, status=True)
            self.wait_gone(pids, "after dump")
            lp = self.start_criu("lazy-pages", imgdir, "--page-server", "--address",
                                 "127.0.0.1", "--port", port, status=True)
            self.restore(imgdir, True)
            self.lazy_waits = [(dump, "dump --lazy-pages"), (lp, "lazy-pages")]
        else:
            self.run_criu("dump", imgdir, "-t", str(self.pid), *self.pre_dumps(it, imgdir))
            self.wait_gone(pids, "after dump")
            if self.mode == "lazy":
                lp = self.start_criu("lazy-pages", imgdir, status=True)
                self.restore(imgdir, True)
                self.lazy_waits = [(lp, "lazy-pages")]
            else:
                self.restore(imgdir, False)
        self.reap_orphans()
        if self.test.flags & {"transition", "real"}:
            return  # they change their own state all the time
        after = snapshot(self.pid)
        errs = diff_snapshots(before, after)
        if errs:
            raise TestFailed("state changed by C/R: " + "; ".join(errs[:4]))

    def grep_logs(self):
        for root, _, files in os.walk(self.dir):
            for f in files:
                if not (f.endswith(".log") or f.endswith(".stderr")):
                    continue
                with open(os.path.join(root, f), errors="replace") as fh:
                    for line in fh:
                        if "Error (" in line:
                            raise TestFailed("%s: %s" % (f, line.strip()))

    def execute(self):
        """None on success, else the reason of the failure."""
        shutil.rmtree(self.dir, ignore_errors=True)
        os.makedirs(self.dir)
        self.lazy_waits = []
        try:
            self.start_test()
            if self.test.flags & {"transition", "real"}:
                time.sleep(TRANSITION_RUN)
            if self.mode != "nocr":
                for it in range(self.args.iters):
                    self.cr_once(it)
                    # Lazy modes: the daemon must end once every page is in.
                    for p, what in self.lazy_waits:
                        if it + 1 < self.args.iters:
                            self.wait_popen(p, what, RESULT_TIMEOUT)
            self.stop_test()
            for p, what in self.lazy_waits:
                self.wait_popen(p, what, RESULT_TIMEOUT)
            self.grep_logs()
            return None
        except TestFailed as e:
            return str(e)
        finally:
            kill_everything(self.popens)
            self.popens = []


# ---------------------------------------------------------------- the run command


def feature_present(criu, name, cache={}):
    if name not in cache:
        try:
            r = subprocess.run([criu, "check", "--feature", name], stdin=subprocess.DEVNULL,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=30)
            cache[name] = r.returncode
        except (OSError, subprocess.TimeoutExpired):
            cache[name] = -1
    return cache[name] == 0


def skip_reason(test, mode, args, criu):
    if "noauto" in test.flags and not args.explicit:
        return "noauto"
    if "real" in test.flags and not (args.real or args.explicit):
        return "real program test: run with --real"
    if "suid" in test.flags and os.getuid() != 0:
        return "needs root"
    if mode in ("lazy", "remote-lazy") and "nolazy" in test.flags:
        return "nolazy"
    if mode != "nocr" and "nocr" in test.flags:
        return "runs only without C/R"
    feat = test.desc.get("feature", "").split()
    if mode in ("lazy", "remote-lazy"):
        feat.append("uffd")
    if mode != "nocr":
        for f in feat:
            if not feature_present(criu, f):
                return "FEATURE %s ABSENT: 'criu-lazy check --feature %s' failed" % (f, f)
    return None


def run_tests(tests, mode, args, criu=CRIU):
    """Run tests, print one line each and the closing line; return the exit code."""
    passed = failed = skipped = 0
    failures = []
    os.makedirs(args.dump_root, exist_ok=True)
    try:
        for t in tests:
            why = skip_reason(t, mode, args, criu)
            if why:
                skipped += 1
                log("SKIP %-28s %s" % (t.name, why))
                continue
            start = time.monotonic()
            r = Run(t, mode, args, criu)
            err = r.execute()
            took = time.monotonic() - start
            if err is None:
                passed += 1
                log("PASS %-28s %-11s %5.2fs" % (t.name, mode, took))
                if not args.keep_img:
                    shutil.rmtree(r.dir, ignore_errors=True)
                    for d in (os.path.dirname(r.dir), args.dump_root):
                        try:
                            os.rmdir(d)
                        except OSError:
                            pass
            else:
                failed += 1
                failures.append(t.name)
                log("FAIL %-28s %-11s %5.2fs %s" % (t.name, mode, took, err))
                log("     images and logs kept in %s" % os.path.relpath(r.dir))
    except Interrupted as e:
        kill_everything([])
        log("zdtm: interrupted (%s)" % e)
        log("%d passed, %d failed, %d skipped" % (passed, failed + 1, skipped))
        return 130
    if failures:
        log("failed: " + " ".join(failures))
    log("%d passed, %d failed, %d skipped" % (passed, failed, skipped))
    return 1 if failed else 0


def select_tests(args):
    dirs = list(AUTO_DIRS) + (["real"] if args.real else [])
    known = discover(dirs + (["real"] if "real" not in dirs else []))
    args.explicit = False
    if args.list is not None:
        if not os.path.exists(args.list) or not read_list(args.list):
            return None
        names = read_list(args.list)
        args.explicit = True
    elif args.tests:
        names = args.tests
        args.explicit = True
    elif args.all:
        names = [n for n in known if n.split("/")[0] in dirs]
    else:
        raise SystemExit("zdtm: say which tests: -t NAME, -a or --list FILE")
    out = []
    for n in names:
        n = n[:-2] if n.endswith(".c") else n
        n = re.sub(r"^(test/zdtm/)", "", n)
        if n not in known:
            raise SystemExit("zdtm: no test %s" % n)
        if args.filter and not re.search(args.filter, n):
            continue
        if args.exclude and re.search(args.exclude, n):
            continue
        out.append(known[n])
    return out


def mode_of(args):
    chosen = [m for m, on in (("nocr", args.nocr), ("lazy", args.lazy_pages),
                              ("remote-lazy", args.remote_lazy_pages)) if on]
    if len(chosen) > 1:
        raise SystemExit("zdtm: choose one of --nocr, --lazy-pages, --remote-lazy-pages")
    return chosen[0] if chosen else "plain"


def cmd_run(args):
    mode = mode_of(args)
    tests = select_tests(args)
    if tests is None:
        log("zdtm: %s lists no test yet: nothing runs in %s mode%s" %
            (os.path.relpath(args.list), mode, " with pre-dumps" if args.pre else ""))
        log("0 passed, 0 failed, 0 skipped")
        return 0
    if mode != "nocr" and not os.access(args.criu, os.X_OK):
        raise SystemExit("zdtm: %s is not built (run make)" % args.criu)
    log("zdtm: %d test(s), mode %s%s%s" % (
        len(tests), mode, ", %d iterations" % args.iters if args.iters > 1 else "",
        ", %d pre-dumps each" % args.pre if args.pre else ""))
    return run_tests(tests, mode, args, args.criu)


def cmd_list(args):
    for t in select_tests(args) or []:
        log("%-30s %s" % (t.name, " ".join(sorted(t.flags))))
    return 0


# ---------------------------------------------------------------- main


def main():
    ap = argparse.ArgumentParser(prog="zdtm.py", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    for name in ("run", "list"):
        p = sub.add_parser(name)
        p.add_argument("-t", "--test", dest="tests", action="append", default=[],
                       help="test name such as static/maps00 (repeatable)")
        p.add_argument("-a", "--all", action="store_true", help="all static and transition tests")
        p.add_argument("-T", "--filter", help="only tests matching REGEX")
        p.add_argument("-x", "--exclude", help="skip tests matching REGEX")
        p.add_argument("--list", help="run the tests named in FILE (absent or empty: none)")
        p.add_argument("--real", action="store_true", help="include the real/ program tests")
        p.add_argument("--nocr", action="store_true", help="no checkpoint: start, signal, check")
        p.add_argument("--lazy-pages", action="store_true", help="restore with lazy-pages")
        p.add_argument("--remote-lazy-pages", action="store_true",
                       help="post-copy: dump serves pages, lazy-pages fetches them")
        p.add_argument("--iters", type=int, default=1, help="C/R cycles per test")
        p.add_argument("--pre", type=int, default=0,
                       help="pre-dumps before each dump (incremental, --track-mem)")
        p.add_argument("--keep-img", action="store_true", help="keep images of passed tests")
        p.add_argument("--dump-root", default=DUMP_ROOT, help=argparse.SUPPRESS)
        p.add_argument("--criu", default=CRIU,
                       help="the C/R binary to drive (default: build/bin/criu-lazy)")
        p.add_argument("--pidfile-timeout", type=float, default=PIDFILE_TIMEOUT,
                       help=argparse.SUPPRESS)
        p.add_argument("--result-timeout", type=float, default=RESULT_TIMEOUT,
                       help=argparse.SUPPRESS)
    sub.add_parser("selfcheck", help="check the harness counts failing tests as failed")
    args = ap.parse_args()

    for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, on_signal)
    set_subreaper()
    try:
        if args.cmd == "run":
            if args.iters < 1 or args.pre < 0:
                raise SystemExit("zdtm: --iters must be at least 1, --pre at least 0")
            if args.pre and (args.nocr or args.remote_lazy_pages):
                raise SystemExit("zdtm: --pre goes with plain or --lazy-pages runs")
            return cmd_run(args)
        if args.cmd == "list":
            return cmd_list(args)
        import zdtm_selfcheck
        return zdtm_selfcheck.cmd_selfcheck(args)
    except Interrupted as e:
        kill_everything([])
        log("zdtm: interrupted (%s)" % e)
        return 130


if __name__ == "__main__":
    sys.exit(main())
