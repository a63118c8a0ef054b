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

from . import _knobs, _status, _supervise_policy, _xstatus

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
    for call, arg in ((os.stat, ""), (os.mkdir, "/"), (os.mkfifo, "/")):
        try:
            call(arg)
        except FileNotFoundError:
            pass
        except OSError:
            pass
    poller = select.poll()
    poller.poll(0)


def run():
    """Twice through a service's life, so that the second pass finds the
    bytecode specialised by the first."""
    _errors()
    for _ in range(2):
        m = _supervise_policy.Machine(True, _knobs.Knobs())
        now = 1000.0
        pid = 100
        _publish(m.boot(now))
        _publish(m.started(pid, now))
        _publish(m.child_exited(256, 9, now + 0.5))        # killed at once
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
