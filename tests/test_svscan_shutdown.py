"""svscan's shutdown policy and the watch's parser and hand-over as plain
calls; the adoption helpers against real locks and pipes."""

import errno
import fcntl
import os
import select
import socket
import struct

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
    # what the service left among svscan's children is signalled first
    assert s.gone() == [("strays", e), ("control", e, 1, b"x"), ("close", e)]
    assert t.take_starts() == []            # no restart of the dead supervise
    die(t, 101)
    assert s.gone() == [("exit",)]


def test_without_a_log_exit_follows_the_service():
    t, (a, b) = tree(False, False)
    s = Shutdown(t, {}, 0.0)
    assert s.begin() == [("control", a, 0, b"dx"), ("control", b, 0, b"dx")]
    die(t, 100)
    assert s.gone() == [("strays", a)]
    die(t, 110)
    assert s.gone() == [("strays", b), ("exit",)]


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
    assert s.due(3.0) == [("strays", e), ("exit",)]


def test_orphans_keep_their_entry_running():
    t, (e,) = tree(False)
    s = Shutdown(t, {}, 0.0)
    s.begin()
    t.reaped(100, None, 555, 1.0)            # supervise killed, service left
    assert s.gone() == []
    t.reaped(555, None, 0, 2.0)
    assert s.gone() == [("strays", e), ("exit",)]


def inotify_event(mask, name=b"", pad=16):
    """struct inotify_event as inotify(7) gives it: wd, mask, cookie, len, name."""
    name = name.ljust(pad, b"\0") if name else b""
    return struct.pack("iIII", 1, mask, 7, len(name)) + name


def test_watch_parse_whole_records_names_without_padding():
    data = (inotify_event(0x100, b"new\xff") + inotify_event(0x4000)
            + inotify_event(0x40000080, b"x" * 20, 32))
    assert _svscan_watch.parse(data) == (
        [(0x100, b"new\xff"), (0x4000, b""), (0x40000080, b"x" * 20)], False)
    assert _svscan_watch.parse(b"") == ([], False)


def test_watch_parse_junk_and_partial_records():
    whole = inotify_event(0x100, b"a")
    cut = inotify_event(0x200, b"b" * 10, 32)
    for k in range(1, len(cut)):             # a record cut anywhere: junk, never an error
        assert _svscan_watch.parse(whole + cut[:k]) == ([(0x100, b"a")], True)
    assert _svscan_watch.parse(b"\xff" * 7) == ([], True)
    # a length beyond the data, a name without NUL
    assert _svscan_watch.parse(struct.pack("iIII", 1, 0x100, 0, 2 ** 32 - 1)) == ([], True)
    assert _svscan_watch.parse(struct.pack("iIII", 1, 0x100, 0, 3) + b"abc") == \
        ([(0x100, b"abc")], False)


def open_fds():
    fds = set()
    for name in os.listdir("/proc/self/fd"):
        try:
            os.fstat(int(name))
            fds.add(int(name))
        except OSError:            # the listing's own descriptor, closed since
            pass
    return fds


def message(parent, data, fds=()):
    anc = []
    if fds:
        anc = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, struct.pack("%di" % len(fds), *fds))]
    parent.sendmsg([data], anc)


def test_watch_receive_what_the_set_up_child_says():
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    a.setblocking(False)
    assert _svscan_watch.receive(a) is None                    # nothing yet
    r, w = os.pipe()
    message(b, struct.pack("i", 0), [r, w])                    # the watch (and a stray fd)
    before = open_fds()
    fd, code = _svscan_watch.receive(a)
    assert code == 0 and os.path.sameopenfile(fd, r) and not os.get_inheritable(fd)
    assert open_fds() == before | {fd}                         # the stray one closed
    os.close(fd)
    message(b, struct.pack("i", errno.ENOSPC))
    assert _svscan_watch.receive(a) == (None, errno.ENOSPC)
    message(b, struct.pack("i", _svscan_watch.NO_MODULE))
    assert _svscan_watch.receive(a) == (None, _svscan_watch.NO_MODULE)
    message(b, struct.pack("i", 0))                            # "ready" without the fd
    assert _svscan_watch.receive(a) == (None, None)
    for junk in (b"junk!", b"ab"):
        message(b, junk)
        assert _svscan_watch.receive(a) == (None, None)
    b.close()
    assert _svscan_watch.receive(a) == (None, None)            # died without a word
    a.close()
    for end in (r, w):
        os.close(end)


def test_watch_set_up_by_a_real_child(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    pid, sock = _svscan_watch.start(0x100)
    try:
        poller = select.poll()
        poller.register(sock.fileno(), select.POLLIN)
        assert poller.poll(20000)
        fd, code = _svscan_watch.receive(sock)
    finally:
        sock.close()
        _, status = os.waitpid(pid, 0)
    assert code == 0 and os.waitstatus_to_exitcode(status) == 0   # it exits, the watch lives on
    try:
        (tmp_path / "new").write_text("")
        events, junk = _svscan_watch.parse(os.read(fd, _svscan_watch.READ_SIZE))
    finally:
        os.close(fd)
    assert (0x100, b"new") in events and not junk


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


def test_watch_parse_sorts_the_parent_watch_out():
    """wd 1 is DIR's watch, wd 2 its parent's; the overflow (wd -1) is DIR's."""
    data = (struct.pack("iIII", 1, 0x100, 0, 16) + b"a".ljust(16, b"\0")
            + struct.pack("iIII", 2, 0x200, 0, 16) + b"scan".ljust(16, b"\0")
            + struct.pack("iIII", -1, 0x4000, 0, 0))
    parent = []
    assert _svscan_watch.parse(data, parent) == ([(0x100, b"a"), (0x4000, b"")], False)
    assert parent == [(0x200, b"scan")]
