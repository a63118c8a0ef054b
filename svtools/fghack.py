"""fghack: keep a program that puts itself in the background in the foreground.

Synopsis: fghack CHILD...

Runs CHILD (found through PATH) with 31 extra descriptors open on the write
end of a pipe, reads that pipe until every process holding one (CHILD and
anything it left behind) has exited or closed it, then waits for CHILD.

Exit codes: 100 usage; 111 if the pipe or fork fails, CHILD cannot be run or
CHILD was killed by a signal ("child crashed"); otherwise CHILD's exit code.
"""

import os
import sys

from ._chain import execute
from ._pathexec import reset_signals
from ._strerr import fatal, usage

PROG = "fghack"


def _child(r, w, argv):
    os.close(r)
    os.set_inheritable(w, True)
    for _ in range(30):
        os.set_inheritable(os.dup(w), True)
    try:
        execute(PROG, argv)
    finally:
        os._exit(111)  # never unwind into the parent's code in the child


def main(argv=None) -> int:
    argv = sys.argv if argv is None else argv
    if len(argv) < 2:
        usage(PROG, "fghack child")
    reset_signals()
    try:
        r, w = os.pipe()
    except OSError as e:
        fatal(PROG, "unable to create pipe", e)
    try:
        pid = os.fork()
    except OSError as e:
        fatal(PROG, "unable to fork", e)
    if pid == 0:
        _child(r, w, argv[1:])
    os.close(w)
    while True:
        try:
            if not os.read(r, 4096):
                break
        except OSError:
            break
    try:
        _, status = os.waitpid(pid, 0)
    except OSError as e:
        fatal(PROG, "wait failed", e)
    if os.WIFSIGNALED(status):
        fatal(PROG, "child crashed")
    return os.WEXITSTATUS(status)


if __name__ == "__main__":
    sys.exit(main())
