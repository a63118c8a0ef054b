"""_multilog_prewarm: svscan's dry run of the in-child multilog's code."""

import os
import subprocess
import sys

from svtools import _multilog_prewarm


def test_dry_run_touches_nothing(tmp_path):
    """No file, no descriptor left open, no output: svscan calls it before
    its loop, with the scan directory as its working directory."""
    code = ("import os\n"
            "from svtools import _multilog_prewarm\n"
            "before = sorted(os.listdir('/proc/self/fd'))\n"
            "_multilog_prewarm.run()\n"
            "assert sorted(os.listdir('/proc/self/fd')) == before, before\n")
    r = subprocess.run([sys.executable, "-c", code], cwd=str(tmp_path), capture_output=True,
                       timeout=60)
    assert (r.returncode, r.stdout, r.stderr) == (0, b"", b"")
    assert os.listdir(tmp_path) == []


def test_dry_run_exercises_what_the_logger_runs():
    """The paths an in-child multilog takes (recognising log/run, parsing,
    framing, stamping, cutting, writing) run during the dry run, seen
    through a profiler, so that their one-time writes happen in svscan."""
    seen = set()

    def profile(frame, event, arg):
        if event == "call":
            seen.add(frame.f_code.co_qualname)
    sys.setprofile(profile)
    try:
        _multilog_prewarm.run()
    finally:
        sys.setprofile(None)
    for name in ("plan", "_found", "parse", "Multilog.__init__", "Multilog.feed",
                 "Multilog.stamp", "Framer.fast", "Framer.lines", "Framer.select", "Framer.eof",
                 "IsoStamp.__call__", "stamp_bytes", "_fresh", "_keywords", "match", "LogDir.put", "LogDir.writev", "_candidate"):
        assert name in seen, name


def test_svscan_has_what_a_logger_imports_late():
    """`z` imports _multilog_gzip when a LogDir asks for it: svscan has it
    already, so a logger run in supervise's child finds it in sys.modules."""
    code = ("import sys\nimport svtools.svscan\n"
            "print('svtools._multilog_gzip' in sys.modules)\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=60)
    assert r.stdout == b"True\n", r.stderr
