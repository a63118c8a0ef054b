"""svscan benchmarks, ours beside C daemontools: pickup, memory, scale, idle.

    .venv/bin/python bench/svscan.py [pickup|memory|scale|idle|shutdown|restart ...] [--quick]
                                     [--tree DIR]

pickup  symlink into the scan dir -> first command of ./run, 10 trials at
        random moments (median, max)
memory  PSS per service with 100 services, svscan and every supervise counted;
        its anonymous part (Pss_Anon: the libraries' file pages, whose
        shares move with every other process that maps them, left out)
scale   1,000 services: svscan start -> every ./run started; PSS per service
idle    context switches per second of svscan and all supervise processes
        over 20 s with 100 idle services
shutdown  100 services, each writing numbers to its multilog as fast as it
        can: SIGTERM to svscan -> every process gone; lines lost (the
        service notes the last number it wrote when TERM comes), duplicated
restart 100 services writing to loggers as above; svscan SIGKILLed and
        started again: services started twice, warnings in 6 s, pickup of a
        new service; then SIGTERM: lines lost or duplicated across it all
--tree DIR adds "tree", the svtools of another checkout (DIR/.venv/bin),
taking turns with ours and C: main against a branch in one run.
Each figure comes from one run; it is printed, never asserted.
"""

import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

from svtools import _proc

HERE = os.path.dirname(os.path.abspath(__file__))
OURS = os.path.join(os.path.dirname(HERE), ".venv", "bin")
IMPLS = {"ours": [os.path.join(OURS, "svscan")], "C": ["/usr/bin/svscan"]}
ENVS = {"ours": OURS + ":/usr/bin:/bin", "C": "/usr/bin:/bin"}
RUN = "#!/bin/sh\ndate +%s.%N > started\nexec sleep 100000\n"


def make_service(path):
    os.makedirs(path)
    with open(os.path.join(path, "run"), "w") as f:
        f.write(RUN)
    os.chmod(os.path.join(path, "run"), 0o755)


def start(impl, scandir):
    return subprocess.Popen(IMPLS[impl] + [scandir], env={"PATH": ENVS[impl]},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)


def descendants(root):
    """Pids below ROOT in the process tree, from /proc (parents first)."""
    children = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % name, "rb") as f:
                data = f.read()
        except OSError:
            continue
        ppid = int(data[data.rindex(b")") + 2:].split()[1])
        children.setdefault(ppid, []).append(int(name))
    out, todo = [], [root]
    while todo:
        for pid in children.get(todo.pop(), ()):
            out.append(pid)
            todo.append(pid)
    return out


