"""The 18-byte supervise/status record, compatible with daemontools 0.76.

  0..8   TAI64 label of the last pid change (big-endian)
  8..12  nanoseconds (big-endian)
  12..16 pid of ./run, little-endian, 0 when not running
  16     1 when paused and running
  17     'u' want up, 'd' want down, NUL no want (after 'o')
"""

import posix  # not os: see _strerr

from . import _tai64

SIZE = 18
WANT_UP = ord("u")
WANT_DOWN = ord("d")
WANT_NONE = 0



def pack(secs, nanos, pid, paused, want):
    return (_tai64.pack(secs, nanos) + pid.to_bytes(4, "little")
            + bytes((1 if (paused and pid) else 0, want)))


def unpack(data):
    """(secs, nanos, pid, paused, want); ValueError when shorter than 18."""
    if len(data) < SIZE:
        raise ValueError("bad format")
    secs, nanos = _tai64.unpack(data)
    return secs, nanos, int.from_bytes(data[12:16], "little"), data[16], data[17]


def read(path):
    """The 18-byte record at PATH; OSError, or ValueError when short."""
    fd = posix.open(path, posix.O_RDONLY | posix.O_NONBLOCK)
    try:
        data = posix.read(fd, SIZE)
    finally:
        posix.close(fd)
    return unpack(data)


def write(data, path="supervise/status"):
    """Write DATA to PATH.new, then rename it over PATH.

    Returns None on success, else (what, errno) where what is "open",
    "write", "partial" or "rename", for the caller's warning.
    """
    new = path + ".new"
    try:
        fd = posix.open(new, posix.O_WRONLY | posix.O_NONBLOCK | posix.O_TRUNC | posix.O_CREAT, 0o644)
    except OSError as e:
        return "open", e.errno
    try:
        try:
            n = posix.write(fd, data)
        except OSError as e:
            return "write", e.errno
        if n != len(data):
            return "partial", None
    finally:
        posix.close(fd)
    try:
        posix.rename(new, path)
    except OSError as e:
        return "rename", e.errno
    return None
