"""What a new user's trial of svctl found (issue 9), each against real
services under a real svscan: waits that conclude only from what supervise
wrote after the command, start into failure or a crash loop, operator
stops that are no crash loop, stop's default wait and the old run's
leftovers, add's and remove's words, tail of missing things."""

import os
import re

import pytest

import helpers
from test_svctl_live import Scan, up

FLAKY_ONCE = "echo $$ >> pids\nif [ -e ok ]; then exec sleep 1000; fi\ntouch ok\nexit 1\n"
ALWAYS_FAILS = "echo $$ >> pids\nexit 3\n"


@pytest.fixture
def scan(tmp_path, procs):
    return Scan(tmp_path, procs)


def failed(s):
    return s["state"] == "failed"


def test_start_after_failed_reads_the_new_run(scan):
    scan.service("flaky", FLAKY_ONCE, fail_limit="1 60\n")
    scan.service("broken", ALWAYS_FAILS, fail_limit="1 60\n")
    scan.start()
    scan.wait("flaky", failed, "flaky failed once")
    scan.wait("broken", failed, "broken failed")
    # The stale "failed" (supervise not yet at 'u') must not be the answer.
    out, err, code = scan.svctl("start", "flaky")
    pid = scan.snap("flaky")["pid"]
    assert (out, err, code) == ("flaky: up (pid %d)\n" % pid, "", 0)
    out, err, code = scan.svctl("start", "broken")
    # Either answer is about the new run: svctl may catch it up for the
    # moment before it exits 3 (a loaded machine), or already failed again.
    if code == 0:
        assert re.fullmatch(r"broken: up \(pid \d+\)\n", out) and err == "", out
        scan.wait("broken", failed, "broken failed again")
    else:
        assert (out, err, code) == ("broken: failed (fail-limit reached: 1 exit within 60s; "
                                    "last exit 3 after 0.0s)\n", "", 1)
    assert len(scan.lines("broken", "pids")) == 2 and scan.snap("broken")["restarts"] == 1
    for name in ("flaky", "broken"):
        scan.svctl("remove", name)


def test_start_into_a_crash_loop_fails_and_stops_are_no_crash(scan):
    scan.service("crash", "exit 1\n")
    scan.service("calm", "exec sleep 1000\n")
    scan.start()
    scan.wait("crash", lambda s: s["crash_loop"], "crash loop seen")
    assert scan.svctl("stop", "crash")[:3:2] == ("crash: down\n", 0)
    out, _, code = scan.svctl("start", "crash")
    assert code == 1 and re.match(r"crash: crash-loop( \(pid \d+\)| \(last exit 1 after \d\.\ds\))\n$", out), out
    assert scan.svctl("stop", "crash")[2] == 0
    scan.wait("calm", up, "calm up")
    for _ in range(3):   # the operator's stops and starts, in quick succession
        assert scan.svctl("stop", "calm")[:3:2] == ("calm: down\n", 0)
        out, _, code = scan.svctl("start", "--settle", "0", "calm")
        assert (out, code) == ("calm: up (pid %d)\n" % scan.snap("calm")["pid"], 0)
    out, _, code = scan.svctl("status", "calm")
    assert out.splitlines()[1].split()[1] == "up" and code == 0
    assert scan.svctl("stop", "calm")[:3:2] == ("calm: down\n", 0)


def test_stop_waits_out_timeout_kill_and_names_leftovers(scan):
    # TERM ignored, KILL after 7.5 s: longer than the 7 s default wait.
    scan.service("slow", "trap '' TERM\necho $$ >> pids\nexec sleep 1000\n", timeout_kill="7500\n")
    scan.service("forker", "echo $$ >> pids\nsleep 1000 &\necho $! > child\nwait\n")
    scan.start()
    scan.wait("slow", lambda s: up(s) and scan.lines("slow", "pids"), "slow up")
    scan.wait("forker", lambda s: up(s) and scan.lines("forker", "child"), "forker up")
    child = int(scan.lines("forker", "child")[0])
    try:
        out, err, code = scan.svctl("stop", "slow", "forker", timeout=40)
        assert err == "" and code == 0
        assert out == ("slow: down\nforker: down; 1 process of the old run still running "
                       "(no process-group): %d\n" % child)
        assert helpers.pid_alive(child)
    finally:
        os.kill(child, 9)


