"""_spawn: what a program started by a supervisor inherits, on both paths."""

import inspect
import os
import signal
import subprocess

import pytest

from helpers import wait_for
from svtools import _loop, _spawn

PATHS = {"posix_spawn": _spawn.posix_spawn_exec, "fork fallback": _spawn.fork_exec,
         "fork_exec": _spawn.vfork_exec}
needs_vfork = pytest.mark.skipif(not _spawn.VFORK, reason="fork_exec's arguments not verified "
                                 "for this interpreter (_spawn.VERIFIED)")
REPORT = ("grep -E '^Sig(Ign|Blk)' /proc/self/status; "
          "for f in /proc/self/fd/*; do echo fd ${f##*/}; done; "
          "echo sid $(cut -d' ' -f6 /proc/self/stat)\n")
_hook = {"fd": -1}


def _after_fork_in_child():
    if _hook["fd"] >= 0:
        os.write(_hook["fd"], b"python ran in the child\n")


os.register_at_fork(after_in_child=_after_fork_in_child)


class Child:
    """Runs one spawned program; its stdout as text, its exit status."""

    def __init__(self, how, argv, **kw):
        r, w = os.pipe()
        try:
            fds = [(w, 1)] + list(kw.pop("fds", ()))
            start = _spawn.spawn if how == "spawn" else PATHS[how]
            self.pid = start(argv, {b"PATH": b"/usr/bin:/bin"}, fds=fds, **kw)
        finally:
            os.close(w)
        chunks = []
        try:
            while True:
                data = os.read(r, 65536)
                if not data:
                    break
                chunks.append(data)
        finally:
            os.close(r)
        self.out = b"".join(chunks).decode()
        self.status = os.waitpid(self.pid, 0)[1]

    def fields(self, name):
        return [line.split(None, 1)[1].strip() for line in self.out.splitlines()
                if line.split(None, 1)[0].rstrip(":") == name]


def _inheritable(fd):
    try:
        return os.get_inheritable(fd)
    except OSError:
        return False


def _caught(signum, frame):
    pass


@pytest.fixture
def caught():
    """What a supervise is like: its signals caught (CPython ignores
    SIGPIPE and SIGXFSZ itself), none blocked: fork_exec takes it."""
    saved = {sig: signal.signal(sig, _caught) for sig in _spawn.RESET
             if sig not in (signal.SIGCHLD, signal.SIGPIPE, signal.SIGXFSZ)}
    saved.update({sig: signal.signal(sig, signal.SIG_IGN)
                  for sig in (signal.SIGPIPE, signal.SIGXFSZ)})
    try:
        yield
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)


@pytest.fixture
def hostile():
    """Our process ignores what a shell's & and CPython ignore, and blocks
    USR1: none of it may reach the child.  (Not SIGCHLD: ignoring it here
    would reap the child before we can.)"""
    saved = {sig: signal.signal(sig, signal.SIG_IGN) for sig in _spawn.RESET
             if sig != signal.SIGCHLD}
    old_mask = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old_mask)
        for sig, handler in saved.items():
            signal.signal(sig, handler)


@pytest.fixture(params=["posix_spawn", "fork fallback", "spawn", "fork_exec"])
def unclean(request):
    """A path and the worst state of ours it must keep from the child."""
    if request.param == "fork_exec":
        if not _spawn.VFORK:
            pytest.skip("fork_exec not verified here")
        request.getfixturevalue("caught")
    else:
        request.getfixturevalue("hostile")
    return request.param


def test_child_gets_default_signals_empty_mask_and_only_its_fds(unclean, tmp_path):
    how = unclean
    # Descriptors our own parent let us inherit go on, as with C supervise.
    inherited = {name for name in os.listdir("/proc/self/fd")
                 if int(name) > 2 and _inheritable(int(name))}
    extra = os.open(tmp_path, os.O_RDONLY)   # close-on-exec, as all of ours
    passed = os.open(tmp_path, os.O_RDONLY)
    try:
        child = Child(how, ["/bin/sh", "-c", REPORT], fds=[(passed, 7)])
    finally:
        os.close(extra)
        os.close(passed)
    assert child.status == 0
    ign = int(child.fields("SigIgn")[0], 16)
    for sig in _spawn.RESET:
        assert not ign & (1 << (sig - 1)), signal.Signals(sig).name
    assert int(child.fields("SigBlk")[0], 16) == 0
    # the shell's own descriptor for /proc/self/fd aside
    assert set(child.fields("fd")) - {"3"} - inherited == {"0", "1", "2", "7"}


