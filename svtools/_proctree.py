"""Processes from /proc (proc(5)): a run's tree, its process group, their
memory and CPU, and which of them outlive it.  For _svinfo and svctl.

    usage(pid, pgid=0) -> (rss bytes, cpu seconds, count) or None
    processes(pid) -> {pid: start time in clock ticks} of PID and below
    survivors(processes) -> sorted pids of those still running, not reused

Children are found through /proc/PID/task/TID/children (Linux 3.5+); each
/proc/PID/stat is read once per call.
"""

import posix

_CLK = posix.sysconf("SC_CLK_TCK")
_PAGE = posix.sysconf("SC_PAGE_SIZE")


def _slurp(path, limit=65536):
    fd = posix.open(path, posix.O_RDONLY | posix.O_NONBLOCK)
    try:
        return posix.read(fd, limit)
    finally:
        posix.close(fd)


def usage(pid, pgid=0, held=None):
    """(rss bytes, cpu seconds, number of processes) of the process tree
    below PID (and of the process group PGID; PID 0 for the group alone);
    None when none is left.
    HELD, a Held, keeps the descriptors of a long-running caller."""
    tree = _walk(pid, held) if pid else {}
    if pgid:
        for p, f in _group(pgid).items():
            tree.setdefault(p, f)
    rss = ticks = 0
    for f in tree.values():
        ticks += int(f[11]) + int(f[12]) + int(f[13]) + int(f[14])
        rss += int(f[21])
    return (rss * _PAGE, ticks / _CLK, len(tree)) if tree else None


def processes(pid):
    """{pid: start time in clock ticks} of PID and the processes below it
    (proc(5) field 22); {} when PID is gone."""
    return {p: int(f[19]) for p, f in _walk(pid).items() if f[0] != b"Z"}


def survivors(procs):
    """The pids of PROCS (from processes()) that still run, not reused."""
    return sorted(p for p, t in procs.items() if _started(p) == t)


def alive(pid):
    """PID exists and has not exited (a zombie, not yet reaped, has)."""
    return _started(pid) is not None


def _started(pid):
    f = _stat(pid)
    return None if f is None or f[0] == b"Z" else int(f[19])


def _stat(pid, held=None):
    """The fields of /proc/PID/stat after the command (f[0] is proc(5)'s
    field 3, the state), or None when PID is gone."""
    try:
        if held is None:
            data = _slurp(b"/proc/%d/stat" % pid, 4096)
        else:
            data = held.stat(pid)
    except OSError:
        return None
    return data[data.rindex(b")") + 2:].split()


def _walk(pid, held=None):
    """{pid: _stat fields} of PID and the processes below it, each stat
    read once.  A process with one thread (proc(5) field 20) has its
    children in task/PID/children alone: no listing of task/."""
    out = {}
    todo = [pid]
    while todo:
        p = todo.pop()
        if p in out:
            continue
        f = _stat(p, held)
        if f is None:
            continue
        out[p] = f
        if f[17] == b"1" and held is not None:
            todo.extend(int(c) for c in held.children(p).split())
            continue
        tasks = [b"%d" % p] if f[17] == b"1" else _tasks(p)
        for task in tasks:
            try:
                todo.extend(int(c) for c in _slurp(b"/proc/%d/task/%s/children" % (p, task)).split())
            except OSError:
                pass
    return out


class Held:
    """/proc/PID/stat and /proc/PID/task/PID/children kept open across calls
    and read again with pread: opening a /proc file costs more than what
    is read from it.  At most LIMIT descriptors.

    Both descriptors stay bound to their process, not to the pid: once it is
    reaped, stat fails with ESRCH even when the pid has gone to another
    process; then the pair is closed and opened again.  children() is only
    asked right after stat() of the same pid.  rotate() closes the pairs not
    read since the previous rotate(); close() all of them."""

    def __init__(self, limit):
        self.limit = limit
        self._old = {}
        self._new = {}

    def stat(self, pid):
        pair = self._new.get(pid) or self._old.pop(pid, None)
        if pair is not None:
            try:
                data = posix.pread(pair[0], 4096, 0)
            except OSError:
                self._new.pop(pid, None)
                self._close(pair)
            else:
                self._new[pid] = pair
                return data
        path = b"/proc/%d/stat" % pid
        if 2 * (len(self._new) + len(self._old)) >= self.limit:
            return _slurp(path, 4096)
        fd = posix.open(path, posix.O_RDONLY)
        try:
            data = posix.pread(fd, 4096, 0)
        except OSError:
            posix.close(fd)
            raise
        self._new[pid] = [fd, None]
        return data

    def children(self, pid):
        path = b"/proc/%d/task/%d/children" % (pid, pid)
        pair = self._new.get(pid)
        try:
            if pair is None:
                return _slurp(path, 65536)
            if pair[1] is None:
                pair[1] = posix.open(path, posix.O_RDONLY)
            return posix.pread(pair[1], 65536, 0)
        except OSError:
            return b""

    @staticmethod
    def _close(pair):
        for fd in pair:
            if fd is not None:
                posix.close(fd)

    def rotate(self):
        for pair in self._old.values():
            self._close(pair)
        self._old, self._new = self._new, {}

    def close(self):
        self.rotate()
        self.rotate()


def _tasks(pid):
    try:
        return posix.listdir(b"/proc/%d/task" % pid)
    except OSError:
        return []


def _group(pgid):
    """{pid: _stat fields} of the members of process group PGID."""
    out = {}
    for name in posix.listdir(b"/proc"):
        if name.isdigit():
            f = _stat(int(name))
            if f is not None and int(f[2]) == pgid:
                out[int(name)] = f
    return out
