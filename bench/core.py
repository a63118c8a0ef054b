"""Core bench: svtools side by side with Debian's C daemontools, in one run.

    .venv/bin/python bench/core.py [-n TRIALS] [--clients-only] [--bin DIR]

--bin DIR measures the programs installed in DIR (another virtualenv, e.g.
one made by Debian's python3 -m venv), with DIR/python as the floor.

Reports medians (of TRIALS runs, default 20; C and ours alternate, the
order flipping every trial) and the ratio ours / C:

  client start-up   wall time of svc, svstat, svok against a live service,
                    next to a bare `python -I -S -c pass`, the floor for any
                    Python program, and to the same client behind pip's own
                    console-script wrapper (site + re), for comparison;
  svc -d            from /usr/bin/svc returning to the service's process
                    having exited (pidfd, poll);
  svc -u            from /usr/bin/svc returning to ./run executing (./run
                    writes its pid into a FIFO the bench polls);
  SIGKILL           from killing a service that ran > 1 s to its
                    replacement's ./run executing;
  PSS               of one standalone supervise (/proc/PID/smaps_rollup).

The same driver (/usr/bin/svc) serves both supervises, so the latencies
compare the supervises only.  ./run is a dash script, whose own start-up is
shown as the "run floor".  Targets are printed, never enforced: this is a
measurement, not a test.  Also prints where our clients spend their start-up
(`-X importtime`).
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

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VENV_BIN = os.path.join(ROOT, ".venv", "bin")
PYTHON = os.path.join(VENV_BIN, "python")
C_BIN = "/usr/bin"
DEVNULL = os.open(os.devnull, os.O_RDWR)
SETTLE = 1.1  # C supervise never starts ./run twice within one second

RUN = """#!/bin/sh
echo $$ > ../notify
exec sleep 1000
"""


def ours(name):
    return os.path.join(VENV_BIN, name)


def c(name):
    return os.path.join(C_BIN, name)


def spawn_wait(argv):
    """Run ARGV with stdio on /dev/null; seconds from spawn to reaped."""
    t0 = time.perf_counter()
    pid = os.posix_spawn(argv[0], argv, os.environ,
                         file_actions=[(os.POSIX_SPAWN_DUP2, DEVNULL, 0),
                                       (os.POSIX_SPAWN_DUP2, DEVNULL, 1),
                                       (os.POSIX_SPAWN_DUP2, DEVNULL, 2)])
    _, status = os.waitpid(pid, 0)
    return time.perf_counter() - t0, status


class Service:
    """A supervise (C or ours) on BASE/svc, whose ./run reports into BASE/notify."""

    def __init__(self, base, supervise):
        self.base = base
        os.mkdir(base)
        self.dir = os.path.join(base, "svc")
        os.mkdir(self.dir)
        with open(os.path.join(self.dir, "run"), "w") as f:
            f.write(RUN)
        os.chmod(os.path.join(self.dir, "run"), 0o755)
        fifo = os.path.join(base, "notify")
        os.mkfifo(fifo)
        # Read-write, so that the FIFO neither blocks ./run nor reports EOF.
        self.notify = os.open(fifo, os.O_RDWR | os.O_NONBLOCK)
        self.proc = subprocess.Popen([supervise, self.dir], cwd=base, start_new_session=True,
                                     stdin=DEVNULL, stdout=DEVNULL, stderr=DEVNULL)
        self.pid = self.wait_run(10.0)
        self.started = time.monotonic()
        deadline = time.monotonic() + 10
        while spawn_wait([c("svok"), self.dir])[1] != 0:
            if time.monotonic() > deadline:
                raise SystemExit("bench: supervise did not come up in %s" % self.dir)
            time.sleep(0.01)

    def wait_run(self, timeout=5.0):
        """Block until ./run reports; its pid."""
        data = b""
        p = select.poll()
        p.register(self.notify, select.POLLIN)
        deadline = time.monotonic() + timeout
        while not data.endswith(b"\n"):
            left = deadline - time.monotonic()
            if left <= 0 or not p.poll(left * 1000):
                raise SystemExit("bench: ./run did not start in %s" % self.dir)
            data += os.read(self.notify, 4096)
        self.started = time.monotonic()
        return int(data.split()[-1])

    def settle(self):
        left = self.started + SETTLE - time.monotonic()
        if left > 0:
            time.sleep(left)

    def kill_to_replacement(self):
        self.settle()
        os.kill(self.pid, signal.SIGKILL)
        t0 = time.perf_counter()
        self.pid = self.wait_run()
        return time.perf_counter() - t0

    def down_to_gone(self):
        self.settle()
        pidfd = os.pidfd_open(self.pid)
        try:
            spawn_wait([c("svc"), "-d", self.dir])
            t0 = time.perf_counter()
            p = select.poll()
            p.register(pidfd, select.POLLIN)
            if not p.poll(5000):
                raise SystemExit("bench: svc -d did not stop %s" % self.dir)
            return max(0.0, time.perf_counter() - t0)
        finally:
            os.close(pidfd)

    def up_to_run(self):
        self.settle()
        spawn_wait([c("svc"), "-u", self.dir])
        t0 = time.perf_counter()
        self.pid = self.wait_run()
        return time.perf_counter() - t0

    def pss_kb(self):
        with open("/proc/%d/smaps_rollup" % self.proc.pid) as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
        return None

    def stop(self):
        spawn_wait([c("svc"), "-dx", self.dir])
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait()
        os.close(self.notify)


def median_ms(xs):
    return statistics.median(xs) * 1000.0


def row(name, c_val, our_val, unit="ms", target=""):
    if c_val is None:
        print("%-34s %10s %10.2f %7s  %s" % (name, "-", our_val, "", target))
        return
    ratio = our_val / c_val if c_val else float("inf")
    print("%-34s %10.2f %10.2f %6.2fx  %s" % (name, c_val, our_val, ratio, target))


def pip_wrapper(tmp, module):
    """The wrapper pip itself would write: site processing, then re."""
    path = os.path.join(tmp, "pip-" + module)
    with open(path, "w") as f:
        f.write("#!%s\nimport re\nimport sys\nfrom svtools.%s import main\n"
                "if __name__ == '__main__':\n"
                "    sys.argv[0] = re.sub(r'(-script\\.pyw|\\.exe)?$', '', sys.argv[0])\n"
                "    sys.exit(main())\n" % (PYTHON, module))
    os.chmod(path, 0o755)
    return path


def bench_clients(trials, svc_dir, tmp):
    print("\n== client start-up (median wall ms over %d runs; target: ours <= 1.3x floor)" % trials)
    print("%-34s %10s %10s %7s" % ("", "C", "ours", "ratio"))
    floor, with_os = [], []
    cases = {
        "svc -c DIR": (["svc", "-c", svc_dir]),
        "svstat DIR": (["svstat", svc_dir]),
        "svok DIR": (["svok", svc_dir]),
    }
    times = {k: ([], [], []) for k in cases}
    pips = {k: pip_wrapper(tmp, v[0]) for k, v in cases.items()}
    for i in range(trials):
        floor.append(spawn_wait([PYTHON, "-I", "-S", "-c", "pass"])[0])
        with_os.append(spawn_wait([PYTHON, "-I", "-S", "-c", "import os"])[0])
        for name, argv in cases.items():
            runs = [(0, c(argv[0])), (1, ours(argv[0])), (2, pips[name])]
            if i % 2:
                runs.reverse()
            for slot, exe in runs:
                times[name][slot].append(spawn_wait([exe] + argv[1:])[0])
    f = median_ms(floor)
    print("%-34s %10s %10.2f" % ("python -I -S -c pass (floor)", "", f))
    print("%-34s %10s %10.2f" % ("python -I -S -c 'import os'", "", median_ms(with_os)))
    for name, (tc, to, tp) in times.items():
        row(name, median_ms(tc), median_ms(to),
            target="%.2fx floor; pip wrapper %.2f ms" % (median_ms(to) / f, median_ms(tp)))


def importtime(svc_dir, runs=5):
    """Self time of each module our clients import: the least of RUNS runs, in us."""
    print("\n== where our client start-up goes (-X importtime, least self us of %d runs;"
          " svtools modules and those over 100 us)" % runs)
    for prog in ("svc", "svstat", "svok"):
        with open(ours(prog)) as f:
            first = f.readline()
        flags = first.split()[1:] if first.startswith("#!") else []
        argv = [PYTHON] + flags + ["-X", "importtime", ours(prog)]
        argv += (["-c", svc_dir] if prog == "svc" else [svc_dir])
        best = {}
        for _ in range(runs):
            err = subprocess.run(argv, capture_output=True, text=True).stderr
            for line in err.splitlines():
                if not line.startswith("import time:") or "self [us]" in line:
                    continue
                parts = line[len("import time:"):].split("|")
                name, self_us = parts[2].strip(), int(parts[0])
                best[name] = min(best.get(name, self_us), self_us)
        total = sum(best.values())
        ours_us = sum(v for n, v in best.items() if n.startswith("svtools"))
        shown = ", ".join("%s %d" % (n, v) for n, v in best.items()
                          if n.startswith("svtools") or v > 100)
        print("%-7s launcher flags %-5s imports total %5d us, svtools %5d us: %s"
              % (prog, " ".join(flags) or "-", total, ours_us, shown))


def bench_supervise(trials, tmp):
    sups = {"C": c("supervise"), "ours": ours("supervise")}
    if not os.path.exists(os.path.join(ROOT, "svtools", "supervise.py")):
        print("\n(our supervise does not exist yet: C only)")
        del sups["ours"]
    services = {k: Service(os.path.join(tmp, k), v) for k, v in sups.items()}
    try:
        # The floor under every ./run latency: spawning the script itself.
        floor = []
        s = services["C"]
        here = os.getcwd()
        os.chdir(s.dir)  # ./run writes to ../notify
        for _ in range(trials):
            t0 = time.perf_counter()
            pid = os.posix_spawn("./run", ["./run"], os.environ,
                                 file_actions=[(os.POSIX_SPAWN_DUP2, DEVNULL, 1)])
            s.wait_run()
            floor.append(time.perf_counter() - t0)
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        os.chdir(here)
        kill, down, up = ({k: [] for k in services} for _ in range(3))
        order = list(services)
        for i in range(trials):
            turn = order if i % 2 == 0 else order[::-1]
            for k in turn:
                kill[k].append(services[k].kill_to_replacement())
            for k in turn:
                down[k].append(services[k].down_to_gone())
                up[k].append(services[k].up_to_run())
        time.sleep(0.2)
        pss = {k: s.pss_kb() for k, s in services.items()}
    finally:
        for s in services.values():
            s.stop()
    print("\n== supervise (median ms over %d trials, driver /usr/bin/svc)" % trials)
    print("%-34s %10s %10s %7s" % ("", "C", "ours", "ratio"))
    print("%-34s %10.2f" % ("spawn ./run -> it reports (floor)", median_ms(floor)))
    get = lambda d: (median_ms(d["C"]), median_ms(d["ours"]) if "ours" in d else None)
    for name, d, target in (("svc -d returned -> service gone", down, "target <= 2 ms"),
                            ("svc -u returned -> ./run runs", up, "target <= 5 ms"),
                            ("SIGKILL -> replacement runs", kill, "target <= 5 ms")):
        cv, ov = get(d)
        if ov is None:
            print("%-34s %10.2f" % (name, cv))
        else:
            row(name, cv, ov, target=target)
    if "ours" in pss:
        row("supervise PSS (MB)", pss["C"] / 1024.0, pss["ours"] / 1024.0, target="target <= 4.5 MB")
    else:
        print("%-34s %10.2f" % ("supervise PSS (MB)", pss["C"] / 1024.0))


def main(argv=None):
    global VENV_BIN, PYTHON
    argv = sys.argv[1:] if argv is None else argv[1:]
    trials, clients_only = 20, False
    while argv:
        a = argv.pop(0)
        if a == "-n" and argv:
            trials = int(argv.pop(0))
        elif a == "--clients-only":
            clients_only = True
        elif a == "--bin" and argv:
            VENV_BIN = os.path.abspath(argv.pop(0))
            PYTHON = os.path.join(VENV_BIN, "python")
        else:
            print("usage: bench/core.py [-n TRIALS] [--clients-only] [--bin DIR]", file=sys.stderr)
            return 100
    for tool in ("supervise", "svc", "svok", "svstat"):
        if not os.access(c(tool), os.X_OK):
            print("bench: needs Debian's daemontools in /usr/bin", file=sys.stderr)
            return 111
    print("svtools core bench: %s, %d trials, python %s, %d cpus, programs in %s"
          % (time.strftime("%Y-%m-%d %H:%M:%S"), trials, sys.version.split()[0], os.cpu_count(),
             VENV_BIN))
    tmp = tempfile.mkdtemp(prefix="svtools-bench-")
    try:
        # The clients run against a live C supervise: the same target for both.
        target = Service(os.path.join(tmp, "clients"), c("supervise"))
        try:
            bench_clients(trials, target.dir, tmp)
            importtime(target.dir)
        finally:
            target.stop()
        if not clients_only:
            bench_supervise(trials, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