def _need(how):
    if how == "fork_exec" and not _spawn.VFORK:
        pytest.skip("fork_exec not verified here")


@pytest.mark.parametrize("how", PATHS)
def test_descriptor_passed_as_itself_is_inherited(how, tmp_path):
    _need(how)
    r, w = os.pipe()
    high = os.dup(w)     # close-on-exec
    os.close(w)
    try:
        child = Child(how, ["/bin/sh", "-c", "echo through > /proc/self/fd/%d" % high],
                      fds=[(high, high)])
    finally:
        os.close(high)
    try:
        assert child.status == 0
        assert os.read(r, 100) == b"through\n"
    finally:
        os.close(r)


@pytest.mark.parametrize("how", PATHS)
@pytest.mark.parametrize("setsid", [False, True])
def test_setsid(how, setsid):
    _need(how)
    child = Child(how, ["/bin/sh", "-c", "echo sid $(cut -d' ' -f6 /proc/self/stat)"],
                  setsid=setsid)
    sid = int(child.fields("sid")[0])
    assert sid == (child.pid if setsid else os.getsid(0))


def test_a_program_that_cannot_run_is_reported_by_the_child(tmp_path):
    """Whatever path spawn() takes, the 0.76 outcome: a child that says why
    and exits 111 (posix_spawn's own error sends it down the fallback)."""
    script = tmp_path / "run"
    script.write_text("#!/bin/sh\nexit 0\n")
    script.chmod(0o644)
    child = Child("spawn", [str(script)], fds=[(1, 2)],
                  message="supervise: fatal: unable to start x/run")
    assert os.WEXITSTATUS(child.status) == 111
    assert child.out == "supervise: fatal: unable to start x/run: access denied\n"
    with pytest.raises(PermissionError):
        _spawn.posix_spawn_exec([str(script)], {})


def test_posix_spawn_is_used_exactly_where_it_leaves_no_signal_ignored():
    """The gate (CLEAN) against this machine's C library: glibc before 2.38
    ignores its internal signals (32 up to SIGRTMIN) in a posix_spawn child."""
    child = Child("posix_spawn", ["/bin/sh", "-c", REPORT])
    ign = int(child.fields("SigIgn")[0], 16)
    internal = sum(1 << (sig - 1) for sig in range(32, signal.SIGRTMIN))
    assert (ign & internal == 0) == _spawn.CLEAN


def test_posix_spawn_runs_no_python_in_the_child():
    """The trick itself: no at-fork hook (no Python at all) runs in the child
    of posix_spawn, while the fallback's child runs them."""
    seen = {}
    for how in [h for h in PATHS if h != "fork_exec" or _spawn.VFORK]:
        r, w = os.pipe()
        _hook["fd"] = w
        try:
            Child(how, ["/bin/true"])
        finally:
            _hook["fd"] = -1
            os.close(w)
        os.set_blocking(r, False)
        try:
            seen[how] = os.read(r, 100)
        except BlockingIOError:
            seen[how] = b""
        os.close(r)
    assert seen.pop("fork fallback") == b"python ran in the child\n"
    assert set(seen.values()) == {b""}



@needs_vfork
@pytest.mark.parametrize("busy", [False, True])
def test_fork_exec_moves_a_descriptor_above_2_and_puts_ours_back(busy, tmp_path):
    """notification-fd: SOURCE reaches the child as TARGET; what TARGET was
    here before the call is there again after it, with its flag."""
    target = 40
    if busy:
        held = os.open(tmp_path, os.O_RDONLY)
        os.dup2(held, target, inheritable=True)
        os.close(held)
        before = os.fstat(target)
    r, w = os.pipe()
    try:
        child = Child("fork_exec", ["/bin/sh", "-c", "echo ready > /proc/self/fd/%d" % target],
                      fds=[(w, target)])
        os.close(w)
        assert child.status == 0 and os.read(r, 100) == b"ready\n"
        if busy:
            after = os.fstat(target)
            assert (after.st_dev, after.st_ino) == (before.st_dev, before.st_ino)
            assert os.get_inheritable(target)
        else:
            with pytest.raises(OSError):
                os.fstat(target)
    finally:
        os.close(r)
        if busy:
            os.close(target)


