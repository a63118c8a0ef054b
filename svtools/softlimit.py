"""softlimit: run a program with lower soft resource limits.

Synopsis: softlimit [-a allbytes] [-c corebytes] [-d databytes]
[-f filebytes] [-l lockbytes] [-m membytes] [-o openfiles] [-p processes]
[-r residentbytes] [-s stackbytes] [-t cpusecs] CHILD...

Each option sets the soft limit of its resource(s), as it is read, and then
CHILD (found through PATH) runs in the same process: -a address space, -c
core file size, -d data segment, -f file size, -l locked memory, -m data,
stack, locked memory and address space at once, -o open files, -p
processes, -r resident set, -s stack, -t cpu seconds.  A value is a decimal
number (bytes, but files, processes or seconds for -o, -p, -t; no digits at
all means 0), lowered to the hard limit if above it, or "=" for the hard
limit itself.  Hard limits never change.

Exit codes: 100 usage (bad option, missing or non-numeric value, no CHILD);
111 getrlimit/setrlimit failure or a CHILD that cannot be run; otherwise
CHILD's own.
"""

import errno
import resource
import sys

from ._chain import execute
from ._getopt import GetoptError, Options
from ._strerr import fatal, usage

PROG = "softlimit"
SYNOPSIS = ("softlimit [-a allbytes] [-c corebytes] [-d databytes]"
            " [-f filebytes] [-l lockbytes] [-m membytes] [-o openfiles]"
            " [-p processes] [-r residentbytes] [-s stackbytes] [-t cpusecs]"
            " child")

_ULONG = 1 << 64


def _limits(*names):
    return tuple(getattr(resource, "RLIMIT_" + n) for n in names
                 if hasattr(resource, "RLIMIT_" + n))


RESOURCES = {
    "a": _limits("AS", "VMEM"),
    "c": _limits("CORE"),
    "d": _limits("DATA"),
    "f": _limits("FSIZE"),
    "l": _limits("MEMLOCK"),
    "m": _limits("DATA", "STACK", "MEMLOCK", "VMEM", "AS"),
    "o": _limits("NOFILE", "OFILE"),
    "p": _limits("NPROC"),
    "r": _limits("RSS"),
    "s": _limits("STACK"),
    "t": _limits("CPU"),
}


def parse(text):
    """An option value: None for "=" (the hard limit), else an unsigned long.

    Only decimal digits are allowed; none at all is 0, and too many wrap
    around as an unsigned long does in C.  ValueError otherwise.
    """
    if text == "=":
        return None
    if text.strip("0123456789"):
        raise ValueError(text)
    return int(text or "0") % _ULONG


def soft(wanted, hard):
    """The soft limit to set: WANTED (None: "=") no higher than HARD.

    Limits use Python's convention: RLIM_INFINITY (-1) for unlimited, which
    is the largest unsigned long to C.
    """
    if wanted is None or hard != resource.RLIM_INFINITY and wanted > hard:
        return hard
    return resource.RLIM_INFINITY if wanted == _ULONG - 1 else wanted


def main(argv=None) -> int:
    argv = sys.argv if argv is None else argv
    opts = Options(argv, "a:c:d:f:l:m:o:p:r:s:t:")
    try:
        # Each limit is set as soon as its option is read, as in 0.76: a bad
        # value stops everything before a later bad option is even seen.
        for opt, text in opts:
            _apply(opt, text)
    except GetoptError:
        usage(PROG, SYNOPSIS)
    if not opts.operands:
        usage(PROG, SYNOPSIS)
    execute(PROG, opts.operands)


def _apply(opt, text):
    try:
        wanted = parse(text)
    except ValueError:
        usage(PROG, SYNOPSIS)
    for res in RESOURCES[opt]:
        try:
            _, hard = resource.getrlimit(res)
        except OSError as e:
            fatal(PROG, "getrlimit failed", e)
        try:
            resource.setrlimit(res, (soft(wanted, hard), hard))
        except OSError as e:
            fatal(PROG, "setrlimit failed", e)
        except ValueError:  # how CPython reports EINVAL and EPERM here
            fatal(PROG, "setrlimit failed", errno.EINVAL)


if __name__ == "__main__":
    sys.exit(main())
