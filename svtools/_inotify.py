"""inotify through ctypes, one watch, for svscan.

inotify_simple would do, but it imports threading (through ctypes.util and
subprocess), and threading's after-fork hook costs every supervise that
svscan forks about 300 KiB: see _siteimport.
"""

import os
import struct

IN_MOVED_FROM, IN_MOVED_TO, IN_CREATE, IN_DELETE = 0x40, 0x80, 0x100, 0x200
IN_DELETE_SELF, IN_MOVE_SELF, IN_Q_OVERFLOW, IN_IGNORED = 0x400, 0x800, 0x4000, 0x8000
IN_ISDIR = 0x40000000
_HEADER = struct.Struct("iIII")


class Inotify:
    """inotify_init1(IN_CLOEXEC|IN_NONBLOCK) and one watch; OSError on failure."""

    def __init__(self, path, mask):
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        fd = libc.inotify_init1(os.O_CLOEXEC | os.O_NONBLOCK)
        if fd < 0:
            raise OSError(ctypes.get_errno(), "inotify_init1")
        if libc.inotify_add_watch(fd, os.fsencode(path), mask) < 0:
            err = ctypes.get_errno()
            os.close(fd)
            raise OSError(err, "inotify_add_watch")
        self.fd = fd

    def fileno(self):
        return self.fd

    def read(self):
        """Pending events as (mask, name bytes); [] when there are none."""
        try:
            data = os.read(self.fd, 65536)
        except (BlockingIOError, InterruptedError):
            return []
        events = []
        pos = 0
        while pos + _HEADER.size <= len(data):
            _, mask, _, size = _HEADER.unpack_from(data, pos)
            pos += _HEADER.size
            events.append((mask, data[pos:pos + size].split(b"\0", 1)[0]))
            pos += size
        return events
