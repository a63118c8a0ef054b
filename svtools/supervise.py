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
accepts q, 1, 2 and w (SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH).  It also
writes DIR/supervise/xstatus and DIR/supervise/exits (extended status and
exit history), and obeys the knob files of servicedir(5): finish,
timeout-finish, down-signal, timeout-kill, process-group, notification-fd,
notify-socket, restart-backoff, fail-limit, max-death-tally, log-events,
schedule.  A knob that cannot be used is warned about and ignored.  A
service with a schedule file starts down and is started once (as by svc -o)
at each firing of its cron line.

Exit codes: 0 after the 'x' command once the service is down; 100 for a
usage error; 111 when DIR cannot be set up (chdir, lock, FIFOs).
"""

import os
import select
# The C core of the signal module: the same calls without the enum wrappers,
# which would cost a long-running process 0.8 MB and every start-up 5 ms.
import _signal as signal
import sys
import time

# _logevents and _notify are small and imported here, before svscan forks:
# imported later, in each supervise, the import machinery alone would cost
# every service that uses them ~500 KiB.
from . import (_knobs, _logevents, _loop, _multilog_inchild, _notify, _proc, _spawn, _status,
               _strerr, _tai64, _xstatus)
from ._pathexec import initial_environ
# Loaded here, before svscan forks, rather than on demand: the first import
# in a forked supervise costs it ~0.7 MiB of copied pages, this ~20 KiB shared.
from ._schedule import Cron
from ._supervise_knobio import KnobIO
from ._supervise_setup import open_fifo, setup
from ._supervise_policy import Machine

PROG = "supervise"
_WANT_BYTE = {"up": _status.WANT_UP, "down": _status.WANT_DOWN, "once": _status.WANT_NONE}
_NEXT_FIRE = _xstatus.FIELDS.index("next_fire")
_SKIPPED = _xstatus.FIELDS.index("skipped")
_WALL = tuple(_xstatus.FIELDS.index(key) for key in ("since", "ready_since", "exit_at", "next_start"))
_IN = select.POLLIN
_NO_EXITS = _xstatus.pack_exits([])
_SIGCHLD = (signal.SIGCHLD,)


class Supervisor(KnobIO):
    """The thin loop: turns readiness into events and carries out effects."""

    # Slots, as the policy's Machine: CPython 3.11 shares one table of
    # instance attribute names per class and stops adding to it after some
    # thirty instances (svscan's rehearsals make more), so a knob
    # supervise's Supervisor setting ready_fd, notify or forwarding got a
    # dict of its own and missed every specialised attribute access:
    # 63-67 KiB per supervise with all knobs, 5-9 without
    # (docs/performance.md).
    __slots__ = ("done", "run_pid", "finish_pid", "xfields", "exits_dirty", "ready_fd", "forward",
                 "forwarding", "notify", "notify_path", "notify_plain", "cron", "lastx", "fds",
                 "dirname", "problems", "machine", "control", "environ", "stamp", "offset",
                 "exits", "gone", "watch", "poller", "children")

    def __init__(self, dirname, want_up, control, environ, knobs=None, problems=None,
                 notify=None):
        """KNOBS, PROBLEMS: what _knobs.load found in DIRNAME (svscan reads
        before it forks); the problems are warned here.  None: read now.
        NOTIFY: the NOTIFY_SOCKET svscan put into our C environment
        (_spawn.preset), or None."""
        self.done = False
        self.run_pid = 0
        self.finish_pid = 0
        self.xfields = None
        self.exits_dirty = False
        self.ready_fd = -1
        self.forward = None
        self.forwarding = False
        self.notify = None         # the notify socket; False when it could not be made
        self.notify_path = notify  # bound; before the first bind, svscan's preset
        self.notify_plain = None   # the environment without NOTIFY_SOCKET while exported
        self.cron = None
        self.lastx = None
        self.fds = ()
        self.dirname = dirname
        if knobs is None:
            self.problems = {}
            knobs = _knobs.load(self.problems, self.knob_warning)
        else:
            self.problems = problems
            for name in problems:
                self.knob_warning(name, *problems[name])
        # a scheduled job (even a junk schedule) is normally down
        self.machine = Machine(want_up and not knobs.scheduled, knobs)
        self.control = control
        self.environ = environ
        self.stamp = _tai64.now()
        self.offset = time.time() - time.monotonic()
        self.exits = []
        self.gone = []
        self.watch = {}       # fd -> handler(), beyond the wake-up pipe and control
        self.poller = select.poll()
        self.children = 0     # started and not reaped yet (reap)

    def knob_warning(self, name, problem, err):
        if problem:
            _strerr.warn(PROG, "%s/%s: %s" % (self.dirname, name, problem))
        else:
            _strerr.warn(PROG, "unable to read %s/%s" % (self.dirname, name), err)

    def reload(self):
        self.machine.knobs = knobs = _knobs.load(self.problems, self.knob_warning)
        if (self.cron.spec if self.cron else None) != knobs.schedule:
            self.reschedule(knobs.schedule)

    def reschedule(self, spec):
        if self.cron is not None:
            self.cron.close()
            self.cron = None
        if spec is not None:
            self.cron = Cron(self, spec)
            self.cron.begin()
        self.schedule_changed()

    def schedule_changed(self):
        """Have xstatus rewritten with next_fire and skipped."""
        if self.xfields is None and self.lastx is not None:
            self.xfields = self.lastx

    def _write(self, data, name):
        failed = _status.write(data, "supervise/" + name)
        if failed:
            what, err = failed
            new = "%s/supervise/%s.new" % (self.dirname, name)
            if what == "open":
                _strerr.warn(PROG, "unable to open " + new, err)
            elif what == "write":
                _strerr.warn(PROG, "unable to write " + new, err)
            elif what == "partial":
                _strerr.warn(PROG, "unable to write %s: partial write" % new)
            else:
                _strerr.warn(PROG, "unable to rename %s to %s" % (new, name), err)

    def status(self, pid, paused, want):
        self._write(_status.pack(self.stamp[0], self.stamp[1], pid, paused, _WANT_BYTE[want]), "status")

    def flush(self):
        """Write the exit history if it grew, and the last extended status
        asked for, with wall-clock times: after the round's spawn, if any."""
        if self.exits_dirty:
            self.exits_dirty = False
            self._write(_xstatus.pack_exits(self.exits), "exits")
        values, self.xfields = self.xfields, None
        if values is not None:
            if self.cron is not None:
                self.lastx = values
            values = list(values)
            if self.cron is not None:
                values[_NEXT_FIRE] = self.cron.policy.next_fire()
                values[_SKIPPED] = self.cron.policy.skipped
            for i in _WALL:
                if values[i]:
                    values[i] += self.offset
            self._write(_xstatus.pack_values(values), "xstatus")

    def perform(self, effects):
        for effect in effects:
            kind = effect[0]
            if kind == "status":
                self.status(*effect[1:])
            elif kind == "xstatus":
                self.xfields = effect[1]
            elif kind == "touch":
                self.stamp = _tai64.now()
            elif kind == "kill":
                self.kill(effect[1], effect[2])
            elif kind == "spawn":
                self.perform(self.spawn_run(*effect[1:]))
            elif kind == "log":
                # before "record": that literal is a string of libpython's
                # own (deep-frozen), whose page a comparison with it writes
                # (docs/performance.md, "Eighth round"); log comes at starts
                self.log(*effect[1:])
            elif kind == "record":
                self.record(*effect[1:])
            elif kind == "finish":
                self.perform(self.spawn_finish(effect[1], effect[2]))
            elif kind == "probe":
                if not _proc.group_alive(effect[1]):
                    self.gone.append(effect[1])
            elif kind == "exit":
                self.done = True
            else:
                raise ValueError("supervise: unknown effect %r" % (effect,))
        while self.gone:
            self.perform(self.machine.group_gone(self.gone.pop(), time.monotonic()))

    def kill(self, target, sig):
        # Our children are reaped only by this loop, so a pid is at worst a
        # zombie here: the signal cannot reach a recycled pid.  A group may
        # have emptied, which the machine wants to know (after this batch).
        try:
            os.kill(target, sig)
        except ProcessLookupError:
            if target < 0:
                self.gone.append(-target)
        except PermissionError:
            pass

    def record(self, at, pid, code, sig, ran, asked, tally):
        self.exits.append((at + self.offset, pid, code, sig, ran, asked))
        del self.exits[:len(self.exits) - tally]
        self.exits_dirty = True

    def add(self, fd, handler, mask=_IN):
        self.watch[fd] = handler
        self.poller.register(fd, mask)

    def remove(self, fd):
        del self.watch[fd]
        self.poller.unregister(fd)

    def spawn(self, argv, env, setsid=False, fds=()):
        """Start ARGV in DIR with signals reset (_spawn); FDS are (source,
        target) descriptors for the child.  Returns the pid; OSError when
        no process could be made.  The one place that starts a program."""
        in_child = None
        if argv == ["./run"] and (not _spawn.FAST or _multilog_inchild.find(env)):
            # returns unless it ran multilog in the forked child
            in_child = lambda: _multilog_inchild.maybe_run(env)
        pid = _spawn.spawn(argv, env, setsid, fds, self.unable_to_start, in_child)
        self.children += 1
        return pid

    def unable_to_start(self, argv):
        """The exec error's prefix, made only by the child that reports it."""
        return "%s: fatal: unable to start %s/%s" % (PROG, self.dirname, argv[0][2:])

    def spawn_run(self, pgroup, ready_fd, notify, log):
        fds = []
        if log:
            if self.forward is None:
                self.forwarder()     # a new pipe: nothing to drain
            else:
                # what the last run left goes before this run's start record
                self.forward.read(_logevents.DRAIN)
            fds.append((self.forward.w, 1))
        ready_w = -1
        if ready_fd is not None:
            ready_r, ready_w = os.pipe()
            os.set_blocking(ready_r, False)
            fds.append((ready_w, ready_fd))
        if notify or self.notify is not None or self.notify_path is not None:
            self.notify_env(notify)
        now = time.monotonic()
        try:
            pid = self.spawn(["./run"], self.environ, pgroup, fds)
        except OSError as e:
            _strerr.warn(PROG, "unable to fork for %s, sleeping 60 seconds" % self.dirname, e)
            if ready_w >= 0:
                os.close(ready_r)
                os.close(ready_w)
            return self.machine.fork_failed(now)
        if ready_w >= 0:
            os.close(ready_w)
            self.ready_fd = ready_r
            # add(), written out at the knobs' first start (one function fewer)
            self.watch[ready_r] = self.ready_readable
            self.poller.register(ready_r, _IN)
        self.run_pid = pid
        return self.machine.started(pid, now)

    def spawn_finish(self, code, sig):
        fds = [(self.forward.w, 1)] if self.forward is not None else []
        try:
            pid = self.spawn(["./finish", str(code), str(sig)], self.environ, False, fds)
        except OSError as e:
            _strerr.warn(PROG, "unable to fork for %s/finish" % self.dirname, e)
            return self.machine.finish_exited(111, time.monotonic())
        self.finish_pid = pid
        return self.machine.finish_started(pid, time.monotonic())

    def reap(self):
        # counted: no waitpid that finds no child left (_loop.reap_known)
        done = _loop.reap_known(self.children)
        self.children = max(self.children - len(done), 0)
        for pid, code, sig in done:
            if pid == self.run_pid:
                self.run_pid = 0
                self.close_ready()
                self.reload()
                self.perform(self.machine.child_exited(code, sig, time.monotonic()))
            elif pid == self.finish_pid:
                self.finish_pid = 0
                self.reload()
                self.perform(self.machine.finish_exited(code, time.monotonic()))

    def commands(self):
        # at most _loop.READ bytes a round: the rest waits for the next one
        try:
            data = os.read(self.control, _loop.READ)
        except (BlockingIOError, InterruptedError):
            return
        self.reload()
        for byte in data:
            if self.done:
                return
            self.perform(self.machine.command(chr(byte), time.monotonic()))

    def run(self, wakeup):
        poller = self.poller
        poller.register(wakeup, _IN)
        poller.register(self.control, _IN)
        while not self.done:
            self.flush()
            if self.forward is not None:
                self.forward_sync()
            wake = self.machine.wake
            if self.cron is not None and self.cron.wake is not None:
                wake = self.cron.wake if wake is None else min(wake, self.cron.wake)
            timeout = None
            if wake is not None:
                timeout = max(0, int((wake - time.monotonic()) * 1000) + 1)
            ready = poller.poll(timeout)
            # monotonic -> wall clock, one offset per round, so that one
            # instant reads the same in xstatus and exits
            self.offset = time.time() - time.monotonic()
            # commands only when poll says so: an empty read raises
            # BlockingIOError, whose strerror costs a glibc malloc
            control = woke = False
            for fd, _ in ready:
                if fd == wakeup:
                    _loop.drain(wakeup)
                    woke = True
                elif fd == self.control:
                    control = True
                elif fd in self.watch:
                    self.watch[fd]()
            # with no child of ours, waitpid only raises (ECHILD): unless a
            # SIGCHLD came (a child we did not count), nothing to ask
            if woke or self.children:
                self.reap()
            if control and not self.done:
                self.commands()
            wake = self.machine.wake
            if not self.done and wake is not None and time.monotonic() >= wake:
                self.reload()
                self.perform(self.machine.deadline(time.monotonic()))
            if not self.done and self.cron is not None and self.cron.wake is not None \
                    and time.monotonic() >= self.cron.wake:
                self.reload()
                if self.cron is not None:
                    self.cron.deadline()
        self.flush()
        if self.forward is not None:
            # the last exit record is queued: write it (bounded) before we go
            self.forward.finish()


