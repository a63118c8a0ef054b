"""A dry run of supervise's code, made by svscan before it forks.

A supervise that svscan forks owns every page it writes to.  Some of those
writes happen only the first time a piece of code runs in a process:
CPython fills its type-attribute cache and gives types version tags,
quickens a code object after 8 calls (3.11) and specialises its bytecode,
and caches string hashes; code that runs unquickened also takes and drops
a reference to each attribute name it looks up, writing the page that
holds the name.  Run here, in svscan, before the forks, those writes land
in pages every child shares instead of in each child.

run() rehearses supervise's signal set-up (SIGINT, the wake-up pipe),
putting svscan's own back each time; raises and catches the OSErrors
supervise's set-up may meet; takes supervise's policy
(_supervise_policy.Machine) through a service's life
(start, crash, throttled restart, every control letter, exit), without
knobs and with every knob; packs what supervise publishes (status,
xstatus, exits); runs the knobs' own code (parsers, log-events records
through a pipe, the notify datagram parser and an unbound socket); drives
a Supervisor without files; and, where a scratch directory can be made
($TMPDIR, else /dev/shm or /tmp), rehearses supervise's start-up there
(supervise.start(): lock, FIFOs, status, exits, xstatus) RUNS times with
one run of a ./run that exits at once, started and reaped as supervise
does it, then RUNS times with knob files.  Nothing is signalled; the only
processes started are those ./run's (/bin/sh, reaped at once, skipped
when the scratch directory is mounted noexec).  svscan's directory,
descriptors and signals are left as they were and the scratch directory
is removed.

Last, it has _pools keep one empty pool of CPython's small-object
allocator per size class for a forked supervise's new objects (see
there).  What each part is worth, measured: docs/performance.md ("The
changes, and what each is worth").
"""

import os
import select
# The C core of the signal module (see supervise).
import _signal as signal
import time

from . import (_knobs, _loop, _notify, _pools, _prewarm_knobs, _spawn, _status,
               _supervise_policy, _xstatus)

_LETTERS = "dupcohaitkq12wox"
RUNS = 10       # CPython 3.11 quickens a code object after 8 calls


def _publish(effects):
    for effect in effects:
        if effect[0] == "status":
            _status.pack(1, 500, effect[1], effect[2], _status.WANT_UP)
        elif effect[0] == "xstatus":
            _xstatus.pack_values(list(effect[1]))
        elif effect[0] == "record":
            _xstatus.pack_exits([effect[1:7]])   # (at, pid, code, sig, ran, asked)


def _errors():
    """The OSErrors supervise's set-up raises and catches at every start
    (no down file, FIFOs that exist), on calls that change nothing."""
    for call, arg in ((os.stat, ""), (os.mkdir, "/"), (os.mkfifo, "/"), (os.unlink, "")):
        try:
            call(arg)
        except FileNotFoundError:
            pass
        except OSError:
            pass
    poller = select.poll()
    poller.poll(0)


# What a rehearsal leaves in its scratch directory.
_FILES = ("supervise/control", "supervise/ok", "supervise/lock", "supervise/status",
          "supervise/exits", "supervise/xstatus", "supervise/status.new",
          "supervise/exits.new", "supervise/xstatus.new", "supervise/notify", "fifo", "down", "run",
          "finish") + tuple(_prewarm_knobs.VALUES) + ("supervise", "")


def _supervisor():
    """A Supervisor (supervise's loop object) made and driven without files:
    its attribute look-ups fill CPython's type cache here, not in each
    child (every miss writes one of the cache's 24 pages)."""
    from . import supervise
    r, w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        sup = supervise.Supervisor(".", True, r, {})   # lists ".", no more
        sup.reload()
        m = sup.machine
        # the extended status only: no status file, no spawn
        sup.perform([e for e in m.boot(1000.0) if e[0] == "xstatus"])
        sup.perform([("touch",), ("xstatus", sup.xfields), ("log", "start", 1, 0, 0, 0.0)])
        sup.xfields = None
        sup.schedule_changed()
        sup.commands()
        sup.close_ready()
        sup.add(w, sup.commands)
        sup.remove(w)
    finally:
        os.close(r)
        os.close(w)


