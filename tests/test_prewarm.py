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
                 "Listener.__init__", "Forwarder.record"):
        assert name in calls, name
    for name in ("start", "_setup", "_open_fifo", "Supervisor.__init__", "Supervisor.status",
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


_HOT = """
import os, sys
from svtools import svscan, supervise, _loop, _prewarm, _status, _supervise_policy, _tai64, _xstatus
S, M = supervise.Supervisor, _supervise_policy.Machine
hot = [supervise.start, supervise._setup, supervise._open_fifo, S.__init__, S.run, S.perform,
       S.flush, S.reap, S.status, S._write, S.spawn_run, S.commands, S.reload, M.boot, M.started,
       M.child_exited, M.command, M._publish, M._end, _status.pack, _status.write, _xstatus.pack_values,
       _xstatus.pack_exits, _tai64.now, _loop.reap]
before = [f.__code__ for f in hot]
_prewarm.run()
after = [f.__code__ for f in hot]
pages = lambda codes: len({id(c) >> 12 for c in codes})
same = all(a is not b and a.co_code == b.co_code and a.co_consts == b.co_consts
           and a.co_names == b.co_names for a, b in zip(after, before))
print(pages(before), pages(after), same)
"""


def test_the_code_supervise_runs_is_copied_together(tmp_path):
    """_compact, in a fresh interpreter as svscan: the functions a
    supervise runs get equal copies of their code, made together, so
    they lie in fewer pages than the code as it was loaded (each page a
    forked supervise writes is 4 KiB of its own: docs/performance.md)."""
    import compileall
    import subprocess
    if not _prewarm.COMPACT:
        pytest.skip("_compact is for CPython 3.11, 64 bits")
    package = os.path.dirname(os.path.abspath(_prewarm.__file__))
    # code loaded from .pyc files, as svscan's is once installed (code
    # compiled from source lies differently)
    compileall.compile_dir(package, quiet=1)
    env = dict(os.environ, TMPDIR=str(tmp_path))
    out = subprocess.run([sys.executable, "-I", "-S", "-c",
                          "import sys; sys.path.insert(0, %r)\n" % os.path.dirname(package) + _HOT],
                         env=env, cwd=str(tmp_path), capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    before, after, same = out.stdout.split()
    assert same == "True"
    assert int(after) < int(before), out.stdout
    assert os.listdir(tmp_path) == []


def test_no_module_constant_is_compared_by_identity():
    """_compact replaces module constants (str, bytes, int, float, tuple,
    frozenset) that supervise's code names with equal copies: code that
    compared one by identity (`x is CONST`) would then go wrong.  None of
    the modules svscan loads does (a one-character string, like
    multilog's STDOUT, is a cached object that is never copied)."""
    import ast
    import svtools.svscan  # noqa: F401  (loads what a forked supervise may run)
    for name, module in sorted(sys.modules.items()):
        if not name.startswith("svtools.") or not getattr(module, "__file__", None):
            continue
        consts = {k for k, v in vars(module).items()      # what _compact would copy
                  if type(v) in _prewarm._CONSTANT and _prewarm._copy(v) is not v}
        with open(module.__file__, encoding="utf-8") as f:
            tree = ast.parse(f.read())
        for node in ast.walk(tree):
            if isinstance(node, ast.Compare) and any(isinstance(op, (ast.Is, ast.IsNot))
                                                     for op in node.ops):
                for side in [node.left] + node.comparators:
                    named = side.id if isinstance(side, ast.Name) else \
                        side.attr if isinstance(side, ast.Attribute) else None
                    assert named not in consts, \
                        "%s:%d compares %s by identity" % (name, node.lineno, named)
