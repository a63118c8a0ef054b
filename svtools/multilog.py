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

Beyond 0.76 (see multilog.8): `T` stamps lines with ISO 8601 local time;
`1` copies selected lines to stdout; `RSECS` and `d` rotate by age and at
local midnight; `z` gzips archives in a child while input keeps flowing.

Exit codes: 0 at end of input or after SIGTERM (once running compressions
are done); 100 for junk in a post-0.76 action; 111 if a directory or a
status file cannot be set up.  Write errors pause 5 seconds and retry.
"""

import os
import select
import sys

# The C core of the signal module: the enum wrappers would cost 0.8 MB.
import _signal as signal

from . import _logdir, _multilog_policy as _policy, _strerr, _tai64
from ._multilog_lines import LINE, Framer
from ._multilog_policy import CREAD, STDOUT, WINDOW
from ._multilog_time import Clock, IsoStamp

PROG = "multilog"
USAGE = "multilog script"
READ_FAST = 131072     # multiples of the C read size, so that cuts agree
READ_LINES = 16384     # bounds the per-line bookkeeping of one pass
SLOW_PART = 4096       # input taken line by line where a cut may fall
NO_LIMIT = 1 << 62


class Stdout:
    """The `1` sink: selected lines to fd 1; after a write error, no more."""

    size = NO_LIMIT

    def __init__(self):
        self.bytes = 0
        self.dead = False

    def writev(self, pieces, total):
        self.write(b"".join(pieces))

    def put(self, out, units):
        self.write(out)

    def write(self, data):
        mv = memoryview(data)
        while len(mv) and not self.dead:
            try:
                mv = mv[os.write(1, mv):]
            except BlockingIOError:
                select.select([], [1], [])
            except OSError as e:
                _strerr.warn(PROG, "unable to write to standard output, no longer copying", e)
                self.dead = True


class Multilog:
    def __init__(self, script, clock=Clock):
        self.script = script
        self.clock = clock
        self.framer = Framer(script)
        self.sinks = []    # per script sink: LogDir or Stdout
        self.dirs = []     # the LogDirs
        self.timed = []    # LogDirs rotated by time
        self.zipping = []  # LogDirs whose archives are compressed
        self.status_fds = []
        self.tai = script.timestamp
        self.iso = IsoStamp() if script.iso else None
        self.term = False
        self.alrm = False
        self.chld = False

    # ---- per read ----

    def stamp(self):
        if self.iso is None:
            return _tai64.stamp_bytes() + b" " if self.tai else b""
        ns = self.clock.time_ns()
        st = b""
        if self.tai:
            st = _tai64.stamp_bytes(ns // 1000000000, ns % 1000000000 // 1000 * 1000 + 500) + b" "
        return st + self.iso(ns)

    def feed(self, data):
        st = self.stamp()
        fr = self.framer
        size = len(data)
        if not fr.simple:
            for i in range(0, size, READ_LINES):
                self._dispatch(fr.lines(data[i:i + READ_LINES] if size > READ_LINES else data, st))
            self._started()
            return
        # Pieces that start at multiples of the C read size behave as reads of
        # their own: bulk up to the next possible cut, line by line across it.
        ratio = 1.0 + len(st) * data.count(b"\n") / size if st else 1.0
        pos = 0
        while pos < size:
            left = size - pos
            room = min([s.size - WINDOW - s.bytes for s in self.sinks] or [NO_LIMIT])
            n = left if left * ratio < room else max(0, int(room / ratio) // CREAD * CREAD)
            while n:
                got = fr.fast(data[pos:pos + n] if n < size else data, st, room)
                if got is not None:
                    pieces, total = got
                    if total:
                        for s in self.sinks:
                            s.writev(pieces, total)
                            s.bytes += total
                    break
                n = n // 2 // CREAD * CREAD
            if not n:
                n = min(left, SLOW_PART)
                self._dispatch(fr.lines(data[pos:pos + n] if n < size else data, st))
            pos += n
        self._started()

    def eof(self):
        self._dispatch(self.framer.eof())
        self._started()

    def _dispatch(self, batch):
        if batch.alerts:
            _strerr.say(b"".join(batch.alerts))
        for i, held in batch.status.items():
            self._write_status(i, held + b"\n" * (LINE + 1 - len(held)))
        for i, sink in enumerate(self.sinks):
            if batch.outs[i]:
                sink.put(b"".join(batch.outs[i]), lambda i=i: batch.units(i))

    def _started(self):
        """Start the age of every timed current that has just got its first bytes."""
        for d in self.timed:
            if d.bytes and d.rot.born is None:
                d.rot.started(self.clock.monotonic(), self.clock.time_ns() / 1e9)

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

    # ---- time and children ----

    def _rotate_due(self):
        if not self.timed:
            return
        mono, wall = self.clock.monotonic(), self.clock.time_ns() / 1e9
        for d in self.timed:
            if d.bytes and d.rot.due(mono, wall):
                d.rotate()

    def _timeout(self):
        """Milliseconds poll may wait, or None."""
        if not self.timed:
            return None
        mono, wall = self.clock.monotonic(), self.clock.time_ns() / 1e9
        when = [w for w in (d.rot.deadline(mono, wall) for d in self.timed) if w is not None]
        if not when:
            return None
        return max(0, int((min(when) - mono) * 1000) + 1)

    def _reap(self, block=False):
        self.chld = False
        while True:
            try:
                pid, status = os.waitpid(-1, 0 if block else os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            for d in self.zipping:
                if d.gz.pid == pid:
                    d.gz.done(status)
            if block:
                return

    # ---- the loop ----

    def _on_term(self, sig, frame):
        self.term = True

    def _on_alrm(self, sig, frame):
        self.alrm = True

    def _on_chld(self, sig, frame):
        self.chld = True

    def setup(self):
        """Signals first, then the status files, then the directories."""
        self.wakeup, wfd = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        signal.set_wakeup_fd(wfd, warn_on_full_buffer=False)
        signal.signal(signal.SIGTERM, self._on_term)
        signal.signal(signal.SIGALRM, self._on_alrm)
        if any(d.gzip for d in self.script.dirs):
            signal.signal(signal.SIGCHLD, self._on_chld)
        self.open()

    def open(self):
        """The status files, then the sinks, in script order."""
        for path in self.script.status:
            try:
                os.close(os.open(path, _logdir.O_APPEND, 0o600))
            except OSError as e:
                _strerr.fatal(PROG, "unable to create " + path, e)
            try:
                self.status_fds.append(os.open(path, os.O_WRONLY | os.O_NONBLOCK))
            except OSError as e:
                _strerr.fatal(PROG, "unable to write " + path, e)
        for spec in self.script.sinks:
            if spec is STDOUT:
                self.sinks.append(Stdout())
                continue
            d = _logdir.LogDir(spec, self.clock)
            d.start()
            self.sinks.append(d)
            self.dirs.append(d)
            if d.rot.active:
                self.timed.append(d)
            if d.gz:
                self.zipping.append(d)

    def run(self):
        rfd = self.wakeup
        poller = select.poll()
        poller.register(0, select.POLLIN)
        poller.register(rfd, select.POLLIN)
        readsize = READ_FAST if self.framer.simple else READ_LINES
        while True:
            if self.chld:
                self._reap()
            if self.alrm:
                self.alrm = False
                for d in self.dirs:
                    if d.bytes > 0:
                        d.rotate()
            self._rotate_due()
            if self.term and not self.framer.mid_line:
                break
            woken = False
            ready = False
            for fd, _ in poller.poll(self._timeout()):
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
            self._rotate_due()  # after the wait: these lines may be of a new day
            self.feed(data)
        for d in self.dirs:
            d.finish()
        while any(d.gz.pid or d.gz.kick() for d in self.zipping):
            self._reap(block=True)
        return 0


def main(argv=None):
    if argv is None:
        argv = sys.argv
    try:
        script = _policy.parse(argv[1:])
    except _policy.ScriptError:
        _strerr.usage(PROG, USAGE)
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