def preload():
    """For a process that forks many supervises (svscan), before it forks:
    load what a knob may need later, so that it is paid for once and
    shared.  _socket (notify-socket) costs each supervise that loads it
    itself about 470 KiB, and svscan about as much, once."""
    _notify.load_socket()


def start(dirname, environ, knobs=None, problems=None, notify=None):
    """supervise's start-up in DIRNAME up to its loop: set-up, first status
    and exits, supervise/ok, the machine's first events (./run started
    unless down).  Returns the Supervisor; its `fds` (lock, control FIFO
    both ways, ok) stay open for as long as supervise runs.  KNOBS and
    PROBLEMS: see Supervisor.  svscan's _prewarm rehearses this in a
    scratch directory with a down file."""
    want_up, fds = setup(dirname)
    sup = Supervisor(dirname, want_up, fds[1], environ, knobs, problems, notify)
    sup.status(0, False, sup.machine.want)
    sup._write(_NO_EXITS, "exits")
    sup.fds = fds + (open_fifo("supervise/ok", os.O_RDONLY, "read", dirname + "/supervise/ok"),)
    sup.perform(sup.machine.boot(time.monotonic()))
    if sup.machine.knobs.schedule is not None:
        sup.reschedule(sup.machine.knobs.schedule)
    return sup


