"""Start a user program (./run, ./finish) from a long-running supervisor.

spawn() uses os.posix_spawn where the C library makes it clean: glibc
clones with CLONE_VM|CLONE_VFORK, so the child borrows the parent's memory
until it execs, and no Python code runs in it.  Measured (bench/spawn.py,
docs/performance.md) from a supervise-sized process: ./run executes
0.56-0.73 ms after the call instead of 1.35-1.76 ms through fork.

"Clean" means glibc 2.38 or later on Linux 5.5 or later: older glibc (and
musl) set their internal signals (32 and 33) to SIG_IGN in the child,
and exec keeps an ignored signal, which the C supervise never does.
Everywhere else, and whenever posix_spawn fails, the same start goes
through fork and execve (the fallback); a program that cannot be executed
is then reported by the child, as daemontools' supervise does: MESSAGE and
the errno text on stderr, exit 111.

Either way the child starts with the signals CPython touches (and SIGCHLD,
SIGALRM, which the supervisors catch) at their defaults and an empty
signal mask; every descriptor of ours is close-on-exec, so the child
inherits 0, 1, 2 and the FDS it is given, and nothing else.
"""

import os
# The C core of the signal module: the same calls without the enum wrappers,
# which would cost a long-running process 0.8 MB and every start-up 5 ms.
import _signal as signal

from . import _strerr
from ._pathexec import reset_signals

RESET = (signal.SIGPIPE, signal.SIGXFSZ, signal.SIGINT, signal.SIGQUIT,
         signal.SIGCHLD, signal.SIGALRM)


def _clean():
    """glibc 2.38+ on Linux 5.5+: clone3 with CLONE_CLEAR_SIGHAND, which
    leaves the internal signals alone (checked by tests/test_spawn.py)."""
    try:
        name, version = os.confstr("CS_GNU_LIBC_VERSION").split()
        libc = tuple(int(x) for x in version.split(".")[:2])
        kernel = tuple(int(x) for x in os.uname().release.split("-")[0].split(".")[:2])
    except (AttributeError, OSError, ValueError):
        return False
    return name == "glibc" and libc >= (2, 38) and kernel >= (5, 5)


_posix_spawn = getattr(os, "posix_spawn", None)
CLEAN = _posix_spawn is not None and _clean()


def spawn(argv, env, setsid=False, fds=(), message=None, in_child=None):
    """Start ARGV[0] (a path; PATH is not searched) with ARGV and ENV.

    ENV is a mapping of bytes.  SETSID runs the child in a session (and
    process group) of its own.  FDS are (source, target) pairs: the child
    gets SOURCE as TARGET (SOURCE == TARGET just passes it on).  MESSAGE
    (str) prefixes the error text the fallback child prints when the exec
    fails.  IN_CHILD, if given, is called in a forked child once signals
    and descriptors are set, just before the exec (it need not return);
    it means fork.  Returns the child's pid; OSError when no process could
    be made.
    """
    if CLEAN and in_child is None:
        try:
            return posix_spawn_exec(argv, env, setsid, fds)
        except (OSError, NotImplementedError):
            # The exec failed (ENOENT, EACCES, ENOEXEC...) or this libc cannot
            # setsid: the fork path reports the first and does the second.
            pass
    return fork_exec(argv, env, setsid, fds, message, in_child)


def posix_spawn_exec(argv, env, setsid=False, fds=(), message=None):
    """spawn() through posix_spawn alone; OSError when the exec fails."""
    # A dup2 onto itself clears close-on-exec (Austin Group issue 411).
    actions = [(os.POSIX_SPAWN_DUP2, source, target) for source, target in fds]
    return _posix_spawn(argv[0], argv, env, setsid=setsid, setsigdef=RESET,
                        setsigmask=(), file_actions=actions or None)


def fork_exec(argv, env, setsid=False, fds=(), message=None, in_child=None):
    """spawn() through fork and execve: the fallback, also used by the tests."""
    pid = os.fork()
    if pid:
        return pid
    try:
        # A signal for the parent must not wake it through the shared pipe.
        signal.set_wakeup_fd(-1)
        reset_signals(RESET[4:])
        if setsid:
            os.setsid()
        for source, target in fds:
            if source == target:
                os.set_inheritable(target, True)
            else:
                os.dup2(source, target)
        if in_child is not None:
            in_child()
        os.execve(argv[0], argv, env)
    except OSError as e:
        if message is not None:
            _strerr.say("%s: %s\n" % (message, _strerr.errtext(e)))
    finally:
        os._exit(111)
