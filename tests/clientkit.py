"""Crafted service directories and transcripts for the svc/svok/svstat tests."""

import os
import re
import stat
import time

import helpers
from svtools import _status


def status_bytes(age=0, pid=0, paused=0, want=_status.WANT_UP, now=None):
    """An 18-byte status record whose stamp lies AGE seconds before NOW."""
    if now is None:
        now = int(time.time())
    return _status.pack(now - age, 500, pid, paused, want)


class Zoo:
    """Service directories built by hand under BASE.

    Reader ends opened on FIFOs make them look like a live supervise
    (supervise keeps a reader on both ok and control); close() drops them.
    """

    def __init__(self, base):
        self.base = str(base)
        self.fds = {}

    def path(self, name):
        return os.path.join(os.fsencode(self.base), os.fsencode(name))

    def make(self, name, status=None, down=False, ok="live", control="live"):
        """ok / control: "live" (FIFO with a reader), "dead" (FIFO, no
        reader), "file" (regular file), "dir", or None (absent)."""
        d = self.path(name)
        os.makedirs(os.path.join(d, b"supervise"), exist_ok=True)
        if down:
            open(os.path.join(d, b"down"), "wb").close()
        for what, kind in ((b"ok", ok), (b"control", control)):
            p = os.path.join(d, b"supervise", what)
            if kind in ("live", "dead"):
                os.mkfifo(p, 0o600)
                if kind == "live":
                    self.fds[p] = os.open(p, os.O_RDONLY | os.O_NONBLOCK)
            elif kind == "file":
                open(p, "wb").close()
            elif kind == "dir":
                os.mkdir(p)
        if status is not None:
            with open(os.path.join(d, b"supervise", b"status"), "wb") as f:
                f.write(status)
        return d

    def received(self, name):
        """Bytes written so far into NAME's live control FIFO."""
        fd = self.fds[os.path.join(self.path(name), b"supervise", b"control")]
        out = b""
        while True:
            try:
                chunk = os.read(fd, 4096)
            except BlockingIOError:
                return out
            if not chunk:
                return out
            out += chunk

    def close(self):
        for fd in self.fds.values():
            os.close(fd)
        self.fds.clear()


def is_fifo(path):
    return stat.S_ISFIFO(os.stat(path).st_mode)


_SECS = re.compile(rb"\b\d+ seconds")
_PID = re.compile(rb"\(pid \d+\)")


def norm(data):
    """Seconds become N; pids stay (crafted ones are fixed)."""
    return _SECS.sub(b"N seconds", data)


def norm_pid(data):
    return _PID.sub(b"(pid P)", norm(data))


def transcript(argv, cwd, impl="ours", prefix=(), **kw):
    """(stdout, stderr, exit code) of ARGV[0] run from our venv or /usr/bin,
    behind the words of PREFIX (setpriv ..., say)."""
    name = os.fsdecode(argv[0])
    exe = helpers.prog(name) if impl == "ours" else helpers.c_tool(name)
    cp = helpers.run(list(prefix) + [exe] + list(argv[1:]), cwd=cwd, **kw)
    return cp.stdout, cp.stderr, cp.returncode
