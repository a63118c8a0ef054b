"""_loop, the skeleton shared by supervise, svscan and multilog, run in a
child interpreter so that its wake-up pipe and reaping touch nobody else."""

import subprocess
import sys
import textwrap


def in_child(body):
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(body)],
                         capture_output=True, timeout=20)
    assert out.returncode == 0, out.stderr
    return out.stdout.decode().split()


def test_wakeup_drain_and_reap():
    got = in_child("""
        import os, select, signal
        from svtools import _loop
        r = _loop.wakeup((signal.SIGUSR1, signal.SIGCHLD))
        assert _loop.drain(r) == set()
        os.kill(os.getpid(), signal.SIGUSR1)
        p = select.poll(); p.register(r, select.POLLIN)
        assert p.poll(10000)
        print(sorted(_loop.drain(r)) == [signal.SIGUSR1])
        a = os.fork()
        if a == 0:
            os._exit(3)
        b = os.fork()
        if b == 0:
            os.kill(os.getpid(), signal.SIGKILL)
        seen = {}
        while len(seen) < 2:
            for pid, code, sig in _loop.reap(block=True):
                seen[pid] = (code, sig)
        print(seen == {a: (3, 0), b: (256, signal.SIGKILL)})
        print(signal.SIGCHLD in _loop.drain(r))
        print(list(_loop.reap()) == [] and list(_loop.reap(block=True)) == [])
    """)
    assert got == ["True"] * 4
