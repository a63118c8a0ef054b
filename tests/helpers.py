"""Shared test helpers: bounded waits and processes that are always reaped."""

import os
import signal
import subprocess
import sys
import time

BIN = os.path.dirname(os.path.abspath(sys.executable))
# Where Debian's daemontools lives.  SVTOOLS_C_BIN=/nonexistent runs the
# suite as on a machine without it (the interop tests are skipped).
C_BIN = os.environ.get("SVTOOLS_C_BIN", "/usr/bin")


def c_tool(name):
    """Absolute path of a C daemontools program from the Debian package."""
    return os.path.join(C_BIN, name)


def have_c_daemontools():
    return os.path.exists(c_tool("supervise")) and os.path.exists(c_tool("svc"))


def env(**extra):
    """Environment whose PATH finds our programs first."""
    e = dict(os.environ)
    e["PATH"] = BIN + ":" + e.get("PATH", "/usr/bin:/bin")
    e.update(extra)
    return e


def prog(name):
    """Absolute path of one of our console scripts."""
    return os.path.join(BIN, name)


def wait_for(pred, timeout=5.0, interval=0.005, what=None):
    """Poll PRED until it returns a true value; fail after TIMEOUT seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = pred()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("timed out after %.1fs waiting for %s"
                                 % (timeout, what or getattr(pred, "__name__", "condition")))
        time.sleep(interval)


def read_line(f, timeout=10.0):
    """The first line from pipe F, or fail after TIMEOUT seconds (no blocking
    read that could hang the suite)."""
    fd = f.fileno()
    os.set_blocking(fd, False)
    buf = bytearray()

    def complete():
        try:
            chunk = os.read(fd, 4096)
        except BlockingIOError:
            return False
        buf.extend(chunk)
        return b"\n" in buf or not chunk
    wait_for(complete, timeout, what="a line")
    return bytes(buf[:buf.find(b"\n") + 1 or len(buf)])


def children_of(pid):
    """PID's children, zombies included (/proc/PID/task/PID/children); []
    once PID is gone."""
    try:
        with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return []


def pid_alive(pid):
    """True while PID exists and is not a zombie."""
    try:
        with open("/proc/%d/stat" % pid, "rb") as f:
            data = f.read()
    except OSError:
        return False
    state = data[data.rindex(b")") + 2:data.rindex(b")") + 3]
    return state not in (b"Z", b"X")


class Procs:
    """Starts processes in their own process groups and kills them all later."""

    def __init__(self):
        self.procs = []
        self.pids = []

    def start(self, args, **kw):
        kw.setdefault("env", env())
        kw.setdefault("start_new_session", True)
        p = subprocess.Popen(args, **kw)
        self.procs.append(p)
        return p

    def track(self, pid):
        """Also kill PID (and its group) at teardown."""
        self.pids.append(pid)

    def stop(self, p, timeout=5.0):
        """SIGTERM then SIGKILL P's process group; wait for P."""
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(p.pid, sig)
            except ProcessLookupError:
                pass
            try:
                p.wait(timeout=timeout if sig == signal.SIGTERM else None)
                break
            except subprocess.TimeoutExpired:
                continue
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    def kill_under(self, top):
        """SIGKILL, by pid, every process whose working directory is TOP or
        below it (a test's tmp dir: only the test's own processes are there)."""
        top = os.path.realpath(top)
        me = os.getpid()
        for name in os.listdir("/proc"):
            if not name.isdigit() or int(name) == me:
                continue
            try:
                cwd = os.readlink("/proc/%s/cwd" % name)
            except OSError:
                continue
            if cwd.endswith(" (deleted)"):
                cwd = cwd[:-len(" (deleted)")]
            if cwd == top or cwd.startswith(top + "/"):
                try:
                    os.kill(int(name), signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass

    def cleanup(self):
        for pid in self.pids:
            for kill in (os.killpg, os.kill):
                try:
                    kill(pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
        for p in self.procs:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
            for f in (p.stdin, p.stdout, p.stderr):
                if f:
                    f.close()


def run(args, input=None, timeout=20, **kw):
    """Run a command to completion: CompletedProcess with bytes output."""
    kw.setdefault("env", env())
    return subprocess.run(args, input=input, capture_output=True, timeout=timeout, **kw)


def write_script(path, body, mode=0o755):
    """Write an executable shell script (#!/bin/sh prepended)."""
    with open(path, "w") as f:
        f.write("#!/bin/sh\n" + body)
    os.chmod(path, mode)
    return path


def xstatus_is(d, state):
    """Whether DIR/supervise/xstatus says `state STATE` (bytes) now."""
    try:
        with open(os.path.join(d, "supervise", "xstatus"), "rb") as f:
            return b"\nstate " + state + b"\n" in f.read()
    except FileNotFoundError:
        return False
