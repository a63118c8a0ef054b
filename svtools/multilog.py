"""multilog: read a log from stdin, select lines, write them to log directories.

Synopsis: multilog SCRIPT

Each argument is an action, chosen by its first character: `t` (first only)
stamps each line with a TAI64N label; `-PATTERN` and `+PATTERN` deselect and
select lines; `e` copies selected lines to stderr (200 bytes, then `...`);
`=FILE` keeps the last selected line in FILE, padded to 1001 bytes; `sSIZE`,
`nNUM` and `!PROCESSOR` set up the directories named after them; `./DIR` or
`/DIR` appends selected lines to DIR/current, rotating it into `@TAI64N.s`
archives once it is nearly SIZE bytes and keeping NUM-1 of them.  Patterns
see the first 1000 bytes of a line.  SIGALRM rotates every non-empty
`current`; SIGTERM ends at the next line end, leaving unread input in the
pipe.

Lines read together are stamped together.  Files are cut exactly where
daemontools' multilog would cut them.

Exit codes: 0 at end of input or after SIGTERM; 111 if a directory or a
status file cannot be set up.  Write errors pause 5 seconds and retry.
"""

import os
import select
import signal
import sys

from . import _logdir, _multilog_script as _script, _strerr, _tai64
from ._multilog_script import CREAD, PUT, STREAM, WINDOW

PROG = "multilog"
READ_FAST = 131072     # multiples of the C read size, so that cuts agree
READ_LINES = 16384     # bounds the per-line bookkeeping of one pass
SLOW_PART = 4096       # input taken line by line where a cut may fall
LINE = 1000


