"""Start a user program (./run, ./finish) from a long-running supervisor.

spawn() takes the first of three paths that gives the child exactly what it
must get (below):

1. os.posix_spawn, where the C library makes it clean: glibc 2.38 or later
   on Linux 5.5 or later.  Older glibc (and musl) set their internal
   signals (32 and 33) to SIG_IGN in the child, and exec keeps an ignored
   signal, which the C supervise never does.
2. CPython's own C spawner, _posixsubprocess.fork_exec (what subprocess
   uses), on the interpreter versions whose argument list was checked
   (VFORK; tests/test_spawn.py checks it against subprocess.py).  Without a
   preexec_fn it vforks: the child borrows the parent's memory until it
   execs, and runs no Python code.  In the child it resets every caught
   signal to its default (with sigaction, which leaves glibc's internal
   signals alone, so exec defaults them), SIGPIPE and SIGXFSZ too, and
   restores the parent's mask.  So it is taken only when nothing of ours
   would reach the child that way: none of RESET ignored here and no
   signal blocked.
3. fork and execve (the fallback, and the path of IN_CHILD): Python code in
   a forked copy of the supervisor.

Measured (bench/spawn.py, docs/performance.md) from a supervise-sized
process on glibc 2.36: ./run executes about 0.6 ms after the call through
posix_spawn or fork_exec, 1.4-1.8 ms through fork.

A program that cannot be executed is reported by a child, as daemontools'
supervise does: MESSAGE and the errno text on stderr, exit 111.  Paths 1
and 2 learn of the failure in the parent (and reap their child); spawn()
then takes path 3, whose child says why.

Every path starts the child with the signals CPython touches (and SIGCHLD,
SIGALRM, which the supervisors catch) at their defaults and an empty
signal mask; every descriptor of ours is close-on-exec, so the child
inherits 0, 1, 2 and the FDS it is given, and nothing else.

inherit(ENV), called once before a supervisor forks, lets path 2 give a
child started with ENV this process's own environment instead of a copy.
"""

import os
import sys
# The C core of the signal module: the same calls without the enum wrappers,
# which would cost a long-running process 0.8 MB and every start-up 5 ms.
import _signal as signal

from . import _loop, _strerr
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

try:
    from _posixsubprocess import fork_exec as _c_spawn
except ImportError:
    _c_spawn = None
# The argument list vfork_exec() passes is the one of these versions'
# Lib/subprocess.py (Popen._execute_child: the same 23 arguments in 3.11,
# 3.12 and 3.13); a version not listed here keeps the fork path until its
# list has been checked the same way (and tests/test_spawn.py run on it).
VERIFIED = ((3, 11), (3, 12), (3, 13))
VFORK = (_c_spawn is not None and sys.platform.startswith("linux")
         and sys.version_info[:2] in VERIFIED)
# spawn() without IN_CHILD runs no Python code in a child (when the state
# of this process allows it; see vfork_exec).
FAST = CLEAN or VFORK
# The last ENV (supervise passes the same dict for every ./run) and its
# NAME=VALUE list: made again at each start, the list would cost a forked
# supervise the pages its 30-odd new strings land in.
_envlist = [None, None]
# The dict inherit() found to be this process's own environment.
_inherited = [None]
_FS = sys.getfilesystemencoding()
# Not the literal "surrogateescape": that is a deep-frozen string in
# libpython's data, whose reference count a forked supervise would write.
_FS_ERRORS = sys.getfilesystemencodeerrors()
# fork_exec's executable list for supervise's two programs, made here (in
# svscan, before it forks) rather than at each start.
_EXES = {"./run": (b"./run",), "./finish": (b"./finish",)}
# The C calls vfork_exec makes, bound once: a call through the module
# object looks up its name (a write to the name's page while the caller's
# bytecode is not quickened).
_getsignal, _sigmask, _SIG_BLOCK, _SIG_IGN = (signal.getsignal, signal.pthread_sigmask,
                                              signal.SIG_BLOCK, signal.SIG_IGN)
_pipe, _readv, _close = os.pipe, os.readv, os.close
_set_wakeup_fd = signal.set_wakeup_fd
_putenv, _unsetenv = os.putenv, os.unsetenv
# ... and those of _move and _restore (notification-fd's descriptor).
_dup, _dup2, _get_inheritable = os.dup, os.dup2, os.get_inheritable
# What fork_exec's child reports when the exec fails ("OSError:HEX_ERRNO:"
# and a word or two); nothing is read into it at a start that works.
_REPORT = [bytearray(256)]
# Caught or ignored here, and not restored by fork_exec's restore_signals.
_MUST_NOT_BE_IGNORED = tuple(sig for sig in RESET
                             if sig not in (signal.SIGPIPE, signal.SIGXFSZ))


