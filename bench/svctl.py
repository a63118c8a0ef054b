#!/usr/bin/env python3
"""svctl bench: the issue's three targets, with the C tools side by side.

    .venv/bin/python bench/svctl.py [-n TRIALS] [status|stop|tail ...]

status  100 services (`exec sleep`) under our svscan, settled: median wall
        of `svctl status` (and --json, and with a logger per service) next
        to one `svstat` of the same directories, ours and Debian's C one, in
        alternating order; targets: <= 60 ms, <= 5x svstat.
stop    a service that ignores TERM, with timeout-kill 500: wall time of
        `svctl stop` (exit 0 expected) under our supervise (which kills by
        itself) and under Debian's C supervise (svctl sends the KILL);
        target: <= 700 ms.
tail    `svctl tail -f` of a log written by our multilog (and by C
        multilog): median delay from the writer's write to the line read
        from svctl's stdout (one line every 20 ms); then a 20 MB/s writer
        for 50 rotations (multilog s1000000 n10), every line numbered,
        counted at the other end; targets: <= 100 ms, no line lost.

Targets are printed, never enforced.
"""

import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, ".venv", "bin")
DEVNULL = open(os.devnull, "w")


def ours(name):
    return os.path.join(BIN, name)


def wall(argv, **kw):
    t0 = time.perf_counter()
    cp = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **kw)
    return (time.perf_counter() - t0) * 1000, cp.returncode


def write(path, text, mode=0o755):
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, mode)


def wait(pred, timeout=60):
    end = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > end:
            raise SystemExit("bench: timed out")
        time.sleep(0.05)


def up_count(scan, names):
    sys.path.insert(0, ROOT)
    from svtools import _svinfo
    n = 0
    for name in names:
        s = _svinfo.read(os.path.join(scan, name), usage=False)
        n += s["state"] == "up" and (s["log"] is None or s["log"]["state"] == "up")
    return n


def bench_status(trials, tmp, logs):
    scan = os.path.join(tmp, "scan%s" % ("-logs" if logs else ""))
    os.mkdir(scan)
    names = ["svc%03d" % i for i in range(100)]
    for name in names:
        os.mkdir(os.path.join(scan, name))
        write(os.path.join(scan, name, "run"), "#!/bin/sh\nexec sleep 100000\n")
        if logs:
            os.mkdir(os.path.join(scan, name, "log"))
            write(os.path.join(scan, name, "log", "run"), "#!/bin/sh\nexec cat > /dev/null\n")
    p = subprocess.Popen([ours("svscan"), scan], stdout=DEVNULL, stderr=DEVNULL, start_new_session=True)
    try:
        wait(lambda: up_count(scan, names) == 100, 120)
        time.sleep(2.5)  # older than the crash-loop window
        dirs = [os.path.join(scan, n) for n in names]
        if logs:
            dirs += [d + "/log" for d in dirs]
        cases = {
            "svctl status": [ours("svctl"), "-d", scan, "status"],
            "svctl status --json": [ours("svctl"), "-d", scan, "status", "--json"],
            "svstat (ours)": [ours("svstat")] + dirs,
            "svstat (C)": ["/usr/bin/svstat"] + dirs,
        }
        times = {k: [] for k in cases}
        codes = {}
        for i in range(trials):
            order = list(cases.items())
            if i % 2:
                order.reverse()
            for k, argv in order:
                ms, code = wall(argv)
                times[k].append(ms)
                codes[k] = code
        med = {k: statistics.median(v) for k, v in times.items()}
        title = "100 services%s" % (" + 100 loggers (200 dirs for svstat)" if logs else "")
        print("\n== status: %s, median wall ms of %d runs" % (title, trials))
        for k in cases:
            print("  %-22s %7.1f ms   exit %s" % (k, med[k], codes[k]))
        print("  svctl / svstat (ours) %6.2fx   svctl / svstat (C) %6.2fx   (target <= 60 ms, <= 5x)"
              % (med["svctl status"] / med["svstat (ours)"], med["svctl status"] / med["svstat (C)"]))
    finally:
        os.killpg(p.pid, signal.SIGKILL)
        p.wait()


def bench_stop(trials, tmp):
    print("\n== stop: TERM ignored, timeout-kill 500 (wall ms of `svctl stop`; target <= 700 ms, exit 0)")
    for impl, exe in (("ours", ours("supervise")), ("C", "/usr/bin/supervise")):
        base = os.path.join(tmp, "stop-" + impl)
        d = os.path.join(base, "stubborn")
        os.makedirs(d)
        write(os.path.join(d, "run"), "#!/bin/sh\ntrap '' TERM\nexec sleep 100000\n")
        write(os.path.join(d, "timeout-kill"), "500\n", 0o644)
        p = subprocess.Popen([exe, "stubborn"], cwd=base, stdout=DEVNULL, stderr=DEVNULL,
                             start_new_session=True)
        try:
            times, codes = [], set()
            for _ in range(trials):
                subprocess.run([ours("svctl"), "-d", base, "start", "stubborn"], stdout=DEVNULL)
                time.sleep(1.1)  # C supervise: one start per second
                ms, code = wall([ours("svctl"), "-d", base, "stop", "stubborn"])
                times.append(ms)
                codes.add(code)
            print("  %-6s supervise: median %6.1f ms  max %6.1f ms  exits %s"
                  % (impl, statistics.median(times), max(times), sorted(codes)))
        finally:
            subprocess.run([ours("svc"), "-dx", d], stdout=DEVNULL)
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()


