"""supervise: start a service and keep it running.

    supervise DIR

supervise changes to DIR and runs ./run, and runs it again whenever it
exits, but never twice within one second.  If DIR/down exists at start-up
the service is not started until asked.  supervise obeys one-byte commands
written to DIR/supervise/control (see svc) and publishes its state in the
18-byte DIR/supervise/status; DIR/supervise/ok has a reader for as long as
supervise runs.  DIR/supervise/lock is held with flock so that a second
supervise on DIR is refused.  Unknown command bytes are ignored.

Unlike daemontools 0.76, supervise keeps reading commands during the
one-second restart throttle, retries a start after a failed fork, and
accepts q, 1, 2 and w (SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH).

Exit codes: 0 after the 'x' command once the service is down; 100 for a
usage error; 111 when DIR cannot be set up (chdir, lock, FIFOs).
"""

import fcntl
import os
import select
# The C core of the signal module: the same calls without the enum wrappers,
# which would cost a long-running process 0.8 MB and every start-up 5 ms.
import _signal as signal
import stat
import sys
import time

from . import _spawn, _status, _strerr, _tai64
from ._machine import Machine
from ._pathexec import initial_environ

PROG = "supervise"
_WANT_BYTE = {"up": _status.WANT_UP, "down": _status.WANT_DOWN, "once": _status.WANT_NONE}


def _open_fifo(path, flags, verb, name):
    """Make sure PATH is a FIFO we can use; fatal otherwise."""
    try:
        os.mkfifo(path, 0o600)
    except OSError:
        pass
    try:
        fd = os.open(path, flags | os.O_NONBLOCK)
    except OSError as e:
        _strerr.fatal(PROG, "unable to %s %s" % (verb, name), e)
    if not stat.S_ISFIFO(os.fstat(fd).st_mode):
        # A regular file (or a symlink to one) here would feed us its bytes
        # as commands, or hide a dead supervise from svok: refuse it.
        os.close(fd)
        _strerr.fatal(PROG, "unable to %s %s: not a fifo" % (verb, name))
    return fd


def _setup(dirname):
    """Steps 3-9 of daemontools' start-up; returns (machine, fds)."""
    try:
        os.chdir(dirname)
    except OSError as e:
        _strerr.fatal(PROG, "unable to chdir to %s" % dirname, e)
    try:
        os.stat("down")
        want_up = False
    except FileNotFoundError:
        want_up = True
    except OSError as e:
        _strerr.fatal(PROG, "unable to stat %s/down" % dirname, e)
    try:
        os.mkdir("supervise", 0o700)
    except FileExistsError:
        # Debian's supervise: a dangling symlink (state kept on a tmpfs, say)
        # gets its target made.
        if os.path.islink("supervise") and not os.path.exists("supervise"):
            try:
                os.mkdir(os.readlink("supervise"), 0o700)
            except OSError:
                pass
    except OSError:
        pass
    try:
        lock = os.open("supervise/lock", os.O_WRONLY | os.O_NONBLOCK | os.O_APPEND | os.O_CREAT, 0o600)
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as e:
        _strerr.fatal(PROG, "unable to acquire %s/supervise/lock" % dirname, e)
    control = _open_fifo("supervise/control", os.O_RDONLY, "read", dirname + "/supervise/control")
    # Our own writer keeps the FIFO from ever reporting end of file.
    control_w = _open_fifo("supervise/control", os.O_WRONLY, "write", dirname + "/supervise/control")
    return Machine(want_up), (lock, control, control_w)


class Supervisor:
    """The thin loop: turns readiness into events and carries out effects."""

    def __init__(self, dirname, machine, control, environ):
        self.dirname = dirname
        self.machine = machine
        self.control = control
        self.stamp = _tai64.now()
        self.done = False
        self.environ = environ

    def status(self):
        m = self.machine
        data = _status.pack(self.stamp[0], self.stamp[1], m.pid, m.paused, _WANT_BYTE[m.want])
        failed = _status.write(data)
        if failed:
            what, err = failed
            name = "%s/supervise/status.new" % self.dirname
            if what == "open":
                _strerr.warn(PROG, "unable to open " + name, err)
            elif what == "write":
                _strerr.warn(PROG, "unable to write " + name, err)
            elif what == "partial":
                _strerr.warn(PROG, "unable to write %s: partial write" % name)
            else:
                _strerr.warn(PROG, "unable to rename %s to status" % name, err)

    def perform(self, effects):
        for effect in effects:
            kind = effect[0]
            if kind == "status":
                self.status()
            elif kind == "touch":
                self.stamp = _tai64.now()
            elif kind == "kill":
                # pid is reaped only by this loop, so at worst it is a zombie
                # here: the signal cannot reach a recycled pid.
                try:
                    os.kill(self.machine.pid, effect[1])
                except ProcessLookupError:
                    pass
            elif kind == "spawn":
                self.perform(self.spawn())
            elif kind == "exit":
                self.status()
                self.done = True

    def spawn(self):
        now = time.monotonic()
        try:
            pid = _spawn.spawn(["./run"], self.environ,
                               message="%s: fatal: unable to start %s/run" % (PROG, self.dirname))
        except OSError as e:
            _strerr.warn(PROG, "unable to fork for %s, sleeping 60 seconds" % self.dirname, e)
            return self.machine.fork_failed(now)
        return self.machine.started(pid, now)

    def reap(self):
        while True:
            try:
                pid, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            if pid == self.machine.pid:
                self.perform(self.machine.child_exited(time.monotonic()))

    def commands(self):
        try:
            data = os.read(self.control, 4096)
        except (BlockingIOError, InterruptedError):
            return
        for byte in data:
            if self.done:
                return
            self.perform(self.machine.command(chr(byte), time.monotonic()))

    def run(self, wakeup):
        poller = select.poll()
        poller.register(wakeup, select.POLLIN)
        poller.register(self.control, select.POLLIN)
        self.status()
        while not self.done:
            wake = self.machine.wake
            timeout = None
            if wake is not None:
                timeout = max(0, int((wake - time.monotonic()) * 1000) + 1)
            ready = poller.poll(timeout)
            for fd, _ in ready:
                if fd == wakeup:
                    try:
                        while os.read(wakeup, 512):
                            pass
                    except (BlockingIOError, InterruptedError):
                        pass
            self.reap()
            if not self.done:
                self.commands()
            if not self.done and self.machine.wake is not None:
                self.perform(self.machine.deadline(time.monotonic()))


def main(argv=None, environ=None):
    """ENVIRON (a dict of bytes) is what ./run gets; svscan, which forks us,
    passes the one it read once, so that its children share it."""
    argv = sys.argv if argv is None else argv
    if len(argv) != 2:
        _strerr.usage(PROG, "supervise dir")
    dirname = argv[1]
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    try:
        wakeup, wakeup_w = os.pipe()
        os.set_blocking(wakeup, False)
        os.set_blocking(wakeup_w, False)
    except OSError as e:
        _strerr.fatal(PROG, "unable to create pipe for %s" % dirname, e)
    signal.set_wakeup_fd(wakeup_w, warn_on_full_buffer=False)
    signal.signal(signal.SIGCHLD, lambda signum, frame: None)
    machine, fds = _setup(dirname)
    sup = Supervisor(dirname, machine, fds[1],
                     initial_environ() if environ is None else environ)
    sup.status()
    _open_fifo("supervise/ok", os.O_RDONLY, "read", dirname + "/supervise/ok")
    sup.perform(machine.boot(time.monotonic()))
    sup.run(wakeup)
    return 0


if __name__ == "__main__":
    sys.exit(main())
