"""A dry run of the in-child multilog's code, made by svscan before it forks.

A multilog that `supervise log` runs in its forked child
(_multilog_inchild) owns every page it writes.  Some of those writes happen
only the first time a piece of code runs in a process (CPython 3.11
quickens and specialises bytecode, gives types version tags, fills its
type cache; glibc reads the time zone once): run once in svscan, before
any fork, they land in pages every supervise and logger shares.  See
_prewarm for supervise's own dry run, docs/logging.md for the figures.

run() recognises a plain log/run, parses scripts, frames, selects and
stamps lines, plans where C multilog would cut, writes one read to
/dev/null through a LogDir, names an archive for `z`, and makes the
os calls a LogDir makes with keywords, on empty names.  It opens nothing
but /dev/null, changes no file, starts nothing and keeps nothing.
"""

import os

# _multilog_gzip is imported here, that is in svscan, for `z`: imported by
# each logger that needs it, it cost that logger about 490 KiB (importlib
# run in the child; bench/logmem.py --script 't z ./main').
from . import _logdir, _multilog_gzip, _multilog_inchild, _multilog_policy, multilog

REPEAT = 10     # CPython 3.11 quickens a function after 8 calls or loops
RUN = b"#!/bin/sh\nexec 2>&1\nexec multilog t s999999 n5 ./main\n"
SCRIPTS = (["t", "./main"],
           ["t", "T", "s4096", "n2", "R3600", "d", "-*x", "+*x*", "./a", "1", "./b"])
READS = (b"a line\nanother line\na part", b"ial line\n" + b"x" * 1100 + b"\nlast\n")


class _Null:
    """A sink that takes what a LogDir or the `1` sink would, and drops it."""

    size = _multilog_policy.SIZE_MAX
    bytes = 0

    def writev(self, pieces, total):
        pass

    def put(self, out, units):
        _multilog_policy.plan(out, units(), 0, 4096)


def _logdir_write(out, units):
    """LogDir's write path, on /dev/null."""
    try:
        fd = os.open("/dev/null", os.O_WRONLY | os.O_CLOEXEC)
    except OSError:
        return
    try:
        d = _logdir.LogDir(_multilog_policy.Dir("./null", _multilog_policy.SIZE_MAX, 2, None))
        d.cur = fd
        d.put(out, units)
        d.rot.active
        d.writev([out, out], 2 * len(out))
    finally:
        os.close(fd)


# The calls a LogDir makes with keywords, on paths where they change nothing
# (empty names fail with ENOENT): CPython sets up a C function's keyword
# parser (static data in libpython, and a tuple of names) at its first call
# with keywords.
_KEYWORD_CALLS = (
    (os.stat, ("/",), {"dir_fd": None}),
    (os.unlink, ("",), {"dir_fd": None}),
    (os.chmod, ("", 0o744), {"dir_fd": None}),
    (os.rename, ("", ""), {"src_dir_fd": None, "dst_dir_fd": None}),
    (os.link, ("", ""), {"src_dir_fd": None, "dst_dir_fd": None, "follow_symlinks": False}),
)


def _keywords():
    for call, args, kwargs in _KEYWORD_CALLS:
        try:
            call(*args, **kwargs)
        except OSError:
            pass
    try:
        os.close(os.open("/dev/null", os.O_RDONLY | os.O_CLOEXEC, 0o600, dir_fd=None))
    except OSError:
        pass


def run():
    """REPEAT times through what a logger does up to its loop and per read."""
    _keywords()
    environ = dict(os.environ._data)
    environ.pop(b"LC_CTYPE", None)
    for _ in range(REPEAT):
        _multilog_inchild.plan(RUN)
        _multilog_inchild._found(os.environ._data)   # stat()s along PATH
        _multilog_inchild._fresh(os.environ._data, environ)
        for args in SCRIPTS:
            m = multilog.Multilog(_multilog_policy.parse(args))
            m.sinks = [_Null() for _ in m.script.sinks]
            m.script.dirs
            for data in READS:
                m.feed(data)
                m._rotate_due()
                m._timeout()
            m.eof()
        f = multilog.Multilog(_multilog_policy.parse(SCRIPTS[1])).framer
        batch = f.lines(READS[0] + READS[1], b"")
        _logdir_write(b"".join(batch.outs[0]), lambda: batch.units(0))
        _multilog_gzip._candidate("@400000006b0ce89c3a49322c.s")
