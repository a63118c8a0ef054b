"""The knobs' half of svscan's dry run (_prewarm): what a supervise with
knob files runs, rehearsed in svscan so that its one-time writes happen
where they are shared (docs/performance.md, "The knob files' own pages").

paths() runs the knobs' own code (log-events records through a pipe, the
notify datagram parser, an unbound socket); all_knobs() is the Knobs of a
directory with every file of VALUES (and finish); rehearse() follows
_prewarm's supervise.start() in a scratch directory holding those files:
./run started through spawn_run with every knob, reaped here, the policy
taken back down without a signal or ./finish.
"""

import os
import time

from . import _knobs, _logevents, _notify

# A value every knob parser accepts (bench/policy.py's set).
VALUES = {
    "timeout-finish": b"5000\n", "down-signal": b"TERM\n", "timeout-kill": b"500\n",
    "process-group": b"", "notification-fd": b"5\n", "notify-socket": b"",
    "restart-backoff": b"60\n", "fail-limit": b"5 60\n", "max-death-tally": b"100\n",
    "log-events": b"",
}


def all_knobs():
    """Knobs with every file present, through the parsers supervise uses."""
    knobs = _knobs.Knobs()
    knobs.finish = True
    for name, data in VALUES.items():
        attr, parse = _knobs.PARSERS[name]
        value, problem = parse(data)
        if problem is None:
            setattr(knobs, attr, value)
    return knobs


def _forward():
    """log-events' pipe: records and output through a Forwarder that writes
    into its own pipe, then closed."""
    f = _logevents.Forwarder()
    try:
        f.out = f.w
        f.read(_logevents.DRAIN)
        f.record("start", 100, 0, 0, 0.0)
        f.write()
        f.read()
        f.record("exit", 100, 256, 15, 1.5)
        f.record("exit", 100, 3, 0, 1.5)
        f.record("ready", 100, 0, 0, 0.5)
        f.write()
        f.read()
    finally:
        os.close(f.r)
        os.close(f.w)


def paths():
    """What the knobs bring beyond the policy: log-events' records and
    pipe, the notify datagram parser, a datagram socket (made and closed,
    never bound)."""
    try:
        _forward()
    except OSError:
        pass
    _notify.parse(b"READY=1\nSTATUS=up\n")
    os.fsencode(os.getcwd())
    s = _notify.load_socket()
    try:
        sock = s.socket(s.AF_UNIX, s.SOCK_DGRAM | s.SOCK_NONBLOCK | s.SOCK_CLOEXEC)
    except OSError:
        return
    try:
        sock.setsockopt(s.SOL_SOCKET, s.SO_PASSCRED, 1)
    except OSError:
        pass
    finally:
        sock.close()


def rehearse(sup, perform, runs):
    """After supervise.start() with every knob file: ./run started and
    reaped (_run) when RUNS (it can be executed), else what starting it
    sets up (forwarder, notify socket, a start record).  log-events'
    records go back into the forwarder's own pipe, never to svscan's
    stdout.  PERFORM carries out effects that neither signal nor start."""
    if runs:
        _run(sup, perform)
        return
    f = sup.forwarder()
    f.out = f.w
    sup.notify_env(True)
    sup.log("start", 1, 0, 0, 0.0)


def _run(sup, perform):
    """svc -u with every knob: ./run (which exits at once) started through
    spawn_run as supervise starts it, in a session of its own, with the
    log-events pipe as its stdout, the readiness pipe at its
    notification-fd and NOTIFY_SOCKET; then svc -d, the exit reaped here,
    and the policy taken back down (./finish counted as run) without
    sending a signal or starting ./finish."""
    m = sup.machine
    # The forwarder made here, writing into its own pipe: while ./run is
    # started that pipe is our fd 1, so that the start record is written
    # as it is queued (Forwarder.record writes at once to fd 1 only), as
    # in a supervise; never to svscan's own stdout, put back right after.
    f = sup.forwarder()
    f.out = f.w
    saved = _stdout_to(f.w)
    try:
        if saved is not None:
            f.out = 1
        sup.perform(m.command("u", time.monotonic()))
    finally:
        if saved is not None:
            os.dup2(saved[0], 1, saved[1])
            os.close(saved[0])
        f.out = f.w
    pid = sup.run_pid
    if not pid:
        return
    perform(sup, m.command("d", time.monotonic()))
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
        pass
    sup.run_pid = 0
    sup.close_ready()
    now = time.monotonic()
    perform(sup, m.child_exited(0, 0, now))
    if m.finishing:
        perform(sup, m.finish_started(0, now))
        perform(sup, m.finish_exited(0, now))
    if m.pgid:
        perform(sup, m.group_gone(m.pgid, now))
    sup.flush()


def _stdout_to(fd):
    """Make FD our fd 1 for a moment: (copy of fd 1, its inheritable flag)
    to put back, or None (no fd 1: nothing done)."""
    try:
        held = os.get_inheritable(1)
        copy = os.dup(1)
    except OSError:
        return None
    try:
        os.dup2(fd, 1)
    except OSError:
        os.close(copy)
        return None
    return copy, held
