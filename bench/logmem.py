"""Memory of logged services: supervise + `supervise log` + logger, PSS per service.

    .venv/bin/python bench/logmem.py [--n 100] [--only C,exec,in-child]

N services (default 100), each `exec sleep` with a log/run, under svscan.
Three set-ups in one run:
  C        Debian's daemontools: svscan, supervise, multilog (all C)
  exec     ours, with a log/run that is not plain (`exec multilog "t" ./main`),
           so supervise execs it: a new interpreter per logger, as before
  in-child ours, log/run `exec multilog t ./main`: multilog runs in the child
           supervise forked (svtools/_multilog_inchild.py)
PSS comes from /proc/PID/smaps_rollup: svscan, every supervise and every
logger, not the services themselves (`sleep`), divided by N.  Before reading
it, one line goes through every logger, so each has done real work.
Figures are printed, never asserted.
"""

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
BIN = os.path.join(os.path.dirname(HERE), ".venv", "bin")
SETUPS = {
    "C": ("/usr/bin/svscan", "/usr/bin:/bin", "exec multilog t ./main"),
    "exec": (os.path.join(BIN, "svscan"), BIN + ":/usr/bin:/bin", 'exec multilog "t" ./main'),
    "in-child": (os.path.join(BIN, "svscan"), BIN + ":/usr/bin:/bin", "exec multilog t ./main"),
}


def make(scan, n, logline):
    for i in range(n):
        d = os.path.join(scan, "s%d" % i)
        os.makedirs(os.path.join(d, "log"))
        with open(os.path.join(d, "run"), "w") as f:
            f.write("#!/bin/sh\necho started\nexec sleep 100000\n")
        with open(os.path.join(d, "log", "run"), "w") as f:
            f.write("#!/bin/sh\n%s\n" % logline)
        os.chmod(os.path.join(d, "run"), 0o755)
        os.chmod(os.path.join(d, "log", "run"), 0o755)


def children(pid):
    try:
        with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return []


def pss_kb(pid):
    try:
        with open("/proc/%d/smaps_rollup" % pid) as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def logged(d):
    try:
        with open(os.path.join(d, "log", "main", "current"), "rb") as f:
            return b"started" in f.read()
    except OSError:
        return False


def measure(name, n):
    svscan, path, logline = SETUPS[name]
    tmp = tempfile.mkdtemp(prefix="bench-logmem-")
    scan = os.path.join(tmp, "scan")
    make(scan, n, logline)
    p = subprocess.Popen([svscan, scan], env={"PATH": path}, cwd=tmp, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        dirs = [os.path.join(scan, "s%d" % i) for i in range(n)]
        deadline = time.monotonic() + 120
        while not all(logged(d) for d in dirs):
            if time.monotonic() > deadline:
                raise SystemExit("bench: loggers did not log within 120 s (%s)" % name)
            time.sleep(0.1)
        time.sleep(1)
        sup = children(p.pid)
        loggers = []
        for s in sup:
            try:
                log = os.readlink("/proc/%d/cwd" % s).endswith("/log")
            except OSError:
                continue
            if log:
                loggers += children(s)
        total = pss_kb(p.pid) + sum(pss_kb(s) for s in sup)
        logs = sum(pss_kb(x) for x in loggers)
        return (total + logs) / n / 1024, total / n / 1024, logs / max(1, len(loggers)) / 1024, len(loggers)
    finally:
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        p.wait()  # supervise, services and loggers share svscan's process group
        shutil.rmtree(tmp, ignore_errors=True)


def main(argv):
    n = int(argv[argv.index("--n") + 1]) if "--n" in argv else 100
    print("%d logged services; PSS in MiB per logged service" % n)
    print("%-9s %10s %22s %14s" % ("set-up", "total", "svscan+2 supervise", "one logger"))
    rows = {}
    only = argv[argv.index("--only") + 1].split(",") if "--only" in argv else list(SETUPS)
    for name in ("C", "exec", "in-child"):
        if name not in only or name == "C" and not os.path.exists(SETUPS["C"][0]):
            continue
        total, sup, logger, count = measure(name, n)
        rows[name] = total
        print("%-9s %10.2f %22.2f %14.2f  (%d loggers)" % (name, total, sup, logger, count), flush=True)
    if "C" in rows:
        for name in [x for x in ("exec", "in-child") if x in rows]:
            print("%s / C: %.1fx" % (name, rows[name] / rows["C"]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
