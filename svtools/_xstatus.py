"""The extended status (supervise/xstatus) and exit history (supervise/exits).

Both are svtools' own files beside the 18-byte supervise/status, which is
still written exactly as daemontools 0.76 writes it.  supervise replaces each
atomically (FILE.new, then rename) whenever what it records changes; the
readers (svctl, svweb) use unpack()/unpack_exits() and nothing else.

xstatus is ASCII text, one field per line, "KEY VALUE\\n".  The first line is
"svtools-xstatus VERSION".  Readers ignore keys they do not know, so fields
may be added within a version; a version change means an incompatible layout.
Times are wall-clock unix seconds with six decimals ("0" for never); the
monotonic clock never leaves supervise.

  state        down starting up ready stopping finishing failed paused
  pid          pid of ./run, 0 when none
  pgid         its process group when process-group is on, else 0
  since        when the current state began
  ready_since  when readiness was signalled, 0 when not ready
  want         up, down or once
  normally     up, or down (DIR/down existed at start-up)
  starts       how many times ./run was started since supervise began
  exit_code    last exit: its code, 256 when killed by a signal, -1 never
  exit_signal  last exit: the signal number, 0 when none
  exit_at      last exit: when it was reaped
  exit_ran     last exit: how long that run lived, in seconds
  next_start   when ./run will be started next while throttled, else 0
  fails        exits counted towards fail-limit in its window
  fail_limit   N of fail-limit, 0 when none
  fail_secs    SECS of fail-limit, 0 when none
  next_fire    next firing of schedule, 0 when none
  skipped      firings of schedule skipped because a run was still going
  note         the last STATUS= text from the notify socket (escaped)
  failed_by    why the service is failed: fail-limit, or finish (./finish
               exited 125); - when it is not

exits is ASCII text: "svtools-exits EXITS_VERSION", then one line per exit,
oldest first, at most max-death-tally lines:

  AT PID CODE SIGNAL RAN ASKED

with the meanings of exit_at, the pid, exit_code, exit_signal and exit_ran
above (CODE and SIGNAL are the two arguments ./finish gets); ASKED is 1 when
the run had been told to stop ('d': svc -d, svctl stop, svscan's shutdown;
or 't' or 'k') before it exited, 0 when not, "-" when the writer did not
know.  Readers ignore words after the sixth, so words may be added within
a version.  Version 1 (svtools before ASKED) had the first five words only;
unpack_exit_records() reads it with ASKED unknown.

Text values (only "note" today) are escaped: bytes outside 0x21..0x7e and
the backslash become \\xHH, so a value is one word of printable ASCII.

This module performs no I/O.
"""

VERSION = 1
EXITS_VERSION = 2
HEADER = b"svtools-xstatus"
EXITS_HEADER = b"svtools-exits"

STATES = ("down", "starting", "up", "ready", "stopping", "finishing",
          "failed", "paused")

_INT = ("pid", "pgid", "starts", "exit_code", "exit_signal", "fails",
        "fail_limit", "fail_secs", "skipped")
_TIME = ("since", "ready_since", "exit_at", "exit_ran", "next_start",
         "next_fire")
_WORD = ("state", "want", "normally", "failed_by")
_TEXT = ("note",)

FIELDS = ("state", "pid", "pgid", "since", "ready_since", "want", "normally",
          "starts", "exit_code", "exit_signal", "exit_at", "exit_ran",
          "next_start", "fails", "fail_limit", "fail_secs", "next_fire",
          "skipped", "note", "failed_by")

DEFAULTS = {
    "state": "down", "pid": 0, "pgid": 0, "since": 0.0, "ready_since": 0.0,
    "want": "up", "normally": "up", "starts": 0, "exit_code": -1,
    "exit_signal": 0, "exit_at": 0.0, "exit_ran": 0.0, "next_start": 0.0,
    "fails": 0, "fail_limit": 0, "fail_secs": 0, "next_fire": 0.0,
    "skipped": 0, "note": b"", "failed_by": "-",
}


def escape(data):
    """bytes -> one word of printable ASCII (bytes); "-" for empty."""
    if not data:
        return b"-"
    out = bytearray()
    for b in data:
        if 0x21 <= b <= 0x7e and b != 0x5c:
            out.append(b)
        else:
            out += b"\\x%02x" % b
    return bytes(out)


