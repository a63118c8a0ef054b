"""Lean access to the C parts svscan and readproctitle need.

Our console-script launchers start Python with -I -S, so site-packages is
not on sys.path; site_path() runs the site set-up once, on first need.

svscan forks every supervise from itself, and whatever the fork runs in
the child dirties pages that were shared.  Importing `threading` registers
an after-fork hook that costs about 300 KiB per child, and both
setproctitle's package (through logging) and inotify_simple (through
ctypes.util and subprocess) import it.  So setproctitle's C extension is
loaded without its package, and inotify is reached through ctypes.
"""

import os
import struct
import sys

_done = False


def site_path():
    global _done
    if not _done:
        _done = True
        import site
        site.main()


def setproctitle(keep_environ=False):
    """setproctitle.setproctitle, or None if the module is missing.

    KEEP_ENVIRON (at the first call) limits titles to the argv area, so
    that /proc/PID/environ, which supervise passes on to ./run, survives.
    """
    mod = sys.modules.get("setproctitle._setproctitle")
    if mod is None:
        mod = _load_extension("setproctitle", "_setproctitle")
        if mod is not None and keep_environ:
            os.environ["SPT_NOENV"] = "1"
            mod.getproctitle()      # reads SPT_NOENV once, here
            del os.environ["SPT_NOENV"]
    return None if mod is None else mod.setproctitle


def _load_extension(package, name):
    from importlib import machinery
    for attempt in (0, 1):
        spec = machinery.PathFinder.find_spec(package)
        if spec is not None and spec.submodule_search_locations:
            break
        if attempt:
            return None
        site_path()
    full = package + "." + name
    for where in spec.submodule_search_locations:
        for suffix in machinery.EXTENSION_SUFFIXES:
            path = os.path.join(where, name + suffix)
            if os.path.exists(path):
                loader = machinery.ExtensionFileLoader(full, path)
                ext = machinery.ModuleSpec(full, loader, origin=path)
                mod = loader.create_module(ext)
                loader.exec_module(mod)
                sys.modules[full] = mod
                return mod
    return None


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
