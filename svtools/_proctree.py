"""Processes from /proc (proc(5)): a run's tree, its process group, their
memory and CPU, and which of them outlive it.  For _svinfo and svctl.

    usage(pid, pgid=0) -> (rss bytes, cpu seconds, count) or None
    processes(pid) -> {pid: start time in clock ticks} of PID and below
    survivors(processes) -> sorted pids of those still running, not reused

Children are found through /proc/PID/task/TID/children (Linux 3.5+).
"""

import posix

_CLK = posix.sysconf("SC_CLK_TCK")
_PAGE = posix.sysconf("SC_PAGE_SIZE")


def _slurp(path, limit=65536):
    fd = posix.open(path, posix.O_RDONLY | posix.O_NONBLOCK)
    try:
        return posix.read(fd, limit), None
    finally:
        posix.close(fd)


def usage(pid, pgid=0):
    """(rss bytes, cpu seconds, number of processes) of the process tree
    below PID (and of the process group PGID); None when none is left."""
    pids = _tree(pid)
    if pgid:
        pids |= _group(pgid)
    rss = ticks = count = 0
    for pid in pids:
        try:
            data, _ = _slurp(b"/proc/%d/stat" % pid, 4096)
        except OSError:
            continue
        f = data[data.rindex(b")") + 2:].split()
        ticks += int(f[11]) + int(f[12]) + int(f[13]) + int(f[14])
        rss += int(f[21]) * _PAGE
        count += 1
    return (rss, ticks / _CLK, count) if count else None


def processes(pid):
    """{pid: start time in clock ticks} of PID and the processes below it
    (proc(5) field 22); {} when PID is gone."""
    out = {}
    for p in _tree(pid):
        started = _started(p)
        if started is not None:
            out[p] = started
    return out


def survivors(procs):
    """The pids of PROCS (from processes()) that still run, not reused."""
    return sorted(p for p, t in procs.items() if _started(p) == t)


def _started(pid):
    try:
        data, _ = _slurp(b"/proc/%d/stat" % pid, 4096)
    except OSError:
        return None
    f = data[data.rindex(b")") + 2:].split()
    return None if f[0] == b"Z" else int(f[19])


def _tree(pid):
    seen = set()
    todo = [pid]
    while todo:
        p = todo.pop()
        if p in seen:
            continue
        seen.add(p)
        try:
            tasks = posix.listdir(b"/proc/%d/task" % p)
        except OSError:
            continue
        for task in tasks:
            try:
                todo.extend(int(c) for c in _slurp(b"/proc/%d/task/%s/children" % (p, task))[0].split())
            except OSError:
                pass
    return seen


def _group(pgid):
    out = set()
    for name in posix.listdir(b"/proc"):
        if name.isdigit():
            try:
                data, _ = _slurp(b"/proc/" + name + b"/stat", 4096)
            except OSError:
                continue
            if int(data[data.rindex(b")") + 2:].split()[2]) == pgid:
                out.add(int(name))
    return out
