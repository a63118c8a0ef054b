"""svscan's shutdown policy and watcher codec as plain calls; the adoption
helpers against real locks and pipes."""

import fcntl
import os

from svtools import _svscan_adopt as adopt
from svtools import _svscan_watch
from svtools._svscan_policy import Table
from svtools._svscan_shutdown import AFTER, NOKILL, RESEND, Shutdown


def tree(*specs):
    """A table with one entry per (key, haslog), supervise pids 100+10k (+1 log)."""
    t = Table()
    entries = []
    for k, haslog in enumerate(specs):
        e = t.add((1, k), b"s%d" % k, haslog, 3, 4, 5)
        t.seen(e, e.name, 0.0)
        for e2, i in t.take_starts():
            t.started(e2, i, 100 + 10 * k + i, 0.0)
        entries.append(e)
    return t, entries


def die(t, pid, now=1.0):
    t.reaped(pid, 0, 0, now)


def test_service_then_logger_then_exit():
    t, (e,) = tree(True)
    s = Shutdown(t, {}, 0.0)
    assert s.begin() == [("control", e, 0, b"dx")]
    assert t.take_starts() == [] and t.stopping
    die(t, 100)
    # the logger's supervise only gets x (no TERM while lines wait), then the pipe closes
    assert s.gone() == [("control", e, 1, b"x"), ("close", e)]
    assert t.take_starts() == []            # no restart of the dead supervise
    die(t, 101)
    assert s.gone() == [("exit",)]


def test_without_a_log_exit_follows_the_service():
    t, (a, b) = tree(False, False)
    s = Shutdown(t, {}, 0.0)
    assert s.begin() == [("control", a, 0, b"dx"), ("control", b, 0, b"dx")]
    die(t, 100)
    assert s.gone() == []
    die(t, 110)
    assert s.gone() == [("exit",)]


def test_nothing_running_exits_at_once():
    t = Table()
    assert Shutdown(t, {}, 0.0).begin() == [("exit",)]


def test_a_queued_start_is_cancelled():
    t = Table()
    e = t.add((1, 1), b"new", False)
    t.seen(e, b"new", 0.0)                   # queued, not forked
    s = Shutdown(t, {}, 0.0)
    assert e.pid == [0, 0] and t.take_starts() == []
    assert s.begin() == [("exit",)]


def test_deadlines_kill_service_then_supervise_then_give_up():
    t, (e,) = tree(True)
    s = Shutdown(t, {}, 0.0)
    s.begin()
    assert s.next_deadline() == NOKILL
    assert s.due(NOKILL - 0.01) == []
    assert s.due(NOKILL) == [("kill", e, 0)]
    assert s.due(NOKILL + 2) == [("kill_supervise", e, 0), ("kill_supervise", e, 1)]
    assert s.due(NOKILL + 3) == [("close", e), ("exit",)]
    assert s.next_deadline() is None


def test_timeout_kill_sets_the_deadline_and_a_stuck_logger_gets_d():
    t, (e,) = tree(True)
    s = Shutdown(t, {e.key: 2.5}, 0.0)
    s.begin()
    die(t, 100)
    s.gone()
    assert s.next_deadline() == 2.5 + AFTER
    assert s.due(2.5 + AFTER) == [("control", e, 1, b"d")]


def test_unsent_control_is_sent_again():
    t, (e,) = tree(False)
    s = Shutdown(t, {}, 0.0)
    s.begin()
    s.unsent(e, 0, b"dx", 1.0)
    assert s.next_deadline() == 1.0 + RESEND
    assert s.due(1.0 + RESEND) == [("control", e, 0, b"dx")]
    s.unsent(e, 0, b"dx", 2.0)
    die(t, 100)                              # gone meanwhile: nothing to resend
    assert s.due(3.0) == [("exit",)]


def test_orphans_keep_their_entry_running():
    t, (e,) = tree(False)
    s = Shutdown(t, {}, 0.0)
    s.begin()
    t.reaped(100, None, 555, 1.0)            # supervise killed, service left
    assert s.gone() == []
    t.reaped(555, None, 0, 2.0)
    assert s.gone() == [("exit",)]


def test_watch_codec_round_trip_and_partial_records():
    events = [(0, b""), (0x100 | 0x40000000, b"new\xff"), (0x4000, b"")]
    data = _svscan_watch.encode(events)
    for cut in range(len(data) + 1):
        first, rest = _svscan_watch.decode(data[:cut])
        second, left = _svscan_watch.decode(rest + data[cut:])
        assert first + second == events and left == b""


def test_lock_holder_names_the_process_holding_the_flock(tmp_path):
    path = tmp_path / "lock"
    assert adopt.lock_holder(str(path)) == 0            # missing
    path.write_bytes(b"")
    assert adopt.lock_holder(str(path)) == 0            # free
    locked_r, locked_w = os.pipe()
    done_r, done_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        fd = os.open(str(path), os.O_WRONLY)
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.write(locked_w, b"x")
        os.read(done_r, 1)
        os._exit(0)
    try:
        os.read(locked_r, 1)
        assert adopt.lock_holder(str(path)) == pid
    finally:
        os.write(done_w, b"x")
        os.waitpid(pid, 0)
        for fd in (locked_r, locked_w, done_r, done_w):
            os.close(fd)
    assert adopt.lock_holder(str(path)) == 0


def test_reopen_pipe_reaches_the_same_pipe():
    r, w = os.pipe()
    try:
        r2, w2 = adopt.reopen_pipe(os.getpid(), r)
        os.write(w, b"one\n")
        os.write(w2, b"two\n")
        assert os.read(r2, 100) == b"one\ntwo\n"
        assert adopt.pipe_inode(os.getpid(), r) == os.fstat(r2).st_ino
        for fd in (r2, w2):
            os.close(fd)
    finally:
        os.close(r)
        os.close(w)
