"""The one reader of service directories for the front-ends (svctl, svweb, svimport).

It only reads what supervise publishes (supervise/ok, status, xstatus,
exits), the knob files, DIR/log, and /proc; it writes only control letters.

    service_names(scandir) -> [name, ...]
        bytes names of the service directories in SCANDIR, sorted; names
        starting with "." skipped.  OSError when SCANDIR cannot be listed.

    read(path, now=None, prev=None, usage=True) -> snapshot (dict)
        one look at the service directory PATH (str or bytes).  Never raises
        for a broken service: the trouble is one line in snapshot["error"].
        PREV, an earlier snapshot of the same directory, lets a 0.76
        supervise's crash loop be seen (see below).  usage=False skips
        /proc (rss, cpu, procs stay None): for polling loops.

    logdir(path) -> (directory bytes or None, how str)
    control(path, letters) -> None or the text of the problem
    wanted(snapshot) -> 0 in the wanted state, 3 not, 4 unknown/unsupervised
    to_json(snapshot) -> plain dict of the documented schema (SCHEMA below)
    display(name bytes) -> str, and argument(str) -> bytes, its inverse
    text(value bytes) -> str: a knob's or note's value for people and JSON

A snapshot has these keys (times are wall-clock unix seconds, floats):

  path, name     bytes
  time           when it was read
  supervised     supervise/ok has a reader
  source         "xstatus" (svtools supervise) or "status" (0.76 or C
                 supervise: only the 18-byte status is known) or None
  state          up ready starting down stopping finishing failed paused
                 as _xstatus defines them ("starting": running, readiness
                 not yet signalled); from a 0.76 status only up, paused,
                 stopping (running, want down) and down; "unsupervised"
                 (no supervise), "unknown" (error set)
  crash_loop     True when ./run keeps dying within a second or two
  ambiguous      0.76 source, and a second look one second later (PREV)
                 would tell a crash loop from a fresh start
  want           "up", "down", "once", or None when unsupervised
  normally       "up", or "down" (DIR/down exists)
  pid, pgid      ints, 0 for none
  paused         bool
  since, uptime  when the current state began, and how long ago
  ready_since    0 when not ready (xstatus only)
  restarts       starts of ./run since supervise began, minus one; None
                 when unknown (0.76)
  starts         starts of ./run since supervise began; None from 0.76
  exit           last exit {"code", "signal", "at", "ran"} or None
  exits          [(at, pid, code, signal, ran), ...] oldest first
  next_start, fails, fail_limit, fail_secs, next_fire, skipped, note
                 as in _xstatus (None when unknown)
  scheduled      True when DIR/schedule exists and an svtools supervise
                 runs the service (it starts ./run once at each firing)
  rss, cpu, procs
                 resident bytes, CPU seconds (user+system, reaped
                 children included) and number of processes of the
                 service's process tree (and process group when
                 process-group is on), from /proc; None when no pid
  knobs          {file name: raw value (bytes, first line, at most 256
                 bytes)} for the knob files present (KNOBS)
  error          one line of text, or None
  log            the snapshot of PATH/log when it is a directory, else None

Crash loops: from xstatus, the last three exits each ran under LOOP
seconds and none of them was the operator's doing (killed by TERM, KILL or
the service's down-signal: what 'd' and 'k' send), and the service (wanted
up) is down waiting for its next start or has been running for under LOOP
seconds.
From a 0.76 status, only with PREV: the pid or its stamp changed between
the two looks, and the service is down (wanted up) or its run is under
LOOP seconds old.

xstatus is trusted only when its pid, paused and want agree with the
18-byte status (supervise writes status first: a reader caught between the
two reads again, RETRIES times) and it is not older than status (then it
was left by an svtools supervise, and a C one runs the service now).

Sources of the formats: supervise/status is daemontools 0.76's (see
_status); xstatus and exits are _xstatus's; /proc/PID/stat is proc(5) (read by _proctree).
"""

import errno
import posix  # not os: see _strerr

from . import _proctree, _status, _tai64, _xstatus
from ._strerr import errtext

SCHEMA = 1
LOOP = 2.0
RETRIES = 6
KNOBS = ("down", "finish", "timeout-finish", "down-signal", "timeout-kill",
         "process-group", "notification-fd", "notify-socket",
         "restart-backoff", "fail-limit", "max-death-tally", "log-events",
         "schedule", "reload-signal")
_WANT = {_status.WANT_UP: "up", _status.WANT_DOWN: "down", _status.WANT_NONE: "once"}