@needs_vfork
def test_fork_exec_takes_a_source_that_is_another_pairs_target(tmp_path):
    """log-events' pipe (to fd 1) whose write end has notification-fd's
    number: both reach the child, through the vfork path (no fork
    fallback), and no copy is left open here."""
    target = 45
    log_r, log_w = os.pipe()
    ready_r, ready_w = os.pipe()
    os.dup2(log_w, target, inheritable=False)
    os.close(log_w)
    before = sorted(os.listdir("/proc/self/fd"))
    try:
        child = Child("fork_exec", ["/bin/sh", "-c", "echo out; echo ready > /proc/self/fd/%d"
                                    % target], fds=[(target, 1), (ready_w, target)])
        assert child.status == 0
        assert sorted(os.listdir("/proc/self/fd")) == before
        assert os.read(ready_r, 100) == b"ready\n"
        assert os.read(log_r, 100) == b"out\n"
        # and TARGET is this process's log pipe again
        os.write(target, b"still ours\n")
        assert os.read(log_r, 100) == b"still ours\n"
    finally:
        for fd in (log_r, ready_r, ready_w, target):
            os.close(fd)


@needs_vfork
def test_fork_exec_declines_what_would_reach_the_child(hostile):
    """An ignored signal, a blocked one: not fork_exec's to do (spawn()
    then forks: see the test above)."""
    with pytest.raises(NotImplementedError):
        _spawn.vfork_exec(["/bin/true"], {})
    for sig in _spawn.RESET:
        if sig != signal.SIGCHLD:
            signal.signal(sig, _caught)
    with pytest.raises(NotImplementedError):   # SIGUSR1 still blocked
        _spawn.vfork_exec(["/bin/true"], {})
    signal.pthread_sigmask(signal.SIG_SETMASK, ())
    child = Child("fork_exec", ["/bin/true"])
    assert child.status == 0


@needs_vfork
def test_fork_exec_sets_the_wakeup_pipe_aside_for_a_target(monkeypatch):
    """notification-fd with the number of the wake-up pipe's write end: the
    vfork path hands the signal handler a copy for the call, the child gets
    SOURCE there, and afterwards the wake-up descriptor is the original again
    (a signal still reaches the pipe), with no copy left open."""
    target = 41
    wr, ww = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
    os.dup2(ww, target, inheritable=False)
    os.close(ww)
    old = signal.set_wakeup_fd(target, warn_on_full_buffer=False)
    old_handler = signal.signal(signal.SIGUSR1, _caught)
    monkeypatch.setattr(_loop, "wakeup_fd", target)
    r, w = os.pipe()
    try:
        before = sorted(os.listdir("/proc/self/fd"))
        child = Child("fork_exec", ["/bin/sh", "-c", "echo ready > /proc/self/fd/%d" % target],
                      fds=[(w, target)])
        assert child.status == 0 and os.read(r, 100) == b"ready\n"
        assert sorted(os.listdir("/proc/self/fd")) == before
        assert _loop.wakeup_fd == target
        assert signal.set_wakeup_fd(target, warn_on_full_buffer=False) == target
        os.kill(os.getpid(), signal.SIGUSR1)
        assert os.read(wr, 10) == bytes([signal.SIGUSR1])
    finally:
        signal.set_wakeup_fd(old)
        signal.signal(signal.SIGUSR1, old_handler)
        for fd in (r, w, wr, target):
            os.close(fd)


def _zombies():
    me = str(os.getpid())
    found = set()
    for pid in os.listdir("/proc"):
        try:
            with open("/proc/%s/stat" % pid) as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if fields[0] == "Z" and fields[1] == me:
            found.add(pid)
    return found


@needs_vfork
def test_fork_exec_reports_an_exec_failure_and_reaps_its_child(tmp_path):
    script = tmp_path / "run"
    script.write_text("#!/bin/sh\nexit 0\n")
    script.chmod(0o644)
    before = _zombies()
    with pytest.raises(PermissionError):
        _spawn.vfork_exec([str(script)], {})
    assert _zombies() <= before


