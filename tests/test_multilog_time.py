"""Pure tests: `T` stamps and rotation by age and by local date, driven by given times."""

import calendar
import os
import re
import subprocess
import sys
import time

import pytest

from svtools import _multilog_time as mt

DAY = 86400


@pytest.fixture
def tz():
    """Switch the local zone for one test; restored afterwards."""
    old = os.environ.get("TZ")

    def use(name):
        if not os.path.exists("/usr/share/zoneinfo/" + name):
            pytest.skip("no zoneinfo for " + name)
        os.environ["TZ"] = name
        time.tzset()
    yield use
    if old is None:
        os.environ.pop("TZ", None)
    else:
        os.environ["TZ"] = old
    time.tzset()


def local(tzname, *fields):
    """Unix seconds of a local time in the current zone."""
    return int(time.mktime(fields + (0,) * (6 - len(fields)) + (0, 0, -1)))


@pytest.mark.parametrize("zone,ns,text", [
    ("UTC", 1796083199123456789, b"2026-11-30T23:59:59.123456+00:00 "),
    ("Asia/Tokyo", 1796083199123456789, b"2026-12-01T08:59:59.123456+09:00 "),
    ("America/St_Johns", 1796083199000001000, b"2026-11-30T20:29:59.000001-03:30 "),
    ("Europe/Berlin", 1782863999999999999, b"2026-07-01T01:59:59.999999+02:00 "),
])
def test_iso_stamp(tz, zone, ns, text):
    tz(zone)
    stamp = mt.IsoStamp()
    assert stamp(ns) == text
    assert re.fullmatch(rb"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}[+-]\d\d:\d\d ", stamp(ns + 10 ** 9))


@pytest.mark.parametrize("seconds,text", [
    (0, b"+00:00"), (32400, b"+09:00"), (-12600, b"-03:30"), (19800, b"+05:30"),
    (1172, b"+00:19:32"), (-2670, b"-00:44:30"), (4772, b"+01:19:32"), (-59, b"-00:00:59"),
    (-1521, b"-00:25:21"), (50400, b"+14:00"),
])
def test_utc_offset(seconds, text):
    assert mt.utc_offset(seconds) == text


@pytest.mark.parametrize("zone,ns,text", [
    # POSIX TZ strings with seconds in the offset (west is positive there)
    ("LMT-0:19:32", 1796083199000000000, b"2026-12-01T00:19:31.000000+00:19:32 "),
    ("LMT+0:44:30", 1796083199000000000, b"2026-11-30T23:15:29.000000-00:44:30 "),
    # zoneinfo: Monrovia kept -0:44:30 until 1972, Amsterdam +0:19:32 (summer +1:19:32) until 1937
    ("Africa/Monrovia", 0, b"1969-12-31T23:15:30.000000-00:44:30 "),
    ("Europe/Amsterdam", -1500000000 * 10 ** 9, b"1922-06-20T22:39:32.000000+01:19:32 "),
])
def test_iso_stamp_keeps_the_seconds_of_an_offset(tz, zone, ns, text):
    if "/" in zone:
        tz(zone)
    else:
        os.environ["TZ"] = zone
        time.tzset()
    assert mt.IsoStamp()(ns) == text


def test_multilog_T_under_an_offset_with_seconds(tmp_path):
    p = subprocess.run([sys.executable, "-m", "svtools.multilog", "T", "e"], input=b"x\n",
                       capture_output=True, cwd=str(tmp_path), env=dict(os.environ, TZ="LMT+0:44:30"),
                       timeout=20)
    assert p.returncode == 0
    assert re.fullmatch(rb"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}-00:44:30 x\n", p.stderr), p.stderr
    stamped = time.strptime(p.stderr[:19].decode(), "%Y-%m-%dT%H:%M:%S")
    # the local time is UTC minus 44 min 30 s: within a minute of now so computed
    assert abs(calendar.timegm(stamped) + 2670 - time.time()) < 60


