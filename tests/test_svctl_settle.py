"""svctl start, restart and add judge a start as supervisord's startsecs
does: done once the run has stayed up for the settle (--settle, 1 s), or
is ready when it has a readiness knob; a run that exits before is a failed
start, said with its exit.  Real services under a real svscan (ours, and
Debian's C one for the 0.76 status)."""

import os
import re

import pytest

import helpers
from svtools import _svctl_start
from svtools import _svinfo
from test_svctl_live import Scan
from test_svctl_unit import snap

QUICK = "echo $$ >> pids\nsleep 0.5\nexit 3\n"
STEADY = "exec sleep 1000\n"


def down_and_supervised(s):
    return s["supervised"] and s["state"] == "down" and s["want"] == "down"


def services(scan, **runs):
    for name, (run, knobs) in runs.items():
        scan.service(name, run, down="", **knobs)
    scan.start()
    for name in runs:
        scan.wait(name, down_and_supervised, "%s supervised, down" % name)


def test_start_restart_add_settle(tmp_path, procs):
    scan = Scan(tmp_path, procs)
    services(scan, quick=(QUICK, {}), steady=(STEADY, {}),
             ready=("echo >&3\nexec sleep 1000\n", {"notification_fd": "3\n"}))

    # Up for 0.5 s, then exit 3: a failed start, with its exit.
    out, err, code = scan.svctl("start", "quick")
    assert re.fullmatch(r"quick: start failed: exit 3 after 0\.[4-9]s, under the 1s settle; "
                        r"now (down, want up|up \(pid \d+\))\n", out) and (err, code) == ("", 1), out
    assert scan.svctl("stop", "quick")[2] == 0
    # --settle 0: up is enough, as before.
    out, err, code = scan.svctl("start", "--settle", "0", "quick")
    assert re.fullmatch(r"quick: up \(pid \d+\)\n", out) and (err, code) == ("", 0), out
    assert scan.svctl("stop", "quick")[2] == 0

    out, err, code = scan.svctl("start", "steady")
    s = scan.snap("steady")
    assert (out, err, code) == ("steady: up (pid %d)\n" % s["pid"], "", 0)
    assert s["uptime"] >= 1.0 and s["restarts"] == 0       # up for the settle when said
    # restart: the old run's exit (asked, and under 2 s) is no failed start.
    out, err, code = scan.svctl("restart", "--settle", "2", "steady")
    new = scan.snap("steady")
    assert (out, err, code) == ("steady: up (pid %d)\n" % new["pid"], "", 0) and new["pid"] != s["pid"]
    # --wait shorter than what the settle still needs: a timeout that says so.
    out, err, code = scan.svctl("start", "--settle", "60", "--wait", "0.5", "steady")
    assert re.fullmatch(r"steady: timeout after 0\.5s: up \(pid %d\); up \d+\.\ds of the 60s settle\n"
                        % new["pid"], out) and code == 1, out

    # A readiness knob: ready is enough, the settle does not apply.
    out, err, code = scan.svctl("start", "--settle", "60", "--wait", "20", "ready")
    assert (out, err, code) == ("ready: ready (pid %d)\n" % scan.snap("ready")["pid"], "", 0)

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    src = scan.service("later", QUICK, where=str(elsewhere))
    out, err, code = scan.svctl("add", src)
    assert re.fullmatch(r"later: added, but start failed: exit 3 after 0\.[4-9]s, under the 1s "
                        r"settle; now .* \(see svctl show later\)\n", out) and (err, code) == ("", 1), out
    for name in ("later", "quick", "steady", "ready"):
        scan.svctl("remove", name)


