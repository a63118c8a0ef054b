"""_svinfo against real supervise processes: ours and Debian's C one (0.76
behaviour: no xstatus), and real loggers under a real svscan."""

import os
import time

import pytest

import helpers
from svtools import _svinfo

SUPERVISES = [
    pytest.param("ours", id="ours"),
    pytest.param("c", marks=pytest.mark.interop, id="C"),
]


def supervise(procs, base, name, run, impl="ours"):
    d = os.path.join(str(base), name)
    os.makedirs(d, exist_ok=True)
    helpers.write_script(os.path.join(d, "run"), run)
    exe = helpers.prog("supervise") if impl == "ours" else helpers.c_tool("supervise")
    procs.start([exe, name], cwd=str(base))
    helpers.wait_for(lambda: _svinfo.read(d)["supervised"], timeout=15, what="supervise up")
    return d


def settled(d, pred, what, timeout=15):
    return helpers.wait_for(lambda: (lambda s: pred(s) and s)(_svinfo.read(d)), timeout=timeout, what=what)


@pytest.mark.parametrize("impl", SUPERVISES)
def test_tree_usage_and_control(tmp_path, procs, impl):
    d = supervise(procs, tmp_path, "tree", "echo $$ > pid\nsleep 1000 &\nexec sleep 1001\n", impl)
    snap = settled(d, lambda s: s["state"] == "up" and s["procs"] == 2 and s["rss"] > 100 * 1024, "two processes up")
    procs.track(snap["pid"])
    assert snap["source"] == "status" or impl == "ours"
    with open(os.path.join(d, "pid")) as f:
        assert int(f.read()) == snap["pid"]
    assert snap["cpu"] >= 0
    assert _svinfo.wanted(snap) == 0
    assert _svinfo.control(d, "p") is None
    settled(d, lambda s: s["state"] == "paused", "paused")
    assert _svinfo.control(d, "cd") is None
    snap = settled(d, lambda s: s["state"] == "down", "down")
    assert snap["want"] == "down" and snap["pid"] == 0 and snap["rss"] is None
    assert _svinfo.wanted(snap) == 0
    assert _svinfo.control(d, "x") is None
    settled(d, lambda s: s["state"] == "unsupervised", "supervise gone")
    assert _svinfo.control(d, "u") == "unable to control %s: supervise not running" % d


@pytest.mark.parametrize("impl", SUPERVISES)
def test_crash_loop_seen(tmp_path, procs, impl):
    """C supervise: only two looks a second apart tell; ours: its exits."""
    d = supervise(procs, tmp_path, "crash", "exit 3\n", impl)
    source = "xstatus" if impl == "ours" else "status"
    first = settled(d, lambda s: s["source"] == source, "status written")
    if impl == "c":
        assert first["ambiguous"]

    def looping():
        nonlocal first
        time.sleep(0.5 if impl == "ours" else 1.1)
        again = _svinfo.read(d, prev=first)
        first = again
        return again["crash_loop"]
    helpers.wait_for(looping, timeout=15, what="crash loop seen")
    assert _svinfo.wanted(first) == 3
    if impl == "ours":
        assert first["exit"]["code"] == 3 and first["restarts"] >= 2
        assert all(code == 3 for _, _, code, _, _, _ in first["exits"])
    _svinfo.control(d, "dx")


@pytest.mark.parametrize("impl", SUPERVISES)
def test_stable_service_is_not_a_crash_loop(tmp_path, procs, impl):
    d = supervise(procs, tmp_path, "calm", "exec sleep 1000\n", impl)
    first = settled(d, lambda s: s["pid"], "up")
    procs.track(first["pid"])
    time.sleep(1.1)
    again = _svinfo.read(d, prev=first)
    assert not again["crash_loop"] and again["state"] == "up"
    _svinfo.control(d, "dx")


LOGGERS = [
    pytest.param("exec multilog t ./main", "multilog", id="our-multilog"),
    pytest.param("exec /usr/bin/multilog t s4096 ./main", "multilog", marks=pytest.mark.interop, id="C-multilog"),
    pytest.param("exec s6-log -b n3 t ./main", "s6-log", id="s6-log"),
    pytest.param("mkdir -p main\nexec svlogd -tt main", "svlogd", id="svlogd"),
]


@pytest.mark.parametrize("script,prog", LOGGERS)
def test_logdir_from_running_logger_and_from_run(tmp_path, procs, script, prog):
    if not os.path.exists("/usr/bin/" + prog) and prog != "multilog":
        pytest.skip(prog + " not installed")
    scan = tmp_path / "scan"
    svc = scan / "svc"
    os.makedirs(svc / "log")
    helpers.write_script(str(svc / "run"), "exec sleep 1000\n")
    helpers.write_script(str(svc / "log" / "run"), script + "\n")
    p = procs.start([helpers.prog("svscan"), str(scan)])
    snap = settled(str(svc), lambda s: s["log"] and s["log"]["pid"] and s["pid"], "service and logger up")
    procs.track(snap["pid"])
    procs.track(snap["log"]["pid"])
    # Until the log/run shell has exec'd the logger, only log/run tells.
    where, how = helpers.wait_for(lambda: (lambda r: "running" in r[1] and r)(_svinfo.logdir(str(svc))),
                                  timeout=15, what="the logger exec'd")
    assert where == os.fsencode(str(svc / "log" / "main")), how
    assert how == "from the running %s (pid %d)" % (prog, snap["log"]["pid"])
    procs.stop(p)  # svscan, both supervises and the logger: one process group
    settled(str(svc / "log"), lambda s: not s["supervised"], "logger's supervise gone")
    where, how = _svinfo.logdir(str(svc))
    assert where == os.fsencode(str(svc / "log" / "main"))
    assert how == "from log/run (%s)" % prog


def test_logdir_not_found(tmp_path):
    d = tmp_path / "svc"
    os.makedirs(d)
    assert _svinfo.logdir(str(d)) == (None, "no log directory: %s/log does not exist" % d)
    os.mkdir(d / "log")
    helpers.write_script(str(d / "log" / "run"), "exec logger -t svc\n")
    assert _svinfo.logdir(str(d)) == (
        None, "no logger running, and log/run names no multilog, s6-log or svlogd directory")
    os.unlink(d / "log" / "run")
    assert _svinfo.logdir(str(d)) == (
        None, "no logger running, and unable to read log/run: file does not exist")