def _b(path):
    return path if isinstance(path, bytes) else path.encode("utf-8", "surrogateescape")


def service_names(scandir):
    names = []
    scandir = _b(scandir)
    for name in posix.listdir(scandir):
        if name.startswith(b"."):
            continue
        try:
            if posix.stat(scandir + b"/" + name).st_mode & 0o170000 == 0o040000:
                names.append(name)
        except OSError:
            names.append(name)  # a dangling link is a service read() reports
    names.sort()
    return names


def _slurp(path, limit=65536):
    fd = posix.open(path, posix.O_RDONLY | posix.O_NONBLOCK)
    try:
        return posix.read(fd, limit), posix.fstat(fd)
    finally:
        posix.close(fd)


def _blank(path, now):
    return {
        "path": path, "name": path.rstrip(b"/").rsplit(b"/", 1)[-1], "time": now,
        "supervised": False, "source": None, "state": "unknown",
        "crash_loop": False, "ambiguous": False, "want": None, "normally": "up",
        "pid": 0, "pgid": 0, "paused": False, "since": None, "uptime": None,
        "ready_since": None, "restarts": None, "starts": None, "exit": None, "exits": [],
        "next_start": None, "fails": None, "fail_limit": None,
        "fail_secs": None, "next_fire": None, "skipped": None, "note": None,
        "scheduled": False, "rss": None, "cpu": None, "procs": None, "knobs": {}, "error": None,
        "log": None,
    }


def read(path, now=None, prev=None, usage=True):
    path = _b(path)
    if now is None:
        now = wall()
    snap = _blank(path, now)
    prevlog = prev.get("log") if prev else None
    try:
        entries = posix.listdir(path)
    except OSError as e:
        snap["error"] = "unable to open %s: %s" % (display(path), errtext(e))
        return snap
    if b"down" in entries:
        snap["normally"] = "down"
    for knob in KNOBS:
        if knob != "down" and knob.encode() in entries:
            snap["knobs"][knob] = _knob(path + b"/" + knob.encode(), knob)
    _supervision(snap, path, now, prev)
    if usage and snap["pid"]:
        _usage(snap)
    if b"log" in entries and posix.access(path + b"/log/.", posix.F_OK):
        snap["log"] = read(path + b"/log", now, prevlog, usage)
    return snap


def wall():
    """The wall clock, unix seconds (float): the clock of xstatus's times."""
    now = _tai64.now()
    return now[0] + now[1] / 1e9


def _knob(path, knob):
    if knob == "finish":
        return b""
    try:
        data, _ = _slurp(path, 256)
    except OSError as e:
        return ("(unreadable: %s)" % errtext(e)).encode()
    return data.split(b"\n", 1)[0].strip()


def _supervision(snap, path, now, prev):
    sup = path + b"/supervise/"
    try:
        # ENXIO: the FIFO exists but supervise (its only reader) is gone.
        fd = posix.open(sup + b"ok", posix.O_WRONLY | posix.O_NONBLOCK)
    except OSError as e:
        if e.errno in (errno.ENXIO, errno.ENOENT, errno.ENOTDIR):
            snap["state"] = "unsupervised"
        else:
            snap["error"] = "unable to open supervise/ok: " + errtext(e)
        return
    try:
        isfifo = posix.fstat(fd).st_mode & 0o170000 == 0o010000
    finally:
        posix.close(fd)
    if not isfifo:
        snap["error"] = "supervise/ok is not a fifo"
        return
    snap["supervised"] = True
    for attempt in range(RETRIES):
        if attempt:
            # supervise writes status, then xstatus: caught between the two.
            import time
            time.sleep(0.002)
        try:
            data, st = _slurp(sup + b"status", _status.SIZE)
            secs, nanos, pid, paused, want = _status.unpack(data)
        except OSError as e:
            snap["error"] = "unable to read supervise/status: " + errtext(e)
            return
        except ValueError:
            snap["error"] = "unable to read supervise/status: bad format"
            return
        xs, exits, problem = _extended(sup, st.st_mtime, (pid, bool(paused and pid), _WANT.get(want)))
        if xs is not False:
            break
    snap["want"] = _WANT.get(want, "up")
    snap["pid"] = pid
    snap["paused"] = bool(paused and pid)
    since = secs + nanos / 1e9
    if xs:
        _from_xstatus(snap, xs, exits, now)
    else:
        _from_status(snap, since, now, prev)
        if problem:
            snap["error"] = problem


