#!/usr/bin/env python3
"""Log throughput: svtools multilog side by side with the C loggers.

Feeds the same deterministic log (lines of 40 to 200 bytes) through a pipe
into each logger, `t s16777215 n5 ./dir` with and without stamps, and
reports MB/s of input, CPU seconds and peak RSS of the logger, and our
speed as a multiple of C multilog's in the same run.  For both multilogs it
checks that what the directory keeps (n5: the last four archives and
current), stamps removed, is exactly the end of the input, and that ours cut
its files at the same sizes as C's.

    .venv/bin/python bench/multilog.py            # 200 MB, as in the issue
    .venv/bin/python bench/multilog.py --mb 20    # a quick run
    .venv/bin/python bench/multilog.py --rss      # peak memory on hostile input
    .venv/bin/python bench/multilog.py --gzip     # writer stalls while compressing

The main run also has `T` rows (ours, s6-log's T, svlogd -tt), compared with
C multilog's `t`.

C multilog comes from Debian's daemontools, svlogd from runit and s6-log
from s6 (`apt-get install daemontools runit s6`); missing ones are skipped.
"""

import gc
import os
import random
import re
import shutil
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
OURS = os.path.join(os.path.dirname(sys.executable), "multilog")
if not os.path.exists(OURS):
    OURS = os.path.join(HERE, "..", ".venv", "bin", "multilog")


def make_input(path, mb):
    """MB megabytes of lines of 40..200 bytes, the same on every run."""
    rng = random.Random(4)
    words = [b"".join(bytes([rng.randrange(97, 123)]) for _ in range(rng.randrange(2, 12)))
             for _ in range(500)]
    block = []
    for i in range(20000):
        n = rng.randrange(40, 201) - 1
        line = b"%07d %s" % (i, b" ".join(rng.choice(words) for _ in range(30)))
        block.append(line[:n].ljust(n, b"x") + b"\n")
    block = b"".join(block)
    lines = 0
    with open(path, "wb") as f:
        left = mb * 1000000
        while left > 0:
            chunk = block[:left]
            if len(chunk) < len(block):
                chunk = chunk[:chunk.rfind(b"\n") + 1]
                chunk += b"x" * (left - len(chunk) - 1) + b"\n"
            f.write(chunk)
            lines += chunk.count(b"\n")
            left -= len(chunk)
    return os.path.getsize(path), lines


def loggers(work):
    """(name, stamp, argv): stamp is "t" (TAI64N), "T" (human, local or UTC) or "-"."""
    found = []
    c_multilog = shutil.which("multilog", path="/usr/bin:/usr/local/bin")
    s6log = shutil.which("s6-log")
    svlogd = shutil.which("svlogd")
    for stamp in ("t", "T", "-"):
        t = [] if stamp == "-" else [stamp]
        found.append(("svtools multilog", stamp, [OURS] + t + ["s16777215", "n5", "./dir"]))
        if c_multilog and stamp != "T":
            found.append(("C multilog", stamp, [c_multilog] + t + ["s16777215", "n5", "./dir"]))
        if s6log:
            found.append(("s6-log", stamp, [s6log] + t + ["s16777215", "n5", "./dir"]))
        if svlogd:
            flag = {"t": ["-t"], "T": ["-tt"], "-": []}[stamp]
            found.append(("svlogd", stamp, [svlogd] + flag + ["dir"]))
    return found


def run_one(argv, infile, work, svlogd):
    d = os.path.join(work, "dir")
    shutil.rmtree(d, ignore_errors=True)
    os.mkdir(d)
    if svlogd:
        with open(os.path.join(d, "config"), "w") as f:
            f.write("s16777215\nn5\n")
    r, w = os.pipe()
    start = time.monotonic()
    feeder = os.fork()
    if feeder == 0:
        os.close(r)
        os.dup2(w, 1)
        os.execvp("cat", ["cat", infile])
    gate_r, gate_w = os.pipe()  # close-on-exec: EOF once the logger runs
    logger = os.fork()
    if logger == 0:
        os.close(gate_r)
        os.close(w)
        os.dup2(r, 0)
        os.chdir(work)
        os.execv(argv[0], argv)
    os.close(r)
    os.close(w)
    os.close(gate_w)
    os.read(gate_r, 1)
    os.close(gate_r)
    hwm = 0
    while True:
        # ru_maxrss would count this process's memory, copied at fork time;
        # the logger's own high-water mark is in /proc until it exits.
        hwm = max(hwm, _vmhwm(logger))
        pid, status, ru = os.wait4(logger, os.WNOHANG)
        if pid:
            break
        time.sleep(0.01)
    wall = time.monotonic() - start
    os.waitpid(feeder, 0)
    files = sorted(n for n in os.listdir(d) if n.startswith("@")) + ["current"]
    sizes = [os.path.getsize(os.path.join(d, n)) for n in files]
    return wall, ru.ru_utime + ru.ru_stime, hwm / 1024.0, (d, files, sizes), status


