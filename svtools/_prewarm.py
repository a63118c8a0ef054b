"""A dry run of supervise's pure code, made by svscan before it forks.

A supervise that svscan forks owns every page it writes to.  Some of those
writes happen only the first time a piece of code runs in a process:
CPython fills its type-attribute cache and gives types version tags,
specialises the bytecode it runs, and caches string hashes.  Run once in
svscan before the forks, they land in pages every child shares instead of
in each child.  Measured with `bench/run.py -i svtools memory` (KiB per
forked supervise at 100 services, interleaved runs): private 1117-1125
without the dry run, 1077-1093 with the policy and codecs (five runs
each), 1033-1061 once the OSErrors are added (four runs, against
1049-1073); PSS after one restart of every service 1225-1249 without,
1141-1164 with all of it.

run() raises and catches the OSErrors supervise's set-up meets at every
start, takes supervise's policy (_supervise_policy.Machine) through a
service's life (start, crash, throttled restart, every control letter,
exit) and packs what supervise publishes (status, xstatus, exits).  It
changes no file and starts nothing; its results are thrown away.
"""

import os
import select

from . import _knobs, _logevents, _notify, _status, _supervise_policy, _xstatus

_LETTERS = "dupcohaitkq12wox"


def _publish(effects):
    for effect in effects:
        if effect[0] == "status":
            _status.pack(1, 500, effect[1], effect[2], _status.WANT_UP)
        elif effect[0] == "xstatus":
            _xstatus.pack_values(list(effect[1]))
        elif effect[0] == "record":
            _xstatus.pack_exits([effect[1:6]])


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


# A value every knob parser accepts (bench/policy.py's set).
_KNOB_VALUES = {
    "timeout-finish": b"5000\n", "down-signal": b"TERM\n", "timeout-kill": b"500\n",
    "process-group": b"", "notification-fd": b"5\n", "notify-socket": b"",
    "restart-backoff": b"60\n", "fail-limit": b"5 60\n", "max-death-tally": b"100\n",
    "log-events": b"",
}


def _all_knobs():
    """Knobs with every file present, through the parsers supervise uses."""
    knobs = _knobs.Knobs()
    knobs.finish = True
    for name, data in _KNOB_VALUES.items():
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
        f.record(_logevents.record("start", 100, 0, 0, 0.0), False)
        f.write()
        f.read()
        f.record(_logevents.record("exit", 100, 256, 15, 1.5))
        f.record(_logevents.record("exit", 100, 3, 0, 1.5))
        f.write()
        f.read()
    finally:
        os.close(f.r)
        os.close(f.w)


def _knob_paths():
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
        sock = s.socket(s.AF_UNIX, s.SOCK_DGRAM)
    except OSError:
        return
    try:
        sock.setblocking(False)
        sock.setsockopt(s.SOL_SOCKET, s.SO_PASSCRED, 1)
    except OSError:
        pass
    finally:
        sock.close()


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


def run():
    """Twice through a service's life, so that the second pass finds the
    bytecode specialised by the first."""
    _errors()
    _knob_paths()
    for _ in range(10):     # quickened after 8 calls (CPython 3.11)
        _supervisor()
    for knobs in (_knobs.Knobs(), _knobs.Knobs(), _all_knobs(), _all_knobs()):
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
