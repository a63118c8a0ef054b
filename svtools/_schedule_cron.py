"""The croniter part of scheduled jobs, run as a short-lived child of supervise.

    python -m svtools._schedule_cron ZONE EXPR AFTER COUNT

prints the next COUNT firing times of the five-field cron expression EXPR
strictly after the unix time AFTER, as unix seconds separated by spaces on
one line, and exits 0; or prints "error: TEXT" and exits 100 when EXPR or
ZONE cannot be used (TEXT says why).  ZONE is an IANA name, or "-" for the
local time of this process (TZ, else /etc/localtime).

croniter is imported here and nowhere else: supervise stays small, svscan
never sees it.  Fixed-time expressions (minute and hour fields without a
leading '*') lose the second pass of a repeated local hour (DST fall back),
as in Vixie cron; see _schedule_policy.
"""

import os
import sys

MAX_COUNT = 100


def zone_info(zone):
    """ZONE ("-" for local) -> tzinfo; ValueError when unknown."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError
    try:
        if zone != "-":
            return ZoneInfo(zone)
        tz = os.environ.get("TZ", "").lstrip(":")
        if tz:
            return ZoneInfo(tz)
        with open("/etc/localtime", "rb") as f:
            return ZoneInfo.from_file(f, key="localtime")
    except (ZoneInfoNotFoundError, ValueError, OSError) as e:
        raise ValueError("unknown time zone %s" % (zone if zone != "-" else "of this system")) from e


def next_times(zone, expr, after, count):
    """[unix seconds] of the COUNT firings after AFTER; ValueError if junk."""
    from datetime import datetime
    from croniter import croniter, CroniterError
    tz = zone_info(zone)
    fields = expr.split()
    if len(fields) != 5:
        raise ValueError("not five fields")
    fixed = not (fields[0].startswith("*") or fields[1].startswith("*"))
    start = datetime.fromtimestamp(after, tz)
    try:
        it = croniter(expr, start)
        out = []
        last_local = start.replace(tzinfo=None)
        while len(out) < count:
            when = it.get_next(datetime)
            local = when.replace(tzinfo=None)
            if fixed and local <= last_local:
                continue
            last_local = local
            out.append(when.timestamp())
    except (CroniterError, ValueError, KeyError) as e:
        raise ValueError("bad cron expression %r: %s" % (expr, e))
    return out


def main(argv=None):
    argv = sys.argv if argv is None else argv
    try:
        zone, expr, after, count = argv[1], argv[2], float(argv[3]), int(argv[4])
    except (IndexError, ValueError):
        sys.stdout.write("error: usage: _schedule_cron zone expr after count\n")
        return 100
    try:
        times = next_times(zone, expr, after, max(1, min(count, MAX_COUNT)))
    except ValueError as e:
        sys.stdout.write("error: %s\n" % e)
        return 100
    except ImportError:
        sys.stdout.write("error: croniter is not installed\n")
        return 100
    sys.stdout.write(" ".join("%.6f" % t for t in times) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
