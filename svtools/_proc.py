"""What supervise learns about processes that are not its children, from /proc."""

import os


def stat(pid):
    """(state, ppid, pgrp, session) of PID from /proc/PID/stat, or None.

    state is one byte (b"R", b"S", b"Z"...).
    """
    try:
        fd = os.open("/proc/%d/stat" % pid, os.O_RDONLY | os.O_CLOEXEC)
        try:
            data = os.read(fd, 512)
        finally:
            os.close(fd)
    except OSError:
        return None
    fields = data[data.rfind(b")") + 2:].split()
    try:
        return fields[0], int(fields[1]), int(fields[2]), int(fields[3])
    except (IndexError, ValueError):
        return None


def group_alive(pgid):
    """Whether process group PGID has a member that is not a zombie.

    kill(-pgid, 0) also finds zombies, which stay until their parent (init,
    or svscan as subreaper) reaps them; then /proc decides.
    """
    try:
        os.kill(-pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    for name in os.listdir("/proc"):
        if name.isdigit():
            st = stat(int(name))
            if st is not None and st[2] == pgid and st[0] not in (b"Z", b"X"):
                return True
    return False


def in_tree(pid, root):
    """Whether PID is ROOT, in ROOT's group or session, or below ROOT
    (its ppid chain, at most 64 steps)."""
    if not root or pid <= 0:
        return False
    if pid == root:
        return True
    for _ in range(64):
        st = stat(pid)
        if st is None:
            return False
        _, ppid, pgrp, session = st
        if root in (ppid, pgrp, session):
            return True
        if ppid <= 1:
            return False
        pid = ppid
    return False
