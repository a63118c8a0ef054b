"""Where a service's logger writes: its log directory, found from the
running logger's command line or from log/run.

find(path) is the one entry; _svinfo.logger_dir() calls it.  The loggers
understood are multilog, s6-log and svlogd (their last directory argument,
after the options that take a value).
"""

import posix  # not os: see _strerr

from ._strerr import errtext
from ._svinfo import _b, _slurp, display, logger_pid


LOGGERS = (b"multilog", b"s6-log", b"svlogd")


def find(path):
    """(absolute log directory as bytes, how) or (None, why not).

    First from the running logger: the pid in PATH/log/supervise/status, its
    /proc/PID/cmdline (multilog's, s6-log's or svlogd's last directory
    argument) and /proc/PID/cwd for a relative one; else the same from the
    last line of PATH/log/run that names one of them.
    """
    path = _b(path).rstrip(b"/")
    log = path + b"/log"
    if not posix.access(log + b"/.", posix.F_OK):
        return None, "no log directory: %s/log does not exist" % display(path)
    why = "no logger running"
    pid = logger_pid(log)
    if pid:
        try:
            args = _slurp(b"/proc/%d/cmdline" % pid)[0].split(b"\0")
        except OSError as e:
            args, why = [], "unable to read /proc/%d/cmdline: %s" % (pid, errtext(e))
        prog, found = _logger_dir(args)
        if found:
            return _pick(log, found, pid), "from the running %s (pid %d)" % (prog.decode(), pid)
        if args:
            why = "the running logger (pid %d) is not multilog, s6-log or svlogd with a directory" % pid
    try:
        script = _slurp(log + b"/run")[0]
    except OSError as e:
        return None, "%s, and unable to read log/run: %s" % (why, errtext(e))
    for line in reversed(script.split(b"\n")):
        if any(name in line for name in LOGGERS):
            import shlex  # only here: it imports re
            try:
                words = shlex.split(line.decode("utf-8", "surrogateescape"), comments=True)
            except ValueError:
                continue
            prog, found = _logger_dir([_b(w) for w in words])
            if found:
                return _join(log, found), "from log/run (%s)" % prog.decode()
    return None, "%s, and log/run names no multilog, s6-log or svlogd directory" % why


def _pick(log, found, pid):
    """A relative directory is taken from DIR/log, where supervise starts
    the logger, unless it has no `current` there and it has one from the
    logger's cwd (a log/run that cd'd).  C multilog itself sits in its last
    directory, so a cwd that already ends in FOUND counts as that."""
    first = _join(log, found)
    if found.startswith(b"/"):
        return first
    try:
        cwd = posix.readlink(b"/proc/%d/cwd" % pid)
    except OSError:
        return first
    tail = _join(b"", found)
    options = [first, _join(cwd, found)] + ([_join(cwd, b".")] if cwd.endswith(tail) else [])
    for where in options:
        if posix.access(where + b"/current", posix.F_OK):
            return where
    return first


def _join(base, found):
    whole = found if found.startswith(b"/") else base + b"/" + found
    return b"/" + b"/".join(p for p in whole.split(b"/") if p not in (b"", b"."))


_OPTARG = {b"s6-log": b"dltr", b"svlogd": b"rRlb"}


def _logger_dir(args):
    """(program, last directory argument) from a logger's argv, or (None, None)."""
    for i, word in enumerate(args):
        prog = word.rsplit(b"/", 1)[-1]
        if prog in LOGGERS:
            break
    else:
        return None, None
    rest = args[i + 1:]
    takes = _OPTARG.get(prog, b"")
    while takes and rest and rest[0].startswith(b"-") and rest[0] != b"-":
        word = rest.pop(0)
        if word == b"--":
            break
        if word[-1:] in takes and len(word) == 2:
            rest = rest[1:]
    if prog == b"svlogd":
        dirs = [w for w in rest if w]
    else:
        dirs = [w for w in rest if w[:1] in (b".", b"/")]
    return (prog, dirs[-1]) if dirs else (None, None)
