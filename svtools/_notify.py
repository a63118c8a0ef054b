"""notify-socket: systemd's readiness protocol (sd_notify) for supervise.

supervise binds a datagram socket at DIR/supervise/notify and exports its
absolute path as NOTIFY_SOCKET to ./run.  With SO_PASSCRED the kernel tells
the sender's pid; a datagram counts only when that pid is ./run itself, a
member of its process group or session, or a descendant of it (the ppid
chain in /proc).  A sender that has already exited cannot be placed and is
ignored.  Lines understood: READY=1, STOPPING=1, STATUS=text (at most
NOTE_MAX bytes kept); others are ignored, as is a datagram longer than
DATAGRAM.

_socket (the C module) is imported only here, and only when the knob
exists: socket.py would bring enum, selectors and more into supervise.
"""

import os
import sys

from . import _strerr

DATAGRAM = 4096
NOTE_MAX = 256
BATCH = 64
_PATH_MAX = 107   # sun_path, less its NUL


def _stat(pid):
    """(ppid, pgrp, session) of PID from /proc, or None."""
    try:
        fd = os.open("/proc/%d/stat" % pid, os.O_RDONLY | os.O_CLOEXEC)
        try:
            data = os.read(fd, 512)
        finally:
            os.close(fd)
    except OSError:
        return None
    fields = data[data.rfind(b")") + 2:].split()
    try:
        return int(fields[1]), int(fields[2]), int(fields[3])
    except (IndexError, ValueError):
        return None


def in_tree(pid, root):
    """Whether PID is ROOT, in ROOT's group or session, or below ROOT."""
    if not root or pid <= 0:
        return False
    if pid == root:
        return True
    for _ in range(64):
        st = _stat(pid)
        if st is None:
            return False
        ppid, pgrp, session = st
        if root in (ppid, pgrp, session):
            return True
        if ppid <= 1:
            return False
        pid = ppid
    return False


def parse(data):
    """datagram -> (ready, stopping, note or None)."""
    ready = stopping = False
    note = None
    for line in data.split(b"\n"):
        if line == b"READY=1":
            ready = True
        elif line == b"STOPPING=1":
            stopping = True
        elif line.startswith(b"STATUS="):
            note = line[7:7 + NOTE_MAX]
    return ready, stopping, note


class Listener:
    """The bound socket; `path` (bytes) is None when it could not be made."""

    def __init__(self, dirname):
        import _socket
        self._socket = _socket
        self.sock = None
        self.fd = -1
        self.path = None
        name = "%s/supervise/notify" % dirname
        path = os.fsencode(os.getcwd()) + b"/supervise/notify"
        if len(path) > _PATH_MAX:
            _strerr.warn(PROG, "unable to bind %s: name too long" % name)
            return
        try:
            os.unlink("supervise/notify")
        except FileNotFoundError:
            pass
        except OSError as e:
            _strerr.warn(PROG, "unable to unlink " + name, e)
            return
        try:
            sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_DGRAM)
            try:
                sock.setblocking(False)
                sock.setsockopt(_socket.SOL_SOCKET, _socket.SO_PASSCRED, 1)
                sock.bind(b"supervise/notify")
            except OSError:
                sock.close()
                raise
        except OSError as e:
            _strerr.warn(PROG, "unable to bind " + name, e)
            return
        self.sock = sock
        self.fd = sock.fileno()
        self.path = path

    def receive(self, root):
        """-> [(pid, ready, stopping, note)] from ROOT's tree; the rest is dropped."""
        s = self._socket
        out = []
        for _ in range(BATCH):
            try:
                data, anc, flags, _ = self.sock.recvmsg(DATAGRAM, s.CMSG_SPACE(12))
            except (BlockingIOError, InterruptedError):
                break
            except OSError:
                break
            if flags & (s.MSG_TRUNC | s.MSG_CTRUNC):
                continue
            pid = 0
            for level, kind, cred in anc:
                if level == s.SOL_SOCKET and kind == s.SCM_CREDENTIALS and len(cred) >= 4:
                    pid = int.from_bytes(cred[:4], sys.byteorder, signed=True)
            if in_tree(pid, root):
                out.append((root,) + parse(data))
        return out


PROG = "supervise"