def _scratch():
    """A new directory of our own for the rehearsal ($TMPDIR, else
    /dev/shm or /tmp), in which FIFOs can be made; None if there is none."""
    for base in (os.environ.get("TMPDIR"), "/dev/shm", "/tmp"):
        if not base:
            continue
        path = "%s/svscan-prewarm.%d" % (base.rstrip("/"), os.getpid())
        if len(os.fsencode(path + "/supervise/notify")) > _notify.PATH_MAX:
            continue       # the notify socket could not be bound: a warning each time
        try:
            os.mkdir(path, 0o700)      # fails on anything already there
        except OSError:
            continue
        try:
            os.mkfifo(path + "/fifo", 0o600)
        except OSError:
            _remove(path)
            continue
        return path
    return None


def _remove(path):
    for name in _FILES:
        try:
            if name in ("supervise", ""):
                os.rmdir(path + "/" + name)
            else:
                os.unlink(path + "/" + name)
        except OSError:
            pass


def _write(path, data, mode=0o600):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, mode)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


def _rehearse(path):
    """supervise.start() in PATH (a down file there: ./run is not started
    at boot) RUNS times without knob files, each followed by one run of
    ./run (_run_once) where it can be started; then RUNS times with every
    knob file but schedule, each followed by a run of ./run with them
    (_prewarm_knobs.rehearse).
    Back in svscan's directory after each."""
    from . import supervise
    _write(path + "/down", b"")
    _write(path + "/run", b"#!/bin/sh\nexit 0\n", 0o700)
    # ./run can be started (else its exec error would be printed each time)
    runs = os.access("/bin/sh", os.X_OK) and not os.statvfs(path).f_flag & os.ST_NOEXEC
    here = os.open(".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        for k in range(2 * RUNS):
            if k == RUNS:
                for name, data in _prewarm_knobs.VALUES.items():
                    _write(path + "/" + name, data)
                _write(path + "/finish", b"#!/bin/sh\n", 0o700)
            sup = None
            try:
                # as svscan starts it: the knobs read beforehand (flush)
                problems = {}
                knobs = _knobs.load(problems, None, path + "/")
                sup = supervise.start(path, {}, knobs, problems)
                sup.flush()
                sup.commands()
                if k < RUNS and runs:
                    _run_once(sup)
                if k >= RUNS:
                    _prewarm_knobs.rehearse(sup, _perform, runs)
                _loop_once(sup)
            finally:
                os.fchdir(here)
                if sup is not None:
                    _close(sup)
    except SystemExit:
        pass           # supervise's set-up found something wrong: no matter
    finally:
        os.close(here)


# Effects a rehearsal carries out: none that signals or starts a process.
_HARMLESS = ("status", "xstatus", "touch", "record", "log")


def _perform(sup, effects):
    sup.perform([e for e in effects if e[0] in _HARMLESS])


def _run_once(sup):
    """svc -u: ./run (which exits at once) started as supervise starts it;
    then want down, and the exit reaped as supervise reaps it.  Only
    without knobs: no group to signal, no finish to run."""
    m = sup.machine
    sup.perform(m.command("u", time.monotonic()))
    pid = sup.run_pid
    if not pid:
        return
    _perform(sup, m.command("d", time.monotonic()))    # no signal: it exits
    try:
        os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT)   # a zombie now
    except OSError:
        pass
    sup.reap()
    sup.flush()


