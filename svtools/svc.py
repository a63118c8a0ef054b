"""svc: control services monitored by supervise.

    svc [-udopchaitkxq12w] DIR...

Collects the option letters into one command string (each letter once, in
the order first seen) and writes it into DIR/supervise/control for each DIR
in turn: u up, d down, o once, x exit, p pause, c continue, h hup, a alarm,
i interrupt, t term, k kill, q quit, 1 usr1, 2 usr2, w winch.  A directory
that cannot be controlled (no supervise running, no FIFO, not a FIFO) gets a
warning and svc goes on with the next one.  SIGPIPE is ignored (CPython
already ignores it), so a vanishing supervise shows as "broken pipe".

Exit codes: 0 even when some directory failed; 100 for a bad option;
111 when the current directory cannot be opened or returned to.
"""

import posix  # not os: see _strerr
import sys

from . import _control, _strerr
from ._getopt import GetoptError, getopt


def main(argv=None) -> int:
    if argv is None:
        argv = sys.argv
    try:
        opts, dirs = getopt(argv, _control.LETTERS)
    except GetoptError:
        _strerr.say(_control.USAGE + "\n")
        return 100
    data = _control.commands(c for c, _ in opts).encode("ascii")
    try:
        here = posix.open(".", posix.O_RDONLY | posix.O_NONBLOCK)
    except OSError as e:
        _strerr.fatal("svc", "unable to open current directory", e)
    for directory in dirs:
        problem = _control.send(directory, data)
        if problem is not None:
            _strerr.warn("svc", problem)
        try:
            posix.fchdir(here)
        except OSError as e:
            _strerr.fatal("svc", "unable to set directory", e)
    return 0


if __name__ == "__main__":
    sys.exit(main())
