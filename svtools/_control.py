"""The control letters of supervise/control, and the client side of sending them.

A client writes ASCII letters into the FIFO DIR/supervise/control; supervise
reads them one byte at a time and ignores any byte it does not know.
"""

import errno
import posix  # not os: see _strerr

from ._strerr import errtext

# svc's option letters, in the order of its usage text: daemontools 0.76's
# eleven, then the daemontools-encore extras q 1 2 w.
LETTERS = "udopchaitkxq12w"

USAGE = ("svc options: u up, d down, o once, x exit, p pause, c continue,"
         " h hup, a alarm, i interrupt, t term, k kill,"
         " q quit, 1 usr1, 2 usr2, w winch")


def commands(letters):
    """Each letter once, in the order first seen."""
    out = ""
    for c in letters:
        if c not in out:
            out += c
    return out


def send(directory, data):
    """chdir to DIRECTORY and write DATA (bytes) into supervise/control.

    Returns None on success, else the text of svc's warning.  The caller
    returns to its own directory afterwards.
    """
    try:
        posix.chdir(directory)
    except OSError as e:
        return _text("unable to chdir to", directory, e.errno)
    try:
        # O_NONBLOCK: a FIFO nobody reads fails at once with ENXIO rather
        # than blocking until a reader comes.
        fd = posix.open("supervise/control", posix.O_WRONLY | posix.O_NONBLOCK)
    except OSError as e:
        if e.errno == errno.ENXIO:
            return "unable to control %s: supervise not running" % directory
        return _text("unable to control", directory, e.errno)
    try:
        # Checked on the open descriptor, so a file swapped in after a
        # stat cannot slip through.
        if (posix.fstat(fd).st_mode & 0o170000) != 0o010000:
            return "unable to control %s: control is not a fifo" % directory
        posix.set_blocking(fd, True)
        try:
            while data:
                data = data[posix.write(fd, data):]
        except OSError as e:
            return _text("error writing commands to", directory, e.errno)
    finally:
        posix.close(fd)
    return None


def _text(verb, directory, err):
    return "%s %s: %s" % (verb, directory, errtext(err))
