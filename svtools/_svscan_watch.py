"""svscan's inotify watcher: a child process that imports inotify_simple.

svscan forks the watcher and reads what it sends from a pipe; svscan
itself never imports inotify_simple, whose imports (enum, ctypes,
threading's after-fork hook) would otherwise be paid by every supervise
svscan forks (about 680 KiB each, measured with bench/svscan.py memory).

The pipe carries records: a 4-byte mask and a 2-byte name length (native
byte order, struct "IH"), then the name.  The first record, mask 0 and no
name, says the watch is in place: svscan rescans then, so nothing made
between the fork and the watch is missed.  A record with mask FAILED
(0xFFFFFFFF) says the watch could not be set up (no inotify, DIR gone).  The watcher exits when svscan
closes its end of the pipe (or dies), and when the watch is gone.
"""

import os
import struct
import sys

_RECORD = struct.Struct("IH")
READY = 0
FAILED = 0xFFFFFFFF
TITLE = "svscan watcher"


def decode(data):
    """Split DATA into ([(mask, name bytes)], bytes of an incomplete record)."""
    events = []
    pos = 0
    while pos + _RECORD.size <= len(data):
        mask, size = _RECORD.unpack_from(data, pos)
        end = pos + _RECORD.size + size
        if end > len(data):
            break
        events.append((mask, data[pos + _RECORD.size:end]))
        pos = end
    return events, data[pos:]


def encode(events):
    return b"".join(_RECORD.pack(mask, len(name)) + name for mask, name in events)


def start(mask, warn=True):
    """Fork the watcher for the current directory; returns (pid, read fd).
    WARN: say so on stderr if the watch cannot be set up.

    OSError if the pipe or the fork fails.
    """
    r, w = os.pipe()
    try:
        pid = os.fork()
    except OSError:
        os.close(r)
        os.close(w)
        raise
    if pid == 0:
        code = 111
        try:
            os.close(r)
            code = _watch(w, mask, warn)
        finally:
            os._exit(code)
    os.close(w)
    os.set_blocking(r, False)
    return pid, r


def _no_find_library():
    """inotify_simple asks ctypes.util.find_library("c") for libc, which
    imports shutil, re and subprocess and runs /sbin/ldconfig: the watcher
    would cost about 2 MiB more PSS.  CDLL(None), what find_library's None
    gives, reaches libc's inotify calls as well."""
    import types
    util = types.ModuleType("ctypes.util")
    util.find_library = lambda name: None
    sys.modules.setdefault("ctypes.util", util)


def _watch(w, mask, warn):
    import _signal
    from . import _siteimport, _strerr
    for sig in (_signal.SIGTERM, _signal.SIGINT, _signal.SIGHUP):
        _signal.signal(sig, _signal.SIG_DFL)
    _signal.set_wakeup_fd(-1)
    os.closerange(3, w)
    os.closerange(w + 1, 2 ** 31 - 1)
    _siteimport.title(TITLE, keep_environ=True)
    _siteimport.site_path()
    _no_find_library()
    try:
        import inotify_simple
        ino = inotify_simple.INotify()
        ino.add_watch(".", mask)
    except (ImportError, OSError) as err:
        if warn:
            _strerr.warn("svscan", "unable to watch directory", getattr(err, "errno", None))
        os.write(w, encode([(FAILED, b"")]))
        return 111
    import select
    poller = select.poll()
    poller.register(ino.fileno(), select.POLLIN)
    poller.register(w, 0)                     # POLLERR: svscan has gone
    os.write(w, encode([(READY, b"")]))
    gone = 0x8000 | 0x400 | 0x800             # IN_IGNORED, IN_DELETE_SELF, IN_MOVE_SELF
    while True:
        for fd, ev in poller.poll():
            if fd == w:
                return 0
            events = [(e.mask, os.fsencode(e.name)) for e in ino.read(timeout=0)]
            data = encode(events)
            try:
                while data:                      # blocks while svscan is busy
                    data = data[os.write(w, data):]
            except OSError:                      # EPIPE: svscan has gone
                return 0
            if any(m & gone for m, _ in events):
                return 0                         # svscan rescans and starts a new watcher
