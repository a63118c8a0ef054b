"""setuidgid: run a program under an account's uid and gid.

Synopsis: setuidgid ACCOUNT CHILD...

Looks ACCOUNT up in the password database, sets the supplementary groups to
exactly the account's gid, then the gid, then the uid, and execs CHILD
(found through PATH) in the same process.  The group file is not read.

Exit codes: 100 usage; 111 unknown account, a failed setgid/setuid or a
CHILD that cannot be run; otherwise CHILD's own.
"""

import os
import sys

from ._chain import account, execute
from ._strerr import fatal

PROG = "setuidgid"


def main(argv=None) -> int:
    argv = sys.argv if argv is None else argv
    pw = account(PROG, argv)
    try:
        os.setgroups([pw.pw_gid])
        os.setgid(pw.pw_gid)
    except OSError as e:
        fatal(PROG, "unable to setgid", e)
    try:
        os.setuid(pw.pw_uid)
    except OSError as e:
        fatal(PROG, "unable to setuid", e)
    execute(PROG, argv[2:])


if __name__ == "__main__":
    sys.exit(main())
