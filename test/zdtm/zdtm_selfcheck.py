"""zdtm.py selfcheck: the harness must call a failing test failed, whatever way it fails."""

import contextlib
import io
import os
import shutil
import tempfile

from zdtm import BUILD, Run, Test, TestFailed, alive, descendants, kill_everything, log, run_tests

SELF_TESTS = {
    # name: (script body, expected outcome)
    "ok": ("ready; wait_term; print('PASS')", True),
    "fails": ("ready; wait_term; print('FAIL: selfcheck: deliberate')", False),
    "silent": ("ready; wait_term", False),
    "never_ready": ("time.sleep(60)", False),
    "ignores_term": ("signal.signal(signal.SIGTERM, signal.SIG_IGN); ready; time.sleep(60)", False),
    "dies_early": ("ready; sys.exit(0)", False),
    "pass_then_crash": ("ready; wait_term; print('PASS'); os.kill(os.getpid(), 9)", False),
}

SELF_PRELUDE = """#!/usr/bin/python3
import os, signal, sys, time
args = dict(a[2:].split('=', 1) for a in sys.argv[1:])
fd = os.open(args['outfile'], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
os.dup2(fd, 1); os.dup2(fd, 2)
sys.stdout = os.fdopen(1, 'w', buffering=1)
got = []
signal.signal(signal.SIGTERM, lambda s, f: got.append(s))
def ready_():
    open(args['pidfile'] + '.tmp', 'w').write('%d' % os.getpid())
    os.rename(args['pidfile'] + '.tmp', args['pidfile'])
def wait_term_():
    t = time.monotonic() + 20
    while not got and time.monotonic() < t:
        time.sleep(0.01)
"""


def cmd_selfcheck(args):
    """The harness must call a failing test failed, whatever way it fails."""
    tmp = tempfile.mkdtemp(prefix="zdtm-selfcheck-")
    args.dump_root = os.path.join(tmp, "dump")
    args.pidfile_timeout = 2.0
    args.result_timeout = 2.0
    args.iters = 1
    args.pre = 0
    args.keep_img = False
    args.explicit = True
    args.real = True
    bad = 0
    try:
        tests = []
        for name, (body, _) in SELF_TESTS.items():
            exe = os.path.join(tmp, name + ".py")
            body = body.replace("ready", "ready_()").replace("wait_term", "wait_term_()")
            with open(exe, "w") as f:
                f.write(SELF_PRELUDE + body.replace("; ", "\n") + "\n")
            os.chmod(exe, 0o755)
            tests.append(Test("self/" + name, exe))
        for t in tests:
            expect = SELF_TESTS[t.name[5:]][1]
            err = Run(t, "nocr", args).execute()
            got = err is None
            verdict = "ok" if got == expect else "WRONG"
            if got != expect:
                bad += 1
            log("selfcheck %-22s expected %-4s got %-4s %s%s" % (
                t.name, "PASS" if expect else "FAIL", "PASS" if got else "FAIL", verdict,
                "" if got else " (%s)" % err))
            if any(alive(p) for p in descendants(os.getpid())):
                bad += 1
                log("selfcheck %s: processes left behind" % t.name)
        # C/R through a criu-lazy that fails must fail the test.
        criu = os.path.join(tmp, "fake-criu")
        with open(criu, "w") as f:
            f.write("#!/bin/sh\necho 'Error (fake.c:1): not this time' >&2\nexit 1\n")
        os.chmod(criu, 0o755)
        err = Run(tests[0], "plain", args, criu=criu).execute()
        bad += err is None
        log("selfcheck %-22s expected FAIL got %s %s" % (
            "failing criu-lazy", "PASS" if err is None else "FAIL",
            "WRONG" if err is None else "ok (%s)" % err))
        # An "Error (" line in any log fails the test even when every command exited 0.
        r = Run(tests[0], "plain", args)
        shutil.rmtree(r.dir, ignore_errors=True)
        os.makedirs(os.path.join(r.dir, "img-0"))
        with open(os.path.join(r.dir, "img-0", "restore.log"), "w") as f:
            f.write("(00.001) Error (restore.c:12): something\n")
        try:
            r.grep_logs()
            bad += 1
            log("selfcheck log grep: an Error line went unnoticed: WRONG")
        except TestFailed as e:
            log("selfcheck %-22s expected FAIL got FAIL ok (%s)" % ("log with Error (", e))
        shutil.rmtree(r.dir)
        # The exit code and closing line of a run with a failure.
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            code = run_tests([tests[0], tests[1]], "nocr", args)
        last = out.getvalue().splitlines()[-1]
        ok = code != 0 and last.startswith("1 passed, 1 failed")
        bad += not ok
        log("selfcheck %-22s exit %d, closing line '%s' %s" % (
            "run with a failure", code, last, "ok" if ok else "WRONG"))
        # A C test through the real library: daemonize, pidfile, SIGTERM, PASS.
        c_test = os.path.join(BUILD, "test", "zdtm", "static", "env00")
        err = Run(Test("static/env00", c_test), "nocr", args).execute()
        bad += err is not None
        log("selfcheck %-22s expected PASS got %s" % ("static/env00", "PASS ok" if err is None
                                                       else "FAIL WRONG (%s)" % err))
    finally:
        kill_everything([])
        shutil.rmtree(tmp, ignore_errors=True)
    log("selfcheck: %s" % ("harness OK" if not bad else "%d WRONG verdict(s)" % bad))
    return 1 if bad else 0
