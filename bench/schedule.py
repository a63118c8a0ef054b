"""Scheduled jobs: memory of a supervise with `schedule`, and firing lateness.

    .venv/bin/python bench/schedule.py [mem] [fire] [--minutes M] [--jobs N]

mem   svscan with 100 services, three ways: plain services (the baseline:
      `exec sleep`), the same with a `schedule` file each (a yearly cron
      line, so every supervise holds a schedule and waits), and C
      daemontools' svscan with plain services.  PSS per supervise process
      (svscan itself not counted).  Target: with schedule <= 1.5 MiB, and
      without it unchanged (compare with bench/svscan.py memory).
fire  N services (default 20) with `* * * * *` under one svscan, for M
      minutes (default 1): each firing's lateness after its minute boundary, as supervise
      recorded the start (exit history: at - ran) and as ./run saw it
      (its first command).  Median and max over all firings.  Target:
      median under 100 ms.  Cron has no counterpart in daemontools.
Each figure comes from one run; it is printed, never asserted.
"""

import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
OURS = os.path.join(os.path.dirname(HERE), ".venv", "bin")
sys.path.insert(0, os.path.dirname(HERE))
from svtools import _xstatus  # noqa: E402

PLAIN = "#!/bin/sh\nexec sleep 100000\n"
JOB = "#!/bin/sh\ndate +%s.%N >> fired\n"


def make(path, run, schedule=None):
    os.makedirs(path)
    with open(os.path.join(path, "run"), "w") as f:
        f.write(run)
    os.chmod(os.path.join(path, "run"), 0o755)
    if schedule:
        with open(os.path.join(path, "schedule"), "w") as f:
            f.write(schedule + "\n")


def start(svscan, path, scan):
    return subprocess.Popen([svscan, scan], env={"PATH": path}, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)


def stop(p):
    try:
        os.killpg(p.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    p.wait()


def children(pid):
    with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
        return [int(x) for x in f.read().split()]


def pss(pid):
    try:
        with open("/proc/%d/smaps_rollup" % pid) as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def wait(pred, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.05)
    raise SystemExit("bench: timed out waiting for " + what)


def xstatus(d):
    try:
        with open(os.path.join(d, "supervise", "xstatus"), "rb") as f:
            return _xstatus.unpack(f.read())
    except (OSError, ValueError):
        return None


def memory(label, svscan, path, run, schedule, n=100):
    tmp = tempfile.mkdtemp(prefix="bench-schedule-")
    try:
        scan = os.path.join(tmp, "scan")
        dirs = [os.path.join(scan, "s%d" % i) for i in range(n)]
        for d in dirs:
            make(d, run, schedule)
        p = start(svscan, path, scan)
        try:
            if schedule:
                wait(lambda: all((xstatus(d) or {}).get("next_fire") for d in dirs), 120,
                     "every schedule to be computed")
            else:
                wait(lambda: len(children(p.pid)) >= n and all(
                    os.path.exists(os.path.join(d, "supervise", "status")) for d in dirs), 60,
                     "supervisors")
            time.sleep(2)
            kids = children(p.pid)
            per = sum(pss(k) for k in kids) / len(kids) / 1024
            print("%-44s %6.2f MiB PSS per supervise (%d)" % (label, per, len(kids)))
        finally:
            stop(p)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def fire(minutes, jobs=20):
    tmp = tempfile.mkdtemp(prefix="bench-schedule-")
    try:
        scan = os.path.join(tmp, "scan")
        dirs = [os.path.join(scan, "j%d" % i) for i in range(jobs)]
        for d in dirs:
            make(d, JOB, "* * * * *")
        p = start(os.path.join(OURS, "svscan"), OURS + ":/usr/bin:/bin", scan)
        try:
            wait(lambda: all((xstatus(d) or {}).get("next_fire") for d in dirs), 60, "schedules")
            first = xstatus(dirs[0])["next_fire"]
            end = first + 60 * (minutes - 1)
            wait(lambda: all(os.path.exists(os.path.join(d, "fired")) and
                             len(open(os.path.join(d, "fired")).read().split()) >= minutes
                             for d in dirs), end - time.time() + 30, "firings")
            time.sleep(0.5)
            forks, runs = [], []
            for d in dirs:
                with open(os.path.join(d, "supervise", "exits"), "rb") as f:
                    for at, pid, code, sig, ran in _xstatus.unpack_exits(f.read()):
                        forks.append(((at - ran) % 60) * 1000)
                with open(os.path.join(d, "fired")) as f:
                    runs += [(float(t) % 60) * 1000 for t in f.read().split()]
            for label, xs in (("supervise started ./run (exit history)", forks),
                              ("./run's first command (date)", runs)):
                print("%-44s median %6.1f ms  max %6.1f ms  (%d firings; target median < 100 ms)"
                      % (label, statistics.median(xs), max(xs), len(xs)))
        finally:
            stop(p)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    minutes, jobs = 1, 20
    if "--minutes" in argv:
        minutes = int(argv[argv.index("--minutes") + 1])
    if "--jobs" in argv:
        jobs = int(argv[argv.index("--jobs") + 1])
    modes = [a for a in argv if a in ("mem", "fire")] or ["mem", "fire"]
    if "mem" in modes:
        memory("ours, plain services", os.path.join(OURS, "svscan"), OURS + ":/usr/bin:/bin",
               PLAIN, None)
        memory("ours, each with schedule (0 0 1 1 *)", os.path.join(OURS, "svscan"),
               OURS + ":/usr/bin:/bin", JOB, "0 0 1 1 *")
        if os.path.exists("/usr/bin/svscan"):
            memory("C daemontools, plain services", "/usr/bin/svscan", "/usr/bin:/bin", PLAIN, None)
    if "fire" in modes:
        fire(minutes, jobs)


if __name__ == "__main__":
    main()
