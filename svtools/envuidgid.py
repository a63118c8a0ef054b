"""envuidgid: run a program with an account's uid and gid in the environment.

Synopsis: envuidgid ACCOUNT CHILD...

Looks ACCOUNT up in the password database, sets $GID and $UID to its gid and
uid in decimal (replacing earlier values), and execs CHILD (found through
PATH) in the same process.  Nothing else changes; setuidgid-style tools
further down the chain can use the variables.

Exit codes: 100 usage; 111 unknown account or a CHILD that cannot be run;
otherwise CHILD's own.
"""

import pwd
import sys

from ._chain import execute
from ._pathexec import initial_environ as environ
from ._pathexec import env_set
from ._strerr import fatal, usage

PROG = "envuidgid"


def main(argv=None) -> int:
    argv = sys.argv if argv is None else argv
    if len(argv) < 3:
        usage(PROG, "envuidgid account child")
    try:
        pw = pwd.getpwnam(argv[1])
    except KeyError:
        fatal(PROG, "unknown account %s" % argv[1])
    env = environ()
    env_set(env, "GID", str(pw.pw_gid))
    env_set(env, "UID", str(pw.pw_uid))
    execute(PROG, argv[2:], env)


if __name__ == "__main__":
    sys.exit(main())