def _loop_once(sup):
    """supervise's loop (Supervisor.run), once round: an x waiting in the
    control FIFO ends it, the service being down.  Run only when that is
    certain, as the loop would otherwise wait for ever."""
    m = sup.machine
    f = sup.forward
    if m.pid or m.exiting or not m.idle() or sup.cron is not None \
            or (f is not None and f.out != f.w and (sup.forwarding or f.pending)):
        return
    r, w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        if os.write(sup.fds[2], b"x") == 1:
            sup.run(r)
    finally:
        os.close(r)
        os.close(w)


def _close(sup):
    fds = list(sup.fds)
    if sup.notify:
        sup.notify.close()
        try:
            # the next rehearsal binds a fresh name, as a new service does
            os.unlink(sup.dirname + "/supervise/notify")
        except OSError:
            pass
    if sup.forward is not None:
        fds += [sup.forward.r, sup.forward.w]
    for fd in fds:
        os.close(fd)


def _signals():
    """supervise.signals(), then svscan's own SIGINT and SIGCHLD handlers,
    wake-up descriptor and signal mask put back; every signal blocked in
    between, so that one that comes then is delivered afterwards, to
    svscan's handler and pipe."""
    from . import supervise
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, signal.valid_signals())
    handlers = [(sig, signal.getsignal(sig)) for sig in (signal.SIGINT, signal.SIGCHLD)]
    fd = _loop.wakeup_fd
    r = -1
    try:
        r = supervise.signals(".")
    except SystemExit:
        pass           # no pipe (supervise said so): no matter
    finally:
        w = _loop.wakeup_fd
        signal.set_wakeup_fd(fd, warn_on_full_buffer=False)
        _loop.wakeup_fd = fd
        for sig, handler in handlers:
            if handler is not None:       # (None: not set from Python)
                signal.signal(sig, handler)
        if r >= 0:
            os.close(r)
            os.close(w)
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)


def run(environ=None):
    """Everything above; the policy twice per knob set, so that the second
    pass finds the bytecode specialised by the first; then
    _pools.fill_and_reserve().  ENVIRON, if given, is the dict (of bytes)
    svscan gives every supervise for ./run; it is handed to
    _spawn.inherit() first (see there)."""
    if environ is not None:
        _spawn.inherit(environ)
    for _ in range(RUNS):
        _signals()
    _errors()
    _prewarm_knobs.paths()
    for _ in range(RUNS):
        _supervisor()
    path = _scratch()
    if path is not None:
        try:
            _rehearse(path)
        finally:
            _remove(path)
    for knobs in (_knobs.Knobs(), _knobs.Knobs(), _prewarm_knobs.all_knobs(), _prewarm_knobs.all_knobs()):
        m = _supervise_policy.Machine(True, knobs)
        now = 1000.0
        pid = 100
        _publish(m.boot(now))
        _publish(m.started(pid, now))
        _publish(m.notice(pid, False, b"up", now + 0.1))
        _publish(m.ready(pid, now + 0.1))
        _publish(m.child_exited(256, 9, now + 0.5))        # killed at once
        if m.finishing:
            _publish(m.finish_started(pid + 50, now + 0.5))
            _publish(m.finish_exited(0, now + 0.6))
        if m.pgid:
            _publish(m.deadline(m.wake))
            _publish(m.group_gone(m.pgid, now + 0.7))
        _publish(m.deadline(now + 1.0))                    # the throttle ends
        _publish(m.started(pid + 1, now + 1.0))
        _publish(m.child_exited(0, 0, now + 3.0))          # exited after a while
        _publish(m.started(pid + 2, now + 3.0))
        for k, letter in enumerate(_LETTERS):
            now += 2.0
            _publish(m.command(letter, now))
            if m.pid and letter in "dtkx":
                _publish(m.child_exited(256, 15, now + 0.1))
            elif not m.pid and m.wake is not None:
                _publish(m.deadline(m.wake))
            if not m.pid and letter in "uo" and not m.exiting:
                _publish(m.started(pid + 3 + k, now + 0.2))
    _pools.fill_and_reserve()
