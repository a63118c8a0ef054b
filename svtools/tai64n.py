"""tai64n: put a precise TAI64N timestamp in front of each line.

Synopsis: tai64n

Copies stdin to stdout, writing `@` and 24 lowercase hex digits (the TAI64N
time at which the line was read) and a space before each line.  A last line
without a newline is stamped and left without one.  Lines that arrive in
one read share a stamp.  Output is written before each read.

Exit codes: 0 at end of input; 111 on a read or write error, silently.
"""

import os
import sys

from . import _pathexec, _tai64

READ = 65536


def _write(data):
    mv = memoryview(data)
    while len(mv):
        mv = mv[os.write(1, mv):]


def main(argv=None):
    _pathexec.reset_signals()  # like the C program: SIGPIPE and ^C end it quietly
    start = True
    try:
        while True:
            data = os.read(0, READ)
            if not data:
                return 0
            st = _tai64.stamp_bytes() + b" "
            body = data[:-1].replace(b"\n", b"\n" + st) + data[-1:]
            _write(st + body if start else body)
            start = data[-1] == 10
    except OSError:
        return 111


if __name__ == "__main__":
    sys.exit(main())
