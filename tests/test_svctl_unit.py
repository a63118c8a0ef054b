"""svctl's pure parts: argument parsing, formatting, log stamps, verb plans."""

import os
import subprocess
import sys

import pytest

from svtools import _logtail, _svctl_control as ctl, _svctl_format as fmt, _svinfo, _tai64, svctl
from svtools._svctl_format import Usage


@pytest.mark.parametrize("argv,verb,opts,names", [
    ([], "status", {}, []),
    (["--json"], "status", {"json": True}, []),
    (["-d", "/x", "status", "a", "b"], "status", {"dir": "/x"}, ["a", "b"]),
    (["-d/x", "stop", "--wait", "3", "web"], "stop", {"dir": "/x", "wait": 3.0}, ["web"]),
    (["stop", "--wait=0.5", "web"], "stop", {"wait": 0.5}, ["web"]),
    (["start", "-w", "2", "web"], "start", {"wait": 2.0}, ["web"]),
    (["restart", "--no-wait", "all"], "restart", {"no-wait": True}, ["all"]),
    (["tail", "-fn", "5", "a"], "tail", {"f": True, "n": 5}, ["a"]),
    (["tail", "a", "-n3", "--utc", "--no-prefix"], "tail", {"n": 3, "utc": True, "no-prefix": True}, ["a"]),
    (["signal", "-HUP", "web"], "signal", {}, ["-HUP", "web"]),
    (["signal", "USR1", "web"], "signal", {}, ["USR1", "web"]),
    (["stop", "--", "-odd"], "stop", {}, ["-odd"]),
    (["show", "-", "--json"], "show", {"json": True}, ["-"]),
    (["stop", "-h"], "stop", {"help": True}, []),
])
def test_parse(argv, verb, opts, names):
    assert svctl.parse(argv) == (verb, opts, names)


@pytest.mark.parametrize("argv,message", [
    (["bogus"], "unknown verb bogus"),
    (["web"], "unknown verb web"),
    (["status", "-x"], "unknown option -x"),
    (["status", "--wait", "3"], "status takes no option --wait"),
    (["stop", "--json", "a"], "stop takes no option --json"),
    (["tail", "-f", "--wait=1"], "tail takes no option --wait"),
    (["stop", "--wait"], "option --wait needs a value"),
    (["stop", "--wait", "soon", "a"], "--wait wants seconds, not soon"),
    (["stop", "--wait", "-1", "a"], "--wait wants seconds"),
    (["stop", "--wait", "nan", "a"], "--wait wants seconds"),
    (["tail", "-n", "x", "a"], "-n wants a number of lines"),
    (["tail", "-n"], "option -n needs a value"),
    (["status", "--json=yes"], "option --json takes no value"),
    (["status", "--bogus"], "unknown option --bogus"),
    (["bad\udcff"], "unknown verb bad\\xff"),
])
def test_parse_errors(argv, message):
    with pytest.raises(Usage) as e:
        svctl.parse(argv)
    assert str(e.value) == message


def test_scandir_choice(tmp_path):
    assert svctl.scandir({"dir": "/a"}, {b"SVDIR": b"/b"}) == b"/a"
    assert svctl.scandir({}, {b"SVDIR": b"/b"}) == b"/b"
    expect = b"/etc/service" if os.path.exists("/etc/service") else b"/service"
    assert svctl.scandir({}, {}) == expect


@pytest.mark.parametrize("text,letter", [
    ("HUP", "h"), ("SIGHUP", "h"), ("hup", "h"), ("1", "h"), ("TERM", "t"), ("15", "t"),
    ("KILL", "k"), ("USR1", "1"), ("usr2", "2"), ("WINCH", "w"), ("QUIT", "q"),
    ("ALRM", "a"), ("INT", "i"), ("STOP", "p"), ("CONT", "c"), (b"SIGTERM\n", "t"),
    ("SEGV", None), ("99", None), ("", None),
])
def test_signal_letter(text, letter):
    assert ctl.signal_letter(text) == letter


