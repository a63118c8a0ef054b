"""svok: check whether supervise is running.

    svok DIR

Exits 0 if a supervise is running in DIR, that is, if the FIFO
DIR/supervise/ok has a reader; 100 if it has none or does not exist.  Only
the first argument is looked at.

Exit codes: 0 running; 100 not running, or no DIR given (usage);
111 when DIR cannot be entered or supervise/ok cannot be opened otherwise.
"""

import errno
import posix  # not os: see _strerr
import sys

from . import _strerr


def main(argv=None) -> int:
    if argv is None:
        argv = sys.argv
    if len(argv) < 2:
        _strerr.usage("svok", "svok dir")
    directory = argv[1]
    try:
        posix.chdir(directory)
    except OSError as e:
        _strerr.fatal("svok", "unable to chdir to %s" % directory, e)
    try:
        # A FIFO with no reader fails with ENXIO instead of blocking.
        fd = posix.open("supervise/ok", posix.O_WRONLY | posix.O_NONBLOCK)
    except OSError as e:
        if e.errno in (errno.ENOENT, errno.ENXIO):
            return 100
        _strerr.fatal("svok", "unable to open %s/supervise/ok" % directory, e)
    posix.close(fd)
    return 0


if __name__ == "__main__":
    sys.exit(main())
