"""setlock: run a program while holding a lock on a file.

Synopsis: setlock [-nNxX] FILE CHILD...

Opens FILE for appending (creating it with mode 0600, never truncating it),
takes an exclusive flock on it and execs CHILD (found through PATH) in the
same process.  The locked descriptor stays open in CHILD, so the lock lasts
until CHILD and everything that inherited the descriptor have closed it.

Options: -n do not wait for the lock (fail at once if it is held); -N wait
(the default); -x if FILE cannot be opened or locked, exit 0 quietly; -X
complain and exit 111 (the default).  The last of -n/-N and of -x/-X wins.

Exit codes: 100 usage; 111 FILE cannot be opened or locked (unless -x, then
0) or CHILD cannot be run; otherwise CHILD's own.
"""

import fcntl
import os
import sys

from ._chain import execute
from ._pathexec import reset_signals
from ._getopt import GetoptError, getopt
from ._strerr import fatal, usage

PROG = "setlock"
SYNOPSIS = "setlock [ -nNxX ] file program [ arg ... ]"


def main(argv=None) -> int:
    argv = sys.argv if argv is None else argv
    reset_signals()  # a blocked wait must die of ^C quietly, as the C one does
    try:
        opts, args = getopt(argv, "nNxX")
    except GetoptError:
        usage(PROG, SYNOPSIS)
    if len(args) < 2:
        usage(PROG, SYNOPSIS)
    wait, quiet = True, False
    for opt, _ in opts:
        if opt in "nN":
            wait = opt == "N"
        else:
            quiet = opt == "x"
    path = args[0]
    try:
        fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK | os.O_APPEND | os.O_CREAT, 0o600)
    except OSError as e:
        if quiet:
            return 0
        fatal(PROG, "unable to open %s" % path, e)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as e:
        if quiet:
            return 0
        fatal(PROG, "unable to lock %s" % path, e)
    os.set_inheritable(fd, True)
    execute(PROG, args[1:])


if __name__ == "__main__":
    sys.exit(main())
