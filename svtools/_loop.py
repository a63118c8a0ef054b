"""The skeleton every daemon loop shares (supervise, svscan, svscanboot,
multilog): a wake-up pipe for signals, its drain, and the one reaper.

CPython runs signal handlers only between bytecodes, so a daemon blocked in
poll() learns of a signal through the pipe given to signal.set_wakeup_fd():
the C-level handler writes the signal number there, poll() returns, and the
loop drains the pipe.  Both ends are non-blocking (a full pipe drops bytes
rather than blocking the handler) and close-on-exec.
"""

import os
# The C core of the signal module: no enum wrappers (see supervise).
import _signal as signal


# The write end given to set_wakeup_fd (-1: none): the one descriptor a
# C-level signal handler writes to at any moment (_spawn keeps off it).
wakeup_fd = -1

# Bytes asked for by each read of a daemon's pipes and FIFOs (wake-up
# pipe, supervise's control FIFO and readiness pipe): os.read makes its
# bytes object (33 bytes of header) before reading, so up to 479 bytes
# come from CPython's own allocator; more is a glibc malloc, which in a
# process forked from svscan writes heap pages shared with svscan and its
# other children (16 KiB per supervise after a restart; docs/performance.md).
READ = 256


def _ignore(signum, frame):
    pass


def wakeup(signals=()):
    """Install the wake-up pipe and no-op handlers for SIGNALS; returns the
    read end (poll it for POLLIN).  OSError when the pipe cannot be made."""
    global wakeup_fd
    r, w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
    signal.set_wakeup_fd(w, warn_on_full_buffer=False)
    wakeup_fd = w
    for sig in signals:
        signal.signal(sig, _ignore)
    return r


def drain(fd):
    """Read the wake-up pipe empty; the set of signal numbers it held.
    A short read ends it: what a handler writes after it wakes poll()
    again, and the read that would find the pipe empty raises
    BlockingIOError, whose strerror costs a glibc malloc."""
    got = set()
    try:
        while True:
            data = os.read(fd, READ)
            got.update(data)
            if len(data) < READ:
                break
    except (BlockingIOError, InterruptedError):
        pass
    return got


def reap_known(known):
    """[(pid, code, signal)] for the children that have exited (_exited),
    stopping once KNOWN of them have been reaped: the caller counts its
    children, and the waitpid that would then find none left (ECHILD,
    raised as ChildProcessError) is not made.  An exception caught costs a
    process forked from svscan about 15 KiB (docs/performance.md, "Eighth
    round"), and supervise reaps at every exit of ./run.  KNOWN <= 0, or
    a count that is too high: until no child has exited, or there is none.
    Never blocks."""
    out = []
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            break
        if pid == 0:
            break
        out.append(_exited(pid, status))
        known -= 1
        if known == 0:
            break
    return out


def reap(block=False):
    """Yield (pid, code, signal) for every child that has exited: code is
    the exit code, or 256 when a signal killed it (then signal is its
    number, else 0).  Never blocks, unless BLOCK: then it first waits for
    one child to exit (nothing when there are no children).  The one
    waitpid(-1) of a process."""
    flags = 0 if block else os.WNOHANG
    while True:
        try:
            pid, status = os.waitpid(-1, flags)
        except ChildProcessError:
            return
        if pid == 0:
            return
        flags = os.WNOHANG
        yield _exited(pid, status)


def _exited(pid, status):
    """(pid, code, signal) of a wait status, as reap() yields them."""
    if os.WIFSIGNALED(status):
        return pid, 256, os.WTERMSIG(status)
    return pid, os.WEXITSTATUS(status), 0
