"""Run a service's logger in supervise's forked child instead of exec'ing it.

A `log/run` is nearly always `#!/bin/sh` and `exec multilog ARGS`.  Exec'd,
that costs a new interpreter: 3.0 MiB of PSS per logger (bench/logmem.py,
100 logged services).  Run in the child that supervise has just forked,
which shares its pages with supervise and svscan, multilog.main costs only
what it dirties: 1.25 MiB of PSS, 1.14 MiB of it private (docs/logging.md,
Memory, says where it goes).  The process is the one an exec would have
replaced (same pid, so svc and svstat see no difference); its command line
becomes `multilog ARGS`, NUL-separated as an exec would leave it (so that
ps, pgrep and svctl's logger lookup see a multilog), written over the
argument area through /proc/self/mem; files and behaviour are multilog's.

Only a script that sh would run as exactly that exec qualifies (plan(), pure):
  - the first line is exactly `#!/bin/sh`;
  - every other line but the last non-blank one is blank, a comment (`#`
    first), or `exec 2>&1`;
  - the last non-blank line is `exec multilog` and words of the bytes in
    PLAIN only (no quotes, globs, variables, redirections or comments), run
    together by spaces or tabs.
and `multilog`, looked up in the PATH the script would get, must be one of
our launchers (or pip's wrapper) for svtools.multilog on this interpreter,
and `multilog ARGS` must fit in this process's argument area.
Anything else, or any doubt, and the caller execs ./run as always.

maybe_run() is for a forked child about to exec ./run.  A spawner that does
not fork (posix_spawn) can call find() first and fork only when it returns
arguments, then call become() in the child.
"""

import os
import stat
import sys

# Imported here, by supervise and so by svscan before it forks: the
# children that run multilog find it in pages they share.
from . import _launchers, multilog

PLAIN = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-./+=:@%,")
HARMLESS = frozenset([b"", b"exec 2>&1"])
MAX_SCRIPT = 4096


def _words(line):
    return [w for w in line.replace(b"\t", b" ").split(b" ") if w]


def plan(script):
    """multilog's arguments (list of bytes) if SCRIPT (bytes) qualifies, else None."""
    lines = script.split(b"\n")
    if lines[0] != b"#!/bin/sh":
        return None
    body = [b" ".join(_words(line)) for line in lines[1:]]
    while body and not body[-1]:
        body.pop()
    if not body:
        return None
    for line in body[:-1]:
        if line not in HARMLESS and line[:1] != b"#":
            return None
    words = _words(body[-1])
    if words[:2] != [b"exec", b"multilog"]:
        return None
    for w in words[2:]:
        if not PLAIN.issuperset(w):
            return None
    return words[2:]


def _read(path):
    """Up to MAX_SCRIPT + 1 bytes of PATH; os.read, not open(): the io
    machinery, run for the first time in this child, would dirty ~170 KiB."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        return os.read(fd, MAX_SCRIPT + 1)
    finally:
        os.close(fd)


def _ours(path):
    """PATH is a launcher for svtools.multilog on this interpreter and package."""
    try:
        text = _read(path)[:MAX_SCRIPT].decode("utf-8")
    except (OSError, UnicodeDecodeError):
        return False
    found = _launchers._parse(text)
    if found is None or found[1] != "multilog":
        return False
    try:
        if os.path.realpath(found[0]) != os.path.realpath(sys.executable):
            return False
    except OSError:
        return False
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    return "sys.path.insert(" not in text or ("sys.path.insert(0, %r)" % root) in text


def _identity():
    """(st_dev, st_ino) of the launcher next to this interpreter, if it is ours.

    Read once at import, that is in svscan before it forks: a child then
    recognises our multilog by one stat(), which dirties far less than
    reading and parsing the launcher (about 200 KiB, measured).
    """
    path = os.path.join(os.path.dirname(sys.executable), "multilog")
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino) if _ours(path) else None


IDENTITY = _identity()
FS_CODEC = (sys.getfilesystemencoding(), sys.getfilesystemencodeerrors())


def _found(environ):
    """The `multilog` sh would run with ENVIRON is ours (None if no PATH)."""
    path = environ.get(b"PATH")
    if path is None:
        return False
    for elem in path.split(b":"):
        cand = (elem or b".") + b"/multilog"
        try:
            st = os.stat(cand)
        except OSError:
            continue
        if stat.S_ISREG(st.st_mode) and os.access(cand, os.X_OK):
            return (st.st_dev, st.st_ino) == IDENTITY or _ours(os.fsdecode(cand))
    return False


def find(environ):
    """multilog's argv (bytes) if ./run qualifies with ENVIRON, else None.

    In the service directory; ENVIRON is the dict of bytes ./run would get.
    """
    # A supervise that checks in its own process (_spawn.FAST) does this at
    # every start, so the usual answer (no) makes no object: ./run is read
    # into a buffer made at import (in svscan), and a script without the
    # word cannot qualify.  Reading it into a new bytes object and parsing
    # it cost about 30 KiB of private memory per supervise (pagemap), and
    # plan() on every script about 150 KiB.
    try:
        fd = _open(b"./run", _RDONLY)
    except OSError:
        return None
    try:
        size = _readv(fd, _BUFS)
    except OSError:
        return None
    finally:
        _close(fd)
    if size > MAX_SCRIPT or _BUF.find(b"multilog", 0, size) < 0 or not _access(b"./run", _X_OK):
        return None
    args = plan(bytes(_BUF[:size]))
    if args is None or not _found(environ):
        return None
    argv = [b"multilog"] + args
    _LAST[:] = [environ, argv]
    return argv


_BUF = bytearray(MAX_SCRIPT + 1)
_BUFS = [_BUF]
_open, _readv, _close, _access = os.open, os.readv, os.close, os.access
_RDONLY, _X_OK = os.O_RDONLY | os.O_CLOEXEC, os.X_OK


# What find() last said yes to, and for which environment: a supervise that
# checks in its own process (_spawn.FAST) and then forks has just asked,
# and the child's maybe_run() takes that answer instead of reading and
# parsing ./run again (each page that does so writes is the child's own).
_LAST = [None, None]


def _arg_area():
    """(start, end) of this process's argument area, from /proc/self/stat."""
    data = _read("/proc/self/stat")
    fields = data[data.rindex(b")") + 2:].split()
    return int(fields[45]), int(fields[46])   # fields 48 and 49: arg_start, arg_end


