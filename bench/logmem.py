"""Memory of logged services: supervise + `supervise log` + logger, PSS per service.

    .venv/bin/python bench/logmem.py [--n 100] [--only C,exec,in-child]
        [--script 't ./main'] [--lines 0] [--other DIR] [--rounds 1]

N services (default 100), each `exec sleep` with a log/run, under svscan.
Three set-ups in one run:
  C        Debian's daemontools: svscan, supervise, multilog (all C)
  exec     ours, with a log/run that is not plain (`exec multilog "t" ./main`),
           so supervise execs it: a new interpreter per logger, as before
  in-child ours, log/run `exec multilog t ./main`: multilog runs in the child
           supervise forked (svtools/_multilog_inchild.py)
--script is multilog's script in every log/run (plain words).  --lines N
has every service write N lines of 80 bytes first (a busy logger: its read
and line buffers, rotations; 30000 lines rotate `current` about 24 times).  --other DIR
adds the in-child set-up of another checkout (its DIR/.venv, e.g. main),
and --rounds N runs every set-up N times, taking turns, so that two trees
are compared under the same load.
PSS comes from /proc/PID/smaps_rollup: svscan, every supervise and every
logger, not the services themselves (`sleep`), divided by N.  "private" is
a logger's Private_Clean + Private_Dirty: the pages it alone holds, which
is what one more logger adds (steadier than PSS).  Before reading, one line
goes through every logger, so each has done real work.  Figures are
printed, never asserted.
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
    "C": ("/usr/bin/svscan", "/usr/bin:/bin", "exec multilog %s"),
    "exec": (os.path.join(BIN, "svscan"), BIN + ":/usr/bin:/bin", 'exec multilog "%s"'),
    "in-child": (os.path.join(BIN, "svscan"), BIN + ":/usr/bin:/bin", "exec multilog %s"),
}


def make(scan, n, logline, lines=0):
    busy = ('yes "%s" | head -n %d\n' % ("x" * 79, lines)) if lines else ""
    for i in range(n):
        d = os.path.join(scan, "s%d" % i)
        os.makedirs(os.path.join(d, "log"))
        with open(os.path.join(d, "run"), "w") as f:
            f.write("#!/bin/sh\n%secho started\nexec sleep 100000\n" % busy)
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


def rollup_kb(pid, fields=("Pss:",)):
    total = 0
    try:
        with open("/proc/%d/smaps_rollup" % pid) as f:
            for line in f:
                if line.startswith(fields):
                    total += int(line.split()[1])
    except OSError:
        pass
    return total


def pss_kb(pid):
    return rollup_kb(pid)


def logged(d):
    try:
        with open(os.path.join(d, "log", "main", "current"), "rb") as f:
            return b"started" in f.read()
    except OSError:
        return False


def measure(name, n, script, lines=0):
    svscan, path, logline = SETUPS[name]
    logline = logline % script.replace(" ", '" "' if name == "exec" else " ")
    tmp = tempfile.mkdtemp(prefix="bench-logmem-")
    scan = os.path.join(tmp, "scan")
    make(scan, n, logline, lines)
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
        private = sum(rollup_kb(x, ("Private_Clean:", "Private_Dirty:")) for x in loggers)
        return ((total + logs) / n / 1024, total / n / 1024, logs / max(1, len(loggers)) / 1024,
                private / max(1, len(loggers)) / 1024, len(loggers))
    finally:
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        p.wait()  # supervise, services and loggers share svscan's process group
        shutil.rmtree(tmp, ignore_errors=True)


def opt(argv, name, default):
    return argv[argv.index(name) + 1] if name in argv else default


def main(argv):
    n = int(opt(argv, "--n", "100"))
    script = opt(argv, "--script", "t ./main")
    rounds = int(opt(argv, "--rounds", "1"))
    other = opt(argv, "--other", None)
    lines = int(opt(argv, "--lines", "0"))
    names = ["C", "exec", "in-child"]
    if other:
        obin = os.path.join(os.path.abspath(other), ".venv", "bin")
        SETUPS["other"] = (os.path.join(obin, "svscan"), obin + ":/usr/bin:/bin", "exec multilog %s")
        names.append("other")
    only = opt(argv, "--only", ",".join(names)).split(",")
    print("%d logged services, log/run 'exec multilog %s', %d lines each first; MiB per logged service"
          % (n, script, lines))
    print("%-9s %8s %20s %12s %15s" % ("set-up", "total", "svscan+2 supervise", "one logger",
                                       "logger private"))
    rows = {}
    for _ in range(rounds):
        for name in names:
            if name not in only or name == "C" and not os.path.exists(SETUPS["C"][0]):
                continue
            total, sup, logger, private, count = measure(name, n, script, lines)
            rows.setdefault(name, []).append(total)
            print("%-9s %8.2f %20.2f %12.2f %15.2f  (%d loggers)"
                  % (name, total, sup, logger, private, count), flush=True)
    if "C" in rows:
        c = sorted(rows["C"])[len(rows["C"]) // 2]
        for name in [x for x in names[1:] if x in rows]:
            mid = sorted(rows[name])[len(rows[name]) // 2]
            print("%s / C: %.1fx (medians: %.2f / %.2f MiB)" % (name, mid / c, mid, c))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
