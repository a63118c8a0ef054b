"""_prewarm: svscan's dry run of supervise's code has no side effects."""

import os
import sys

import pytest

from svtools import _prewarm


@pytest.fixture
def scratch_base(tmp_path, monkeypatch):
    """TMPDIR for the rehearsal's scratch directory, and a cwd of its own."""
    base = tmp_path / "tmpdir"
    base.mkdir()
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.setenv("TMPDIR", str(base))
    monkeypatch.chdir(cwd)
    return base, cwd


def _children():
    try:
        return os.waitpid(-1, os.WNOHANG)
    except ChildProcessError:
        return None


def test_dry_run_leaves_nothing_behind(scratch_base):
    """No file in the cwd or TMPDIR, no descriptor, the same cwd, no child
    left: svscan may call it anywhere."""
    base, cwd = scratch_base
    before = set(os.listdir("/proc/self/fd"))
    _prewarm.run()
    assert os.listdir(cwd) == []
    assert os.listdir(base) == []
    assert os.getcwd() == str(cwd)
    assert set(os.listdir("/proc/self/fd")) == before
    assert _children() is None


def test_scratch_directory_is_used_and_removed(scratch_base):
    """The rehearsal runs in TMPDIR/svscan-prewarm.PID (seen while it runs)
    and takes an existing name as a refusal."""
    base, _ = scratch_base
    seen = []

    def profile(frame, event, arg):
        if event == "call" and frame.f_code.co_name == "start":
            seen.append(sorted(os.listdir(frame.f_locals["dirname"])))
    sys.setprofile(profile)
    try:
        _prewarm.run()
    finally:
        sys.setprofile(None)
    assert len(seen) == 2 * _prewarm.RUNS
    assert "down" in seen[0] and "run" in seen[0]
    assert "notify-socket" in seen[-1] and "finish" in seen[-1]
    assert os.listdir(base) == []
    # a name already there (a symlink, say) is not used
    (base / ("svscan-prewarm.%d" % os.getpid())).symlink_to("/")
    path = _prewarm._scratch()
    assert path is None or not path.startswith(str(base))
    if path is not None:
        _prewarm._remove(path)
        assert not os.path.exists(path)


def test_dry_run_exercises_what_supervise_runs(scratch_base):
    """The paths a supervise takes at start and on a restart run during the
    dry run (seen through a profiler), often enough to be quickened
    (RUNS > 8), so that their one-time writes happen in svscan."""
    calls = {}

    def profile(frame, event, arg):
        if event == "call":
            name = frame.f_code.co_qualname
            calls[name] = calls.get(name, 0) + 1
    sys.setprofile(profile)
    try:
        _prewarm.run()
    finally:
        sys.setprofile(None)
    for name in ("_errors", "Machine.boot", "Machine.started", "Machine.child_exited",
                 "Machine.command", "Machine.deadline", "pack", "pack_exits", "load",
                 "bind", "Forwarder.record"):
        assert name in calls, name
    for name in ("start", "setup", "open_fifo", "Supervisor.__init__", "Supervisor.status",
                 "Supervisor.flush", "Supervisor.reap", "Supervisor.spawn_run", "Supervisor.run",
                 "write"):
        assert calls.get(name, 0) > 8, name


def test_dry_run_without_a_scratch_directory(tmp_path, monkeypatch):
    """Nowhere to rehearse: the rest still runs, nothing is left behind."""
    monkeypatch.setattr(_prewarm, "_scratch", lambda: None)
    monkeypatch.chdir(tmp_path)
    before = set(os.listdir("/proc/self/fd"))
    _prewarm.run()
    assert os.listdir(tmp_path) == []
    assert set(os.listdir("/proc/self/fd")) == before


def test_a_deep_tmpdir_is_passed_over_silently(tmp_path, monkeypatch, capfd):
    """Where supervise/notify would not fit in sun_path (107 bytes) the
    rehearsal goes elsewhere rather than warn ten times on svscan's stderr."""
    base = tmp_path / ("t" * 110)
    base.mkdir()
    monkeypatch.setenv("TMPDIR", str(base))
    monkeypatch.chdir(tmp_path)
    _prewarm.run()
    out, err = capfd.readouterr()
    assert (out, err) == ("", "")
    assert os.listdir(base) == []