class Multilog:
    def __init__(self, script):
        self.script = script
        self.dirs = []
        self.status_fds = []
        self.actions = script.actions
        self.simple = script.simple
        self.stamp = script.timestamp
        self.all = []
        self.pend = None   # a line begun but shorter than the held part
        self.pst = b""     # its stamp
        self.rem = None    # selection of a long line whose rest is streaming
        self.alerts = []
        self.status = {}
        self.term = False
        self.alrm = False

    # ---- per read ----

    def feed(self, data):
        st = _tai64.stamp_bytes() + b" " if self.stamp else b""
        size = len(data)
        if not self.simple:
            for i in range(0, size, READ_LINES):
                self._lines(data[i:i + READ_LINES] if size > READ_LINES else data, st)
            return
        # Pieces that start at multiples of the C read size behave as reads of
        # their own: bulk up to the next possible cut, line by line across it.
        ratio = 1.0 + 26.0 * data.count(b"\n") / size if st else 1.0
        pos = 0
        while pos < size:
            left = size - pos
            room = min([d.size - WINDOW - d.bytes for d in self.dirs] or [left])
            n = left if left * ratio < room else max(0, int(room / ratio) // CREAD * CREAD)
            while n and not self._fast(data[pos:pos + n] if n < size else data, st):
                n = n // 2 // CREAD * CREAD
            if not n:
                n = min(left, SLOW_PART)
                self._lines(data[pos:pos + n] if n < size else data, st)
            pos += n

    def _fast(self, data, st):
        """Every line to every directory, no cut due: a few bulk operations.

        Returns False, having changed nothing, when a directory could be cut
        during this read; the per-line pass then does the exact work.
        """
        pend, pst, rem = self.pend, self.pst, self.rem
        pieces = []
        pos = 0
        if rem is not None:
            nl = data.find(b"\n")
            if nl < 0:
                pieces.append(data)
                pos = len(data)
            else:
                pieces.append(data[:nl + 1])
                pos = nl + 1
                rem = None
        if rem is None:
            k = data.rfind(b"\n", pos)
            if k >= 0:
                if pend is not None:
                    pieces.append(pst + pend)
                    pend = None
                elif st:
                    pieces.append(st)
                if st:
                    pieces.append(data[pos:k].replace(b"\n", b"\n" + st))
                    pieces.append(b"\n")
                else:
                    pieces.append(data[pos:k + 1] if pos or k + 1 < len(data) else data)
                pos = k + 1
            if pos < len(data):
                if pend is None:
                    pend, pst = data[pos:], st
                else:
                    pend += data[pos:]
                if len(pend) >= LINE - len(pst):
                    pieces.append(pst + pend)
                    pend = None
                    rem = self.all
        total = 0
        for p in pieces:
            total += len(p)
        for d in self.dirs:
            if d.bytes + total >= d.size - WINDOW:
                return False
        self.pend, self.pst, self.rem = pend, pst, rem
        if total:
            for d in self.dirs:
                d.writev(pieces, total)
                d.bytes += total
        return True

    def _select(self, held):
        flag = True
        sel = [False] * len(self.dirs)
        for code, arg in self.actions:
            if code == _script.DIR:
                sel[arg] = flag
            elif code == _script.DESELECT:
                if flag and _script.match(arg, held):
                    flag = False
            elif code == _script.SELECT:
                if not flag and _script.match(arg, held):
                    flag = True
            elif code == _script.ALERT:
                if flag:
                    self.alerts.append(held[:200] + b"...\n" if len(held) > 200 else held + b"\n")
            elif flag:
                self.status[arg] = held
        return sel

    def _lines(self, data, st):
        """One read, line by line: actions, and the units plan() needs."""
        nd = len(self.dirs)
        outs = [[] for _ in range(nd)]
        recs = []
        size = len(data)
        pos = 0
        if self.rem is not None:
            sel = self.rem
            nl = data.find(b"\n")
            end = size if nl < 0 else nl + 1
            piece = data[:end]
            for d in range(nd):
                if sel[d]:
                    outs[d].append(piece)
            recs.append((sel, ((STREAM, end, 0),)))
            if nl < 0:
                return self._dispatch(outs, recs)
            self.rem = None
            pos = end
        if self.pend is not None:
            buf = self.pend + data[pos:]
            off = pos - len(self.pend)
            lst = self.pst
        else:
            buf = data[pos:] if pos else data
            off = pos
            lst = st
        self.pend = None
        cap = LINE - len(st)
        select_ = self._select
        allsel = self.all if self.simple else None
        n = len(buf)
        ls = 0
        while ls < n:
            nl = buf.find(b"\n", ls)
            if nl >= 0 and nl - ls < cap:
                held = lst + buf[ls:nl]
                sel = allsel or select_(held)
                line = held + b"\n"
                for d in range(nd):
                    if sel[d]:
                        outs[d].append(line)
                t = nl + off
                recs.append((sel, ((PUT, len(held), t), (PUT, 1, t))))
                ls = nl + 1
                lst = st
                continue
            if nl < 0 and n - ls < cap:
                self.pend, self.pst = buf[ls:], lst
                break
            hend = ls + cap
            held = lst + buf[ls:hend]
            sel = allsel or select_(held)
            rest = buf[hend:n if nl < 0 else nl + 1]
            for d in range(nd):
                if sel[d]:
                    outs[d].append(held)
                    outs[d].append(rest)
            recs.append((sel, ((PUT, len(held), hend - 1 + off), (STREAM, len(rest), hend + off))))
            if nl < 0:
                self.rem = sel
                break
            ls = nl + 1
            lst = st
        return self._dispatch(outs, recs)

    def eof(self):
        """A partial last line is handled as a line, with a newline added."""
        nd = len(self.dirs)
        outs = [[] for _ in range(nd)]
        recs = []
        if self.pend is not None:
            held = self.pst + self.pend
            sel = self.all if self.simple else self._select(held)
            for d in range(nd):
                if sel[d]:
                    outs[d].append(held + b"\n")
            recs.append((sel, ((PUT, len(held), 0), (PUT, 1, 0))))
        elif self.rem is not None:
            sel = self.rem
            for d in range(nd):
                if sel[d]:
                    outs[d].append(b"\n")
            recs.append((sel, ((PUT, 1, 0),)))
        self.pend = self.rem = None
        self._dispatch(outs, recs)

    def _dispatch(self, outs, recs):
        if self.alerts:
            _strerr.say(b"".join(self.alerts))
            self.alerts = []
        if self.status:
            for i, held in self.status.items():
                self._write_status(i, held + b"\n" * (LINE + 1 - len(held)))
            self.status = {}
        for d, ld in enumerate(self.dirs):
            if outs[d]:
                ld.put(b"".join(outs[d]),
                       lambda d=d: [u for sel, us in recs if sel[d] for u in us])

    def _write_status(self, i, data):
        fd, path = self.status_fds[i], self.script.status[i]
        while True:
            try:
                os.lseek(fd, 0, os.SEEK_SET)
            except OSError as e:
                _logdir.pause("unable to move to beginning of " + path, e)
                continue
            try:
                if os.write(fd, data) == len(data):
                    return
            except OSError as e:
                _logdir.pause("unable to write " + path, e)

    # ---- the loop ----

    def _on_term(self, sig, frame):
        self.term = True

    def _on_alrm(self, sig, frame):
        self.alrm = True

    def setup(self):
        """Signals first, then the status files, then the directories."""
        self.wakeup, wfd = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        signal.set_wakeup_fd(wfd, warn_on_full_buffer=False)
        signal.signal(signal.SIGTERM, self._on_term)
        signal.signal(signal.SIGALRM, self._on_alrm)
        for path in self.script.status:
            try:
                os.close(os.open(path, _logdir.O_APPEND, 0o600))
            except OSError as e:
                _strerr.fatal(PROG, "unable to create " + path, e)
            try:
                self.status_fds.append(os.open(path, os.O_WRONLY | os.O_NONBLOCK))
            except OSError as e:
                _strerr.fatal(PROG, "unable to write " + path, e)
        for spec in self.script.dirs:
            d = _logdir.LogDir(spec)
            d.start()
            self.dirs.append(d)
        self.all = [True] * len(self.dirs)

    def run(self):
        rfd = self.wakeup
        poller = select.poll()
        poller.register(0, select.POLLIN)
        poller.register(rfd, select.POLLIN)
        readsize = READ_FAST if self.simple else READ_LINES
        while True:
            if self.alrm:
                self.alrm = False
                for d in self.dirs:
                    if d.bytes > 0:
                        d.rotate()
            if self.term and self.pend is None and self.rem is None:
                break
            woken = False
            ready = False
            for fd, _ in poller.poll():
                if fd == rfd:
                    woken = True
                else:
                    ready = True
            if woken:
                try:
                    while os.read(rfd, 512):
                        pass
                except BlockingIOError:
                    pass
                continue
            if not ready:
                continue
            try:
                data = os.read(0, 1 if self.term else readsize)
            except OSError:
                data = b""
            if not data:
                self.eof()
                break
            self.feed(data)
        for d in self.dirs:
            d.finish()
        return 0


def main(argv=None):
    if argv is None:
        argv = sys.argv
    script = _script.parse(argv[1:])
    os.umask(0o022)
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    try:
        os.close(os.open(".", os.O_RDONLY))
    except OSError as e:
        _strerr.fatal(PROG, "unable to switch to current directory", e)
    logger = Multilog(script)
    logger.setup()
    return logger.run()


if __name__ == "__main__":
    sys.exit(main())
