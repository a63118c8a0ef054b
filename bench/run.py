"""Supervisors side by side in one run: svtools, daemontools (C), runit, s6.

    .venv/bin/python bench/run.py [-n TRIALS] [-s SERVICES] [-i NAME,...] [--other-spawn]
                                  [-r ROUNDS] [--tree DIR] [latency] [memory]

latency  (medians of TRIALS, default 20; the four take turns, the order
         rotating every trial; each supervisor is driven by its own client:
         svc, /usr/bin/svc, sv, s6-svc)
  kill -> running   SIGKILL of a service that ran > 1 s -> its replacement's
                    ./run executing (./run's first command writes its pid
                    into a FIFO the bench polls)
  kill -> reaped    SIGKILL -> the old pid gone from /proc (checked at each
                    rename in DIR/supervise: every supervisor publishes its
                    status right after the reap)
  down -> reaped    the down command's start (posix_spawn) -> service reaped
  down wall         that command's own wall time (start -> exit)
  up -> running     the up command's start -> new ./run executing
  no-op up wall     the up command's wall time when the service is up
  run floor         posix_spawn of ./run -> it reports: dash's own start-up
memory   SERVICES (default 100) services under each scanner (svscan,
         /usr/bin/svscan, runsvdir, s6-svscan); per supervise process:
         PSS (/proc/PID/smaps_rollup) and page tables (VmPTE, not in PSS),
         once settled and again after every service was restarted once.
         -r ROUNDS: each scanner ROUNDS times, taking turns (the order
         reversed every round), medians shown (default 1).
         --tree DIR: also svscan (and so supervise) from the svtools
         source tree in DIR, e.g. a checkout of main, as "svtools@tree":
         with -r, an interleaved comparison on one noisy machine.

-i limits the run to the named supervisors (svtools,daemontools,runit,s6).
--other-spawn adds a column "svtools/fork": ours with svtools._spawn's fast
paths (posix_spawn, fork_exec) switched off, so that ./run is started by
fork and execve, to show what they are worth.

Figures are printed with the ratio svtools / daemontools and the issue-15
targets; nothing is asserted.  Each supervise runs in its own session and
is killed, with its service, at the end.
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
sys.path.insert(0, ROOT)
from inotify_simple import INotify, flags  # noqa: E402  (svscan's dependency)

OURS = os.path.join(ROOT, ".venv", "bin")
DEVNULL = os.open(os.devnull, os.O_RDWR)
SETTLE = 1.1   # every supervisor here throttles starts to one per second
RUN = "#!/bin/sh\necho $$ > ../notify\nexec sleep 100000\n"
# name: (supervise argv, up, down, down-and-exit, scanner, PATH for the scanner)
IMPLS = {
    "svtools": ([OURS + "/supervise"], [OURS + "/svc", "-u"], [OURS + "/svc", "-d"],
                [OURS + "/svc", "-dx"], [OURS + "/svscan"], OURS + ":/usr/bin:/bin"),
    "daemontools": (["/usr/bin/supervise"], ["/usr/bin/svc", "-u"], ["/usr/bin/svc", "-d"],
                    ["/usr/bin/svc", "-dx"], ["/usr/bin/svscan"], "/usr/bin:/bin"),
    "runit": (["/usr/bin/runsv"], ["/usr/bin/sv", "u"], ["/usr/bin/sv", "d"],
              ["/usr/bin/sv", "x"], ["/usr/bin/runsvdir"], "/usr/bin:/bin"),
    "s6": (["/usr/bin/s6-supervise"], ["/usr/bin/s6-svc", "-u"], ["/usr/bin/s6-svc", "-d"],
           ["/usr/bin/s6-svc", "-dx"], ["/usr/bin/s6-svscan"], "/usr/bin:/bin"),
}
# --other-spawn: our programs once more, with svtools._spawn's fast paths off.
_FLIP = ("import sys; sys.path.insert(0, %r); from svtools import _spawn; "
         "_spawn.CLEAN = _spawn.VFORK = _spawn.FAST = False; "
         "from svtools.%%s import main; sys.exit(main())" % ROOT)


def tree(path, tmp):
    """Our svscan from the svtools tree in PATH (memory only), started
    through a launcher like our console scripts (python -IS, a file)."""
    launcher = os.path.join(tmp, "svscan-tree")
    with open(launcher, "w") as f:
        f.write("#!%s/python -IS\nimport sys\nsys.path.insert(0, %r)\n"
                "from svtools.svscan import main\nsys.exit(main())\n"
                % (OURS, os.path.abspath(path)))
    os.chmod(launcher, 0o755)
    ours = IMPLS["svtools"]
    return ours[:4] + ([launcher], ours[5])


def flipped():
    py = [OURS + "/python", "-I", "-S", "-c"]
    ours = IMPLS["svtools"]
    name = "svtools/fork"
    return name, ((py + [_FLIP % "supervise"],) + ours[1:4] + (py + [_FLIP % "svscan"], ours[5]))


def spawn(argv, env=None):
    return os.posix_spawn(argv[0], argv, env or os.environ, setsid=True,
                          file_actions=[(os.POSIX_SPAWN_DUP2, DEVNULL, fd) for fd in (0, 1, 2)])


def gone(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def make_service(path, run=RUN):
    os.makedirs(path)
    with open(os.path.join(path, "run"), "w") as f:
        f.write(run)
    os.chmod(os.path.join(path, "run"), 0o755)


class _Watch:
    """Renames into one directory, read without blocking."""

    def __init__(self, path):
        self.ino = INotify()
        self.ino.add_watch(path, flags.MOVED_TO)

    def fileno(self):
        return self.ino.fileno()

    def read(self):
        return self.ino.read(timeout=0)


class Service:
    """One supervisor on BASE/svc; ./run reports its pid into BASE/notify."""

    def __init__(self, base, impl):
        self.impl = IMPLS[impl]
        self.dir = os.path.join(base, "svc")
        make_service(self.dir)
        os.mkfifo(os.path.join(base, "notify"))
        # Read-write: the FIFO neither blocks ./run nor reports end of file.
        self.notify = os.open(os.path.join(base, "notify"), os.O_RDWR | os.O_NONBLOCK)
        self.sup = spawn(self.impl[0] + [self.dir])
        self.run_pid = self.wait_run(None)[1]
        self.inotify = None
        deadline = time.monotonic() + 10
        while not os.path.exists(os.path.join(self.dir, "supervise")):
            if time.monotonic() > deadline:
                raise SystemExit("bench: no %s/supervise" % self.dir)
            time.sleep(0.01)
        self.inotify = _Watch(os.path.join(self.dir, "supervise"))

    def client(self, which):
        return self.impl[which] + [self.dir]

    def wait_run(self, client, timeout=10.0):
        """Wait for ./run to report; (its time, its pid, the client's exit time)."""
        p = select.poll()
        p.register(self.notify, select.POLLIN)
        pidfd = os.pidfd_open(client) if client else None
        if pidfd is not None:
            p.register(pidfd, select.POLLIN)
        data, t_run, t_exit = b"", None, None
        deadline = time.monotonic() + timeout
        try:
            while t_run is None or (pidfd is not None and t_exit is None):
                left = deadline - time.monotonic()
                ready = p.poll(max(0, left) * 1000) if left > 0 else []
                if not ready:
                    raise SystemExit("bench: ./run did not start in %s" % self.dir)
                now = time.perf_counter()
                for fd, _ in ready:
                    if fd == pidfd:
                        t_exit = now
                        p.unregister(pidfd)
                    else:
                        data += os.read(self.notify, 4096)
                        if data.endswith(b"\n"):
                            t_run = now
                            p.unregister(self.notify)
        finally:
            if pidfd is not None:
                os.close(pidfd)
                os.waitpid(client, 0)
        self.started = time.monotonic()
        return t_run, int(data.split()[-1]), t_exit

    def wait_reaped(self, pid, client=None, timeout=10.0):
        """Wait for PID to leave /proc (and CLIENT to exit); (reap time, exit time).

        The caller has drained the inotify queue before acting.
        """
        p = select.poll()
        p.register(self.inotify.fileno(), select.POLLIN)
        pidfd = os.pidfd_open(client) if client else None
        if pidfd is not None:
            p.register(pidfd, select.POLLIN)
        t_reap, t_exit = (time.perf_counter() if gone(pid) else None), None
        deadline = time.monotonic() + timeout
        try:
            while t_reap is None or (pidfd is not None and t_exit is None):
                left = deadline - time.monotonic()
                ready = p.poll(max(0, left) * 1000) if left > 0 else []
                if not ready:
                    raise SystemExit("bench: %d was not reaped in %s" % (pid, self.dir))
                now = time.perf_counter()
                for fd, _ in ready:
                    if fd == pidfd:
                        t_exit = now
                        p.unregister(pidfd)
                    elif self.inotify.read() and t_reap is None and gone(pid):
                        t_reap = now
        finally:
            if pidfd is not None:
                os.close(pidfd)
                os.waitpid(client, 0)
        return t_reap, t_exit

    def settle(self):
        left = self.started + SETTLE - time.monotonic()
        if left > 0:
            time.sleep(left)

    def kill(self):
        """(SIGKILL -> reaped, SIGKILL -> replacement running), seconds."""
        self.settle()
        old = self.run_pid
        self.inotify.read()
        t0 = time.perf_counter()
        os.kill(old, signal.SIGKILL)
        t_reap, _ = self.wait_reaped(old)
        t_run, self.run_pid, _ = self.wait_run(None)
        return t_reap - t0, t_run - t0

    def down(self):
        """(start -> reaped, the command's wall), seconds."""
        self.settle()
        self.inotify.read()
        t0 = time.perf_counter()
        client = spawn(self.client(2))
        t_reap, t_exit = self.wait_reaped(self.run_pid, client)
        return t_reap - t0, t_exit - t0

    def up(self):
        """(start -> ./run executing, the command's wall), seconds."""
        t0 = time.perf_counter()
        t_run, self.run_pid, t_exit = self.wait_run(spawn(self.client(1)))
        return t_run - t0, t_exit - t0

    def noop_up(self):
        t0 = time.perf_counter()
        os.waitpid(spawn(self.client(1)), 0)
        return time.perf_counter() - t0

    def stop(self):
        try:
            os.waitpid(spawn(self.client(3)), 0)
            deadline = time.monotonic() + 5
            while not gone(self.sup) and time.monotonic() < deadline:
                if os.waitpid(self.sup, os.WNOHANG)[0]:
                    break
                time.sleep(0.01)
        finally:
            for pid in (self.run_pid, -self.sup):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            try:
                os.waitpid(self.sup, 0)
            except ChildProcessError:
                pass
            os.close(self.notify)
            if self.inotify is not None:
                self.inotify.ino.close()


def run_floor(trials, tmp):
    base = os.path.join(tmp, "floor")
    d = os.path.join(base, "svc")
    make_service(d)
    os.mkfifo(os.path.join(base, "notify"))
    fd = os.open(os.path.join(base, "notify"), os.O_RDWR | os.O_NONBLOCK)
    p = select.poll()
    p.register(fd, select.POLLIN)
    out = []
    for _ in range(trials):
        t0 = time.perf_counter()
        pid = _spawn_in(d)
        data = b""
        while not data.endswith(b"\n"):
            p.poll(10000)
            data += os.read(fd, 4096)
        out.append(time.perf_counter() - t0)
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    os.close(fd)
    return out


def _spawn_in(d):
    here = os.getcwd()
    os.chdir(d)
    try:
        return spawn(["./run"])
    finally:
        os.chdir(here)


def ms(xs):
    return statistics.median(xs) * 1000.0


def latency(trials, tmp, names):
    services = {}
    try:
        for k in names:
            services[k] = Service(os.path.join(tmp, "lat-" + k), k)
        res = {k: {m: [] for m in ("kill_reap", "kill_run", "down", "down_wall", "up",
                                   "up_wall", "noop")} for k in names}
        for i in range(trials):
            turn = names[i % len(names):] + names[:i % len(names)]
            for k in turn:
                r, u = services[k].kill()
                res[k]["kill_reap"].append(r)
                res[k]["kill_run"].append(u)
            for k in turn:
                r, w = services[k].down()
                res[k]["down"].append(r)
                res[k]["down_wall"].append(w)
            for k in turn:
                r, w = services[k].up()
                res[k]["up"].append(r)
                res[k]["up_wall"].append(w)
            for k in turn:
                res[k]["noop"].append(services[k].noop_up())
    finally:
        for s in services.values():
            s.stop()
    floor = ms(run_floor(trials, tmp))
    med = {k: {m: ms(v) for m, v in d.items()} for k, d in res.items()}
    rows = (("SIGKILL -> replacement running", "kill_run"),
            ("  SIGKILL -> old pid reaped", "kill_reap"),
            ("down command start -> reaped", "down"),
            ("  down command wall", "down_wall"),
            ("up command start -> run executing", "up"),
            ("  up command wall", "up_wall"),
            ("no-op up command wall", "noop"))
    header(names, "latency, median ms of %d trials; ./run floor %.2f ms" % (trials, floor))
    for label, m in rows:
        line(label, [med[k][m] for k in names], names)
    if "svtools" in med and "daemontools" in med:
        o, c = med["svtools"], med["daemontools"]
        print("targets:")
        check("SIGKILL -> running <= 1.5x C", o["kill_run"], 1.5 * c["kill_run"])
        check("down -> reaped <= 1.3x our no-op wall", o["down"], 1.3 * o["noop"])
        check("up -> running <= 1.3x our no-op wall + C", o["up"], 1.3 * o["noop"] + c["up"])
    return med


def header(names, title):
    print("\n== " + title)
    print("%-36s" % "" + "".join("%13s" % n for n in names) + "   ours/C")


def line(label, values, names, fmt="%13.2f"):
    text = "%-36s" % label + "".join(fmt % v if v is not None else "%13s" % "-" for v in values)
    if "svtools" in names and "daemontools" in names:
        o, c = values[names.index("svtools")], values[names.index("daemontools")]
        if o is not None and c:
            text += "   %6.2fx" % (o / c)
    print(text)


def check(label, value, limit):
    print("  %-44s %8.2f <= %8.2f  %s" % (label, value, limit, "met" if value <= limit else "MISSED"))


def status_field(pid, path, name):
    try:
        with open("/proc/%d/%s" % (pid, path)) as f:
            for text in f:
                if text.startswith(name):
                    return int(text.split()[1])
    except OSError:
        return None
    return None


def children(pid):
    with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
        return [int(x) for x in f.read().split()]


def wait_all(dirs, timeout, since=0.0):
    """Every DIR/started was written after SINCE (wall clock)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ok = True
        for d in dirs:
            try:
                with open(os.path.join(d, "started")) as f:
                    ok = float(f.read() or 0) > since
            except (OSError, ValueError):
                ok = False
            if not ok:
                break
        if ok:
            return
        time.sleep(0.05)
    raise SystemExit("bench: services did not (re)start within %ds" % timeout)


def sample(scanner):
    sups = children(scanner)
    pss = [status_field(p, "smaps_rollup", "Pss:") for p in sups]
    pte = [status_field(p, "status", "VmPTE:") for p in sups]
    rss = [status_field(p, "status", "VmRSS:") for p in sups]
    own = [status_field(p, "smaps_rollup", "Private_Dirty:")
           + status_field(p, "smaps_rollup", "Private_Clean:") for p in sups]
    return (sum(pss) / len(sups), sum(pte) / len(sups), sum(rss) / len(sups),
            status_field(scanner, "smaps_rollup", "Pss:"), len(sups), sum(own) / len(sups))


def memory_one(impl, n, tmp, tag=""):
    scan = os.path.join(tmp, "mem-%s%s" % (impl.replace("/", "_"), tag))
    dirs = [os.path.join(scan, "s%03d" % i) for i in range(n)]
    run = "#!/bin/sh\ndate +%s.%N > started\nexec sleep 100000\n"
    for d in dirs:
        make_service(d, run)
    p = spawn(IMPLS[impl][4] + [scan], {"PATH": IMPLS[impl][5]})
    try:
        wait_all(dirs, 120)
        time.sleep(1.5)
        before = sample(p)
        t = time.time()
        time.sleep(SETTLE)
        for sup in children(p):
            for run_pid in children(sup):
                os.kill(run_pid, signal.SIGKILL)
        wait_all(dirs, 120, t)
        time.sleep(1.5)
        return before, sample(p)
    finally:
        # Each supervise is in the scanner's session; runsv and s6-supervise
        # put their services in sessions of their own.
        procs = []
        for sup in children(p):
            procs += children(sup)
        for pid in procs + [-p]:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        os.waitpid(p, 0)
        shutil.rmtree(scan, ignore_errors=True)


def memory(n, tmp, names, rounds=1):
    runs = {k: [] for k in names}
    for r in range(rounds):
        for k in (names if r % 2 == 0 else names[::-1]):
            runs[k].append(memory_one(k, n, tmp, "-%d" % r))
    got = {k: tuple(tuple(statistics.median(run[phase][col] for run in runs[k])
                          for col in range(len(runs[k][0][phase])))
                    for phase in (0, 1))
           for k in names}
    header(names, "memory, %d services under each scanner, KiB per supervise process%s"
           % (n, " (medians of %d rounds, taking turns)" % rounds if rounds > 1 else ""))
    for label, phase, col in (("PSS per supervise, settled", 0, 0),
                              ("PSS per supervise, after one restart", 1, 0),
                              ("page tables (VmPTE), settled", 0, 1),
                              ("page tables (VmPTE), after restart", 1, 1),
                              ("private pages per supervise, settled", 0, 5),
                              ("RSS per supervise, settled", 0, 2),
                              ("PSS of the scanner itself", 0, 3)):
        line(label, [got[k][phase][col] for k in names], names)
    if "svtools" in got:
        print("targets:")
        check("PSS per forked supervise <= 700 KiB (settled)", got["svtools"][0][0], 700)
        check("... after one restart <= 700 KiB", got["svtools"][1][0], 700)
    return got


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv[1:]
    trials, n, parts, rounds, tree_dir = 20, 100, [], 1, None
    names = [k for k in IMPLS if os.access(IMPLS[k][0][0], os.X_OK)]
    while argv:
        a = argv.pop(0)
        if a == "-n" and argv:
            trials = int(argv.pop(0))
        elif a == "-s" and argv:
            n = int(argv.pop(0))
        elif a == "-i" and argv:
            keep = argv.pop(0).split(",")
            names = [k for k in names if k in keep or k == "svtools@tree"]
        elif a == "-r" and argv:
            rounds = int(argv.pop(0))
        elif a == "--tree" and argv:
            tree_dir = argv.pop(0)
            names.insert(names.index("svtools") + 1 if "svtools" in names else 0, "svtools@tree")
        elif a == "--other-spawn":
            name, IMPLS[name] = flipped()
            names.insert(1, name)
        elif a in ("latency", "memory"):
            parts.append(a)
        else:
            print("usage: bench/run.py [-n TRIALS] [-s SERVICES] [-i NAME,...] [--other-spawn] "
                  "[-r ROUNDS] [--tree DIR] [latency] [memory]", file=sys.stderr)
            return 100
    # the interpreter of the svtools measured (.venv's), not this driver's
    ours_py = subprocess.run([OURS + "/python", "-c", "import sys; print(sys.version.split()[0])"],
                             capture_output=True, text=True, timeout=30).stdout.strip()
    print("bench/run.py: %s UTC, svtools on python %s, %d cpus, load %.2f %.2f %.2f; %s"
          % (time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()), ours_py or "?",
             os.cpu_count(), *os.getloadavg(), ", ".join(names)))
    tmp = tempfile.mkdtemp(prefix="svtools-bench-run-")
    if tree_dir is not None:
        IMPLS["svtools@tree"] = tree(tree_dir, tmp)
    try:
        if not parts or "latency" in parts:
            latency(trials, tmp, [k for k in names if k != "svtools@tree"])
        if not parts or "memory" in parts:
            memory(n, tmp, names, rounds)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
