"""supervise's knob files measured, beside C daemontools in one run.

    .venv/bin/python bench/policy.py [stop|ready|memory ...] [-n TRIALS]

stop    svc -d on a service that ignores SIGTERM, with timeout-kill 500 and
        process-group, whose ./run forked two workers (that ignore it too):
        from /usr/bin/svc returning to all three processes gone (pidfds),
        median and max of TRIALS (default 20).  C supervise has neither
        knob: it is shown how many of the three are still alive 2 s later.
        target: ours <= 600 ms median
ready   ./run writes a newline on its notification-fd: from just before that
        write (./run's own wall-clock stamp) to supervise/xstatus reading
        "state ready" (polled every 0.1 ms), median and max.  C: no readiness.
        target: <= 10 ms median
memory  PSS per service with 100 services under svscan, svscan and every
        supervise counted: ours with no knob file, ours with all eleven, C.
        target: all files <= none + 100 KiB
Each figure is printed, never asserted.
"""

import os
import select
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
OURS = os.path.join(ROOT, ".venv", "bin")
C_BIN = "/usr/bin"
sys.path.insert(0, HERE)
import svscan as scanbench  # noqa: E402  (bench/svscan.py: its PSS helpers)

STUBBORN = """#!/bin/sh
trap '' TERM
sh -c 'trap "" TERM; while :; do sleep 1; done' & a=$!
sh -c 'trap "" TERM; while :; do sleep 1; done' & b=$!
echo $$ $a $b > ../notify
while :; do sleep 1; done
"""

READY = """#!/bin/sh
exec %s -I -S -c '
import os, time
time.sleep(0.2)
t = time.time()
os.write(5, b"\\n")
fd = os.open("../notify", os.O_WRONLY)
os.write(fd, b"%%r\\n" %% t)
time.sleep(1000)'
""" % sys.executable

ALL_KNOBS = {
    "finish": "#!/bin/sh\nexit 0\n", "timeout-finish": "5000\n", "down-signal": "TERM\n",
    "timeout-kill": "500\n", "process-group": "", "notification-fd": "5\n",
    "notify-socket": "", "restart-backoff": "60\n", "fail-limit": "5 60\n",
    "max-death-tally": "100\n", "log-events": "",
}


