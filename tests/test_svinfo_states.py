"""_svinfo and svctl on the states only svtools supervise publishes
(supervise/xstatus and exits): ready, finishing, stopping, failed, process
groups, and svctl's verbs relying on supervise's own down-signal and
timeout-kill."""

import os
import time

import helpers
from svtools import _svinfo
from test_svinfo_live import settled, supervise


def knob(d, name, value):
    with open(os.path.join(d, name), "w") as f:
        f.write(value)


def test_ready_after_notification(tmp_path, procs):
    d = os.path.join(str(tmp_path), "notify")
    os.makedirs(d)
    knob(d, "notification-fd", "3\n")
    supervise(procs, tmp_path, "notify", "while [ ! -e go ]; do sleep 0.05; done\necho >&3\nexec sleep 1000\n")
    snap = settled(d, lambda s: s["state"] == "starting", "starting, not ready")
    procs.track(snap["pid"])
    assert snap["ready_since"] == 0 and _svinfo.wanted(snap) == 3
    open(os.path.join(d, "go"), "w").close()
    snap = settled(d, lambda s: s["state"] == "ready", "ready")
    assert snap["ready_since"] > 0 and snap["knobs"]["notification-fd"] == b"3"
    assert _svinfo.wanted(snap) == 0
    _svinfo.control(d, "dx")


def test_finishing_stopping_and_exits(tmp_path, procs):
    d = os.path.join(str(tmp_path), "fin")
    os.makedirs(d)
    knob(d, "timeout-kill", "300\n")
    helpers.write_script(os.path.join(d, "finish"), "while [ ! -e done ]; do sleep 0.05; done\n")
    supervise(procs, tmp_path, "fin", "trap '' TERM\ntouch trapped\nexec sleep 1000\n")
    first = settled(d, lambda s: s["state"] == "up" and s["source"] == "xstatus", "up")
    procs.track(first["pid"])
    # The d below must find TERM already ignored, or the run dies of it.
    helpers.wait_for(lambda: os.path.exists(os.path.join(d, "trapped")), 15, what="trap set")
    _svinfo.control(d, "d")
    snap = settled(d, lambda s: s["state"] in ("stopping", "finishing"), "stopping")
    snap = settled(d, lambda s: s["state"] == "finishing", "finishing after the KILL")
    assert snap["pid"] == 0 and snap["want"] == "down" and _svinfo.wanted(snap) == 3
    assert snap["exit"]["signal"] == 9 and snap["exit"]["code"] == 256
    open(os.path.join(d, "done"), "w").close()
    snap = settled(d, lambda s: s["state"] == "down", "down")
    assert _svinfo.wanted(snap) == 0
    assert [(pid, sig) for _, pid, _, sig, _, _ in snap["exits"]] == [(first["pid"], 9)]
    assert snap["knobs"] == {"timeout-kill": b"300", "finish": b""}
    _svinfo.control(d, "x")


def test_failed_after_fail_limit(tmp_path, procs):
    d = os.path.join(str(tmp_path), "flaky")
    os.makedirs(d)
    knob(d, "fail-limit", "2 60\n")
    supervise(procs, tmp_path, "flaky", "exit 7\n")
    snap = settled(d, lambda s: s["state"] == "failed", "failed")
    assert (snap["fails"], snap["fail_limit"], snap["fail_secs"]) == (2, 2, 60)
    assert snap["exit"]["code"] == 7 and _svinfo.wanted(snap) == 3
    assert not snap["crash_loop"]
    _svinfo.control(d, "x")


def test_process_group_usage(tmp_path, procs):
    d = os.path.join(str(tmp_path), "grp")
    os.makedirs(d)
    knob(d, "process-group", "\n")
    # The grandchild leaves the tree (its parent exits) but stays in the group.
    supervise(procs, tmp_path, "grp", "(sleep 1000 &) \nexec sleep 1001\n")
    snap = settled(d, lambda s: s["pgid"] and s["procs"] == 2, "leader and its group")
    procs.track(snap["pid"])
    procs.track(snap["pgid"])
    assert snap["pgid"] == snap["pid"] and snap["rss"] > 0
    _svinfo.control(d, "dx")
    settled(d, lambda s: not s["supervised"], "gone")


def test_svctl_stop_leaves_timeout_kill_to_supervise(tmp_path, procs):
    d = os.path.join(str(tmp_path), "scan", "stubborn")
    os.makedirs(d)
    knob(d, "timeout-kill", "500\n")
    knob(d, "down-signal", "HUP\n")
    supervise(procs, os.path.dirname(d), "stubborn", "trap 'echo HUP >> sigs' HUP\ntrap 'echo TERM >> sigs' TERM\n"
              "while :; do sleep 1 & wait $!; done\n")
    settled(d, lambda s: s["state"] == "up" and s["source"] == "xstatus", "up")
    start = time.monotonic()
    cp = helpers.run([helpers.prog("svctl"), "-d", os.path.dirname(d), "stop", "stubborn"])
    took = time.monotonic() - start
    # "; 1 process of the old run still running": the sleep, when there was one.
    assert (cp.stdout.split(b";")[0].rstrip(b"\n"), cp.returncode) == (b"stubborn: down", 0)
    assert took < 7   # the KILL came from supervise, well before svctl's wait ran out
    with open(os.path.join(d, "sigs")) as f:
        assert f.read().split() == ["HUP"]
    _svinfo.control(d, "x")
