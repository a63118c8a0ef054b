"""_spawn: what a program started by a supervisor inherits, on both paths."""

import os
import signal

import pytest

from helpers import wait_for
from svtools import _spawn

PATHS = {"posix_spawn": _spawn.posix_spawn_exec, "fork fallback": _spawn.fork_exec}
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


@pytest.mark.parametrize("how", PATHS)
def test_child_gets_default_signals_empty_mask_and_only_its_fds(how, hostile, tmp_path):
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


@pytest.mark.parametrize("how", PATHS)
def test_descriptor_passed_as_itself_is_inherited(how, tmp_path):
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
    for how in PATHS:
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
    assert seen == {"posix_spawn": b"", "fork fallback": b"python ran in the child\n"}

