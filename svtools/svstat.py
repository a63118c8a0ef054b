"""svstat: print the status of services monitored by supervise.

    svstat DIR...

Prints one line per DIR on stdout, for example

    DIR: up (pid 8433) 5 seconds, normally down, paused
    DIR: down 12 seconds, normally up, want up
    DIR: supervise not running

SECS counts from the last start or stop of the service.  Suffixes:
"normally down" / "normally up" when the presence of DIR/down disagrees with
the state, "paused", "want up" / "want down" when a command is pending.  A
directory that cannot be read gives "DIR: unable to VERB WHAT: ERR" on the
same stream; a status file shorter than 18 bytes gives "bad format" and an
unreadable one (a directory, say) its error text.  There are no options: "-"
is a directory name.  All output goes out in one write at the end.

Exit codes: 0; 111 when the current directory cannot be opened or returned to.
"""

import errno
import posix  # not os: see _strerr
import sys
import time

from . import _status, _strerr


def describe(now):
    """The text after "DIR: " for the service in the current directory."""
    try:
        posix.stat("down")
        normallyup = False
    except OSError as e:
        if e.errno != errno.ENOENT:
            return "unable to stat down: " + _strerr.errtext(e)
        normallyup = True
    try:
        # ENXIO: the FIFO exists but supervise (its only reader) is gone.
        fd = posix.open("supervise/ok", posix.O_WRONLY | posix.O_NONBLOCK)
    except OSError as e:
        if e.errno == errno.ENXIO:
            return "supervise not running"
        return "unable to open supervise/ok: " + _strerr.errtext(e)
    posix.close(fd)
    try:
        fd = posix.open("supervise/status", posix.O_RDONLY | posix.O_NONBLOCK)
    except OSError as e:
        return "unable to open supervise/status: " + _strerr.errtext(e)
    try:
        data = posix.read(fd, _status.SIZE)
    except OSError as e:
        return "unable to read supervise/status: " + _strerr.errtext(e)
    finally:
        posix.close(fd)
    if len(data) < _status.SIZE:
        return "unable to read supervise/status: bad format"
    return line(data, now, normallyup)


def line(data, now, normallyup):
    """Format an 18-byte status record as seen at unix time NOW."""
    secs, _, pid, paused, want = _status.unpack(data)
    # daemontools passes the difference of the TAI64 labels through a
    # double; do the same so that even a crafted label prints its number.
    age = max(0, now - secs)
    text = "up (pid %d) " % pid if pid else "down "
    text += "%d seconds" % int(float(age))
    if pid and not normallyup:
        text += ", normally down"
    if not pid and normallyup:
        text += ", normally up"
    if pid and paused:
        text += ", paused"
    if not pid and want == _status.WANT_UP:
        text += ", want up"
    if pid and want == _status.WANT_DOWN:
        text += ", want down"
    return text


def main(argv=None) -> int:
    if argv is None:
        argv = sys.argv
    try:
        here = posix.open(".", posix.O_RDONLY | posix.O_NONBLOCK)
    except OSError as e:
        _strerr.fatal("svstat", "unable to open current directory", e)
    now = int(time.time())
    out = []
    for directory in argv[1:]:
        try:
            posix.chdir(directory)
        except OSError as e:
            text = "unable to chdir: " + _strerr.errtext(e)
        else:
            text = describe(now)
        out.append(_strerr.fsencode("%s: %s\n" % (directory, text)))
        try:
            posix.fchdir(here)
        except OSError as e:
            _flush(out)
            _strerr.fatal("svstat", "unable to set directory", e)
    _flush(out)
    return 0


def _flush(out):
    data = b"".join(out)
    try:
        while data:
            data = data[posix.write(1, data):]
    except OSError:
        pass


if __name__ == "__main__":
    sys.exit(main())
