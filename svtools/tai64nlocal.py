"""tai64nlocal: turn TAI64N stamps at line starts into local, readable times.

Synopsis: tai64nlocal

Copies stdin to stdout.  A line that starts with `@` and 24 lowercase hex
digits has that stamp replaced by the local time it stands for, as
`YYYY-MM-DD HH:MM:SS.NNNNNNNNN` (TZ applies; no leap seconds, as in
daemontools); the rest of the line is kept.  Any other line, including one
whose stamp is malformed or out of range, is copied unchanged (daemontools
0.76 crashes there).

Exit codes: 0 at end of input; 111 on a read or write error, silently.
"""

import os
import sys
import time

from . import _pathexec, _tai64

READ = 65536
HEX = b"0123456789abcdef"


class _Converter:
    def __init__(self):
        self.secs = None
        self.text = b""

    def line(self, line):
        """LINE (with or without its newline), its stamp made readable."""
        if line[:1] != b"@":
            return line
        rest = line[1:]
        if len(rest) - len(rest.lstrip(HEX)) != 24:
            return line
        secs = int(line[1:17], 16) - _tai64.BASE
        if secs != self.secs:
            try:
                tm = time.localtime(secs)
            except (OverflowError, OSError, ValueError):
                return line
            self.text = b"%d-%02d-%02d %02d:%02d:%02d." % (
                tm.tm_year, tm.tm_mon, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec)
            self.secs = secs
        return b"%s%09d%s" % (self.text, int(line[17:25], 16), line[25:])


def _write(data):
    mv = memoryview(data)
    while len(mv):
        mv = mv[os.write(1, mv):]


def main(argv=None):
    _pathexec.reset_signals()  # like the C program: SIGPIPE and ^C end it quietly
    conv = _Converter().line
    carry = b""
    try:
        while True:
            data = os.read(0, READ)
            if not data:
                if carry:
                    _write(conv(carry))
                return 0
            if carry:
                data = carry + data
            k = data.rfind(b"\n") + 1
            carry = data[k:]
            if k:
                _write(b"\n".join([conv(line) for line in data[:k - 1].split(b"\n")]) + b"\n")
    except OSError:
        return 111


if __name__ == "__main__":
    sys.exit(main())