def stop(p):
    # Services with process-group lead sessions of their own: the group
    # kill below would miss them, so every descendant goes by pid first.
    below = descendants(p.pid)
    try:
        os.killpg(p.pid, signal.SIGSTOP)
    except ProcessLookupError:
        pass
    for pid in below + descendants(p.pid):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    try:
        os.killpg(p.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    p.wait()


def _written(path):
    """The file exists and date has written its line (one write)."""
    try:
        return os.path.getsize(path) > 0
    except OSError:
        return False


def wait_started(dirs, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all(_written(os.path.join(d, "started")) for d in dirs):
            return time.monotonic()
        time.sleep(0.01)
    raise SystemExit("bench: services did not start within %ds" % timeout)


def supervisors(p):
    with open("/proc/%d/task/%d/children" % (p.pid, p.pid)) as f:
        return [p.pid] + [int(x) for x in f.read().split()]


def field(pid, path, name):
    try:
        with open("/proc/%d/%s" % (pid, path)) as f:
            for line in f:
                if line.startswith(name):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def pss_per_service(p, n):
    return sum(field(pid, "smaps_rollup", "Pss:") for pid in supervisors(p)) / n / 1024


def with_services(impl, n, fn):
    tmp = tempfile.mkdtemp(prefix="bench-svscan-")
    try:
        scan = os.path.join(tmp, "scan")
        dirs = [os.path.join(scan, "s%d" % i) for i in range(n)]
        for d in dirs:
            make_service(d)
        t0 = time.monotonic()
        p = start(impl, scan)
        try:
            return fn(p, dirs, t0)
        finally:
            stop(p)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def pickup(impl, quick):
    tmp = tempfile.mkdtemp(prefix="bench-svscan-")
    scan = os.path.join(tmp, "scan")
    os.makedirs(scan)
    p = start(impl, scan)
    lat = []
    try:
        time.sleep(0.5)
        for i in range(5 if quick else 10):
            d = os.path.join(tmp, "svc%d" % i)
            make_service(d)
            time.sleep(random.uniform(0, 5.0))
            t = time.time()
            os.symlink(d, os.path.join(scan, "svc%d" % i))
            wait_started([d], 15)
            with open(os.path.join(d, "started")) as f:
                lat.append(float(f.read()) - t)
    finally:
        stop(p)
        shutil.rmtree(tmp, ignore_errors=True)
    return "pickup median %.1f ms, max %.1f ms (%d trials)" % (
        statistics.median(lat) * 1000, max(lat) * 1000, len(lat))


def title(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return f.read().split(b"\0")[0]
    except OSError:
        return b""


def memory(impl, quick):
    def fn(p, dirs, t0):
        wait_started(dirs, 60)
        time.sleep(1)
        pids = supervisors(p)
        pss = {pid: field(pid, "smaps_rollup", "Pss:") for pid in pids}
        anon = sum(field(pid, "smaps_rollup", "Pss_Anon:") for pid in pids)
        other = [pss[pid] for pid in pids[1:] if not title(pid).startswith(b"supervise")]
        return ("memory %.2f MiB PSS per service (100 services): %.0f KiB (anonymous %.0f); "
                "the scanner %d KiB, %d other children %d KiB" % (
                    sum(pss.values()) / 100 / 1024, sum(pss.values()) / 100, anon / 100,
                    pss[p.pid], len(other), sum(other)))
    return with_services(impl, 100, fn)


def scale(impl, quick):
    n = 200 if quick else 1000

    def fn(p, dirs, t0):
        t = wait_started(dirs, 120) - t0
        time.sleep(1)
        return "scale %d services all started in %.2f s, %.2f MiB PSS per service" % (
            n, t, pss_per_service(p, n))
    return with_services(impl, n, fn)


def idle(impl, quick):
    span = 5 if quick else 20

    def fn(p, dirs, t0):
        wait_started(dirs, 60)
        time.sleep(2)
        pids = supervisors(p)

        def switches():
            return sum(field(pid, "status", "voluntary_ctxt_switches:")
                       + field(pid, "status", "nonvoluntary_ctxt_switches:") for pid in pids)
        a = switches()
        time.sleep(span)
        return "idle %.2f context switches/s over %d s (100 services, %d processes)" % (
            (switches() - a) / span, span, len(pids))
    return with_services(impl, 100, fn)


NUMBERS = ("#!/bin/sh\ntrap 'echo $i > last; exit 0' TERM\n"
           "i=-1; while echo $((i=i+1)); do :; done\n")
LOGRUN = "#!/bin/sh\nexec %s s16777215 ./main\n"
MULTILOG = {"ours": os.path.join(OURS, "multilog"), "C": "/usr/bin/multilog"}


def make_logged(path, impl, run=NUMBERS):
    os.makedirs(os.path.join(path, "log"))
    for name, body in (("run", run), ("log/run", LOGRUN % MULTILOG[impl])):
        with open(os.path.join(path, name), "w") as f:
            f.write(body)
        os.chmod(os.path.join(path, name), 0o755)


def session(sid):
    out = []
    for task in os.listdir("/proc"):
        st = task.isdigit() and _proc.stat(int(task))
        if st and st[3] == sid and st[0] not in (b"Z", b"X"):
            out.append(int(task))
    return out


def logged(d):
    main = os.path.join(d, "log", "main")
    data = b""
    for name in sorted(os.listdir(main)):
        if name.startswith("@") or name == "current":
            with open(os.path.join(main, name), "rb") as f:
                data += f.read()
    return [int(x) for x in data.split()]


def lines(dirs):
    """(lines lost, lines logged twice) over DIRS, from NUMBERS services."""
    lost = dup = 0
    for d in dirs:
        got = logged(d)
        dup += len(got) - len(set(got))
        with open(os.path.join(d, "last")) as f:
            last = int(f.read())
        lost += (last + 1) - len(set(got))
    return lost, dup


def shutdown(impl, quick):
    n = 20 if quick else 100
    tmp = tempfile.mkdtemp(prefix="bench-svscan-")
    scan = os.path.join(tmp, "scan")
    dirs = [os.path.join(scan, "n%d" % k) for k in range(n)]
    for d in dirs:
        make_logged(d, impl)
    p = start(impl, scan)
    try:
        deadline = time.monotonic() + 60
        while not all(os.path.exists(os.path.join(d, "log", "main", "current"))
                      and os.path.getsize(os.path.join(d, "log", "main", "current")) > 0
                      for d in dirs):
            if time.monotonic() > deadline:
                raise SystemExit("bench: loggers did not start")
            time.sleep(0.05)
        time.sleep(1)
        t0 = time.monotonic()
        p.send_signal(signal.SIGTERM)
        while session(p.pid) and time.monotonic() < t0 + 15:
            time.sleep(0.005)
        took = time.monotonic() - t0
        left = len(session(p.pid))
        if left:
            return "shutdown: svscan exit %s, %d processes still running after %.0f s" % (
                p.poll(), left, took)
        lost, dup = lines(dirs)
        return "shutdown %d services + loggers: all gone in %.2f s, exit %s, %d lines lost, %d duplicated" % (
            n, took, p.poll(), lost, dup)
    finally:
        stop(p)
        shutil.rmtree(tmp, ignore_errors=True)


def restart(impl, quick):
    n = 20 if quick else 100
    tmp = tempfile.mkdtemp(prefix="bench-svscan-")
    scan = os.path.join(tmp, "scan")
    dirs = [os.path.join(scan, "s%d" % k) for k in range(n)]
    for d in dirs:
        make_logged(d, impl, NUMBERS.replace("trap", "echo $$ >> started\ntrap"))
    p = start(impl, scan)
    q = None
    try:
        wait_started(dirs, 60)
        time.sleep(1)
        p.kill()                  # svscan alone; its tree lives on
        p.wait()
        err = os.path.join(tmp, "err")
        with open(err, "wb") as f:
            q = subprocess.Popen(IMPLS[impl] + [scan], env={"PATH": ENVS[impl]},
                                 stdout=f, stderr=f, start_new_session=True)
        time.sleep(0.5)
        lat = []
        for k in range(3 if quick else 5):
            d = os.path.join(tmp, "new%d" % k)
            make_service(d)
            time.sleep(random.uniform(0, 1.0))
            t = time.time()
            os.symlink(d, os.path.join(scan, "new%d" % k))
            wait_started([d], 15)
            with open(os.path.join(d, "started")) as f:
                lat.append(float(f.read()) - t)
        time.sleep(max(0, 6.5 - 0.5 - sum(lat)))
        twice = 0
        for d in dirs:
            with open(os.path.join(d, "started")) as f:
                twice += len(f.read().split()) - 1
        with open(err, "rb") as f:
            warnings = f.read().count(b"\n")
        report = "restart after SIGKILL, %d services + loggers: %d started twice, %d warnings in 6 s, " \
            "pickup median %.1f ms, max %.1f ms" % (n, twice, warnings, statistics.median(lat) * 1000,
                                                    max(lat) * 1000)
        if impl == "C":
            return report + "; lines: n/a (C svscan cannot stop the tree)"
        q.send_signal(signal.SIGTERM)          # lines across the restart, then the shutdown
        t0 = time.monotonic()
        while (session(p.pid) or session(q.pid)) and time.monotonic() < t0 + 15:
            time.sleep(0.01)
        lost, dup = lines(dirs)
        return report + "; then SIGTERM: %d lines lost, %d duplicated" % (lost, dup)
    finally:
        for x in (p, q):
            if x is not None:
                stop(x)
        shutil.rmtree(tmp, ignore_errors=True)


def add_tree(where):
    bin_dir = os.path.join(os.path.abspath(where), ".venv", "bin")
    IMPLS["tree"] = [os.path.join(bin_dir, "svscan")]
    ENVS["tree"] = bin_dir + ":/usr/bin:/bin"
    MULTILOG["tree"] = os.path.join(bin_dir, "multilog")


def main():
    argv = sys.argv[1:]
    impls = ["ours", "C"]
    if "--tree" in argv:
        k = argv.index("--tree")
        add_tree(argv[k + 1])
        del argv[k:k + 2]
        impls = ["tree", "ours", "C"]
    args = [a for a in argv if not a.startswith("-")]
    quick = "--quick" in argv
    for name in args or ["pickup", "memory", "scale", "idle", "shutdown", "restart"]:
        for impl in impls:
            print("%-4s %s" % (impl, globals()[name](impl, quick)), flush=True)


if __name__ == "__main__":
    main()