def spawn(argv, env, setsid=False, fds=(), message=None, in_child=None):
    """Start ARGV[0] (a path; PATH is not searched) with ARGV and ENV.

    ENV is a mapping of bytes, not changed after it has been given here
    (the fork_exec path keeps its NAME=VALUE list for the last dict it
    saw; a new dict is a new list).  SETSID runs the child in a session (and
    process group) of its own.  FDS are (source, target) pairs: the child
    gets SOURCE as TARGET (SOURCE == TARGET just passes it on).  MESSAGE
    (str) prefixes the error text the fallback child prints when the exec
    fails, or a function of ARGV that returns it (called only then).
    IN_CHILD, if given, is called in a forked child once signals
    and descriptors are set, just before the exec (it need not return);
    it means fork.  Returns the child's pid; OSError when no process could
    be made.
    """
    if in_child is None and (CLEAN or VFORK):
        try:
            if CLEAN:
                return posix_spawn_exec(argv, env, setsid, fds)
            return vfork_exec(argv, env, setsid, fds)
        except (OSError, NotImplementedError):
            # The exec failed (ENOENT, EACCES, ENOEXEC...), or this libc cannot
            # setsid, or the child would inherit something of ours: the fork
            # path reports the first and does the others.
            pass
    return fork_exec(argv, env, setsid, fds, message, in_child)


def inherit(env):
    """Say that ENV (dict of bytes to bytes, never changed afterwards) is
    the environment every program spawn() starts with it must get; True if
    this process's own (C) environment is then exactly ENV, same entries in
    the same order.  The fork_exec path then lets the child keep that
    environment (execv) instead of making a NAME=VALUE list for it and
    copying the list at each start: about 30 KiB of private memory per
    forked supervise (docs/performance.md, "The spawn path's own pages").

    An LC_CTYPE that CPython added to its own environment (PEP 538, C
    locale) and ENV does not have is removed from it here first: no program
    started from this process gets it, as none would from the C tools.
    For a process that forks supervisors (svscan): call it before the
    forks, and change the environment afterwards only through ENV's copies,
    or around one fork with preset().
    """
    data = os.environ._data     # this process's environment, bytes on POSIX
    mine = list(data.items())
    same = mine == list(env.items())
    if not same and b"LC_CTYPE" in data and b"LC_CTYPE" not in env:
        same = [item for item in mine if item[0] != b"LC_CTYPE"] == list(env.items())
        if same:
            del os.environb[b"LC_CTYPE"]      # unsetenv, and out of os.environ
    _inherited[0] = env if same else None
    return same


def setenv(env, name, value):
    """Put NAME=VALUE (bytes) into ENV and into this process's own C
    environment (setenv), when ENV is the environment inherit() accepted
    and has no NAME yet: ENV stays inherited, so the fork_exec path still
    makes no NAME=VALUE list for it (a copy of ENV with NAME would cost a
    forked supervise about 45 KiB: docs/performance.md).  True then; else
    nothing is changed: False.  unsetenv() takes it out again."""
    if env is not _inherited[0] or name in env:
        return False
    _putenv(name, value)
    env[name] = value
    return True


def unsetenv(env, name):
    """Take out of ENV and this process's environment what setenv() or
    preset() put."""
    env.pop(name, None)
    _unsetenv(name)


def presettable(env):
    """Whether preset() can give a child forked with ENV a variable: ENV
    is the inherited environment and every path to ./run executes with
    this process's C environment (not posix_spawn, which takes a dict)."""
    return env is _inherited[0] and not CLEAN


def preset(name, value):
    """NAME=VALUE (bytes; VALUE None: NAME taken out) in this process's C
    environment alone, not in the inherited dict: for svscan, around the
    fork of one supervise (presettable()).  The child's ./run then gets it
    through execv, and the child pays nothing for it: setenv()'s dict
    entry and glibc's copy of the environment cost a forked supervise
    about 30 KiB (docs/performance.md).  The child takes it out with
    unsetenv() when it must not be passed on."""
    if value is None:
        _unsetenv(name)
    else:
        _putenv(name, value)


def posix_spawn_exec(argv, env, setsid=False, fds=(), message=None):
    """spawn() through posix_spawn alone; OSError when the exec fails."""
    # A dup2 onto itself clears close-on-exec (Austin Group issue 411).
    actions = [(os.POSIX_SPAWN_DUP2, source, target) for source, target in fds]
    return _posix_spawn(argv[0], argv, env, setsid=setsid, setsigdef=RESET,
                        setsigmask=(), file_actions=actions or None)


