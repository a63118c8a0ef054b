"""svscan's inotify watch: set up by a child that hands the descriptor over
and exits, read by svscan itself.

Faults in the set-up come from a stand-in `inotify_simple` put first on
svscan's sys.path (svscan runs as `python -I -S`, as its launcher starts
it).  The stand-in notes the pid of every set-up child in `setups`, then
does what the file `act` says (once, or for good with "always"): "stop"
(it stops itself, SIGSTOP: a hung set-up), "missing" (ImportError),
"fifo" (its INotify is the FIFO `fifo`, which the test writes records
into); without `act` it hands over to the real inotify_simple.
"""

import os
import signal
import struct
import subprocess
import sys

import pytest

from helpers import children_of, wait_for
from svtools import _proc
from test_svscan import cmdline, service, up

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
IN_CREATE, IN_Q_OVERFLOW = 0x100, 0x4000

STANDIN = '''\
import os, signal, sys
HERE = os.path.dirname(os.path.abspath(__file__))
with open(os.path.join(HERE, "setups"), "a") as f:
    f.write("%d\\n" % os.getpid())
try:
    with open(os.path.join(HERE, "act")) as f:
        act = f.read().split()
    if "always" not in act:
        os.unlink(os.path.join(HERE, "act"))
except FileNotFoundError:
    act = [""]
if act[0] == "stop":
    os.kill(os.getpid(), signal.SIGSTOP)
if act[0] == "missing":
    raise ImportError("stand-in: no inotify_simple")
if act[0] == "fifo":
    class INotify:
        def __init__(self):
            self.fd = os.open(os.path.join(HERE, "fifo"), os.O_RDWR)
        def add_watch(self, path, mask):
            return 1
        def fileno(self):
            return self.fd
else:
    sys.path.remove(HERE)
    del sys.modules[__name__]
    import inotify_simple
'''


class WatchScan:
    """svscan on tmp_path/scan with the stand-in library in tmp_path/lib."""

    def __init__(self, procs, tmp_path, act=None):
        self.lib = tmp_path / "lib"
        self.lib.mkdir()
        (self.lib / "inotify_simple.py").write_text(STANDIN)
        if act:
            (self.lib / "act").write_text(act)
        if act and act.startswith("fifo"):
            os.mkfifo(self.lib / "fifo")
        self.dir = tmp_path / "scan"
        self.dir.mkdir()
        self.err = tmp_path / "svscan.err"
        self.errf = open(self.err, "wb")
        code = ("import sys; sys.path[:0] = [%r, %r]; from svtools.svscan import main; "
                "sys.exit(main(['svscan', %r]))" % (str(self.lib), ROOT, str(self.dir)))
        self.proc = procs.start([sys.executable, "-I", "-S", "-c", code],
                                stdout=self.errf, stderr=self.errf)
        self.pid = self.proc.pid

    def stderr(self):
        return self.err.read_bytes().decode()

    def setups(self):
        try:
            return [int(x) for x in (self.lib / "setups").read_text().split()]
        except FileNotFoundError:
            return []


@pytest.fixture
def wscan(procs, tmp_path, request):
    s = WatchScan(procs, tmp_path, getattr(request, "param", None))
    yield s
    s.errf.close()


def fds(pid):
    out = {}
    try:
        for fd in os.listdir("/proc/%d/fd" % pid):
            try:
                out[int(fd)] = os.readlink("/proc/%d/fd/%s" % (pid, fd))
            except OSError:
                pass
    except OSError:
        pass
    return out


def watched(pid, wd=1):
    """Inode numbers that PID's inotify descriptors watch with watch
    descriptor WD (fdinfo): 1 is DIR's watch, 2 its parent's."""
    inodes = []
    for fd, target in fds(pid).items():
        if target == "anon_inode:inotify":
            try:
                with open("/proc/%d/fdinfo/%d" % (pid, fd)) as f:
                    for line in f:
                        if line.startswith("inotify wd:%d " % wd):
                            inodes.append(int(line.split(" ino:")[1].split()[0], 16))
            except OSError:
                pass
    return inodes


def state(pid):
    st = _proc.stat(pid)
    return st and st[0]


def record(mask, name=b"", size=16):
    """One struct inotify_event (inotify(7)), NAME padded to SIZE bytes."""
    name = name.ljust(size, b"\0") if name else b""
    return struct.pack("iIII", 1, mask, 0, len(name)) + name


def test_setup_child_hands_the_watch_over_and_exits(wscan):
    ino = os.stat(wscan.dir).st_ino
    wait_for(lambda: watched(wscan.pid) == [ino], 20, what="svscan holding the watch on DIR")
    assert watched(wscan.pid, 2) == [os.stat(wscan.dir.parent).st_ino]     # and on its parent
    [setup] = wscan.setups()
    wait_for(lambda: setup not in children_of(wscan.pid), 10, what="the set-up child gone")
    a = service(wscan.dir / "a")
    wait_for(lambda: up(a), 10, what="a service made after")
    assert [cmdline(p) for p in children_of(wscan.pid)] == ["supervise a"]
    for p in children_of(wscan.pid):
        assert "anon_inode:inotify" not in fds(p).values()
    assert wscan.stderr() == ""