def test_iso_stamp_follows_dst_within_one_cached_second(tz):
    tz("Europe/Berlin")
    stamp = mt.IsoStamp()
    spring = local("", 2026, 3, 29, 3) * 10 ** 9  # 02:00 CET became 03:00 CEST
    assert stamp(spring - 1000) == b"2026-03-29T01:59:59.999999+01:00 "
    assert stamp(spring) == b"2026-03-29T03:00:00.000000+02:00 "


def test_next_midnight_plain_day(tz):
    tz("Asia/Tokyo")
    noon = local("", 2026, 11, 29, 12)
    assert mt.next_midnight(noon) == local("", 2026, 11, 30) == noon + 12 * 3600


def test_next_midnight_where_midnight_does_not_exist(tz):
    # Sao Paulo, 2018-11-04: clocks went from 00:00 straight to 01:00.
    tz("America/Sao_Paulo")
    noon = local("", 2018, 11, 3, 12)
    hi = mt.next_midnight(noon)
    assert mt.local_date(hi) == (2018, 11, 4) and mt.local_date(hi - 1) == (2018, 11, 3)
    assert hi - noon == 12 * 3600  # 00:00 displayed as 01:00


def test_next_midnight_after_a_doubled_hour(tz):
    # Sao Paulo, 2019-02-16: 23:00-24:00 happened twice; that day had 25 hours.
    tz("America/Sao_Paulo")
    lo = local("", 2019, 2, 16, 0)
    hi = mt.next_midnight(lo)
    assert mt.local_date(hi) == (2019, 2, 17) and mt.local_date(hi - 1) == (2019, 2, 16)
    assert hi - lo == 25 * 3600


def test_age_counts_on_the_monotonic_clock_only():
    r = mt.Rotation(600, False)
    assert not r.due(0, 0) and r.deadline(0, 0) is None  # empty current: never
    r.started(1000.0, 5e9)
    assert not r.due(1599.9, 5e9 + DAY)     # wall clock a day ahead: not older
    assert not r.due(1599.9, 5e9 - DAY)
    assert r.due(1600.0, 5e9 - DAY)
    assert r.deadline(1200, 0) == 1600.0
    r.rotated()
    assert not r.due(10 ** 6, 0) and r.deadline(10 ** 6, 0) is None


def test_daily_rotates_on_a_new_local_date(tz):
    tz("Asia/Tokyo")
    r = mt.Rotation(0, True)
    t0 = local("", 2026, 11, 29, 23, 59)
    r.started(50.0, t0)
    assert not r.due(60.0, t0 + 59)
    assert r.due(61.0, t0 + 60)                 # 00:00 on the 30th
    # idle wait: until midnight, at most WAKE
    assert r.deadline(50.0, t0) == 50.0 + 60
    assert r.deadline(50.0, t0 - 3600) == 50.0 + mt.WAKE


@pytest.mark.parametrize("jump", [-DAY, DAY, -3600 * 13, 3 * DAY])
def test_daily_wall_clock_jumps_rotate_once_then_follow_the_new_date(tz, jump):
    tz("UTC")
    r = mt.Rotation(0, True)
    t0 = local("", 2026, 11, 29, 12)
    r.started(0.0, t0)
    assert r.due(1.0, t0 + jump)
    r.rotated()
    r.started(1.0, t0 + jump)
    assert not r.due(2.0, t0 + jump + 1)
    assert r.deadline(2.0, t0 + jump + 1) <= 2.0 + mt.WAKE


def test_daily_deadline_never_spins_when_the_zone_moved(tz):
    tz("UTC")
    r = mt.Rotation(0, True)
    r.started(0.0, 1000.0)
    r.midnight = 500  # as if the zone had changed under us
    assert not r.due(5.0, 1000.0)
    assert r.deadline(5.0, 1000.0) == 6.0


def test_age_and_daily_together_take_the_earlier():
    r = mt.Rotation(30, True)
    r.started(0.0, 0.0)
    assert r.deadline(0.0, 0.0) == 30.0
