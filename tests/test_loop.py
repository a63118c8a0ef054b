"""_loop, the skeleton shared by supervise, svscan and multilog, run in a
child interpreter so that its wake-up pipe and reaping touch nobody else."""

import os
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


def test_reads_stay_within_cpythons_allocator():
    # A bytes object of more than 512 bytes is a glibc malloc, which in a
    # supervise forked from svscan writes shared heap pages (16 KiB per
    # supervise after one restart, docs/performance.md): the wake-up pipe
    # and the control FIFO are read _loop.READ bytes at a time.
    got = in_child("""
        import os, sys
        from svtools import _loop, supervise
        print(sys.getsizeof(bytes(_loop.READ)) <= 512)
        print("READ" in _loop.drain.__code__.co_names)
        r, w = os.pipe2(os.O_NONBLOCK)
        os.write(w, bytes(range(1, 201)) * 3)
        print(_loop.drain(r) == set(range(1, 201)))
        # supervise reads one READ's worth of commands a round (0.76 reads
        # one byte a round); the rest stays for the next
        os.write(w, b"?" * 600)

        class Stub:
            control = r
            done = True

            def reload(self):
                pass
        supervise.Supervisor.commands(Stub())
        print(len(os.read(r, 4096)) == 600 - _loop.READ)
    """)
    assert got == ["True"] * 4


def test_no_read_that_finds_nothing(tmp_path):
    # An empty non-blocking read raises BlockingIOError, whose strerror is
    # decoded through a glibc malloc (docs/performance.md): drain() stops
    # at a short read (on a blocking pipe the extra read would hang: the
    # alarm fails the test), and supervise reads its control FIFO only
    # when poll() says it is readable.
    got = in_child("""
        import os, select, signal
        signal.alarm(10)
        from svtools import _loop, supervise
        r, w = os.pipe()
        os.write(w, bytes([signal.SIGCHLD]))
        print(_loop.drain(r) == {signal.SIGCHLD})
        d = %r
        open(os.path.join(d, "down"), "w").close()
        wakeup = supervise.signals(d)
        sup = supervise.start(d, {})
        empty = []

        class Counted(supervise.Supervisor):
            __slots__ = ()     # the same layout: the instance can take it

            def commands(self):
                p = select.poll()
                p.register(self.control, select.POLLIN)
                if not p.poll(0):
                    empty.append(1)
                supervise.Supervisor.commands(self)
        sup.__class__ = Counted
        if os.fork() == 0:
            os._exit(0)     # SIGCHLD alone wakes the first round
        if os.fork() == 0:
            select.select([], [], [], 0.5)
            fd = os.open(os.path.join(d, "supervise/control"), os.O_WRONLY)
            os.write(fd, b"x")
            os._exit(0)
        sup.run(wakeup)
        print(sup.done and empty == [])
    """ % str(tmp_path))
    assert got == ["True"] * 2


def test_reap_known_stops_after_the_children_it_was_told_of():
    """reap_known(N) reaps at most N exited children and, having reaped
    N, makes no further waitpid (which would raise ChildProcessError when
    none is left: the exception is what it saves a forked supervise).
    In a fresh process, whose only children are the test's."""
    script = textwrap.dedent("""
        import os, sys, time
        from svtools import _loop
        pids = [os.spawnv(os.P_NOWAIT, "/bin/true", ["true"]) for _ in range(3)]
        for pid in pids:
            deadline = time.monotonic() + 10
            while open("/proc/%d/stat" % pid).read().rsplit(") ", 1)[1][0] != "Z":
                assert time.monotonic() < deadline
                time.sleep(0.01)
        raised = []
        def profile(frame, event, arg):
            if event == "c_exception":
                raised.append(arg)
        sys.setprofile(profile)
        first = _loop.reap_known(2)
        rest = _loop.reap_known(1)
        sys.setprofile(None)
        assert len(first) == 2 and len(rest) == 1, (first, rest)
        assert sorted(p for p, _, _ in first + rest) == sorted(pids)
        assert all(code == 0 and sig == 0 for _, code, sig in first + rest)
        assert raised == [], raised
        assert _loop.reap_known(0) == []       # none left: looks once
    """)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    r = subprocess.run([sys.executable, "-c", script], cwd=root, capture_output=True, timeout=30)
    assert r.returncode == 0, r.stderr