@pytest.mark.parametrize("secs,text", [
    (None, "-"), (0, "0s"), (59.9, "59s"), (60, "1m00s"), (3599, "59m59s"), (3600, "1h00m"),
    (86399, "23h59m"), (86400, "1d00h"), (90000, "1d01h"),
])
def test_duration(secs, text):
    assert fmt.duration(secs) == text


@pytest.mark.parametrize("n,text", [
    (None, "-"), (0, "0B"), (1023, "1023B"), (1024, "1.0K"), (1536, "1.5K"),
    (12 * 1024 * 1024, "12.0M"), (3 << 30, "3.0G"),
])
def test_size(n, text):
    assert fmt.size(n) == text


def test_cpu_and_exit_text():
    assert [fmt.cpu(x) for x in (None, 0.004, 12.34, 125)] == ["-", "0.00s", "12.3s", "2m05s"]
    assert fmt.exit_text(None, 0) == "-"
    assert fmt.exit_text({"code": 1, "signal": 0, "at": 100.0, "ran": 1.0}, 400) == "exit 1, 5m00s ago"
    assert fmt.exit_text({"code": 256, "signal": 15, "at": 100.0, "ran": 1.0}, 103) == "SIGTERM, 3s ago"


def test_line_time():
    t = 1764460800
    label = _tai64.stamp_bytes(t, 250000000)
    assert _logtail.line_time(label + b" hello") == pytest.approx(t + 0.25)
    assert _logtail.line_time(b"2025-11-30T00:00:00Z x") == t
    assert _logtail.line_time(b"2025-11-30T01:00:00.5+01:00 x") == t + 0.5
    assert _logtail.line_time(b"2025-11-29T19:00:00-05:00 x") == t
    assert _logtail.line_time(b"2025-11-30T00:19:32.5+00:19:32 x") == t + 0.5   # LMT offsets
    assert _logtail.line_time(b"2025-11-29T23:15:30-00:44:30 x") == t
    assert _logtail.line_time(b"2025-11-30_00:00:00.25000 svlogd") == t + 0.25
    for line in (b"", b"plain", b"@4000zz", b"2025-11-30 00:00:00 space", b"@" + b"0" * 23):
        assert _logtail.line_time(line) is None


def test_render():
    t = 1764460800
    utc = _logtail.Render(utc=True)
    assert utc(_tai64.stamp_bytes(t, 123456789) + b" hi") == b"2025-11-30 00:00:00.123Z hi"
    iso = b"2025-11-30T00:00:00.000Z already stamped"
    assert utc(iso) == iso and utc(b"plain") == b"plain"
    local = _logtail.Render()
    assert local(_tai64.stamp_bytes(t, 0) + b" x").endswith(b".000 x")


def test_stamped_carries_time():
    a = _tai64.stamp_bytes(100, 0)
    got = _logtail.stamped([b"first", a + b" x", b"continuation", b"2000-01-01T00:00:00Z y"])
    assert [t for t, _ in got] == [0.0, 100.0, 100.0, 946684800.0]


def snap(**kw):
    s = _svinfo._blank(b"/s/web", 1000.0)
    s.update(supervised=True, source="status", state="up", want="up", pid=42, since=990.0)
    s.update(kw)
    return s


