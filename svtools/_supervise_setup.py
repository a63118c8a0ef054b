"""supervise's start-up in its directory: daemontools 0.76's steps 3-9.

setup(dirname) changes to DIRNAME, notes whether DIRNAME/down exists, makes
supervise/ (or the target of a dangling supervise symlink, as Debian's
supervise does), takes supervise/lock with flock and opens the control
FIFO both ways; open_fifo() is also how supervise/ok is opened.  Every
failure is fatal in the daemontools shape ("supervise: fatal: unable to
...", exit 111), as in 0.76.

Nothing here raises on the usual path (no down file, supervise/ and its
FIFOs there from an earlier run, or none yet): a name is looked at with
access(2) before stat, mkdir or mkfifo would fail on it.  An exception
caught in a supervise forked from svscan costs it about 15 KiB of private
memory (the exception, its traceback's frame objects, the static type's
reference count), and these ran at every start (docs/performance.md,
"Eighth round").
"""

import fcntl
import os
import stat

from . import _strerr

PROG = "supervise"


def open_fifo(path, flags, verb, name):
    """Make sure PATH is a FIFO we can use; fatal otherwise."""
    # mkfifo's errors were never ours to report (0.76): the open says
    if not os.access(path, os.F_OK, follow_symlinks=False):
        try:
            os.mkfifo(path, 0o600)
        except OSError:
            pass
    try:
        fd = os.open(path, flags | os.O_NONBLOCK)
    except OSError as e:
        _strerr.fatal(PROG, "unable to %s %s" % (verb, name), e)
    # [0], not .st_mode: the attribute's name is a deep-frozen string of
    # libpython's, whose page the generic getattr writes (a round trip of
    # its reference count) in a forked supervise (docs/performance.md)
    if not stat.S_ISFIFO(os.fstat(fd)[0]):
        # A regular file (or a symlink to one) here would feed us its bytes
        # as commands, or hide a dead supervise from svok: refuse it.
        os.close(fd)
        _strerr.fatal(PROG, "unable to %s %s: not a fifo" % (verb, name))
    return fd


def setup(dirname):
    """Steps 3-9 of daemontools' start-up; returns (want_up, fds)."""
    try:
        os.chdir(dirname)
    except OSError as e:
        _strerr.fatal(PROG, "unable to chdir to %s" % dirname, e)
    # 0.76: stat("down"); ENOENT means wanted up, another error is fatal.
    # No name "down" at all is ENOENT for certain; when there is one, stat
    # it (a dangling symlink is ENOENT too).  (An access() that fails for
    # another reason than ENOENT, EIO say, reads as no down file here.)
    want_up = True
    if os.access("down", os.F_OK, follow_symlinks=False):
        try:
            os.stat("down")
            want_up = False
        except FileNotFoundError:
            pass
        except OSError as e:
            _strerr.fatal(PROG, "unable to stat %s/down" % dirname, e)
    if os.access("supervise", os.F_OK, follow_symlinks=False):
        # Debian's supervise: a dangling symlink (state kept on a tmpfs, say)
        # gets its target made.
        if not os.access("supervise", os.F_OK) and os.path.islink("supervise"):
            try:
                os.mkdir(os.readlink("supervise"), 0o700)
            except OSError:
                pass
    else:
        try:
            os.mkdir("supervise", 0o700)
        except OSError:
            pass
    try:
        lock = os.open("supervise/lock", os.O_WRONLY | os.O_NONBLOCK | os.O_APPEND | os.O_CREAT, 0o600)
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as e:
        _strerr.fatal(PROG, "unable to acquire %s/supervise/lock" % dirname, e)
    control = open_fifo("supervise/control", os.O_RDONLY, "read", dirname + "/supervise/control")
    # Our own writer keeps the FIFO from ever reporting end of file.
    control_w = open_fifo("supervise/control", os.O_WRONLY, "write", dirname + "/supervise/control")
    return want_up, (lock, control, control_w)