def test_add_says_failed_and_remove_without_logger(scan, tmp_path):
    scan.start()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    src = scan.service("doomed", ALWAYS_FAILS, where=str(elsewhere), fail_limit="1 60\n")
    out, err, code = scan.svctl("add", src)
    assert (out, err, code) == (
        "doomed: added, but failed (fail-limit reached: 1 exit within 60s; last exit 3 after 0.0s) "
        "(see svctl show doomed)\n", "", 1)
    out = scan.svctl("show", "doomed")[0]
    assert "  failed           fail-limit reached: 1 exit within 60s, down until svctl start" in out, out
    from svtools import _svinfo, _svweb_model
    js = _svinfo.to_json(scan.snap("doomed"))
    assert js["failed_reason"] == "fail-limit reached: 1 exit within 60s"
    assert _svweb_model.rows_of("doomed", js)[0]["state_text"] == (   # svweb's board and page,
        "failed (fail-limit reached: 1 exit within 60s; last exit 3 after 0.0s)")  # as svctl says
    assert scan.svctl("remove", "doomed")[:3:2] == ("doomed: removed (unlinked; service stopped)\n", 0)


def test_tail_nosuch_and_all_with_loggers(scan):
    scan.service("app", "echo hello from app\nexec sleep 1000\n", log=True)
    scan.service("plain", "exec sleep 1000\n")
    scan.start()
    scan.wait("app", lambda s: up(s) and s["log"] and up(s["log"]), "app and logger up")
    scan.wait("plain", up, "plain up")
    out, err, code = scan.svctl("tail", "nosuch")
    assert (out, err, code) == ("", "svctl: warning: nosuch: no such service in %s\n" % scan.dir, 1)

    def tailed():
        out, err, code = scan.svctl("tail")
        return out.endswith(" hello from app\n") and (out, err, code)
    out, err, code = helpers.wait_for(tailed, timeout=20, what="the line logged")
    assert (err, code) == ("", 0) and out.startswith("app | ")
    out, err, code = scan.svctl("tail", "app/log")       # the logger: the same log
    assert out.endswith(" hello from app\n") and (err, code) == ("", 0)
    for name in ("app", "plain"):
        scan.svctl("remove", name)


NOTE_RUN = """\
import os, socket, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.sendto(b"READY=1\\nSTATUS=serving requests \\\\ 3/4 \\xc3\\xa9\\x01", os.environ["NOTIFY_SOCKET"])
time.sleep(1000)
"""


def test_show_prints_the_note_unescaped_as_json_does(scan):
    import json
    import sys
    d = scan.service("noted", "exec %s -c \"$(cat run.py)\"\n" % sys.executable, notify_socket="")
    with open(os.path.join(d, "run.py"), "w") as f:
        f.write(NOTE_RUN)
    scan.start()
    scan.wait("noted", lambda s: s["state"] == "ready" and s["note"], "the note written")
    out, err, code = scan.svctl("show", "--json", "noted")
    assert json.loads(out)["note"] == "serving requests \\ 3/4 \u00e9\\x01", out
    out, err, code = scan.svctl("show", "noted")
    notes = [line.split(None, 1)[1] for line in out.splitlines() if line.split()[:1] == ["note"]]
    # Spaces and backslashes as written; only the control character escaped.
    assert notes == ["serving requests \\ 3/4 \u00e9\\x01"], out
    scan.svctl("remove", "noted")


def test_add_stops_waiting_on_a_crash_loop_as_start_does(scan, tmp_path):
    scan.start()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    src = scan.service("loopy", ALWAYS_FAILS, where=str(elsewhere))
    # --settle 0 (up is enough): the first exit alone does not end the wait.
    out, err, code = scan.svctl("add", "--settle", "0", "--wait", "20", src)
    # Not "not up within 20s": the loop of its own runs ends the wait.  (On
    # a loaded machine svctl may catch one of its runs up for the moment
    # before it exits 3, as it would any service: that is an answer too.)
    if code == 0:
        assert re.fullmatch(r"loopy: added: up \(pid \d+\)\n", out) and err == "", out
        helpers.wait_for(lambda: len(scan.lines("loopy", "pids")) >= 3, timeout=20, what="the loop")
    else:
        assert re.fullmatch(r"loopy: added, but it is in a crash loop: crash-loop \(last exit 3 after "
                            r"\d+\.\ds\) \(see svctl show loopy\)\n", out) and (err, code) == ("", 1), out
        assert len(scan.lines("loopy", "pids")) >= 3
    # start judges the same loop the same way.
    out, err, code = scan.svctl("start", "loopy")
    assert (re.fullmatch(r"loopy: crash-loop \(last exit 3 after \d+\.\ds\)\n", out) and code == 1
            or re.fullmatch(r"loopy: up \(pid \d+\)\n", out) and code == 0), out
    scan.svctl("remove", "loopy")
