"""log-events: start/ready/exit records on supervise's stdout, each on a line of its own.

With log-events, ./run's stdout is a pipe that supervise reads and copies to
its own stdout (under svscan, the pipe to the logger), remembering whether
the last byte copied was a newline; a record that would otherwise continue
the service's unfinished last line is preceded by a newline.  At most
CHUNK bytes are read while nothing is waiting to be written, and a write of
at most CHUNK (PIPE_BUF) bytes is made only when the stdout is writable, so
supervise never blocks on a slow logger: the service is slowed instead, as
it would be writing to the logger's pipe itself.  When the stdout is gone
(EPIPE, closed), what the service writes is dropped.

Before supervise exits (svc -x, svscan's shutdown) what is still queued,
the last exit record above all, is written out by finish(): it waits for
a writable stdout at most FINISH_GRACE seconds in all, then drops the rest,
so a stuck logger delays supervise's exit by that much and no more.

Records:  "svtools: start pid PID"
          "svtools: ready pid PID after SECS s"   (SECS since the start)
          "svtools: exit pid PID code CODE after SECS s"
          "svtools: exit pid PID signal NAME after SECS s"
"""

import os
import select
import time
# The C core of the signal module: no enum wrappers (see supervise).
import _signal as signal

from ._supervise_policy import START

CHUNK = 4096
DRAIN = 65536
FINISH_GRACE = 1.0
_NAMES = {}
# A poll object for fd 1 alone (record), made at the first record: in
# svscan's rehearsal, before it forks, so that every supervise shares it.
_STDOUT = []
_EMPTY = bytearray()


def _stdout():
    p = select.poll()
    p.register(1, select.POLLOUT)
    p.poll(0)           # its descriptor array made now, in the same place
    _STDOUT.append(p)


def signame(sig):
    """15 -> "TERM"; a number without a name -> its digits."""
    if not _NAMES:
        for key, value in sorted(vars(signal).items()):
            if key.startswith("SIG") and "_" not in key and key[3:] not in ("IOT", "POLL", "CLD"):
                if key not in ("SIGRTMIN", "SIGRTMAX"):
                    _NAMES.setdefault(value, key[3:])
    return _NAMES.get(sig, "%d" % sig)


def line(what, pid, code, sig, ran):
    """The record line (bytes, with its newline): "start", "ready" or
    "exit" of PID, with CODE (256: killed by signal SIG) and RAN seconds
    since the start."""
    if what == START:
        return b"svtools: start pid %d\n" % pid
    if what == "ready":
        return ("svtools: ready pid %d after %.3f s\n" % (pid, ran)).encode()
    if what in ("fail-limit", "finish"):
        # supervise gave up after the exit of PID: fail-limit reached, or
        # ./finish exited 125 (CODE)
        why = "fail-limit reached" if what == "fail-limit" else "./finish exited %d" % code
        return ("svtools: failed pid %d: %s, down until svc -u or svc -o\n"
                % (pid, why)).encode()
    if what == "kill":
        # PID: ./run, or -PGID for its process group (process-group)
        return ("svtools: SIGKILL to %s %d: still running after the down signal\n"
                % ("group" if pid < 0 else "pid", abs(pid))).encode()
    if what == "kill-finish":
        return b"svtools: SIGKILL to finish pid %d: still running after timeout-finish\n" % pid
    how = ("signal " + signame(sig)) if code == 256 else "code %d" % code
    return ("svtools: exit pid %d %s after %.3f s\n" % (pid, how, ran)).encode()


class Forwarder:
    """The pipe between ./run's stdout and ours; `w` goes to ./run as fd 1."""

    def __init__(self, out=1):
        self.r, self.w = os.pipe()
        os.set_blocking(self.r, False)
        self.out = out
        # a slice of an empty one: naming bytearray would write the page
        # of libpython that holds its type (a forked supervise's own)
        self.pending = _EMPTY[:]
        self.line_start = True
        self.broken = False
        # asked before each read: a read of the empty pipe would raise
        # BlockingIOError at every record, and a caught exception costs a
        # forked supervise about 15 KiB (docs/performance.md, "Eighth round")
        self.waiting = select.poll()
        self.waiting.register(self.r, select.POLLIN)

    def read(self, limit=CHUNK):
        """Take what ./run wrote, up to LIMIT bytes (supervise holds the
        write end too: no end of file)."""
        got = 0
        while got < limit and self.waiting.poll(0):
            want = min(CHUNK, limit - got)
            try:
                data = os.read(self.r, want)
            except (BlockingIOError, InterruptedError):
                return
            if not data:
                return
            got += len(data)
            self._queue(data)
            if len(data) < want:
                return          # the pipe is empty now

    def _queue(self, data):
        if not self.broken:
            self.pending += data
        self.line_start = data.endswith(b"\n")

    def record(self, what, pid, code, sig, ran):
        """Queue the record WHAT (line()) after whatever ./run has written
        so far (DRAIN), or, for a start, before what is still in the pipe
        (supervise drained it before it forked); then, when OUT is our
        stdout (fd 1) and poll says it can take a chunk without waiting,
        write one at once, so that a record needs no round of supervise's
        loop (else the loop writes it when stdout is writable).  One
        function, as a forked supervise pays a page for each it runs
        (docs/performance.md, "The knob files' own pages")."""
        if what == START:
            data = b"svtools: start pid %d\n" % pid
        else:
            self.read(DRAIN)
            data = line(what, pid, code, sig, ran)
        if not self.broken:
            if not self.line_start:
                self.pending += b"\n"
            self.pending += data
        self.line_start = True
        if self.pending and not self.broken:
            if not _STDOUT:
                _stdout()
            if self.out == 1 and _STDOUT[0].poll(0):
                self.write()

    def write(self):
        """Stdout is writable: write one chunk."""
        pending = self.pending
        try:
            # the buffer itself when it fits: no copy
            n = os.write(self.out, pending if len(pending) <= CHUNK else pending[:CHUNK])
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            # EPIPE, EBADF...: nobody reads our stdout any more.
            self.broken = True
            pending.clear()
            return
        del pending[:n]

    def finish(self, grace=FINISH_GRACE):
        """supervise is about to exit: take what ./run (or ./finish) left in
        the pipe (DRAIN bytes at most) and write everything queued, waiting
        for stdout to be writable at most GRACE seconds in all (monotonic);
        what is left then is dropped.  Returns the number of bytes dropped."""
        self.read(DRAIN)
        deadline = time.monotonic() + grace
        poller = select.poll()
        poller.register(self.out, select.POLLOUT)
        while self.pending and not self.broken:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            try:
                ready = poller.poll(int(left * 1000) + 1)
            except InterruptedError:
                continue
            if not ready:
                break
            if ready[0][1] & (select.POLLERR | select.POLLNVAL):
                self.broken = True
                break
            self.write()
        dropped = len(self.pending)
        self.pending.clear()
        return dropped
