"""Lean loading of setproctitle for svscan and readproctitle.

Our console-script launchers start Python with -I -S, so site-packages is
not on sys.path; site_path() runs the site set-up once, on first need.

svscan forks every supervise from itself, and whatever the fork runs in
the child dirties pages that were shared.  Importing `threading` registers
an after-fork hook that costs about 300 KiB per child, and both
setproctitle's package (through logging) and inotify_simple (through
ctypes.util and subprocess) import it.  So setproctitle's C extension is
loaded without its package (and inotify is reached through _inotify).
"""

import os
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