def _extended(sup, status_mtime, seen):
    """(xstatus dict, exits, None), (None, [], problem or None) when there is
    none to trust, or (False, ...) when it disagrees with status (retry)."""
    try:
        data, st = _slurp(sup + b"xstatus")
    except OSError as e:
        if e.errno == errno.ENOENT:
            return None, [], None
        return None, [], "unable to read supervise/xstatus: " + errtext(e)
    try:
        xs = _xstatus.unpack(data)
    except ValueError as e:
        return None, [], "unable to read supervise/xstatus: %s" % e
    if (xs["pid"], xs["state"] == "paused", xs["want"]) != seen:
        return False, [], None
    if st.st_mtime < status_mtime - 0.5:
        return None, [], None  # left over from an svtools supervise; C runs it now
    try:
        exits = _xstatus.unpack_exits(_slurp(sup + b"exits", 1 << 20)[0])
    except (OSError, ValueError):
        exits = []
    return xs, exits, None


def _from_xstatus(snap, xs, exits, now):
    snap["source"] = "xstatus"
    snap["state"] = xs["state"] if xs["state"] in _xstatus.STATES else "unknown"
    snap["want"] = xs["want"]
    snap["normally"] = xs["normally"]
    snap["pgid"] = xs["pgid"]
    snap["since"] = xs["since"] or None
    snap["uptime"] = max(0.0, now - xs["since"]) if xs["since"] else None
    snap["restarts"] = max(0, xs["starts"] - 1)
    snap["starts"] = xs["starts"]
    for key in ("ready_since", "next_start", "fails", "fail_limit", "fail_secs",
                "next_fire", "skipped", "note"):
        snap[key] = xs[key]
    if xs["exit_code"] != -1:
        snap["exit"] = {"code": xs["exit_code"], "signal": xs["exit_signal"],
                        "at": xs["exit_at"], "ran": xs["exit_ran"]}
    snap["exits"] = exits
    snap["scheduled"] = "schedule" in snap["knobs"]
    recent = exits[-3:]
    # Between two short runs the service is down, waiting out the throttle.
    young = (snap["state"] == "down" and xs["next_start"] > 0) or (
        snap["state"] in ("starting", "up", "ready") and snap["uptime"] is not None
        and snap["uptime"] < LOOP)
    asked = _operator_signals(snap["knobs"])
    snap["crash_loop"] = (young and snap["want"] == "up" and len(recent) == 3
                          and all(ran < LOOP and sig not in asked for _, _, _, sig, ran in recent))


def _operator_signals(knobs):
    """The signals a run dies of when the operator stops or kills it: TERM,
    KILL, and the down-signal knob's.  (exits does not record who asked;
    a run that traps the down signal and exits with a code still counts.)"""
    import _signal
    name = knobs.get("down-signal", b"").strip().upper().decode("ascii", "replace")
    name = name if name.startswith("SIG") else "SIG" + name
    return {_signal.SIGTERM, _signal.SIGKILL, getattr(_signal, name, None)}


def _from_status(snap, since, now, prev):
    snap["source"] = "status"
    pid, want = snap["pid"], snap["want"]
    if pid:
        state = "paused" if snap["paused"] else ("stopping" if want == "down" else "up")
    else:
        state = "down"
    snap["state"] = state
    snap["since"] = since
    snap["uptime"] = age = max(0.0, now - since)
    snap["ambiguous"] = want == "up" and (not pid or age < LOOP)
    if prev and prev.get("source") == "status" and snap["ambiguous"]:
        moved = prev["since"] != since or prev["pid"] != pid
        snap["crash_loop"] = moved and (not pid or age < LOOP)
        snap["ambiguous"] = False


def _usage(snap):
    """rss, cpu, procs of the process tree below pid (and of pgid)."""
    got = _proctree.usage(snap["pid"], snap["pgid"])
    if got:
        snap["rss"], snap["cpu"], snap["procs"] = got


def wanted(snap):
    """The svctl status exit code of one snapshot and its logger's."""
    code = _wanted1(snap)
    if snap.get("log"):
        code = max(code, _wanted1(snap["log"]))
    return code


def _wanted1(snap):
    if snap["error"] or not snap["supervised"]:
        return 4
    state, want = snap["state"], snap["want"]
    if snap["crash_loop"]:
        return 3
    if want == "up":
        return 0 if state in ("up", "ready", "paused") else 3
    if want == "down":
        return 0 if state == "down" else 3
    return 0 if state not in ("failed", "unknown") else 3


