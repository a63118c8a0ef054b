"""_svinfo's cache for long-running readers (svweb): what did not change is
not read again, and every change shows on the very next read.

Crafted directories (clientkit.Zoo) for the files, a real supervise and
real processes for /proc and for svweb's Board and /metrics."""

import os
import sys
import time
import types

import pytest
from prometheus_client.exposition import generate_latest

import helpers
from clientkit import Zoo, status_bytes
from svtools import _proctree, _status, _svinfo, _svinfo_files, _svweb_metrics, _xstatus
from svtools import _svweb_model as M


@pytest.fixture
def zoo(tmp_path):
    z = Zoo(tmp_path)
    yield z
    z.close()


def put(path, data):
    with open(path, "wb") as f:
        f.write(data)


def aged(seconds=100.0):
    """A cache whose clock runs SECONDS ahead: every file looks old enough
    to be trusted (the worst case for freshness)."""
    return _svinfo_files.Cache(lambda: time.time() + seconds)


def same(a, b):
    """Snapshots equal but for the times that depend on when they were read."""
    skip = ("time", "uptime", "log")
    return {k: v for k, v in a.items() if k not in skip} == {k: v for k, v in b.items() if k not in skip}


def test_unchanged_files_are_not_read_again(zoo):
    now = time.time()
    d = zoo.make("s", status=status_bytes(age=50, pid=4242))
    sup = os.path.join(d, b"supervise")
    put(os.path.join(sup, b"xstatus"), _xstatus.pack({"state": "up", "pid": 4242, "since": now - 50, "starts": 1}))
    put(os.path.join(sup, b"exits"), _xstatus.pack_exits([(now - 60, 11, 1, 0, 3.0)]))
    put(os.path.join(d, b"timeout-kill"), b"500\n")
    cache = aged()
    first = _svinfo.read(d, cache=cache, usage=False)
    misses = cache.misses
    assert cache.hits == 0 and misses == 5  # listing, knob, status, xstatus, exits
    second = _svinfo.read(d, cache=cache, usage=False)
    assert cache.hits == 5 and cache.misses == misses
    assert same(first, second) and same(second, _svinfo.read(d, usage=False))
    assert second["knobs"] == {"timeout-kill": b"500"} and second["state"] == "up"


def test_recent_files_are_not_trusted(zoo):
    d = zoo.make("s", status=status_bytes(age=50, pid=4242))
    st = os.stat(os.path.join(d, b"supervise", b"status"))
    newest = max(st.st_mtime, st.st_ctime, os.stat(d).st_ctime)
    clock = [newest + _svinfo_files.GRACE - 0.5]
    cache = _svinfo_files.Cache(lambda: clock[0])
    for _ in range(3):
        _svinfo.read(d, cache=cache, usage=False)
    assert cache.hits == 0  # written less than GRACE before each read
    clock[0] = newest + _svinfo_files.GRACE + 0.5
    for _ in range(2):
        _svinfo.read(d, cache=cache, usage=False)
    assert cache.hits == 2  # the listing and the status, on the second read


