"""Scheduled jobs, pure parts: the schedule parser, the policy, the croniter child."""

import os
import subprocess
import sys
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from svtools import _schedule_policy as sp
from svtools._schedule_cron import next_times

PARIS = ZoneInfo("Europe/Paris")


def paris(*args):
    return datetime(*args, tzinfo=PARIS).timestamp()


def local(ts):
    return datetime.fromtimestamp(ts, PARIS).strftime("%m-%d %H:%M %Z")


@pytest.mark.parametrize("text, spec", [
    (b"*/5 * * * *\n", (None, "*/5 * * * *", True)),
    (b"0 3 * * *", (None, "0 3 * * *", False)),
    (b"TZ=Europe/Paris 0 3 * * *\n", ("Europe/Paris", "0 3 * * *", False)),
    (b"CRON_TZ=UTC @daily\n", ("UTC", "0 0 * * *", False)),
    (b"@hourly\n", (None, "0 * * * *", True)),
    (b"# nightly backup\n30 2 * * mon-fri\n", (None, "30 2 * * mon-fri", False)),
    (b"0 *  * * *", (None, "0 * * * *", True)),
])
def test_parse_good(text, spec):
    assert sp.parse(text) == (spec, None)


@pytest.mark.parametrize("text, problem", [
    (b"", "empty"), (b"\n\n", "empty"), (b"* * * *\n", "not five fields"),
    (b"* * * * * *\n", "not five fields"), (b"@reboot\n", "unknown keyword @reboot"),
    (b"@daily extra\n", "unknown keyword @daily"), (b"\xff\xfe\n", "not ASCII text"),
    (b"* * * * *\n0 * * * *\n", "more than one line"), (b"TZ= * * * * *", "bad time zone"),
    (b"TZ=../../etc/passwd * * * * *", "bad time zone"), (b"TZ=UTC\n", "no cron expression"),
    (b"* * * * $(rm)\n", "bad character in a field"),
])
def test_parse_junk(text, problem):
    assert sp.parse(text) == (None, problem)


def test_parse_times():
    assert sp.parse_times(b"60.000000 120.5\n") == ([60.0, 120.5], None)
    assert sp.parse_times(b"error: bad cron expression x\n") == (None, "bad cron expression x")
    assert sp.parse_times(b"") == (None, "no firing time")
    assert sp.parse_times(b"soup") == (None, "bad answer from the schedule helper")


def minute_job(wildcard=True):
    return sp.Schedule((None, "* * * * *" if wildcard else "0 3 * * *", wildcard))


def test_begin_asks_for_times_after_now():
    s = minute_job()
    assert s.begin(100.0, 1000.0) == [("ask", 1000.0)]
    assert s.wake == 100.0 + sp.RECHECK and s.next_fire() == 0.0


def test_fires_at_the_deadline_of_each_time():
    s = minute_job()
    s.begin(100.0, 1000.0)
    assert s.received([1020.0, 1080.0, 1140.0], 101.0, 1001.0) == []
    assert s.wake == 120.0 and s.next_fire() == 1020.0
    assert s.deadline(120.0, 1020.0, running=False) == [("fire",)]
    assert s.wake == 180.0 and s.next_fire() == 1080.0


def test_firing_while_running_is_skipped_and_counted():
    s = minute_job()
    s.begin(0.0, 1000.0)
    s.received([1060.0, 1120.0, 1180.0, 1240.0], 0.0, 1000.0)
    assert s.deadline(60.0, 1060.0, running=True) == [("skip", 1)]
    assert s.skipped == 1
    assert s.deadline(120.0, 1120.0, running=False) == [("fire",)]
    assert s.skipped == 1


def test_early_deadline_does_nothing():
    s = minute_job()
    s.begin(0.0, 1000.0)
    s.received([1060.0, 1120.0, 1180.0], 0.0, 1000.0)
    assert s.deadline(30.0, 1030.0, running=False) == []
    assert s.wake == 60.0


def test_asks_again_when_times_run_low():
    s = minute_job()
    s.begin(0.0, 1000.0)
    s.received([1060.0, 1120.0], 0.0, 1000.0)
    assert s.deadline(60.0, 1060.0, running=False) == [("fire",), ("ask", 1120.0)]
    assert s.deadline(61.0, 1061.0, running=False) == []   # one child at a time
    s.received([1180.0, 1240.0], 62.0, 1062.0)
    assert s.times == [1120.0, 1180.0, 1240.0]


def test_late_wakeup_runs_once_counts_the_rest():
    s = minute_job()
    s.begin(0.0, 1000.0)
    s.received([1060.0, 1120.0, 1180.0, 1240.0, 1300.0], 0.0, 1000.0)
    assert s.deadline(185.0, 1185.0, running=False) == [("fire",), ("skip", 2)]
    assert s.times == [1240.0, 1300.0]


def test_clock_step_forward_small_catches_up_once():
    s = minute_job(wildcard=False)
    s.begin(0.0, 1000.0)
    s.received([2000.0, 2000.0 + 86400, 2000.0 + 2 * 86400], 0.0, 1000.0)
    # one hour forward while waiting: the 2000 time passed
    assert s.deadline(60.0, 1060.0 + 3600, running=False)[0] == ("fire",)


