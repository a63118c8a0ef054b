"""readproctitle: show the tail of stdin in the process list.

    readproctitle ARG ... DOTS

readproctitle fills DOTS, its last argument, with dots and shows its
command line as its process title (so `ps` shows it).  It then reads
standard input; each byte other than NUL moves the area left by one and
goes in at its end, so ps always shows the most recent output.  The first
three characters of the area stay dots.  svscanboot pipes svscan's warnings
into readproctitle to make them visible in `ps ax`.

The area is kept as bytes, whatever they are; a byte that is not part of
valid UTF-8 shows as '?' (the title API takes only UTF-8), so a half
character at the left edge or a service writing binary never stops it.

Exit codes: 0 at end of input; 100 without arguments or if DOTS is shorter
than five bytes (no message); 111 on a read error.
"""

import errno
import os
import sys

from . import _siteimport

MINIMUM = 5


def main(argv=None) -> int:
    argv = sys.argv if argv is None else argv
    if len(argv) < 2:
        return 100
    area = bytearray(os.fsencode(argv[-1]))
    if len(area) < MINIMUM:
        return 100
    area[:] = b"." * len(area)
    head = b" ".join([b"readproctitle"] + [os.fsencode(a) for a in argv[1:-1]]) + b" "
    _siteimport.title(head + area)
    keep = len(area) - 3
    while True:
        try:
            data = os.read(0, 4096)
        except InterruptedError:
            continue
        except OSError as e:
            if e.errno == errno.EINTR:
                continue
            return 111
        if not data:
            return 0
        data = data.replace(b"\0", b"")
        if data:
            area[3:] = (area[3:] + data)[-keep:]
            _siteimport.title(head + area)


if __name__ == "__main__":
    sys.exit(main())