def vfork_exec(argv, env, setsid=False, fds=()):
    """spawn() through _posixsubprocess.fork_exec alone.

    OSError when the exec (or a step before it) fails in the child, which
    has then been reaped; NotImplementedError when this interpreter is not
    VERIFIED or the child would inherit our state: a signal of RESET
    ignored here (fork_exec restores only SIGPIPE and SIGXFSZ), or a signal
    blocked here (the child gets our mask).  fork_exec itself moves
    descriptors only onto 0, 1 and 2: SOURCE goes to a higher TARGET in
    this process for the call, and what TARGET held is put back after it;
    a SOURCE that is another pair's TARGET is copied out of the way first
    (_unclash), and so is the wake-up pipe's write end (_wakeup_aside)."""
    if not VFORK:
        raise NotImplementedError("fork_exec's arguments not verified")
    for sig in _MUST_NOT_BE_IGNORED:
        if _getsignal(sig) == _SIG_IGN:
            raise NotImplementedError("signal %d ignored" % sig)
    if _sigmask(_SIG_BLOCK, ()):
        raise NotImplementedError("signals blocked")
    # Written for the common case (one or two descriptors, none moved),
    # and with no builtin named (set, sorted, tuple, type, reversed): each
    # object this touches is a page a forked supervise makes its own, and
    # naming a static type or a deep-frozen string writes a page of
    # libpython's (docs/performance.md, "The spawn path's own pages").
    std, keep, saved, copies, wake = [-1, -1, -1], [], None, None, -1
    try:
        for source, target in fds:
            if target == _loop.wakeup_fd and source != target:
                # the wake-up pipe's write end has notification-fd's number
                wake = _wakeup_aside(fds)
                break
        for source, target in fds:
            for s, t in fds:
                if s == target and t != target and target > 2:
                    # another SOURCE would be overwritten by this move
                    # (log-events' pipe on notification-fd's number)
                    fds, copies = _unclash(fds)
                    break
            if copies is not None:
                break
        for source, target in fds:
            if target <= 2:
                std[target] = source
                continue
            if source != target:
                if saved is None:
                    saved = []
                _move(fds, source, target, saved)
            if target not in keep:
                keep.append(target)
        if env is _inherited[0]:
            envp = None         # execv: this process's own environment
        else:
            if env is not _envlist[0]:
                _envlist[:] = [env, [name + b"=" + value for name, value in env.items()]]
            envp = _envlist[1]
        exe = _EXES.get(argv[0])
        if exe is None:
            exe = _exe(argv[0])
        # After the moves, so that the pipe cannot take a TARGET.
        r, w = _pipe()
        try:
            try:
                if w in keep:       # a TARGET that was not open
                    raise NotImplementedError("descriptor %d not open" % w)
                keep.append(w)
                if len(keep) > 1:
                    keep.sort()
                # the 23 arguments (3.11-3.13): args, executable_list, close_fds,
                # pass_fds, cwd, env, p2cread, p2cwrite, c2pread, c2pwrite,
                # errread, errwrite, errpipe_read, errpipe_write,
                # restore_signals, call_setsid, pgid_to_set, gid,
                # extra_groups, uid, child_umask, preexec_fn, allow_vfork
                pid = _c_spawn(argv, exe, False, (*keep,),
                               None, envp, std[0], -1, -1, std[1], -1, std[2], r, w,
                               True, setsid, -1, None, None, None, -1, None, True)
            finally:
                _close(w)
            # EOF when the exec closed the child's copy (close-on-exec); with
            # vfork the child has already exec'd or died when the call returns.
            # (into a buffer of our own: a new bytes object of 512 would be
            # taken from, and written to, the C heap at each start)
            size = _readv(r, _REPORT)
        finally:
            _close(r)
    finally:
        if saved is not None:
            _restore(saved)
        if copies is not None:
            for fd in copies:
                _close(fd)
        if wake >= 0:
            _wakeup_back(wake)
    if size:
        report = bytes(_REPORT[0][:size])
        try:
            os.waitpid(pid, 0)
        except ChildProcessError:
            pass
        # "OSError:HEX_ERRNO:" ("noexec" after it: before the exec)
        parts = report.split(b":", 2)
        try:
            code = int(parts[1], 16)
        except (IndexError, ValueError):
            code = 0
        raise OSError(code, os.strerror(code) if code else report.decode("ascii", "replace"))
    return pid


