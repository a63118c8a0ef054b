"""_prewarm: svscan's dry run of supervise's pure code has no side effects."""

import os
import sys

from svtools import _prewarm


def test_dry_run_touches_nothing(tmp_path, monkeypatch):
    """No file and no descriptor: svscan may call it anywhere."""
    monkeypatch.chdir(tmp_path)
    before = set(os.listdir("/proc/self/fd"))
    _prewarm.run()
    assert os.listdir(tmp_path) == []
    assert set(os.listdir("/proc/self/fd")) == before


def test_dry_run_exercises_what_supervise_runs():
    """The policy paths a supervise takes at start and on a restart run
    during the dry run (seen through a profiler), so that their one-time
    writes happen in svscan."""
    seen = set()

    def profile(frame, event, arg):
        if event == "call":
            seen.add(frame.f_code.co_qualname)
    sys.setprofile(profile)
    try:
        _prewarm.run()
    finally:
        sys.setprofile(None)
    for name in ("_errors", "Machine.boot", "Machine.started", "Machine.child_exited",
                 "Machine.command", "Machine.deadline", "pack", "pack_exits"):
        assert name in seen, name
