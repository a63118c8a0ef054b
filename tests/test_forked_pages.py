"""Guards for what a supervise forked by svscan writes (docs/performance.md,
"A forked supervise's C heap"): run in a child interpreter after the dry run
and rehearsal svscan makes before its forks (_prewarm.run)."""

import subprocess
import sys
import textwrap


def test_machine_keeps_no_instance_dict_after_svscans_rehearsal():
    # CPython 3.11 shares one table of instance attribute names per class;
    # svscan's rehearsals fill Machine's, and a forked supervise's Machine
    # that then sets a name they never set gets a dict of its own, which
    # every specialised attribute access misses.  Slots have no such table.
    body = textwrap.dedent("""
        import os
        from svtools import _prewarm, _supervise_policy
        _prewarm.run(dict(os.environb))
        m = _supervise_policy.Machine(True)
        m.boot(1000.0)
        m.started(12345, 1000.0)
        print(hasattr(m, "__dict__"), m.started_at == 1000.0)
    """)
    out = subprocess.run([sys.executable, "-c", body], capture_output=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == [b"False", b"True"]


def test_supervisor_keeps_no_instance_dict_after_svscans_rehearsal():
    # The same for supervise's loop object, whose knob paths set names
    # (ready_fd, notify, forwarding) the rehearsal's instances filled the
    # shared table before.
    body = textwrap.dedent("""
        import os, tempfile
        from svtools import _knobs, _prewarm, supervise
        _prewarm.run(dict(os.environb))
        r, w = os.pipe()
        sup = supervise.Supervisor(tempfile.mkdtemp(), True, r, {}, _knobs.Knobs(), {})
        sup.ready_fd, sup.forwarding, sup.notify_path = 5, True, b"supervise/notify"
        print(hasattr(sup, "__dict__"), sup.run_pid == 0)
    """)
    out = subprocess.run([sys.executable, "-c", body], capture_output=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == [b"False", b"True"]