def svc(impl, *args):
    subprocess.run([os.path.join(OURS if impl == "ours" else C_BIN, "svc")] + list(args),
                   stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


class Service:
    def __init__(self, base, impl, run, knobs):
        self.base = base
        self.dir = os.path.join(base, "svc")
        os.makedirs(self.dir)
        for name, text in dict(knobs, run=run).items():
            with open(os.path.join(self.dir, name), "w") as f:
                f.write(text)
            if name in ("run", "finish"):
                os.chmod(os.path.join(self.dir, name), 0o755)
        open(os.path.join(self.dir, "down"), "w").close()
        fifo = os.path.join(base, "notify")
        os.mkfifo(fifo)
        self.notify = os.open(fifo, os.O_RDWR | os.O_NONBLOCK)
        sup = os.path.join(OURS if impl == "ours" else C_BIN, "supervise")
        self.proc = subprocess.Popen([sup, self.dir], start_new_session=True,
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        self.impl = impl
        deadline = time.monotonic() + 10
        while not os.path.exists(os.path.join(self.dir, "supervise", "status")):
            if time.monotonic() > deadline:
                raise SystemExit("bench: supervise did not come up")
            time.sleep(0.01)

    def line(self, timeout=10.0):
        data = b""
        p = select.poll()
        p.register(self.notify, select.POLLIN)
        deadline = time.monotonic() + timeout
        while not data.endswith(b"\n"):
            left = deadline - time.monotonic()
            if left <= 0 or not p.poll(left * 1000):
                raise SystemExit("bench: ./run did not report")
            data += os.read(self.notify, 4096)
        return data.split(b"\n")[-2]

    def stop(self):
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait()


def alive(pid):
    try:
        with open("/proc/%d/stat" % pid, "rb") as f:
            data = f.read()
    except OSError:
        return False
    return data[data.rindex(b")") + 2:data.rindex(b")") + 3] not in (b"Z", b"X")


def stop_trial(s):
    svc(s.impl, "-u", s.dir)
    pids = [int(x) for x in s.line().split()]
    time.sleep(1.1)
    fds = [os.pidfd_open(p) for p in pids]
    try:
        svc(s.impl, "-d", s.dir)
        t0 = time.perf_counter()
        p = select.poll()
        for fd in fds:
            p.register(fd, select.POLLIN)
        left = set(fds)
        while left:
            ready = p.poll(2000)
            if not ready:
                break
            for fd, _ in ready:
                p.unregister(fd)
                left.discard(fd)
        took = time.perf_counter() - t0
        survivors = [pid for pid in pids if alive(pid)]
    finally:
        for fd in fds:
            os.close(fd)
    for pid in survivors:          # C: clean up what 0.76 leaves behind
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return took, len(survivors)


def bench_stop(trials, tmp):
    knobs = {"timeout-kill": "500\n", "process-group": ""}
    ours = Service(os.path.join(tmp, "stop-ours"), "ours", STUBBORN, knobs)
    c = Service(os.path.join(tmp, "stop-c"), "C", STUBBORN, knobs)
    try:
        times, left_c = [], []
        for i in range(trials):
            took, left = stop_trial(ours)
            if left:
                raise SystemExit("bench: ours left %d processes" % left)
            times.append(took)
            if i < 3:
                left_c.append(stop_trial(c)[1])
    finally:
        ours.stop()
        c.stop()
    print("stop   ours: svc -d -> run and 2 workers gone: median %.1f ms, max %.1f ms (%d trials; target <= 600 ms)"
          % (statistics.median(times) * 1000, max(times) * 1000, trials))
    print("stop   C:    no timeout-kill, no process-group: %s of 3 still alive 2 s after svc -d (%d trials)"
          % ("/".join(str(n) for n in left_c), len(left_c)))


def bench_ready(trials, tmp):
    ours = Service(os.path.join(tmp, "ready"), "ours", READY, {"notification-fd": "5\n"})
    xstatus = os.path.join(ours.dir, "supervise", "xstatus")
    lat = []
    try:
        for _ in range(trials):
            svc("ours", "-u", ours.dir)
            seen = None
            deadline = time.monotonic() + 10
            while seen is None and time.monotonic() < deadline:
                try:
                    with open(xstatus, "rb") as f:
                        if b"\nstate ready\n" in f.read():
                            seen = time.time()
                except OSError:
                    pass
                if seen is None:
                    time.sleep(0.0001)
            if seen is None:
                raise SystemExit("bench: never ready")
            lat.append(seen - float(ours.line()))
            svc("ours", "-d", ours.dir)
            while True:
                with open(xstatus, "rb") as f:
                    if b"\nstate down\n" in f.read():
                        break
                time.sleep(0.01)
            time.sleep(1.0)
    finally:
        ours.stop()
    print("ready  ours: newline on fd 5 -> xstatus says ready: median %.2f ms, max %.2f ms (%d trials; target <= 10 ms)"
          % (statistics.median(lat) * 1000, max(lat) * 1000, trials))
    print("ready  C:    0.76 has no readiness")


def memory_with(impl, knobs, tmp, n=100):
    scan = os.path.join(tmp, "scan-%s-%d" % (impl, len(knobs)))
    dirs = [os.path.join(scan, "s%d" % i) for i in range(n)]
    for d in dirs:
        scanbench.make_service(d)
        for name, text in knobs.items():
            with open(os.path.join(d, name), "w") as f:
                f.write(text)
            if name == "finish":
                os.chmod(os.path.join(d, name), 0o755)
    p = scanbench.start(impl, scan)
    try:
        scanbench.wait_started(dirs, 60)
        time.sleep(1)
        return scanbench.pss_per_service(p, n) * 1024
    finally:
        scanbench.stop(p)


def bench_memory(tmp):
    none = memory_with("ours", {}, tmp)
    full = memory_with("ours", ALL_KNOBS, tmp)
    c = memory_with("C", {}, tmp)
    print("memory PSS per service, 100 services under svscan: ours no knobs %.0f KiB, "
          "ours all 11 knobs %.0f KiB (%+.0f KiB; target <= +100), C %.0f KiB"
          % (none, full, full - none, c))


def main():
    args = sys.argv[1:]
    trials = 20
    if "-n" in args:
        i = args.index("-n")
        trials = int(args[i + 1])
        del args[i:i + 2]
    tmp = tempfile.mkdtemp(prefix="svtools-policy-")
    try:
        print("svtools policy bench: %s, python %s, %d cpus"
              % (time.strftime("%Y-%m-%d %H:%M:%S"), sys.version.split()[0], os.cpu_count()), flush=True)
        for name in args or ["stop", "ready", "memory"]:
            if name == "stop":
                bench_stop(trials, tmp)
            elif name == "ready":
                bench_ready(trials, tmp)
            elif name == "memory":
                bench_memory(tmp)
            else:
                print("usage: bench/policy.py [stop|ready|memory ...] [-n TRIALS]", file=sys.stderr)
                return 100
            sys.stdout.flush()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