def _restore(saved):
    """Put back what _move set aside, last first."""
    k = len(saved)
    while k:
        k -= 1
        target, copy, held = saved[k]
        if copy < 0:
            _close(target)
        else:
            _dup2(copy, target, held)
            _close(copy)


def _exe(path):
    """fork_exec's executable list for PATH (str or bytes): (bytes,)."""
    if isinstance(path, str):
        path = path.encode(_FS, _FS_ERRORS)
    return (path,)


def _above(fds):
    """The highest TARGET of FDS, or 2: copies go above it."""
    above = 2
    for s, t in fds:
        if t > above:
            above = t
    return above


def _dup_above(fd, low):
    """A close-on-exec copy of FD numbered LOW or more: what
    fcntl(F_DUPFD_CLOEXEC, LOW) does, made with dup(2) (each copy the
    lowest free number, the ones below LOW closed again).  fcntl.fcntl
    first tries its third argument as a buffer, raising and clearing a
    TypeError inside for an int (CPython 3.11), which costs a forked
    supervise the page of that exception type (docs/performance.md,
    "Eighth round").  OSError as dup's (EMFILE...), nothing left open."""
    below = None
    try:
        copy = _dup(fd)
        while copy < low:
            if below is None:
                below = []
            below.append(copy)
            copy = _dup(fd)
    finally:
        if below is not None:
            for spare in below:
                _close(spare)
    return copy


def _wakeup_aside(fds):
    """Make a close-on-exec copy of the wake-up pipe's write end, above
    every TARGET of FDS, the descriptor the C-level signal handler writes
    to (and _loop.wakeup_fd), so that the original's number can take a
    TARGET for a vfork_exec call; returns the original (_wakeup_back puts
    it back).  A signal meanwhile reaches the same pipe."""
    orig = _loop.wakeup_fd
    copy = _dup_above(orig, _above(fds) + 1)
    _set_wakeup_fd(copy, warn_on_full_buffer=False)
    _loop.wakeup_fd = copy
    return orig


def _wakeup_back(orig):
    """Undo _wakeup_aside: ORIG is the wake-up descriptor again, the copy
    is closed."""
    copy = _loop.wakeup_fd
    _set_wakeup_fd(orig, warn_on_full_buffer=False)
    _loop.wakeup_fd = orig
    _close(copy)


def _unclash(fds):
    """FDS with every SOURCE that is also another pair's TARGET (above 2)
    replaced by a close-on-exec copy above every TARGET, so that moving a
    SOURCE onto that TARGET cannot overwrite it: (new pairs, the copies,
    for the caller to close after the call)."""
    above = _above(fds)
    pairs, copies = [], []
    for s, t in fds:
        for s2, t2 in fds:
            if s == t2 and s != t and t2 > 2:
                try:
                    s = _dup_above(s, above + 1)
                except OSError:
                    for fd in copies:
                        _close(fd)
                    raise
                copies.append(s)
                break
        pairs.append((s, t))
    return pairs, copies


def _move(fds, source, target, saved):
    """Put SOURCE at TARGET (above 2) in this process for a vfork_exec call,
    and what TARGET held (if anything) aside, above every TARGET; SAVED
    gets (TARGET, copy or -1, its inheritable flag).  Never over another
    SOURCE, nor over the wake-up pipe, which a C-level signal handler may
    write to at any moment (no signal may be blocked instead: the child
    would get the mask): vfork_exec has moved those out of the way
    (_unclash, _wakeup_aside); NotImplementedError if one is still there."""
    # Plain loops and calls bound at import: no generator, no builtin
    # named (each a page of its own in a forked supervise).
    above = target
    for s, t in fds:
        if s == target:
            raise NotImplementedError("descriptor %d busy" % target)
        if t > above:
            above = t
    if target == _loop.wakeup_fd:
        raise NotImplementedError("descriptor %d busy" % target)
    try:
        held = _get_inheritable(target)
    except OSError:
        _dup2(source, target, False)
        saved.append((target, -1, False))
    else:
        saved.append((target, _dup_above(target, above + 1), held))
        _dup2(source, target, False)


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
        if env is _inherited[0]:
            os.execv(argv[0], argv)     # the C environment: see preset()
        else:
            os.execve(argv[0], argv, env)
    except OSError as e:
        if callable(message):
            message = message(argv)
        if message is not None:
            _strerr.say("%s: %s\n" % (message, _strerr.errtext(e)))
    finally:
        os._exit(111)
