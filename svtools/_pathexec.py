"""Exec a program the daemontools way (pathexec), with signals reset.

CPython ignores SIGPIPE and SIGXFSZ and catches SIGINT; an ignored signal
survives exec, so every path that runs a user program goes through
reset_signals() first.
"""

import errno
import os
# The C core of the signal module: the same calls without the enum wrappers,
# which would cost a long-running process 0.8 MB and every start-up 5 ms.
import _signal as signal

_RESET = (signal.SIGPIPE, signal.SIGXFSZ, signal.SIGINT, signal.SIGQUIT)


def reset_signals(extra=()):
    """Default dispositions for the signals Python touches, empty mask."""
    for sig in _RESET + tuple(extra):
        signal.signal(sig, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_SETMASK, ())


def initial_environ():
    """The environment our parent gave us, as an ordered dict of bytes.

    When the locale is C, CPython adds LC_CTYPE=C.UTF-8 to its own
    environment (PEP 538), which a C program would not pass on;
    /proc/self/environ still holds the original.
    """
    # os.read, not open(): the io machinery, run for the first time in a
    # supervise that svscan has just forked, would dirty ~170 KiB of it.
    chunks = []
    try:
        fd = os.open("/proc/self/environ", os.O_RDONLY | os.O_CLOEXEC)
        try:
            while True:
                chunk = os.read(fd, 65536)
                if not chunk:
                    break
                chunks.append(chunk)
        finally:
            os.close(fd)
    except OSError:
        return dict(os.environb)
    data = b"".join(chunks)
    env = {}
    for entry in data.split(b"\0"):
        name, eq, value = entry.partition(b"=")
        if eq and name not in env:
            env[name] = value
    return env


def env_set(env, name, value):
    """Queue semantics of daemontools: NAME runs to its first '='.

    ENV is a dict of bytes; VALUE None removes the variable.  As in 0.76,
    "NAME=VALUE" (or just NAME to remove) is split at its first '=', so
    removing "F=G" sets F to "G"; and a removed entry's slot is filled by the
    last entry, which is what fixes the order of the child's environment.
    """
    if isinstance(name, str):
        name = os.fsencode(name)
    if isinstance(value, str):
        value = os.fsencode(value)
    if value is not None:
        name = name + b"=" + value
    key, eq, rest = name.partition(b"=")
    if key in env:
        last = next(reversed(env))
        if last == key:
            del env[key]
        else:
            moved = env.pop(last)
            items = [(last, moved) if k == key else (k, v) for k, v in env.items()]
            env.clear()
            env.update(items)
    if eq:
        env[key] = rest


def run(argv, env=None):
    """execve ARGV[0] found through PATH (daemontools' rules).

    Returns the errno to report if nothing could be executed.  ENV is a dict
    of bytes (None: the current environment).  PATH is our own, not ENV's:
    0.76's envdir setting PATH does not change where the program is found.
    """
    if env is None:
        env = os.environb
    prog = os.fsencode(argv[0])
    if not prog:
        # CPython refuses an empty argv[0].  An empty name is only ever tried
        # as "DIR/", which no exec can run, so a stand-in gives the same errno.
        argv = ["-"] + list(argv[1:])
    if b"/" in prog:
        try:
            os.execve(prog, argv, env)
        except OSError as e:
            return e.errno
    path = os.environb.get(b"PATH")
    if path is None:
        path = b"/bin:/usr/bin"
    saved = 0
    for elem in path.split(b":"):
        try:
            os.execve((elem or b".") + b"/" + prog, argv, env)
        except OSError as e:
            if e.errno == errno.ENOENT:
                continue
            saved = e.errno
            if e.errno not in (errno.EACCES, errno.EPERM, errno.EISDIR):
                return saved
    return saved or errno.ENOENT


def pathexec(argv, env=None):
    """reset_signals(), then run(); returns an errno only on failure."""
    reset_signals()
    return run(argv, env)