def unescape(word):
    """Inverse of escape(); ValueError on a malformed escape."""
    if word == b"-":
        return b""
    out = bytearray()
    i = 0
    n = len(word)
    while i < n:
        b = word[i]
        if b == 0x5c:
            if word[i + 1:i + 2] != b"x" or len(word) < i + 4:
                raise ValueError("bad escape")
            out.append(int(word[i + 2:i + 4], 16))
            i += 4
        else:
            out.append(b)
            i += 1
    return bytes(out)


def _time(t):
    return b"%.6f" % t if t else b"0"


_TEMPLATE = b"\n".join([HEADER + b" %d" % VERSION]
                       + [key.encode("ascii") + (b" %d" if key in _INT else b" %s")
                          for key in FIELDS]) + b"\n"
# (index, 1 time / 2 text / 3 word) of the fields that need converting
_CONVERT = tuple((i, 1 if key in _TIME else 2 if key in _TEXT else 3)
                 for i, key in enumerate(FIELDS) if key not in _INT)


def pack_values(values):
    """A sequence of values in FIELDS order -> file bytes.

    The writer's form (supervise): one template, no dict.
    """
    texts = list(values)
    for i, kind in _CONVERT:
        value = texts[i]
        if kind == 1:
            texts[i] = _time(value)
        elif kind == 2:
            texts[i] = escape(value)
        else:
            # (UTF-8, the same bytes for these ASCII words: the literal
            # "ascii" is a deep-frozen string of libpython's, whose page
            # each call would write in a forked supervise)
            texts[i] = value.encode()
    return _TEMPLATE % tuple(texts)


def pack(fields):
    """dict (keys of FIELDS, missing ones from DEFAULTS) -> file bytes."""
    return pack_values(tuple(fields.get(key, DEFAULTS[key]) for key in FIELDS))


def unpack(data):
    """file bytes -> dict with every key of FIELDS (defaults for missing).

    ValueError when the header or version is not ours or a known field
    does not parse.  Unknown keys are skipped.
    """
    lines = data.split(b"\n")
    head = lines[0].split(b" ")
    if len(head) != 2 or head[0] != HEADER:
        raise ValueError("not an svtools xstatus file")
    if int(head[1]) != VERSION:
        raise ValueError("unsupported xstatus version %s" % head[1].decode("ascii", "replace"))
    out = dict(DEFAULTS)
    for line in lines[1:]:
        if not line:
            continue
        key, _, value = line.partition(b" ")
        key = key.decode("ascii", "replace")
        if key in _INT:
            out[key] = int(value)
        elif key in _TIME:
            out[key] = float(value)
        elif key in _TEXT:
            out[key] = unescape(value)
        elif key in _WORD:
            out[key] = value.decode("ascii")
    return out


def pack_exits(exits):
    """[(at, pid, code, signal, ran, asked), ...] oldest first -> file bytes.

    ASKED True or False; None, or a 5-tuple without it, writes "-" (unknown).
    """
    lines = [EXITS_HEADER + b" %d" % EXITS_VERSION]
    for rec in exits:
        asked = rec[5] if len(rec) > 5 else None
        lines.append(b"%s %d %d %d %.3f %s" % (_time(rec[0]), rec[1], rec[2], rec[3], rec[4],
                                                b"-" if asked is None else b"1" if asked else b"0"))
    return b"\n".join(lines) + b"\n"


_ASKED = {b"1": True, b"0": False, b"-": None}


def unpack_exit_records(data):
    """file bytes -> [(at, pid, code, signal, ran, asked), ...], ASKED True,
    False or None (unknown: a version 1 file, or "-").  ValueError if the
    file is not ours or a line does not parse."""
    lines = data.split(b"\n")
    head = lines[0].split(b" ")
    if len(head) != 2 or head[0] != EXITS_HEADER:
        raise ValueError("not an svtools exits file")
    version = int(head[1])
    if version not in (1, EXITS_VERSION):
        raise ValueError("unsupported exits version")
    out = []
    for line in lines[1:]:
        if not line:
            continue
        words = line.split(b" ")
        if version == 1:
            at, pid, code, sig, ran = words
            asked = None
        else:
            at, pid, code, sig, ran, asked = words[:6]
            if asked not in _ASKED:
                raise ValueError("bad ASKED in exits")
            asked = _ASKED[asked]
        out.append((float(at), int(pid), int(code), int(sig), float(ran), asked))
    return out


def unpack_exits(data):
    """file bytes -> [(at, pid, code, signal, ran), ...]: unpack_exit_records
    without ASKED (the shape readers had before version 2)."""
    return [rec[:5] for rec in unpack_exit_records(data)]
