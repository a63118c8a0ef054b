"""Exec a program the daemontools way (pathexec), with signals reset.

CPython ignores SIGPIPE and SIGXFSZ and catches SIGINT; an ignored signal
survives exec, so every path that runs a user program goes through
reset_signals() first.
"""

import errno
import os
import signal

_RESET = (signal.SIGPIPE, signal.SIGXFSZ, signal.SIGINT, signal.SIGQUIT)


def reset_signals(extra=()):
    """Default dispositions for the signals Python touches, empty mask."""
    for sig in _RESET + tuple(extra):
        signal.signal(sig, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_SETMASK, ())


def env_set(env, name, value):
    """Queue semantics of daemontools: NAME runs to its first '='.

    ENV is a dict of bytes; VALUE None removes the variable.
    """
    if isinstance(name, str):
        name = os.fsencode(name)
    if isinstance(value, str):
        value = os.fsencode(value)
    key, eq, rest = name.partition(b"=")
    env.pop(key, None)
    if value is not None:
        env[key] = rest + b"=" + value if eq else value


def run(argv, env=None):
    """execve ARGV[0] found through PATH (daemontools' rules).

    Returns the errno to report if nothing could be executed.  ENV is a dict
    of bytes (None: the current environment); PATH is taken from it.
    """
    if env is None:
        env = os.environb
    prog = os.fsencode(argv[0])
    if b"/" in prog:
        try:
            os.execve(prog, argv, env)
        except OSError as e:
            return e.errno
    path = env.get(b"PATH")
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