STAMP = re.compile(rb"(?m)^(@[0-9a-f]{24} |\d{4}-\d\d-\d\dT[0-9:.]{15}[+-]\d\d:\d\d )")


def kept_is_tail(kept, infile):
    """The files of the log directory, stamps removed, end the input exactly."""
    d, files, _ = kept
    data = b"".join(open(os.path.join(d, n), "rb").read() for n in files)
    data = STAMP.sub(b"", data)
    with open(infile, "rb") as f:
        f.seek(-len(data), 2)
        return f.read() == data


def _vmhwm(pid):
    """Peak resident set of PID in kB, 0 if it is gone."""
    try:
        with open("/proc/%d/status" % pid, "rb") as f:
            for line in f:
                if line.startswith(b"VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def rss_cases(work):
    """Peak RSS of our multilog on hostile input, read from /proc while it waits."""
    big = b"x" * 1000000
    lines = (b"y" * 99 + b"\n") * 10000
    cases = [
        ("100 MB line without newline, t", ["t"], big, 100, 100000000 + 26),
        ("100 MB line, t -* e", ["t", "-*", "e", "+*"], big, 100, 100000000 + 26),
        ("1 GB of 100-byte lines, t", ["t"], lines, 1000, 1260000000),
        ("300 MB of random bytes, t", ["t"], random.Random(5).randbytes(1000000), 300, None),
        ("10 MB of empty lines, t -*Z", ["t", "-*Z"], b"\n" * 1000000, 10, 270000000),
    ]
    print("%-34s %8s %8s" % ("input", "RSS MB", "secs"))
    for name, args, chunk, count, expect in cases:
        d = os.path.join(work, "dir")
        shutil.rmtree(d, ignore_errors=True)
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(w)
            os.dup2(r, 0)
            fd = os.open(os.devnull, os.O_WRONLY)
            os.dup2(fd, 2)
            os.execv(OURS, [OURS] + args + ["s16777215", "n200", d])
        os.close(r)
        start = time.monotonic()
        for _ in range(count):
            os.write(w, chunk)
        if expect is None:  # end the last line, so that all of it is written
            os.write(w, b"\n")
            expect = len(chunk) * count + 1 + 26 * (chunk.count(b"\n") * count + 1)
        while True:  # everything written: the logger now waits for input
            got = sum(os.path.getsize(os.path.join(d, n)) for n in os.listdir(d)
                      if n.startswith("@") or n == "current")
            if got >= expect:
                break
            time.sleep(0.02)
        secs = time.monotonic() - start
        print("%-34s %8.1f %8.1f" % (name, _vmhwm(pid) / 1024.0, secs))
        os.close(w)
        os.waitpid(pid, 0)


def stall_case(work, name, argv, prepare, done, secs_max=120):
    """Largest write latency of a paced writer while the logger compresses.

    The writer sends 4 kB of 100-byte lines every millisecond (4 MB/s) into
    the logger's pipe (64 kB of buffer), from before the compression starts
    until it has finished; a write only waits when the logger stops reading.
    """
    d = os.path.join(work, "dir")
    shutil.rmtree(d, ignore_errors=True)
    os.mkdir(d)
    prepare(d)
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(w)
        os.dup2(r, 0)
        fd = os.open(os.devnull, os.O_WRONLY)
        os.dup2(fd, 1)
        os.chdir(work)
        os.execv(argv[0], argv)
    os.close(r)
    chunk = (b"x" * 99 + b"\n") * 40
    worst = 0.0
    start = time.monotonic()
    gc_was = gc.isenabled()
    gc.disable()
    try:
        next_at = time.perf_counter()
        while time.monotonic() - start < secs_max:
            t0 = time.perf_counter()
            os.write(w, chunk)
            worst = max(worst, time.perf_counter() - t0)
            if done(d) and time.monotonic() - start > 0.5:
                break
            next_at += 0.001
            delay = next_at - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
    finally:
        if gc_was:
            gc.enable()
    took = time.monotonic() - start
    os.close(w)
    os.waitpid(pid, 0)
    print("%-40s %10.1f %8.1f" % (name, worst * 1000, took))


def gzip_stalls(work):
    """Writer stalls while archives are compressed: ours (z, !gzip), C's !gzip, s6-log's ?gzip."""
    c_multilog = shutil.which("multilog", path="/usr/bin:/usr/local/bin")
    s6log = shutil.which("s6-log")
    big = os.path.join(work, "big")
    make_input(big, 100)  # log-like lines: gzip takes them to about a third
    with open(big, "rb") as f:
        head = f.read(16777215 - 3000)
    head = head[:head.rfind(b"\n") + 1]

    def archive100(d):  # a 100 MB archive waiting for z at start-up
        os.link(big, os.path.join(d, "@400000006b00000000000000.s"))

    def nearly_full(d):  # a clean current about 3000 bytes short of s16777215
        with open(os.path.join(d, "current"), "wb") as f:
            f.write(head)
        os.chmod(os.path.join(d, "current"), 0o744)
        open(os.path.join(d, "state"), "wb").close()  # made by recovery, which a clean current skips

    def gz_done(n):
        return lambda d: any(x.endswith(".gz") for x in os.listdir(d)) and not os.path.exists(
            os.path.join(d, "gzip.new"))

    def processed(d):
        names = os.listdir(d)
        return any(x.startswith("@") for x in names) and "previous" not in names and "processed" not in names

    def archived(d):
        return any(x.startswith("@") for x in os.listdir(d))

    print("%-40s %10s %8s" % ("logger, compression", "worst ms", "secs"))
    stall_case(work, "svtools multilog z, 100 MB archive", [OURS, "z", "./dir"], archive100, gz_done(1))
    stall_case(work, "svtools multilog z, 16 MB rotation", [OURS, "s16777215", "z", "./dir"],
               nearly_full, gz_done(1))
    stall_case(work, "svtools multilog !gzip, 16 MB rotation", [OURS, "s16777215", "!gzip", "./dir"],
               nearly_full, processed)
    stall_case(work, "svtools multilog, 16 MB rotation, no gzip", [OURS, "s16777215", "./dir"],
               nearly_full, archived)
    if c_multilog:
        stall_case(work, "C multilog, 16 MB rotation, no gzip", [c_multilog, "s16777215", "./dir"],
                   nearly_full, archived)
        stall_case(work, "C multilog !gzip, 16 MB rotation", [c_multilog, "s16777215", "!gzip", "./dir"],
                   nearly_full, processed)
    if s6log:
        stall_case(work, "s6-log ?gzip, 16 MB rotation", [s6log, "s16777215", "?gzip", "./dir"],
                   nearly_full, processed)


def main(argv):
    if "--gzip" in argv:
        work = tempfile.mkdtemp(prefix="svtools-bench-")
        try:
            gzip_stalls(work)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        return 0
    if "--rss" in argv:
        work = tempfile.mkdtemp(prefix="svtools-bench-")
        try:
            rss_cases(work)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        return 0
    mb = 200
    if "--mb" in argv:
        mb = int(argv[argv.index("--mb") + 1])
    work = tempfile.mkdtemp(prefix="svtools-bench-")
    try:
        infile = os.path.join(work, "input")
        size, lines = make_input(infile, mb)
        print("input: %.1f MB, %d lines (%d..%d bytes each)" % (size / 1e6, lines, 40, 200))
        print("%-18s %-6s %8s %8s %9s %8s  %s" % ("logger", "stamps", "MB/s", "CPU s", "RSS MB", "vs C", "check"))
        c_rate = {}
        sizes = {}
        rows = []
        for name, stamp, cmd in loggers(work):
            wall, cpu, rss, kept, status = run_one(cmd, infile, work, name == "svlogd")
            rate = size / 1e6 / wall
            if name == "C multilog":
                c_rate[stamp] = rate
            ok = "%d bytes kept" % sum(kept[2])
            if name.endswith("multilog"):
                sizes[name, stamp] = kept[2]
                ok = "tail ok" if status == 0 and kept_is_tail(kept, infile) else "LOST/EXTRA"
                if name == "C multilog":
                    same = kept[2] == sizes.get(("svtools multilog", stamp))
                    ok += ", file sizes %s ours" % ("==" if same else "!=")
            rows.append((name, stamp, rate, cpu, rss, ok))
        for name, stamp, rate, cpu, rss, ok in rows:
            # T has no C counterpart: it is compared with C's t (the target)
            base = c_rate.get("t" if stamp == "T" else stamp)
            ratio = "%.2fx" % (rate / base) if base else "-"
            print("%-18s %-6s %8.1f %8.2f %9.1f %8s  %s" % (name, stamp, rate, cpu, rss, ratio, ok))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