def _inherited_arg_area():
    """_arg_area() read once at import, that is in svscan (or a supervise
    run by hand) before it forks: a forked child has its parent's argument
    area, and reading /proc/self/stat in each logger cost it about 40 KiB
    (bench/logmem.py).  None if it cannot be read (then each child tries)."""
    try:
        return _arg_area()
    except (OSError, ValueError, IndexError):
        return None


ARG_AREA = _inherited_arg_area()


def maybe_run(environ):
    """In supervise's forked child, in the service directory, signals reset
    and descriptors in place: returns if ./run must be exec'd; otherwise
    runs multilog and exits."""
    argv = _LAST[1] if _LAST[0] is environ else find(environ)
    if argv is not None and _retitle(argv):
        become(environ, argv)


def _retitle(argv):
    """Make /proc/self/cmdline ARGV and comm `multilog`; False if ARGV does
    not fit or the argument area cannot be written."""
    try:
        start, end = ARG_AREA or _arg_area()
    except (OSError, ValueError, IndexError):
        return False
    title = b"\0".join(argv) + b"\0"
    if len(title) > end - start:
        return False
    try:
        fd = os.open("/proc/self/mem", os.O_RDWR)
        try:
            os.pwrite(fd, title.ljust(end - start, b"\0"), start)
        finally:
            os.close(fd)
    except OSError:
        return False
    try:
        fd = os.open("/proc/self/comm", os.O_WRONLY)
        try:
            os.write(fd, b"multilog")
        finally:
            os.close(fd)
    except OSError:
        pass
    return True


def _fresh(data, environ):
    """DATA (os.environ's dict) is what a fresh interpreter given ENVIRON
    would have: ENVIRON, plus the LC_CTYPE that PEP 538 makes CPython add
    to its own environment when the locale is C."""
    extra = len(data) - len(environ)
    if extra == 0:
        return data == environ
    if extra != 1 or b"LC_CTYPE" not in data or b"LC_CTYPE" in environ:
        return False
    for key, value in environ.items():
        if data.get(key) != value:
            return False
    return True


def _adopt_environ(environ):
    """Make this process's environment, C and Python, the one an exec'd
    multilog would have been given ENVIRON (dict of bytes).

    Usually it already is (_fresh); then nothing is touched: adopting
    ENVIRON key by key dirtied 64 to 190 KiB in this child (bench/logmem.py).
    """
    data = os.environ._data   # bytes to bytes on POSIX
    if _fresh(data, environ):
        return
    tz = data.get(b"TZ")
    for key in data:
        os.unsetenv(key)
    for key, value in environ.items():   # in ENVIRON's order, as exec would
        os.putenv(key, value)
    data.clear()
    data.update(environ)
    if environ.get(b"TZ") != tz:
        import time
        time.tzset()


def become(environ, argv):
    """Be `multilog ARGV[1:]` in this forked child; never returns.

    The caller has set the command line (see maybe_run)."""
    import _signal
    # What a fresh interpreter would have: only inheritable descriptors, no
    # handlers, SIGPIPE and SIGXFSZ ignored (write errors instead), its
    # environment.
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        if fd > 2:
            try:
                if not os.get_inheritable(fd):
                    os.close(fd)
            except OSError:
                pass
    for sig in range(1, _signal.NSIG):
        if callable(_signal.getsignal(sig)):  # handlers do not survive exec
            _signal.signal(sig, _signal.SIG_DFL)
    _signal.signal(_signal.SIGPIPE, _signal.SIG_IGN)
    _signal.signal(_signal.SIGXFSZ, _signal.SIG_IGN)
    _adopt_environ(environ)
    # os.fsdecode's code is deep-frozen in libpython: running it would copy
    # libpython's pages that hold it; the decode itself is the same.
    argv = [a.decode(*FS_CODEC) for a in argv]
    # sys.argv is left alone: multilog.main takes ARGV, and freeing the
    # list svscan made would write the pages that hold it and its objects.
    code = 111
    try:
        code = multilog.main(argv)
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else 1
    except BaseException:
        # This child must never return into supervise's loop: report, exit.
        import traceback
        traceback.print_exc()
    finally:
        os._exit(code)