def main(argv=None, environ=None, knobs=None, problems=None, notify=None):
    """ENVIRON (a dict of bytes) is what ./run gets; svscan, which forks us,
    passes the one it read once, so that its children share it, and the
    Knobs and problems it read from the directory, and the NOTIFY_SOCKET
    it put into our environment (see Supervisor)."""
    argv = sys.argv if argv is None else argv
    if len(argv) != 2:
        _strerr.usage(PROG, "supervise dir")
    dirname = argv[1]
    wakeup = signals(dirname)
    sup = start(dirname, initial_environ() if environ is None else environ, knobs, problems,
                notify)
    sup.run(wakeup)
    # The control FIFO first: at exit the kernel releases a process's files
    # last opened first, so supervise/ok would lose its reader (the sign
    # that supervise is gone) while control still had one.
    os.close(sup.fds[1])
    os.close(sup.fds[2])
    return 0


def signals(dirname):
    """SIGINT at its default and the wake-up pipe for SIGCHLD
    (_loop.wakeup); returns the pipe's read end.  svscan's _prewarm
    rehearses this, putting its own signals back, so that a forked
    supervise finds it quickened."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    try:
        return _loop.wakeup(_SIGCHLD)
    except OSError as e:
        _strerr.fatal(PROG, "unable to create pipe for %s" % dirname, e)


if __name__ == "__main__":
    sys.exit(main())