def test_rehearsal_starts_run_with_every_knob_and_signals_nothing(scratch_base, monkeypatch, capfd):
    """The second half of the rehearsal starts ./run through spawn_run with
    every knob (a session of its own, the log-events pipe as stdout, the
    readiness pipe at fd 5, NOTIFY_SOCKET) more than 8 times, as a
    supervise with knobs does at its first start, so that the child finds
    that code quickened (docs/performance.md, "The knob files' own
    pages"); it sends no signal, starts no ./finish and writes nothing to
    our stdout."""
    from svtools import _spawn
    starts, calls, kills = [], {}, []

    def profile(frame, event, arg):
        if event != "call":
            return
        name = frame.f_code.co_qualname
        calls[name] = calls.get(name, 0) + 1
        if name == "Supervisor.spawn":
            f = frame.f_locals
            starts.append((f["argv"], f["setsid"], sorted(t for s, t in f["fds"]),
                           b"NOTIFY_SOCKET" in f["env"]))
    for name in ("kill", "killpg"):
        monkeypatch.setattr(os, name, lambda *a: kills.append(a))
    sys.setprofile(profile)
    try:
        _prewarm.run()
    finally:
        sys.setprofile(None)
    assert starts.count((["./run"], True, [1, 5], True)) == _prewarm.RUNS > 8
    assert starts.count((["./run"], False, [], False)) == _prewarm.RUNS
    assert len(starts) == 2 * _prewarm.RUNS          # no ./finish
    assert kills == []
    if _spawn.VFORK and not _spawn.CLEAN:
        assert calls.get("_move", 0) > 8 and calls.get("_restore", 0) > 8
    for name in ("bind", "Forwarder.write", "KnobIO.notify_env"):
        assert calls.get(name, 0) > 8, name
    out, err = capfd.readouterr()
    assert (out, err) == ("", "")
    assert _children() is None


def test_one_empty_pool_per_size_class_until_release(scratch_base):
    """_pools (CPython 3.11, 64 bits): after the dry run, blocks of an
    otherwise empty pool are kept for each size class; once svscan
    releases them (right before it forks), new objects of each class go
    into those pools: what a forked supervise makes lies in one page per
    class instead of in free blocks of pages it shares (docs/performance.md)."""
    from svtools import _pools
    if not _pools.POOLS:
        pytest.skip("the pool layout is checked on CPython 3.11, 64 bits")
    _pools.release()
    _prewarm.run()
    pools = {}
    for b in _pools.reserved:
        pools.setdefault(len(b), set()).add(id(b) // _pools.POOL)
    # (in a process with many free blocks a class may find no empty pool)
    assert len(pools) >= len(_pools.CLASSES) * 2 // 3, pools
    assert sum(len(p) == 1 for p in pools.values()) >= len(pools) * 2 // 3, pools
    sizes = sorted(pools)
    made = [None] * len(sizes)
    _pools.release()
    assert _pools.reserved == []
    for k, n in enumerate(sizes):
        made[k] = bytes(n)
    landed = [id(b) // _pools.POOL in pools[len(b)] for b in made]
    assert landed.count(True) >= len(sizes) * 2 // 3, landed


_SIGNALS = """
import os, sys
import _signal as signal
from svtools import _loop, _prewarm, supervise
# svscan's signals: its wake-up pipe and handlers, a blocked signal
r = _loop.wakeup((signal.SIGCHLD, signal.SIGALRM, signal.SIGTERM, signal.SIGINT, signal.SIGHUP))
signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGUSR2])
sigs = (signal.SIGCHLD, signal.SIGALRM, signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGUSR1)
before = ([signal.getsignal(s) for s in sigs], _loop.wakeup_fd, signal.pthread_sigmask(signal.SIG_BLOCK, []),
          sorted(os.listdir("/proc/self/fd")))
real = supervise.signals
seen = []
def signals(dirname):
    seen.append(signal.getsignal(signal.SIGINT))
    fd = real(dirname)
    seen.append(signal.getsignal(signal.SIGINT))
    os.kill(os.getpid(), signal.SIGALRM)      # comes during the rehearsal
    return fd
supervise.signals = signals
for _ in range(3):
    _prewarm._signals()
after = ([signal.getsignal(s) for s in sigs], _loop.wakeup_fd, signal.pthread_sigmask(signal.SIG_BLOCK, []),
         sorted(os.listdir("/proc/self/fd")))
assert seen[1] == signal.SIG_DFL and seen[0] is _loop._ignore, seen
assert after == before, (before, after)
assert signal.set_wakeup_fd(-1) == before[1]
assert signal.SIGALRM in _loop.drain(r)       # delivered afterwards, to svscan's pipe
print("ok")
"""


def test_signal_rehearsal_puts_svscan_signals_back():
    """supervise.signals() rehearsed in svscan (SIGINT default, a wake-up
    pipe for SIGCHLD): svscan's handlers, wake-up descriptor, mask and
    descriptors are as before, and a signal that came meanwhile reaches
    svscan's pipe afterwards."""
    import subprocess
    root = os.path.dirname(os.path.dirname(os.path.abspath(_prewarm.__file__)))
    out = subprocess.run([sys.executable, "-I", "-S", "-c",
                          "import sys; sys.path.insert(0, %r)\n" % root + _SIGNALS],
                         capture_output=True, text=True, timeout=60)
    assert (out.returncode, out.stdout) == (0, "ok\n"), out.stderr