def test_clock_step_forward_large_drops_missed_times():
    s = minute_job(wildcard=False)
    s.begin(0.0, 1000.0)
    s.received([2000.0, 2000.0 + 86400, 2000.0 + 2 * 86400], 0.0, 1000.0)
    assert s.deadline(60.0, 1060.0 + 5 * 3600, running=False) == []
    assert s.times == [2000.0 + 86400, 2000.0 + 2 * 86400] and s.skipped == 0


def test_clock_step_back_fixed_keeps_its_time():
    s = minute_job(wildcard=False)
    s.begin(0.0, 10000.0)
    s.received([20000.0, 20000.0 + 86400, 20000.0 + 2 * 86400], 0.0, 10000.0)
    assert s.deadline(60.0, 10060.0 - 3600, running=False) == []
    assert s.times[0] == 20000.0


def test_clock_step_back_wildcard_asks_from_new_now():
    s = minute_job()
    s.begin(0.0, 10000.0)
    s.received([10060.0, 10120.0, 10180.0], 0.0, 10000.0)
    assert s.deadline(30.0, 10030.0 - 3600, running=False) == [("ask", 10030.0 - 3600)]
    assert s.times == []


def test_rejected_never_fires():
    s = minute_job()
    s.begin(0.0, 1000.0)
    assert s.rejected("bad cron expression", 1.0, 1001.0) == [("warn", "bad cron expression")]
    assert s.wake is None and s.next_fire() == 0.0
    assert s.deadline(100.0, 1100.0, running=False) == []


def test_child_failure_retries_after_recheck():
    s = minute_job()
    s.begin(0.0, 1000.0)
    assert s.child_failed(1.0, 1001.0) == [("ask", 1001.0)]
    assert s.wake == 1.0 + sp.RECHECK


def test_controllable_clock_fires_on_every_minute_boundary():
    """20 firings driven by a fake clock: each at its minute boundary."""
    s = sp.Schedule((None, "* * * * *", True))
    mono, wall = 5.0, paris(2026, 6, 1, 12, 0, 30)
    effects = s.begin(mono, wall)
    late = []
    fired = 0
    while fired < 20:
        for e in effects:
            if e[0] == "ask":
                effects = s.received(next_times("Europe/Paris", "* * * * *", e[1], 5), mono, wall)
                break
        else:
            effects = []
        if effects:
            continue
        # the loop sleeps until wake; the clocks advance together
        mono, wall = s.wake, wall + (s.wake - mono)
        effects = s.deadline(mono, wall, running=False)
        if ("fire",) in effects:
            fired += 1
            late.append(wall % 60)
    assert late == [0.0] * 20


def test_cron_child_dst_rules():
    # spring forward: 02:30 does not exist and fires at the jump
    t = next_times("Europe/Paris", "30 2 * * *", paris(2026, 3, 28, 12, 0), 2)
    assert [local(x) for x in t] == ["03-29 03:00 CEST", "03-30 02:30 CEST"]
    # fall back: a fixed-time job runs once in the repeated hour
    t = next_times("Europe/Paris", "30 2 * * *", paris(2026, 10, 24, 12, 0), 2)
    assert [local(x) for x in t] == ["10-25 02:30 CEST", "10-26 02:30 CET"]
    # ... a wildcard job in both passes
    t = next_times("Europe/Paris", "*/30 * * * *", paris(2026, 10, 25, 1, 50), 5)
    assert [local(x) for x in t] == ["10-25 02:00 CEST", "10-25 02:30 CEST", "10-25 02:00 CET",
                                     "10-25 02:30 CET", "10-25 03:00 CET"]
    # strictly after
    assert next_times("UTC", "0 0 * * *", 86400.0, 1) == [2 * 86400.0]


@pytest.mark.parametrize("zone, expr, why", [
    ("Nowhere/Zone", "* * * * *", "error: unknown time zone Nowhere/Zone"),
    ("-", "61 * * * *", "error: bad cron expression '61 * * * *'"),
    ("-", "* * 32 * *", "error: bad cron expression"),
])
def test_cron_child_junk(zone, expr, why):
    r = subprocess.run([sys.executable, "-m", "svtools._schedule_cron", zone, expr, "0", "3"],
                       capture_output=True, timeout=20)
    assert r.returncode == 100 and r.stdout.decode().startswith(why)


def test_cron_child_answers_and_uses_tz_for_local():
    r = subprocess.run([sys.executable, "-m", "svtools._schedule_cron", "-", "0 3 * * *", "0", "2"],
                       capture_output=True, timeout=20, env=dict(os.environ, TZ="Asia/Tokyo"))
    assert r.returncode == 0
    assert r.stdout == b"64800.000000 151200.000000\n"   # 03:00 JST = 18:00 UTC


def test_croniter_stays_out_of_svscan_and_supervise():
    # supervise loads the small policy before svscan forks (shared pages);
    # croniter, dateutil, zoneinfo and datetime only ever run in the child.
    code = ("import sys, svtools.svscan, svtools.supervise, svtools._knobs;"
            "print(sorted(m for m in sys.modules if 'cron' in m or 'schedule' in m or 'date' in m"
            " or m == 'zoneinfo'))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=20)
    assert r.stdout == b"['svtools._schedule', 'svtools._schedule_policy']\n", r.stdout + r.stderr