class Logger:
    def __init__(self, tmp, name, exe, script):
        self.svc = os.path.join(tmp, "tail", name)
        self.log = os.path.join(self.svc, "log")
        os.makedirs(self.log)
        write(os.path.join(self.log, "run"), "#!/bin/sh\nexec %s %s\n" % (exe, script))
        self.proc = subprocess.Popen([exe] + script.split(), cwd=self.log, stdin=subprocess.PIPE,
                                     stderr=DEVNULL, start_new_session=True)
        wait(lambda: os.path.exists(os.path.join(self.log, "main", "current")))

    def follow(self):
        self.tail = subprocess.Popen([ours("svctl"), "-d", os.path.dirname(self.svc), "tail", "-f",
                                      "-n", "0", "--no-prefix", os.path.basename(self.svc)],
                                     stdout=subprocess.PIPE, start_new_session=True)
        time.sleep(1.0)  # let it start and set its watches

    def stop(self):
        for p in (self.tail, self.proc):
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()


def bench_tail(trials, tmp):
    print("\n== tail -f: latency (median of %d lines, one per 20 ms) and loss at 20 MB/s over 50 rotations"
          % (trials * 10))
    for impl, exe in (("ours", ours("multilog")), ("C", "/usr/bin/multilog")):
        lg = Logger(tmp, "lat-" + impl, exe, "t ./main")
        lg.follow()
        delays = []
        for i in range(trials * 10):
            sent = time.perf_counter()
            lg.proc.stdin.write(b"line %d\n" % i)
            lg.proc.stdin.flush()
            got = lg.tail.stdout.readline()
            delays.append((time.perf_counter() - sent) * 1000)
            assert got.endswith(b"line %d\n" % i), got
            time.sleep(0.02)
        lg.stop()
        print("  %-4s multilog: latency median %5.1f ms  p90 %5.1f ms  (target <= 100 ms)"
              % (impl, statistics.median(delays), sorted(delays)[int(len(delays) * 0.9)]))

        lg = Logger(tmp, "rot-" + impl, exe, "s1000000 n10 ./main")
        lg.follow()
        out = os.path.join(tmp, "tail-out-" + impl)
        counter = subprocess.Popen([sys.executable, "-c", COUNT, out], stdin=lg.tail.stdout)
        line = 100
        total = 50 * 1000000 // line + 1000
        chunk = 20 * 1024 * 1024 // 100  # bytes per 10 ms at 20 MB/s
        seq = 0
        t0 = time.perf_counter()
        while seq < total:
            buf = []
            size = 0
            while size < chunk and seq < total:
                text = b"%09d " % seq
                buf.append(text + b"x" * (line - len(text) - 1) + b"\n")
                size += line
                seq += 1
            lg.proc.stdin.write(b"".join(buf))
            lg.proc.stdin.flush()
            due = t0 + seq * line / (20 * 1024 * 1024)
            if due > time.perf_counter():
                time.sleep(due - time.perf_counter())
        rate = seq * line / (time.perf_counter() - t0) / 1e6
        lg.proc.stdin.close()
        wait(lambda: _count(out) >= seq or time.perf_counter() - t0 > 120, 180)
        time.sleep(1)
        lg.stop()
        counter.wait()
        rotations = len([n for n in os.listdir(os.path.join(lg.log, "main")) if n.startswith("@")])
        got = _count(out)
        with open(out + ".bad") as f:
            bad = f.read().strip()
        print("  %-4s multilog: wrote %d lines at %.1f MB/s (about %d rotations, %d kept with n10);"
              " tail -f printed %d, out of order or repeated: %s"
              % (impl, seq, rate, seq * line // 1000000, rotations, got, bad))


COUNT = """
import sys
n = 0
bad = 0
nxt = 0
for line in sys.stdin.buffer:
    try:
        k = int(line.split()[0])
    except (ValueError, IndexError):
        bad += 1
        continue
    if k != nxt:
        bad += 1
    nxt = k + 1
    n += 1
    if n % 10000 == 0:
        open(sys.argv[1], "w").write(str(n))
open(sys.argv[1], "w").write(str(n))
open(sys.argv[1] + ".bad", "w").write(str(bad))
"""


def _count(path):
    try:
        with open(path) as f:
            return int(f.read() or 0)
    except (OSError, ValueError):
        return 0


def main():
    args = sys.argv[1:]
    trials = 20
    if args[:1] == ["-n"]:
        trials = int(args[1])
        args = args[2:]
    which = args or ["status", "stop", "tail"]
    with tempfile.TemporaryDirectory(prefix="bench-svctl-") as tmp:
        if "status" in which:
            bench_status(trials, tmp, False)
            bench_status(trials, tmp, True)
        if "stop" in which:
            bench_stop(max(3, trials // 4), tmp)
        if "tail" in which:
            bench_tail(trials, tmp)


if __name__ == "__main__":
    main()