@pytest.mark.parametrize("wscan", ["stop"], indirect=True)
def test_killed_setup_child_is_replaced_and_nothing_missed(wscan):
    [setup] = wait_for(wscan.setups, 20, what="the set-up child")
    wait_for(lambda: state(setup) == b"T", 10, what="the set-up child stopped")
    during = service(wscan.dir / "during")       # no watch yet: only a rescan finds it
    os.kill(setup, signal.SIGKILL)
    ino = os.stat(wscan.dir).st_ino
    wait_for(lambda: watched(wscan.pid) == [ino], 20, what="the watch from a second set-up")
    assert len(wscan.setups()) == 2
    wait_for(lambda: up(during), 10, what="the service made while the set-up hung")
    after = service(wscan.dir / "after")
    wait_for(lambda: up(after), 10, what="a service made after")
    assert wscan.stderr() == ""


@pytest.mark.parametrize("wscan", ["stop"], indirect=True)
def test_hung_setup_child_does_not_block_svscan(wscan):
    [setup] = wait_for(wscan.setups, 20, what="the set-up child")
    wait_for(lambda: state(setup) == b"T", 10, what="the set-up child stopped")
    during = service(wscan.dir / "during")
    # found by polling (it starts when the set-up is overdue), the set-up still hung
    wait_for(lambda: up(during), 30, what="a service made while the set-up hangs")
    assert watched(wscan.pid) == [] and state(setup) == b"T"
    os.kill(setup, signal.SIGCONT)               # late, but its watch is taken
    wait_for(lambda: watched(wscan.pid) == [os.stat(wscan.dir).st_ino], 20, what="the late watch")
    assert wscan.setups() == [setup]
    assert wscan.stderr() == ""


@pytest.mark.parametrize("wscan", ["missing always"], indirect=True)
def test_failed_setup_warns_once_polls_and_retries(wscan):
    warning = "svscan: warning: unable to import inotify_simple\n"
    wait_for(lambda: wscan.stderr() == warning, 20, what="the warning")
    a = service(wscan.dir / "a")
    wait_for(lambda: up(a), 20, what="a service found by polling")
    wait_for(lambda: len(wscan.setups()) >= 2, 20, what="a second set-up")
    (wscan.lib / "act").unlink()                 # the library is back
    wait_for(lambda: watched(wscan.pid) == [os.stat(wscan.dir).st_ino], 20, what="the watch")
    assert wscan.stderr() == warning             # once, for every failed set-up
    b = service(wscan.dir / "b")
    wait_for(lambda: up(b), 10, what="a service made after")


@pytest.mark.parametrize("wscan", ["fifo"], indirect=True)
def test_junk_and_partial_records_mean_a_rescan(wscan):
    fifo = str(wscan.lib / "fifo")
    wait_for(lambda: fifo in fds(wscan.pid).values(), 20, what="svscan reading the stand-in")
    w = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
    try:
        # a whole record, name padded with NULs: that name is looked at
        one = service(wscan.dir / "one")
        os.write(w, record(IN_CREATE, b"one"))
        wait_for(lambda: up(one), 10, what="the service the record names")
        # a record cut short, then bytes that are not a record at all: a rescan each
        two = service(wscan.dir / "two")
        os.write(w, record(IN_CREATE, b"two", 32)[:16 + 5])
        wait_for(lambda: up(two), 10, what="found by the rescan a partial record causes")
        three = service(wscan.dir / "three")
        os.write(w, b"\xff" * 7)
        wait_for(lambda: up(three), 10, what="found by the rescan junk causes")
        four = service(wscan.dir / "four")
        os.write(w, record(IN_CREATE, b"nothing") + record(IN_Q_OVERFLOW))
        wait_for(lambda: up(four), 10, what="found by the rescan an overflow causes")
    finally:
        os.close(w)
    assert fifo in fds(wscan.pid).values() and len(wscan.setups()) == 1
    assert wscan.stderr() == ""


def test_scan_directory_replaced_or_removed(wscan, tmp_path):
    a = service(wscan.dir / "a")
    wait_for(lambda: up(a), 10, what="a up")
    wait_for(lambda: watched(wscan.pid) == [os.stat(wscan.dir).st_ino], 20, what="the watch")
    os.rename(wscan.dir, tmp_path / "old")
    wscan.dir.mkdir()
    b = service(wscan.dir / "b")
    wait_for(lambda: up(b), 20, what="b in the new directory")
    assert up(tmp_path / "old" / "a")          # its supervise runs on
    ino = os.stat(wscan.dir).st_ino
    wait_for(lambda: watched(wscan.pid) == [ino], 20, what="the watch on the new directory")
    subprocess.run(["rm", "-rf", str(wscan.dir)], check=True)
    # made again before or after svscan has seen it go: either must work
    wscan.dir.mkdir()
    c = service(wscan.dir / "c")
    wait_for(lambda: up(c), 20, what="c in the directory made again")
    ino = os.stat(wscan.dir).st_ino
    wait_for(lambda: watched(wscan.pid) == [ino], 20, what="the watch on the directory made again")
    d = service(wscan.dir / "d")
    wait_for(lambda: up(d), 10, what="d after")
    assert wscan.stderr() == ""


def test_empty_scan_directory_removed_and_made_again(wscan):
    """svscan works in DIR, so removing an empty DIR sends its watch nothing
    (no IN_DELETE_SELF while a process works there, no entry deleted): the
    watch on DIR's parent tells, and svscan moves to the new DIR."""
    ino = os.stat(wscan.dir).st_ino
    wait_for(lambda: watched(wscan.pid) == [ino], 20, what="the watch")
    os.rmdir(wscan.dir)
    wscan.dir.mkdir()
    a = service(wscan.dir / "a")
    wait_for(lambda: up(a), 20, what="a in the directory made again")
    wait_for(lambda: watched(wscan.pid) == [os.stat(wscan.dir).st_ino], 20, what="the new watch")
    assert wscan.stderr() == ""
