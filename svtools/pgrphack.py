"""pgrphack: run a program in a new session and process group.

Synopsis: pgrphack CHILD...

Calls setsid() (a failure, as for a process that already leads its group,
is ignored) and execs CHILD (found through PATH) in the same process, so
CHILD's process group and session ids equal its pid.

Exit codes: 100 usage; 111 CHILD cannot be run; otherwise CHILD's own.
"""

import os
import sys

from ._chain import execute
from ._strerr import usage

PROG = "pgrphack"


def main(argv=None) -> int:
    argv = sys.argv if argv is None else argv
    if len(argv) < 2:
        usage(PROG, "pgrphack child")
    try:
        os.setsid()
    except OSError:
        pass
    execute(PROG, argv[1:])


if __name__ == "__main__":
    sys.exit(main())
