"""What svscan needs to take over supervise processes it did not start.

A supervise left running by an earlier svscan (killed, say) still holds
DIR/supervise/lock.  lock_holder() finds it: the lock cannot be taken, and
/proc/locks names the process that holds a flock on that inode.  svscan
then watches it with a pidfd (Linux 5.3+), which becomes readable when the
process exits although it is not svscan's child.

The pipe between a service and its logger lives on in the two supervise
processes (the service's stdout, the logger's stdin) and their children.
reopen_pipe() opens it again through /proc/PID/fd/N: Linux opens the pipe
itself, not a copy, so nothing in it is lost.  When every process that held
the pipe is gone, so is the pipe and what was in it.

left_behind() finds what a supervise of svscan's own left running when
its supervise/status does not name it: supervise writes the status only
after ./run has started, so a supervise killed in between (or while
./finish runs, which the status never names) leaves a child that svscan,
the subreaper, inherits, in the service's directory.
"""

import errno
import fcntl
import os
import stat

from . import _proc


def lock_holder(path):
    """Pid holding the flock on PATH; 0 if nobody holds it (or PATH is
    missing), -1 if it is held by a process /proc/locks does not name."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return 0
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return 0
        except OSError as err:
            if err.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
                return 0
        st = os.fstat(fd)
    finally:
        os.close(fd)
    return _flock_pid(b"%02x:%02x:%d" % (os.major(st.st_dev), os.minor(st.st_dev), st.st_ino))


def _flock_pid(where):
    try:
        with open(b"/proc/locks", "rb") as f:
            lines = f.read().splitlines()
    except OSError:
        return -1
    for line in lines:
        # "1: FLOCK  ADVISORY  WRITE 1234 fe:00:5678 0 EOF"; blocked waiters have "->"
        f = line.split()
        if len(f) >= 6 and f[1] == b"FLOCK" and f[5] == where:
            pid = int(f[4])
            return pid if pid > 0 else -1
    return -1


def pidfd(pid):
    """A pidfd for PID, or None if it is gone or pidfds are unavailable."""
    try:
        return os.pidfd_open(pid)
    except (OSError, AttributeError):
        return None


def starttime(pid):
    """PID's start time in clock ticks since boot; 0 if it is gone."""
    try:
        with open(b"/proc/%d/stat" % pid, "rb") as f:
            data = f.read()
    except OSError:
        return 0
    return int(data[data.rindex(b")") + 2:].split()[19])


def ppid(pid):
    """PID's parent; 0 if it is gone."""
    st = _proc.stat(pid)
    return st[1] if st else 0


def children(pid):
    """PID's children (Linux 3.5+ with CONFIG_PROC_CHILDREN); [] if gone."""
    try:
        with open(b"/proc/%d/task/%d/children" % (pid, pid), "rb") as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return []


def dir_id(path):
    """(device, inode) of the directory PATH, or None if it cannot be stat'ed."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def works_in(pid, where):
    """Whether PID's working directory is WHERE, a dir_id(); False for None."""
    return where is not None and dir_id(b"/proc/%d/cwd" % pid) == where


def left_behind(parent, where, skip):
    """The newest child of PARENT (svscan itself) working in the directory
    WHERE (a dir_id()) for which SKIP(pid) is false; 0 if there is none.
    Zombies and children that cannot be looked at are passed over."""
    best, born = 0, -1
    for pid in children(parent):
        if not skip(pid) and works_in(pid, where):
            t = starttime(pid)
            if t > born:
                best, born = pid, t
    return best


def holds(pid, link):
    """Whether one of PID's descriptors reads LINK (b"pipe:[INODE]")."""
    base = b"/proc/%d/fd" % pid
    try:
        names = os.listdir(base)
    except OSError:
        return False
    for name in names:
        try:
            if os.readlink(base + b"/" + name) == link:
                return True
        except OSError:
            pass
    return False


def pipe_inode(pid, fd):
    """The inode of the pipe at PID's descriptor FD, or None."""
    try:
        st = os.stat(b"/proc/%d/fd/%d" % (pid, fd))
    except OSError:
        return None
    return st.st_ino if stat.S_ISFIFO(st.st_mode) else None


def reopen_pipe(pid, fd):
    """(r, w): new descriptors for the pipe at PID's descriptor FD; OSError."""
    path = b"/proc/%d/fd/%d" % (pid, fd)
    # O_NONBLOCK: opening a FIFO for reading alone waits for a writer.
    r = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        w = os.open(path, os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        os.close(r)
        raise
    for x in (r, w):
        os.set_blocking(x, True)
    return r, w
