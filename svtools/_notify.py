"""notify-socket: systemd's readiness protocol (sd_notify) for supervise.

supervise binds a datagram socket at DIR/supervise/notify and exports its
absolute path as NOTIFY_SOCKET to ./run.  With SO_PASSCRED the kernel tells
the sender's pid; a datagram counts only when that pid is ./run itself, a
member of its process group or session, or a descendant of it (the ppid
chain in /proc).  A sender that has already exited cannot be placed and is
ignored.  Lines understood: READY=1, STOPPING=1, STATUS=text (at most
NOTE_MAX bytes kept); others are ignored, as is a datagram longer than
DATAGRAM.

_socket (the C module) is loaded only here, and only when the knob exists:
socket.py would bring enum, selectors and more into supervise.  It is
loaded without the import machinery (see load_socket): in a supervise forked
from svscan, a plain `import _socket` ran enough of importlib's path search
to cost each such service about 540 KiB of private memory.
"""

import os
import sys

from . import _strerr
from ._proc import in_tree

PROG = "supervise"
DATAGRAM = 4096
NOTE_MAX = 256
BATCH = 64
_PATH_MAX = 107   # sun_path, less its NUL


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


class _Spec:
    def __init__(self, name, origin):
        self.name = name
        self.origin = origin


def load_socket():
    """The _socket module: dlopen'ed straight from the first sys.path entry
    that has it, or, failing that, imported the usual way."""
    mod = sys.modules.get("_socket")
    if mod is not None:
        return mod
    import _imp
    for where in sys.path:
        for suffix in _imp.extension_suffixes():
            path = os.path.join(where or ".", "_socket" + suffix)
            if os.path.isfile(path):
                mod = _imp.create_dynamic(_Spec("_socket", path))
                _imp.exec_dynamic(mod)
                sys.modules["_socket"] = mod
                return mod
    import _socket
    return _socket


class Listener:
    """The bound socket; `path` (bytes) is None when it could not be made."""

    def __init__(self, dirname):
        _socket = self._socket = load_socket()
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

