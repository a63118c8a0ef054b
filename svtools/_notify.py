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

from . import _spawn, _strerr
from ._proc import in_tree

PROG = "supervise"
DATAGRAM = 4096
NOTE_MAX = 256
BATCH = 64
PATH_MAX = 107   # sun_path, less its NUL
_NAME = b"supervise/notify"
SLASH_NAME = b"/" + _NAME
VAR = b"NOTIFY_SOCKET"
# The _socket module once loaded (load_socket; svscan does it before it forks).
_SOCKET = [None]


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
    mod = _SOCKET[0] or sys.modules.get("_socket")
    if mod is not None:
        _SOCKET[0] = mod
        return mod
    import _imp
    for where in sys.path:
        for suffix in _imp.extension_suffixes():
            path = os.path.join(where or ".", "_socket" + suffix)
            if os.path.isfile(path):
                mod = _imp.create_dynamic(_Spec("_socket", path))
                _imp.exec_dynamic(mod)
                sys.modules["_socket"] = _SOCKET[0] = mod
                return mod
    import _socket
    _SOCKET[0] = _socket
    return _socket


def bind(dirname, env, preset=None):
    """The socket bound at supervise/notify, and ENV with NOTIFY_SOCKET:
    (socket, fd, path, env); (None, -1, None, ENV) when it cannot be made
    (warned, with DIRNAME in the message).

    Written for a supervise forked from svscan, where each object touched
    is a page of its own (docs/performance.md, "The knob files' own
    pages"): one function, no class (the instance would write its type's
    page), the socket made non-blocking by socket() itself, a leftover
    supervise/notify looked for with access() and unlinked before the
    bind (no exception at a start, fresh directory or not), the path from
    os.getcwdb (C, no os.fsencode) or svscan's PRESET, the warnings'
    names made only for a warning."""
    s = _SOCKET[0] or load_socket()
    path = preset or os.getcwdb() + SLASH_NAME
    if len(path) > PATH_MAX:
        _strerr.warn(PROG, "unable to bind %s/supervise/notify: name too long" % dirname)
        return None, -1, None, env
    try:
        sock = s.socket(s.AF_UNIX, s.SOCK_DGRAM | s.SOCK_NONBLOCK | s.SOCK_CLOEXEC)
    except OSError as e:
        _strerr.warn(PROG, "unable to bind %s/supervise/notify" % dirname, e)
        return None, -1, None, env
    try:
        sock.setsockopt(s.SOL_SOCKET, s.SO_PASSCRED, 1)
        if os.access(_NAME, os.F_OK, follow_symlinks=False):
            # a leftover (a socket a former supervise bound, or worse):
            # looked for first, as a failed bind would raise at each start
            try:
                os.unlink(_NAME)
            except OSError as e:
                sock.close()
                _strerr.warn(PROG, "unable to unlink %s/supervise/notify" % dirname, e)
                return None, -1, None, env
        sock.bind(_NAME)
    except OSError as e:
        sock.close()
        _strerr.warn(PROG, "unable to bind %s/supervise/notify" % dirname, e)
        return None, -1, None, env
    # Writable by every user, as systemd's own socket: a ./run that drops
    # privileges (setuidgid) may send, and who is heard is decided by the
    # sender's pid (receive), not by the file's mode.  Bind made the file
    # just now in our 0700 supervise/, so no one else can have swapped it.
    try:
        os.chmod(_NAME, 0o666)
    except OSError:
        pass
    # export(), written out: one function fewer at the first start
    if preset is None and not _spawn.setenv(env, VAR, path):
        env = dict(env)
        env[VAR] = path
    return sock, sock.fileno(), path, env


def export(env, path):
    """ENV with NOTIFY_SOCKET=PATH (bytes): under svscan ENV itself, the
    variable put into the inherited dict and C environment (_spawn.setenv:
    ./run's start then copies nothing and makes no list,
    docs/performance.md); else a copy."""
    if _spawn.setenv(env, VAR, path):
        return env
    env = dict(env)
    env[VAR] = path
    return env


def unexport(env, plain):
    """ENV (from export) without NOTIFY_SOCKET: PLAIN, the environment
    export() was given."""
    if env is plain:
        _spawn.unsetenv(env, VAR)
    return plain


def receive(sock, root):
    """-> [(pid, ready, stopping, note)] from ROOT's tree, read from SOCK;
    the rest is dropped."""
    s = _SOCKET[0]
    out = []
    for _ in range(BATCH):
        try:
            data, anc, flags, _ = sock.recvmsg(DATAGRAM, s.CMSG_SPACE(12))
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


def presets(starts, knobs, environ, slot_path):
    """For svscan: for each start of STARTS (entry, slot), the NOTIFY_SOCKET
    its supervise will export (its supervise/notify, absolute, as bind()
    names it), when its KNOBS have notify-socket and svscan can put the
    variable into the child's environment itself (_spawn.preset, for
    ENVIRON); else None.  () when none has.  SLOT_PATH(entry, slot, b"")
    is the slot's directory.  glibc's copies of the strings are made here,
    before the forks."""
    if not knobs or not _spawn.presettable(environ) or VAR in environ:
        return ()
    out = [None] * len(starts)
    for k, (e, i) in enumerate(starts):
        if knobs[k].notify_socket:
            try:
                path = os.path.realpath(slot_path(e, i, b""), strict=True)
            except OSError:
                continue
            path += SLASH_NAME
            if len(path) <= PATH_MAX:
                out[k] = path
                _spawn.preset(VAR, path)
    if not any(out):
        return ()
    _spawn.preset(VAR, None)
    return out
