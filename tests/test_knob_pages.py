"""What keeps a forked supervise with knob files on few pages
(docs/performance.md, "The knob files' own pages", sixth round): records
written as they are queued, the notify socket made by one function, the
knobs' first start without helpers, the Forwarder's buffer."""

import os
import subprocess
import sys
import textwrap


from svtools import _notify, _prewarm

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Forwarder writing to a stdout (fd 1) that the test holds: the start
# record must be in the pipe as soon as record() returns; with the pipe
# full, record() must return at once and keep the record queued.
_RECORDS = textwrap.dedent("""
    import os, sys
    from svtools import _logevents
    f = _logevents.Forwarder()
    f.record("start", 42, 0, 0, 0.0)
    os.write(2, b"queued %d\\n" % len(f.pending))
    os.read(0, 1)                       # the test has read the record
    os.set_blocking(1, False)
    try:
        while True:
            os.write(1, b"x" * 4096)
    except BlockingIOError:
        pass
    os.set_blocking(1, True)            # full, and blocking, as a logger's pipe
    f.record("exit", 42, 3, 0, 1.5)
    os.write(2, b"queued %d\\n" % len(f.pending))
    os.close(f.r)
    os.close(f.w)
""")


def test_a_record_is_written_as_it_is_queued_unless_stdout_is_full():
    """With log-events, the start record reaches supervise's stdout from
    Forwarder.record itself (no round of the loop, which would cost a
    forked supervise the pages of its write path); a stdout that cannot
    take it leaves it queued and never blocks supervise."""
    env = dict(os.environ, PYTHONPATH=ROOT)
    p = subprocess.Popen([sys.executable, "-c", _RECORDS], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    try:
        assert p.stderr.readline() == b"queued 0\n"
        assert os.read(p.stdout.fileno(), 64) == b"svtools: start pid 42\n"
        p.stdin.write(b".")
        p.stdin.flush()
        # returns although stdout is full: the exit record stays queued
        line = p.stderr.readline()
        assert line.startswith(b"queued ") and int(line.split()[1]) > 0, line
        assert p.wait(timeout=20) == 0
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


def test_notify_socket_is_bound_by_one_function(tmp_path, monkeypatch):
    """_notify.bind makes the socket non-blocking and close-on-exec through
    socket() itself (no setblocking call), binds supervise/notify and
    exports its absolute path, all in one call: no object of a class of
    ours, no method of one (each a page of its own in a forked
    supervise)."""
    (tmp_path / "supervise").mkdir()
    monkeypatch.chdir(tmp_path)
    env = {b"PATH": b"/bin"}
    _notify.load_socket()
    where = str(tmp_path)
    calls = []

    def profile(frame, event, arg):
        if event == "call":
            calls.append(frame.f_code.co_qualname)
    sys.setprofile(profile)
    try:
        sock, fd, path, out = _notify.bind(where, env)
    finally:
        sys.setprofile(None)
    assert calls == ["bind", "setenv"], calls
    try:
        assert fd == sock.fileno() >= 0
        assert not sock.getblocking() and not os.get_inheritable(fd)
        assert path == os.fsencode(str(tmp_path)) + b"/supervise/notify"
        assert out[b"NOTIFY_SOCKET"] == path and out[b"PATH"] == b"/bin"
    finally:
        sock.close()


def test_the_forwarder_names_no_builtin_type():
    """Forwarder.__init__ makes its buffer as a slice of an empty
    bytearray: naming the type would write the page of libpython that
    holds it, in every forked supervise with log-events."""
    from svtools import _logevents
    assert "bytearray" not in _logevents.Forwarder.__init__.__code__.co_names
    f, g = _logevents.Forwarder(), _logevents.Forwarder()
    try:
        assert type(f.pending) is bytearray and not f.pending
        f.pending += b"x"
        assert not g.pending and not _logevents._EMPTY     # each its own
    finally:
        for fd in (f.r, f.w, g.r, g.w):
            os.close(fd)


def test_the_knobs_first_start_calls_no_helper_of_supervisor(tmp_path, monkeypatch):
    """spawn_run, notify_env and forwarder register their descriptors
    themselves (Supervisor.add written out): one function fewer, a page
    fewer, in a forked supervise's first start with knobs.  Seen in
    svscan's rehearsal, which starts ./run with every knob."""
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    callers = []

    def profile(frame, event, arg):
        if event == "call" and frame.f_code.co_qualname in ("Supervisor.add", "export"):
            callers.append((frame.f_code.co_qualname, frame.f_back.f_code.co_qualname))
    sys.setprofile(profile)
    try:
        _prewarm.run()
    finally:
        sys.setprofile(None)
    first_start = ("Supervisor.spawn_run", "KnobIO.notify_env", "KnobIO.forwarder", "bind")
    assert [c for c in callers if c[1] in first_start] == []
