"""multilog's clocks: ISO 8601 local stamps (`T`) and time-based rotation (`R`, `d`).

Pure code: every function takes the time as arguments (monotonic seconds,
wall-clock nanoseconds), so tests drive a day in microseconds.  Only
`localtime`/`mktime` are consulted, for the zone (TZ) in force.

Rules.  The age of `current` (`R`) is counted on the monotonic clock from
the moment it stopped being empty (or from start-up, for a `current`
continued after a clean exit), so setting the wall clock never ages it.
Daily rotation (`d`) keeps each `current` to lines written on one local
calendar date: before new lines are written, a non-empty `current` whose
date (the wall clock's, when it stopped being empty) differs from today's is
rotated.  A jump of the wall clock a day back or forward therefore rotates
once, as a day change would; DST moves the hours, never the date.  While
idle, the loop wakes up for the next local midnight, at most WAKE seconds
later, so that a day's file is archived soon after the day ends even when
the wall clock jumps.  Never rotated when empty: no empty archives.
"""

import time

WAKE = 60.0        # longest idle wait while a daily `current` is open, seconds


class Clock:
    """The real clocks; tests pass an object with the same two methods."""

    monotonic = staticmethod(time.monotonic)
    time_ns = staticmethod(time.time_ns)


class IsoStamp:
    """`T` stamps: b'2026-11-29T23:59:59.123456+09:00 ' for wall-clock nanoseconds.

    The date, time and offset are those of localtime(); the text of one
    second is computed once.  An offset with seconds (TZ=LMT-0:19:32,
    zoneinfo's local mean times before standard time) is written
    +HH:MM:SS, as ISO 8601's extended format allows; +HH:MM otherwise.
    """

    def __init__(self):
        self.sec = None
        self.head = self.tail = b""

    def __call__(self, ns):
        sec, usec = divmod(ns // 1000, 1000000)
        if sec != self.sec:
            tm = time.localtime(sec)
            self.head = time.strftime("%Y-%m-%dT%H:%M:%S.", tm).encode("ascii")
            self.tail = utc_offset(tm.tm_gmtoff) + b" "
            self.sec = sec
        return self.head + b"%06d" % usec + self.tail


def utc_offset(seconds):
    """East of UTC in seconds -> b'+09:00', b'-03:30', b'+00:19:32', b'-00:44:30'."""
    sign = "-" if seconds < 0 else "+"
    h, rest = divmod(abs(seconds), 3600)
    m, s = divmod(rest, 60)
    text = "%s%02d:%02d:%02d" % (sign, h, m, s) if s else "%s%02d:%02d" % (sign, h, m)
    return text.encode("ascii")


def local_date(wall):
    """(year, month, day) of unix seconds WALL in local time."""
    return time.localtime(wall)[:3]


def next_midnight(wall):
    """Unix seconds at which the local date after WALL's begins.

    mktime is asked for 00:00 of the next day; where DST makes that hour
    missing or doubled, the answer is moved by minutes until it is the
    first second of a new date.
    """
    today = local_date(wall)
    y, m, d = today
    hi = int(time.mktime((y, m, d + 1, 0, 0, 0, 0, 0, -1)))
    while local_date(hi) == today:
        hi += 60
    while local_date(hi - 60) != today:
        hi -= 60
    return hi


class Rotation:
    """When one directory's `current` is due for rotation by time.

    AGE: seconds (0: no age limit); DAILY: rotate on a new local date.
    """

    def __init__(self, age, daily):
        self.age = age
        self.daily = daily
        self.born = None   # monotonic seconds when current stopped being empty
        self.day = None    # its local date then
        self.midnight = 0  # wall seconds when that date ends

    @property
    def active(self):
        return bool(self.age or self.daily)

    def started(self, mono, wall):
        """CURRENT has just stopped being empty."""
        self.born = mono
        if self.daily:
            self.day = local_date(wall)
            self.midnight = next_midnight(wall)

    def rotated(self):
        self.born = self.day = None

    def due(self, mono, wall):
        if self.born is None:
            return False
        if self.age and mono - self.born >= self.age:
            return True
        return self.daily and local_date(wall) != self.day

    def deadline(self, mono, wall):
        """Monotonic seconds of the next check, or None if none is needed."""
        if self.born is None:
            return None
        when = None
        if self.age:
            when = self.born + self.age
        if self.daily:
            wait = self.midnight - wall
            wait = min(wait, WAKE) if wait > 0 else 1.0  # past it, yet the same date: TZ moved
            when = mono + wait if when is None else min(when, mono + wait)
        return when