def test_plan_letters_and_checks():
    job = ctl.plan("stop", "web", snap())
    assert job.letters == "d" and job.result is None
    assert job.check(snap(state="stopping", want="down")) is None
    assert job.check(snap(state="down", pid=0)) is None    # before supervise saw 'd'
    assert job.check(snap(state="down", pid=0, want="down")) == (True, "down")
    job = ctl.plan("restart", "web", snap())
    assert job.letters == "du"
    assert job.check(snap()) is None                       # the old run
    assert job.check(snap(pid=43)) == (True, "up (pid 43)")
    job = ctl.plan("start", "web", snap(state="down", pid=0))
    assert job.letters == "u" and job.check(snap(state="failed", pid=0)) == (False, "failed")
    job = ctl.plan("once", "web", snap(state="down", pid=0, since=900.0))
    assert job.check(snap(state="down", pid=0, since=900.0, want="once")) is None
    assert job.check(snap(state="down", pid=0, since=995.0)) is None  # want not yet once
    assert job.check(snap(state="down", pid=0, since=995.0, want="once"))[0]  # ran and exited
    x = dict(source="xstatus", state="down", pid=0, want="once")
    job = ctl.plan("once", "web", snap(exit={"code": 0, "signal": 0, "at": 900.0, "ran": 1.0}, **x))
    assert job.check(snap(exit={"code": 0, "signal": 0, "at": 900.0, "ran": 1.0}, **x)) is None
    assert job.check(snap(exit={"code": 0, "signal": 0, "at": 990.0, "ran": 0.1}, **x))[0]
    assert job.check(snap(source="status", state="down", pid=0, since=995.0)) is None
    assert ctl.plan("reload", "web", snap()).letters == "h"
    assert ctl.plan("reload", "web", snap(knobs={"reload-signal": b"USR2"})).letters == "2"
    assert ctl.plan("signal", "web", snap(), "w").letters == "w"


def test_plan_refusals():
    assert ctl.plan("start", "x", snap(supervised=False, state="unsupervised")).result == (
        False, "supervise not running")
    assert ctl.plan("kill", "x", snap(state="down", pid=0)).result == (False, "not running: down")
    assert ctl.plan("stop", "x", snap(error="boom")).result == (False, "boom")


def test_plan_emulates_knobs_for_076():
    knobs = {"down-signal": b"SIGHUP", "timeout-kill": b"500"}
    job = ctl.plan("stop", "web", snap(knobs=knobs))
    assert (job.letters, job.after_down, job.kill_after) == ("oh", "d", 0.5)
    job = ctl.plan("restart", "web", snap(knobs=knobs))
    assert (job.letters, job.after_down) == ("oh", "u")
    # svtools supervise does it itself.
    job = ctl.plan("stop", "web", snap(source="xstatus", knobs=knobs))
    assert (job.letters, job.after_down, job.kill_after) == ("d", "", None)
    job = ctl.exit_job("web", snap(knobs=knobs))
    assert (job.letters, job.after_down, job.until_gone) == ("oh", "dx", True)
    assert ctl.exit_job("web", snap()).letters == "dx"


def test_start_waits_for_ready_when_notification_is_configured():
    job = ctl.plan("start", "web", snap(source="xstatus", state="down", pid=0,
                                         knobs={"notification-fd": b"3"}))
    assert job.check(snap(source="xstatus", state="up")) is None
    assert job.check(snap(source="xstatus", state="ready"))[0]


def test_status_path_stays_light(tmp_path):
    """svctl status runs from scripts and prompts: none of the heavy modules."""
    (tmp_path / "svc" / "supervise").mkdir(parents=True)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    code = ("import sys; sys.path.insert(0, %r); base = set(sys.modules); from svtools import svctl; " % root +
            "svctl.main(['svctl', '-d', %r, 'status']); "
            "sys.stderr.write(' '.join(sorted(set(sys.modules) - base)))" % str(tmp_path))
    cp = subprocess.run([sys.executable, "-I", "-S", "-c", code], capture_output=True, timeout=20)
    loaded = set(cp.stderr.decode().split())
    assert "svtools._svinfo" in loaded, cp.stderr
    heavy = {"json", "re", "argparse", "subprocess", "shlex", "select", "ctypes", "threading",
             "logging", "typing", "os", "_svctl_control", "svtools._logtail"}
    assert not loaded & heavy


def test_help_and_usage_exit_codes(capfd):
    assert svctl.main(["svctl", "--help"]) == 0
    out, err = capfd.readouterr()
    assert out.startswith("usage: svctl ") and err == ""
    assert svctl.main(["svctl", "frobnicate"]) == 100
    out, err = capfd.readouterr()
    assert out == "" and err.startswith("svctl: usage: svctl [-d DIR]")
    assert err.endswith("svctl: unknown verb frobnicate\n")
    assert svctl.main(["svctl", "signal", "SEGV", "x"]) == 100
    assert svctl.main(["svctl", "stop"]) == 100
    assert svctl.main(["svctl", "show"]) == 100
    assert "unknown signal SEGV" in capfd.readouterr().err


