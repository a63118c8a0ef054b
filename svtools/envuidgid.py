"""envuidgid: run a program with an account's uid and gid in the environment.

Synopsis: envuidgid ACCOUNT CHILD...

Looks ACCOUNT up in the password database, sets $GID and $UID to its gid and
uid in decimal (replacing earlier values), and execs CHILD (found through
PATH) in the same process.  Nothing else changes; setuidgid-style tools
further down the chain can use the variables.

Exit codes: 100 usage; 111 unknown account or a CHILD that cannot be run;
otherwise CHILD's own.
"""

import sys

from ._chain import account, execute
from ._pathexec import initial_environ as environ
from ._pathexec import env_set

PROG = "envuidgid"


def main(argv=None) -> int:
    argv = sys.argv if argv is None else argv
    pw = account(PROG, argv)
    env = environ()
    env_set(env, "GID", str(pw.pw_gid))
    env_set(env, "UID", str(pw.pw_uid))
    execute(PROG, argv[2:], env)


if __name__ == "__main__":
    sys.exit(main())