@pytest.mark.interop
def test_settle_from_the_076_status_of_c_supervise(tmp_path, procs):
    scan = Scan(tmp_path, procs, impl="c")
    services(scan, quick=(QUICK, {}), steady=(STEADY, {}))
    out, err, code = scan.svctl("start", "quick")
    assert re.fullmatch(r"quick: start failed: exited (after|within) 0\.[4-9]s \(exit status unknown: "
                        r"not svtools supervise\), under the 1s settle; now .*\n", out) and code == 1, out
    out, err, code = scan.svctl("start", "steady")
    s = scan.snap("steady")
    assert (out, err, code) == ("steady: up (pid %d)\n" % s["pid"], "", 0) and s["uptime"] >= 1.0
    out, err, code = scan.svctl("restart", "--settle", "2", "steady")   # the old run's end is no failure
    new = scan.snap("steady")
    assert (out, err, code) == ("steady: up (pid %d)\n" % new["pid"], "", 0) and new["pid"] != s["pid"]
    for name in ("quick", "steady"):
        _svinfo.control(os.path.join(scan.dir, name), "dx")


def test_settle_option_parsing():
    for args in (["stop", "--settle", "1", "x"], ["start", "--settle", "soon", "x"],
                 ["start", "--settle=-1", "x"], ["status", "--settle", "1"]):
        cp = helpers.run([helpers.prog("svctl"), "-d", "/nonexistent"] + args)
        assert cp.returncode == 100, (args, cp.stderr)


X = dict(source="xstatus", want="up", time=1000.0)


def exited(at, pid, code=3, sig=0, ran=0.2, asked=0):
    return {"exit": {"code": code, "signal": sig, "at": at, "ran": ran},
            "exits": [(at, pid, code, sig, ran, asked)]}


def test_starter_from_xstatus():
    before = snap(state="down", pid=0, want="down", source="xstatus")
    st = _svctl_start.Starter(before, 1.0)
    assert st.check(snap(state="up", pid=43, since=999.5, **X), 999.4) is None
    assert st.note == "; up 0.5s of the 1s settle"
    assert st.check(snap(state="up", pid=43, since=998.9, **X), 998.8) == (True, "up (pid 43)")
    gone = snap(state="down", pid=0, since=999.7, **dict(X, **exited(999.7, 43)))
    assert st.check(gone, 999.4) == (False, "start failed: exit 3 after 0.2s, under the 1s settle; "
                                            "now down, want up")
    # while ./finish runs, the start is not judged: it may keep the service down
    assert st.check(dict(gone, state="finishing"), 999.4) is None
    assert st.check(gone, 999.8) is None                                 # an exit before the command
    assert st.check(dict(gone, **exited(999.7, 43, ran=1.5)), 999.4) is None    # it lived long enough
    assert st.check(dict(gone, **exited(999.7, 43, code=256, sig=15, asked=1)), 999.4) is None
    assert st.check(dict(gone, **exited(999.7, 43, code=256, sig=15, asked=None)), 999.4) is None
    assert st.check(dict(gone, **exited(999.7, 43, code=256, sig=11, asked=None)), 999.4)[1].startswith(
        "start failed: SIGSEGV after 0.2s")
    # an exit recorded before the command is not its, however close in time
    st = _svctl_start.Starter(dict(gone, state="failed", want="down"), 1.0)
    assert st.check(gone, 999.705) is None
    assert st.check(dict(gone, exit=None, exits=[]), 999.705) is None
    st = _svctl_start.Starter(dict(gone, state="failed", want="down", exits=[]), 1.0)
    assert st.check(dict(gone, exits=[]), 999.705) is None         # max-death-tally 0: the last exit
    assert st.check(dict(gone, **dict(exited(999.9, 44), exits=[])), 999.705)[0] is False
    st = _svctl_start.Starter(before, 1.0)
    # a new run whose state follows the old one's: since stays, the exit tells
    back = snap(state="up", pid=44, since=990.0, **dict(X, **exited(999.5, 43, ran=9.5)))
    assert st.check(back, 999.4) is None and st.note == "; up 0.5s of the 1s settle"
    # restart: the old run's exit is not the new run's
    st = _svctl_start.Starter(snap(state="up", pid=43, since=900.0, **X), 1.0, old=43)
    assert st.check(snap(state="up", pid=44, since=999.0, **dict(X, **exited(998.9, 43))), 998.8)[0]
    # readiness: ready, at once
    st = _svctl_start.Starter(snap(state="down", pid=0, source="xstatus", knobs={"notify-socket": b""}), 60.0)
    assert st.check(snap(state="ready", pid=43, since=999.9, **X), 999.8) == (True, "ready (pid 43)")


