"""Process titles, and site-packages reached only when needed.

Our console-script launchers start Python with -I -S, so site-packages is
not on sys.path; site_path() runs the site set-up once, on first need.

Titles come from setproctitle's C extension, loaded by path without its
package: the package imports logging, which imports threading, whose
after-fork hook costs every supervise that svscan forks about 300 KiB
(docs/tricks.md has the figures).  If the extension is not where we look
(setproctitle changed its layout), titles go through the public
`setproctitle.setproctitle` and cost that memory; if setproctitle is not
installed at all, there are no titles and nothing else changes.

title() takes bytes or str and never raises on content: names, arguments
and log data are bytes we do not control, and the title API only takes
UTF-8 without NUL.
"""

import os
import sys

_done = False
_setter = None
_tried = False

# Each byte that is not part of valid UTF-8 (decoded by surrogateescape to
# U+DC80..U+DCFF) shows as one '?', as ps shows a byte it cannot print, so
# the title keeps the byte length the C programs would give it.
_UNSHOWABLE = {c: "?" for c in range(0xDC80, 0xDD00)}
_UNSHOWABLE[0] = "?"


def site_path():
    global _done
    if not _done:
        _done = True
        import site
        site.main()


def showable(data):
    """BYTES (or str from os.fsdecode) as a str the title API accepts:
    valid UTF-8 kept, every other byte and NUL replaced by '?'."""
    if isinstance(data, str):
        data = os.fsencode(data)
    return data.decode("utf-8", "surrogateescape").translate(_UNSHOWABLE)


def title(data, keep_environ=False):
    """Show DATA (bytes or str) as the process title; False if titles are
    unavailable.

    KEEP_ENVIRON, at the first call, keeps the title inside the argv area
    (SPT_NOENV): /proc/PID/environ then still shows the environment the
    process was started with, and setproctitle does not copy the whole
    environment to the heap.  svscan wants that: its environment is what
    people look for in `ps e`.  (The environment ./run gets does not depend
    on it: svscan reads /proc/self/environ before its first title.)
    """
    set_title = setproctitle(keep_environ)
    if set_title is None:
        return False
    set_title(showable(data))
    return True


def setproctitle(keep_environ=False):
    """A function that sets the title from a str, or None if there is none."""
    global _setter, _tried
    if not _tried:
        _tried = True
        mod = _load_extension("setproctitle", "_setproctitle")
        if mod is not None:
            if keep_environ:
                os.environ["SPT_NOENV"] = "1"
                mod.getproctitle()      # reads SPT_NOENV once, here
                del os.environ["SPT_NOENV"]
            _setter = mod.setproctitle
        else:
            _setter = _public_setproctitle(keep_environ)
    return _setter


def _public_setproctitle(keep_environ):
    site_path()
    if keep_environ:
        os.environ["SPT_NOENV"] = "1"
    try:
        import setproctitle
        setproctitle.getproctitle()
    except ImportError:
        return None
    finally:
        os.environ.pop("SPT_NOENV", None)
    return setproctitle.setproctitle


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
                try:
                    mod = loader.create_module(ext)
                    loader.exec_module(mod)
                except ImportError:
                    return None     # built for another ABI: the package decides
                sys.modules[full] = mod
                return mod
    return None