@needs_vfork
def test_fork_exec_arguments_are_this_interpreters():
    """The gate (VERIFIED) against this interpreter: the 23 arguments
    vfork_exec passes are, in order, the ones subprocess passes."""
    source = inspect.getsource(subprocess.Popen._execute_child)
    call = source[source.index("self.pid = _fork_exec("):]
    call = call[call.index("(") + 1:]
    depth, end = 1, 0
    while depth:
        depth += {"(": 1, ")": -1}.get(call[end], 0)
        end += 1
    args = [a.strip() for a in call[:end - 1].replace("\n", " ").split(",")]
    # fds_to_keep's expression holds commas of its own
    args = [a for a in args if a]
    joined = ",".join(args).replace("tuple(sorted(map(int,fds_to_keep)))", "fds_to_keep")
    assert joined.split(",") == [
        "args", "executable_list", "close_fds", "fds_to_keep", "cwd", "env_list",
        "p2cread", "p2cwrite", "c2pread", "c2pwrite", "errread", "errwrite",
        "errpipe_read", "errpipe_write", "restore_signals", "start_new_session",
        "process_group", "gid", "gids", "uid", "umask", "preexec_fn", "_USE_VFORK"]


# What both scripts below start with: env_of(ENV) is what /usr/bin/env
# prints when started through the vfork path with ENV (bytes).
_ENV_OF = r"""
import os, sys
sys.path.insert(0, sys.argv[1])
from svtools import _pathexec, _spawn

def env_of(env):
    r, w = os.pipe()
    pid = _spawn.vfork_exec(["/usr/bin/env"], env, fds=[(w, 1)])
    os.close(w)
    out = b""
    while True:
        data = os.read(r, 65536)
        if not data:
            break
        out += data
    os.waitpid(pid, 0)
    return out
"""

_INHERIT = _ENV_OF + r"""
env = _pathexec.initial_environ()
coerced = os.environb.get(b"LC_CTYPE")
print("inherit", _spawn.inherit(env), _spawn._inherited[0] is env)
print("coerced", coerced, "left", os.environb.get(b"LC_CTYPE"))
print("same", env_of(env) == env_of(dict(env)))
sys.stdout.write(env_of(env).decode())
other = dict(env, EXTRA=b"1")
other[b"EXTRA"] = other.pop("EXTRA")
print("other", _spawn.inherit(other), _spawn._inherited[0])
sys.stdout.write(env_of(env).decode())
"""


@needs_vfork
def test_inherited_environment_is_exactly_the_one_given():
    """_spawn.inherit: a child started with the inherited dict gets exactly
    that environment (execv), as one started with an equal copy (execve);
    PEP 538's LC_CTYPE, added by CPython in the C locale, reaches neither;
    a dict that is not the process's environment is not inherited."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(_spawn.__file__)))
    out = subprocess.run([os.path.realpath(os.sys.executable), "-I", "-c", _INHERIT, root],
                         env={"PATH": "/usr/bin:/bin", "FOO": "bar b"}, stdout=subprocess.PIPE,
                         check=True, timeout=20).stdout.decode().splitlines()
    assert out[0] == "inherit True True"
    assert out[1] in ("coerced b'C.UTF-8' left None", "coerced None left None")
    assert out[2] == "same True"
    assert out[3:5] == ["PATH=/usr/bin:/bin", "FOO=bar b"]
    assert out[5] == "other False None"
    assert out[6:] == ["PATH=/usr/bin:/bin", "FOO=bar b"]


_SETENV = _ENV_OF + r"""
def env_line(env):
    return env_of(env).decode().replace("\n", " ")

env = _pathexec.initial_environ()
print("other", _spawn.setenv(dict(env), b"N", b"1"))
print("inherit", _spawn.inherit(env))
print("set", _spawn.setenv(env, b"N", b"/x"), _spawn._inherited[0] is env, env_line(env))
print("again", _spawn.setenv(env, b"N", b"/y"), env_line(env))
_spawn.unsetenv(env, b"N")
print("unset", b"N" in env, _spawn._inherited[0] is env, env_line(env))
"""


def test_setenv_changes_the_inherited_environment_itself():
    """_spawn.setenv (supervise's NOTIFY_SOCKET under svscan): the inherited
    dict and the C environment get NAME=VALUE together, so a child started
    with the dict (no list made) gets it; unsetenv takes it out of both;
    a dict that is not inherited, or that has NAME already, is left alone."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(_spawn.__file__)))
    out = subprocess.run([os.path.realpath(os.sys.executable), "-I", "-c", _SETENV, root],
                         env={"PATH": "/usr/bin:/bin", "FOO": "bar b"}, stdout=subprocess.PIPE,
                         check=True, timeout=20).stdout.decode().splitlines()
    assert out == [
        "other False",
        "inherit True",
        "set True True PATH=/usr/bin:/bin FOO=bar b N=/x ",
        "again False PATH=/usr/bin:/bin FOO=bar b N=/x ",
        "unset False True PATH=/usr/bin:/bin FOO=bar b ",
    ]