def test_starter_takes_a_one_shot_that_exited_0_as_started():
    """A one-shot (./finish exits 125 after the run, svimport's
    autorestart=false) that exited 0 did what start asked: done, exit 0;
    one that exited 1 is a failed start."""
    before = snap(state="down", pid=0, want="down", source="xstatus", starts=1)
    ran = dict(X, state="failed", pid=0, want="up", starts=2, failed_by="finish")
    st = _svctl_start.Starter(before, 1.0)
    ok = st.check(snap(**dict(ran, **exited(999.5, 43, code=0, ran=0.1))), 999.4)
    assert ok == (True, "exited (last exit 0 after 0.1s; kept down by ./finish)")
    st = _svctl_start.Starter(before, 1.0)
    bad = st.check(snap(**dict(ran, **exited(999.5, 43, code=1, ran=0.1))), 999.4)
    assert bad[0] is False and bad[1].startswith("failed (") and "last exit 1 after 0.1s" in bad[1]


def test_starter_from_a_076_status():
    def starter(before, old=0, dead=()):
        return _svctl_start.Starter(before, 1.0, old=old, alive=lambda pid: pid not in dead)
    st = starter(snap(state="down", pid=0, since=900.0, want="down"))
    assert st.check(snap(state="up", pid=43, since=999.5), 999.4) is None       # seen up
    assert st.check(snap(state="down", pid=0, since=999.8), 999.4) == (
        False, "start failed: exited after 0.3s (exit status unknown: not svtools supervise), "
               "under the 1s settle; now down, want up")
    # 0.76's supervise sleeps 1 s after a start: its status says up, /proc dead
    dead = {43}
    st = starter(snap(state="down", pid=0, since=900.0, want="down"), dead=dead)
    assert st.check(snap(state="up", pid=43, since=999.5, time=999.9), 999.4)[1].startswith(
        "start failed: exited within 0.4s (exit status unknown")
    assert st.check(snap(state="up", pid=43, since=999.5, time=1000.5), 999.4) is None   # judged
    assert st.check(snap(state="up", pid=44, since=1000.5, time=1000.6), 999.4) is None  # the next run
    dead.clear()
    assert st.check(snap(state="up", pid=44, since=1000.5, time=1001.6), 999.4)[0]
    # a run that came and went between two looks: only its end's stamp
    st = starter(snap(state="down", pid=0, since=900.0, want="down"))
    assert st.check(snap(state="down", pid=0, since=999.6), 999.4)[1].startswith(
        "start failed: exited within 0.2s")
    st = starter(snap(state="down", pid=0, since=900.0, want="down"))
    assert st.check(snap(state="up", pid=43, since=998.0), 997.9) == (True, "up (pid 43)")
    st = starter(snap(state="down", pid=0, since=900.0, want="down"), dead={43})
    assert st.check(snap(state="up", pid=43, since=998.0), 997.9) is None      # dead, after the settle
    # restart: the first look after the old run shows its end, not a failure
    st = starter(snap(state="up", pid=42, since=900.0), old=42)
    assert st.check(snap(state="down", pid=0, since=999.5), 999.4) is None
    assert st.check(snap(state="up", pid=44, since=999.6), 999.4) is None
    assert st.check(snap(state="up", pid=44, since=999.6, time=1000.7), 999.4) == (True, "up (pid 44)")


def test_starter_after_add_takes_supervises_first_status_for_its_start():
    """svctl add reads its first snapshot before supervise runs; the first
    status supervise writes (pid 0, before xstatus and the first run) is
    supervise's start, not a run that came and went."""
    blank = snap(supervised=False, state="unsupervised", pid=0, since=None, want=None)
    st = _svctl_start.Starter(blank, 1.0, alive=lambda pid: True)
    assert st.check(snap(state="down", pid=0, since=999.6), 999.5) is None
    assert st.check(snap(state="up", pid=43, since=999.7), 999.5) is None   # settling
    assert st.check(snap(state="up", pid=43, since=999.7, time=1000.8), 999.5) == (True, "up (pid 43)")