def test_start_ignores_the_stale_failed_state():
    """'u' on a failed service: the snapshot read before supervise took it
    still says failed (want down); only a failure after it counts."""
    x = dict(source="xstatus", pid=0, starts=1, since=900.0)
    before = snap(state="failed", want="down", **x)
    job = ctl.plan("start", "web", before)
    assert job.check(snap(state="failed", want="down", **x)) is None       # not yet obeyed
    assert job.check(snap(state="down", want="up", **dict(x, since=950.0))) is None
    assert job.check(snap(state="up", want="up", **dict(x, pid=43, starts=2)))[0] is True
    again = snap(state="failed", want="down", exit={"code": 1, "signal": 0, "at": 960.0, "ran": 0.1},
                 **dict(x, starts=2, since=960.0))
    assert job.check(again) == (False, "failed (last exit 1 after 0.1s)")   # a new run failed
    assert job.check(dict(again, failed_by="finish"))[1] == (
        "failed (./finish exited 125; last exit 1 after 0.1s)")
    tally = dict(fails=2, fail_limit=2, fail_secs=60, failed_by="fail-limit")
    assert job.check(dict(again, **tally))[1] == ("failed (fail-limit reached: 2 exits within 60s; "
                                                  "last exit 1 after 0.1s)")
    # restart and once read the want their letters set
    job = ctl.plan("restart", "web", snap(state="down", want="down", pid=0))
    assert job.check(snap(state="up", want="down", pid=0)) is None


def test_start_into_a_crash_loop_is_not_done():
    x = dict(source="xstatus", state="up", want="up", pid=44, crash_loop=True)
    job = ctl.plan("start", "web", snap(source="xstatus", state="down", want="down", pid=0))
    job.sent = 1000.0
    old = {"code": 1, "signal": 0, "at": 990.0, "ran": 0.1}
    assert job.check(snap(exit=old, **x)) is None            # old exits: not this start's
    new = dict(old, at=1000.5)
    assert job.check(snap(exit=new, **x)) == (False, "crash-loop (last exit 1 after 0.1s)")


def test_stop_wait_covers_timeout_kill():
    assert ctl.stop_wait(snap()) == 7.0
    assert ctl.stop_wait(snap(knobs={"timeout-kill": b"500"})) == 7.0
    assert ctl.stop_wait(snap(knobs={"timeout-kill": b"9000\n"})) == 11.0
    assert ctl.stop_wait(snap(knobs={"timeout-kill": b"9s"})) == 7.0         # ignored by supervise
    assert ctl.stop_wait(snap(knobs={"timeout-kill": b"4000", "finish": b"",
                                     "timeout-finish": b"3000"})) == 9.0


def test_show_knobs_as_text_flagged_and_aligned():
    s = snap(source="xstatus", knobs={"timeout-kill": b"2s", "fail-limit": b"3 30",
                                      "restart-backoff": b"60", "down-signal": b"SIGFOO",
                                      "notification-fd": b"3", "reload-signal": b"USR9",
                                      "log-events": b"", "timeout-finish": b"a\tb\xff"})
    out = fmt.show("web", s, 1000.0, None, "no log directory")
    lines = out.splitlines()
    assert "  timeout-kill     2s  (ignored: not a number)" in lines
    assert "  fail-limit       3 30" in lines
    assert "  restart-backoff  60" in lines
    assert "  down-signal      SIGFOO  (ignored: unknown signal)" in lines
    assert "  reload-signal    USR9  (ignored: unknown signal)" in lines
    assert "  notification-fd  3" in lines
    assert "  log-events       (empty)" in lines
    assert "  timeout-finish   a\\x09b\\xff  (ignored: not a number)" in lines
    assert "  path             /s/web" in lines and "  want             up, normally up" in lines