def control(path, letters):
    """Write LETTERS (str or bytes) into PATH/supervise/control.

    Never blocks: None on success, else one line of text (the shape of
    svc's warnings).  A control that is not a FIFO, or is a symlink, is
    refused.
    """
    path = _b(path)
    if isinstance(letters, str):
        letters = letters.encode("ascii")
    name = display(path)
    try:
        # O_NONBLOCK: a FIFO nobody reads fails at once with ENXIO.
        fd = posix.open(path + b"/supervise/control",
                        posix.O_WRONLY | posix.O_NONBLOCK | posix.O_NOFOLLOW)
    except OSError as e:
        if e.errno == errno.ENXIO:
            return "unable to control %s: supervise not running" % name
        if e.errno == errno.ELOOP:
            return "unable to control %s: control is a symlink" % name
        return "unable to control %s: %s" % (name, errtext(e))
    try:
        if posix.fstat(fd).st_mode & 0o170000 != 0o010000:
            return "unable to control %s: control is not a fifo" % name
        try:
            while letters:
                letters = letters[posix.write(fd, letters):]
        except OSError as e:
            return "error writing commands to %s: %s" % (name, errtext(e))
    finally:
        posix.close(fd)
    return None


def display(name):
    """bytes -> str for people: bytes that are not printable UTF-8, spaces
    and backslashes become \\xHH.  argument() reverses it."""
    if isinstance(name, str):
        name = _b(name)
    text = name.decode("utf-8", "surrogateescape")
    if text.isprintable() and " " not in text and "\\" not in text:
        return text
    out = []
    for ch in text:
        if ch.isprintable() and ch not in " \\":
            out.append(ch)
        else:
            out.extend("\\x%02x" % b for b in ch.encode("utf-8", "surrogateescape"))
    return "".join(out)


def argument(text):
    """display() form (str) -> the bytes it stands for; ValueError if a
    \\x escape is malformed."""
    raw = _b(text)
    if b"\\" not in raw:
        return raw
    out = bytearray()
    i = 0
    while i < len(raw):
        if raw[i] == 0x5c:
            if raw[i + 1:i + 2] != b"x" or len(raw) < i + 4:
                raise ValueError("bad escape")
            digits = raw[i + 2:i + 4]
            if digits.strip(b"0123456789abcdefABCDEF"):
                raise ValueError("bad escape")
            out.append(int(digits, 16))
            i += 4
        else:
            out.append(raw[i])
            i += 1
    return bytes(out)


def text(value):
    """A value (bytes) as text: UTF-8 decoded; only control characters
    and bytes that are not UTF-8 become \\xHH.  Unlike display(), blanks
    and backslashes stay as they are: the result is for reading, not an
    argument to give back."""
    out = []
    for ch in value.decode("utf-8", "surrogateescape"):
        if ch.isprintable() or ch == " ":
            out.append(ch)
        else:
            out.extend("\\x%02x" % c for c in ch.encode("utf-8", "surrogateescape"))
    return "".join(out)


def to_json(snap):
    """SNAPSHOT -> dict of str, int, float, bool, None, lists and dicts
    (the svctl --json schema, version SCHEMA; docs/svctl-json.md)."""
    out = {"schema": SCHEMA, "name": display(snap["name"]), "path": display(snap["path"])}
    for key in ("supervised", "source", "state", "crash_loop", "want", "normally",
                "paused", "since", "uptime", "ready_since", "restarts", "exit",
                "next_start", "fails", "fail_limit", "fail_secs", "next_fire",
                "skipped", "scheduled", "rss", "cpu", "procs", "error"):
        out[key] = snap[key]
    for key in ("ready_since", "next_start", "next_fire"):
        out[key] = snap[key] or None  # 0 in xstatus means none
    out["pid"] = snap["pid"] or None
    out["pgid"] = snap["pgid"] or None
    out["note"] = None if snap["note"] is None else text(snap["note"])
    out["exits"] = [{"at": at, "pid": pid, "code": code, "signal": sig, "ran": ran}
                    for at, pid, code, sig, ran in snap["exits"]]
    out["knobs"] = {k: text(v) for k, v in snap["knobs"].items()}
    out["log"] = to_json(snap["log"]) if snap["log"] else None
    return out


def logdir(path):
    """(absolute log directory as bytes, how) or (None, why not): see
    _logtail.find, where the loggers' command lines are understood."""
    from . import _logtail
    return _logtail.find(path)


def logger_pid(log):
    """The pid of LOG's ./run while a supervise runs it, else 0."""
    snap = _blank(log, 0)
    _supervision(snap, log, 0, None)
    return snap["pid"]
