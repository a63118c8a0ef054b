"""TAI64 and TAI64N labels, the daemontools way.

daemontools takes the system clock as TAI minus 10 seconds and never applies a
leap-second table; we keep that constant so stamps compare equal with its.
The nanosecond field is microseconds * 1000 + 500, as gettimeofday gives it.
"""

import time

BASE = 0x400000000000000A


def now():
    """(unix seconds, nanoseconds) with the daemontools ...500 pattern."""
    ns = time.time_ns()
    return ns // 1000000000, (ns % 1000000000) // 1000 * 1000 + 500


def pack(secs, nanos):
    """12-byte TAI64N label for unix SECS and NANOS."""
    return (BASE + secs).to_bytes(8, "big") + nanos.to_bytes(4, "big")


def unpack(data):
    """(unix seconds, nanoseconds) from a 12-byte TAI64N label."""
    return int.from_bytes(data[:8], "big") - BASE, int.from_bytes(data[8:12], "big")


def stamp(secs=None, nanos=None):
    """External TAI64N text: '@' and 24 lowercase hex digits."""
    if secs is None:
        secs, nanos = now()
    return "@%016x%08x" % (BASE + secs, nanos)


def stamp_bytes(secs=None, nanos=None):
    return stamp(secs, nanos).encode("ascii")