def test_every_change_shows_on_the_next_read(zoo):
    now = time.time()
    d = zoo.make("s", status=status_bytes(age=50, pid=4242))
    sup = os.path.join(d, b"supervise")
    xpath = os.path.join(sup, b"xstatus")
    put(xpath, _xstatus.pack({"state": "up", "pid": 4242, "since": now - 50, "starts": 1}))
    knob = os.path.join(d, b"timeout-kill")
    put(knob, b"500\n")
    cache = aged()
    _svinfo.read(d, cache=cache, usage=False)

    # In place, same size, mtime put back: only ctime tells.
    st = os.stat(knob)
    put(knob, b"900\n")
    os.utime(knob, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert _svinfo.read(d, cache=cache, usage=False)["knobs"]["timeout-kill"] == b"900"

    # Replaced by rename, as supervise does; the same size.
    put(xpath + b".new", _xstatus.pack({"state": "up", "pid": 4242, "since": now - 50, "starts": 2}))
    os.rename(xpath + b".new", xpath)
    assert _svinfo.read(d, cache=cache, usage=False)["starts"] == 2

    # A new entry in the directory, and a changed 18-byte status.
    put(os.path.join(d, b"down"), b"")
    put(xpath, _xstatus.pack({"state": "down", "want": "down", "since": now, "starts": 2}))
    put(os.path.join(sup, b"status"), status_bytes(pid=0, want=_status.WANT_DOWN))
    snap = _svinfo.read(d, cache=cache, usage=False)
    assert (snap["state"], snap["want"], snap["pid"]) == ("down", "down", 0)
    assert same(snap, _svinfo.read(d, usage=False))

    # A file that goes away.
    os.unlink(knob)
    assert "timeout-kill" not in _svinfo.read(d, cache=cache, usage=False)["knobs"]


def test_rotate_forgets_what_was_not_read(zoo):
    a = zoo.make("a", status=status_bytes(age=50))
    b = zoo.make("b", status=status_bytes(age=50))
    cache = aged()
    for d in (a, b):
        _svinfo.read(d, cache=cache, usage=False)
    cache.rotate()
    _svinfo.read(a, cache=cache, usage=False)
    cache.rotate()
    misses = cache.misses
    _svinfo.read(a, cache=cache, usage=False)
    assert cache.misses == misses
    _svinfo.read(b, cache=cache, usage=False)
    assert cache.misses == misses + 2  # b's listing and status were dropped


def comm(pid):
    with open("/proc/%d/comm" % pid) as f:
        return f.read().strip()


def asleep(pid):
    """PID is sleep(1) in its nanosleep: exec'd and its libraries mapped,
    so its RSS holds still (comm changes at the exec, before the loader)."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return comm(pid) == "sleep" and fields[0] == "S"


def open_fds():
    return len(os.listdir("/proc/self/fd"))


def test_held_proc_files(procs):
    held = _proctree.Held(16)
    p = procs.start(["sleep", "1000"])
    helpers.wait_for(lambda: asleep(p.pid), timeout=15, what="sleep running")
    base = open_fds()
    plain = _proctree.usage(p.pid)
    for _ in range(3):
        held.rotate()
        got = _proctree.usage(p.pid, held=held)
        assert got[2] == 1 and got[0] == plain[0]
    assert open_fds() == base + 2  # stat and children, kept open
    p.kill()
    p.wait()
    held.rotate()
    assert _proctree.usage(p.pid, held=held) is None  # reaped: ESRCH, then gone
    assert open_fds() == base
    q = procs.start(["sleep", "1000"])
    helpers.wait_for(lambda: asleep(q.pid), timeout=15, what="sleep running")
    small = _proctree.Held(2)  # room for one pair
    held.rotate()
    assert _proctree.usage(q.pid, held=small)[2] == 1
    assert _proctree.usage(os.getpid(), held=small)[2] >= 1  # past LIMIT: opened and closed
    assert open_fds() == base + 2
    small.close()
    held.close()
    assert open_fds() == base


GROW = """exec 2>&1
while [ ! -e grow ]; do sleep 0.05; done
exec %s -c 'b = b"x" * (96 << 20); import time; time.sleep(1000)'
""" % sys.executable


def test_board_and_metrics_see_changes_at_once(tmp_path, procs):
    """svweb's Board, its cache trusting every file: a process's RSS, then a
    stop, appear on the scan right after an uncached read sees them."""
    scan = tmp_path / "scan"
    d = scan / "svc"
    d.mkdir(parents=True)
    helpers.write_script(str(d / "run"), GROW)
    procs.start([helpers.prog("supervise"), "svc"], cwd=str(scan))
    up = helpers.wait_for(lambda: (lambda s: s["pid"] and s)(_svinfo.read(str(d), usage=False)),
                          timeout=15, what="svc up")
    procs.track(up["pid"])
    board = M.Board(str(scan))
    board._files.clock = lambda: time.time() + 100
    metrics = _svweb_metrics.Metrics(board)

    def scrape():
        snap = board.scan()
        board._snap = snap
        return snap, metrics.render(snap)[0]

    for _ in range(2):
        snap, body = scrape()
    assert snap.find("svc")["rss"] < 64 << 20
    assert b'svtools_service_up{service="svc"} 1.0' in body

    put(str(d / "grow"), b"")
    helpers.wait_for(lambda: _proctree.usage(up["pid"])[0] > 96 << 20, timeout=15, what="rss grown")
    snap, body = scrape()
    assert snap.find("svc")["rss"] > 96 << 20
    line = [x for x in body.split(b"\n") if x.startswith(b'svtools_service_resident_memory_bytes{service="svc"}')]
    assert float(line[0].split()[1]) > 96 << 20

    assert _svinfo.control(str(d), "d") is None
    helpers.wait_for(lambda: _svinfo.read(str(d), usage=False)["state"] == "down", timeout=15, what="svc down")
    snap, body = scrape()
    assert snap.find("svc")["state"] == "down" and snap.find("svc")["rss"] is None
    assert b'svtools_service_up{service="svc"} 0.0' in body
    assert b'svtools_service_resident_memory_bytes{service="svc"}' not in body
    board._files.close()
    assert _svinfo.control(str(d), "x") is None


def plain_encoding(snap):
    """What prometheus_client gives for every family built afresh."""
    class All:
        def collect(self):
            for kind, name, doc, get in _svweb_metrics._FAMILIES:
                fam = kind(name, doc, labels=["service"])
                for js in snap.services:
                    for label, j in ((js["name"], js), (js["name"] + "/log", js["log"])):
                        if j is not None and get(j) is not None:
                            fam.add_metric([label], get(j))
                yield fam
    return generate_latest(All())


def test_metrics_memo_is_plain_encoding(zoo):
    now = time.time()
    a = zoo.make("a", status=status_bytes(age=50, pid=4242))
    put(os.path.join(a, b"supervise", b"xstatus"),
        _xstatus.pack({"state": "up", "pid": 4242, "since": now - 50, "starts": 3}))
    b = zoo.make("b", status=status_bytes(age=9, pid=0, want=_status.WANT_DOWN), down=True)
    services = _svweb_metrics._Services()
    for change in range(3):
        if change == 2:
            put(os.path.join(b, b"supervise", b"status"), status_bytes(age=1, pid=77))
        snap = types.SimpleNamespace(services=[_svinfo.to_json(_svinfo.read(d)) for d in (a, b)])
        assert services.encode(snap) == plain_encoding(snap)
    assert b'svtools_service_up{service="b"} 1.0' in services.encode(snap)
