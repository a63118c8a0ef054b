"""The one reader of service directories for the front-ends (svctl, svweb, svimport).

It only reads what supervise publishes (supervise/ok, status, xstatus,
exits), the knob files, DIR/log, and /proc; it writes only control letters.

    service_names(scandir) -> [name, ...]
        bytes names of the service directories in SCANDIR, sorted; names
        starting with "." skipped.  OSError when SCANDIR cannot be listed.

    read(path, now=None, prev=None, usage=True, cache=None) -> snapshot (dict)
        one look at the service directory PATH (str or bytes).  Never raises
        for a broken service: the trouble is one line in snapshot["error"].
        PREV, an earlier snapshot of the same directory, lets a 0.76
        supervise's crash loop be seen (see below).  usage=False skips
        /proc (rss, cpu, procs stay None): for polling loops.  CACHE, from
        cache(), is for a reader that looks again and again (svweb): files
        that did not change are neither read nor parsed again, and /proc
        files stay open; every change still shows on the next look
        (_svinfo_files says why).  The snapshot is the same with or without.

    cache(held=0) -> a cache for read(); rotate() it before each round of
        reads (it forgets what a round did not read), close() it at the end

    logdir(path) -> (directory bytes or None, how str)
    control(path, letters) -> None or the text of the problem
    operator_signals(knobs) -> the signal numbers an operator's stop sends
        (TERM, KILL, down-signal's): who stopped a run when exits does not say
    wanted(snapshot) -> 0 in the wanted state, 3 not, 4 unknown/unsupervised
    exited(snapshot) -> True for a one-shot kept down after a clean exit
    to_json(snapshot) -> plain dict of the documented schema (SCHEMA)
    display(name bytes) -> str, and argument(str) -> bytes, its inverse
    text(value bytes) -> str: a knob's or note's value for people and JSON
        (these are _svinfo_view's, pure, re-exported here; the words
        for durations and exits are in _svinfo_view too)

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
  failed_by      "fail-limit" or "finish" when failed (xstatus); else None
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
two reads again, RETRIES times) and it is not older than status by more
than half a second (read again too; still older after RETRIES reads, it
was left by an svtools supervise, and a C one runs the service now).

Sources of the formats: supervise/status is daemontools 0.76's (see
_status); xstatus and exits are _xstatus's; /proc/PID/stat is proc(5) (read by _proctree).
"""

import errno
import posix  # not os: see _strerr

from . import _proctree, _status, _svinfo_files, _tai64, _xstatus
from ._strerr import errtext
from ._svinfo_files import slurp as _slurp  # noqa: F401 (_logfind reads through it)
from ._svinfo_view import (SCHEMA, argument, display, exited, failure, text, to_json,  # noqa: F401
                           verdict, wanted)

LOOP = 2.0
RETRIES = 6
KNOBS = ("down", "finish", "timeout-finish", "down-signal", "timeout-kill",
         "process-group", "notification-fd", "notify-socket",
         "restart-backoff", "fail-limit", "max-death-tally", "log-events",
         "schedule", "reload-signal")
_KNOBS = tuple((k, k.encode()) for k in KNOBS if k != "down")
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


def _blank(path, now):
    return {
        "path": path, "name": path.rstrip(b"/").rsplit(b"/", 1)[-1], "time": now,
        "supervised": False, "source": None, "state": "unknown",
        "crash_loop": False, "ambiguous": False, "want": None, "normally": "up",
        "pid": 0, "pgid": 0, "paused": False, "since": None, "uptime": None,
        "ready_since": None, "restarts": None, "starts": None, "exit": None, "exits": [],
        "next_start": None, "fails": None, "fail_limit": None,
        "fail_secs": None, "next_fire": None, "skipped": None, "note": None,
        "failed_by": None,
        "scheduled": False, "rss": None, "cpu": None, "procs": None, "knobs": {}, "error": None,
        "log": None,
    }


def cache(held=0):
    """A new Cache for read(), see _svinfo_files; with HELD, it also keeps
    up to HELD descriptors of /proc files open (_proctree.Held)."""
    return _svinfo_files.Cache(wall, _proctree.Held(held) if held else None)


def read(path, now=None, prev=None, usage=True, cache=None):
    path = _b(path)
    if now is None:
        now = wall()
    return _read(path, now, prev, usage, cache, False)


def _read(path, now, prev, usage, cache, logger):
    snap = _blank(path, now)
    try:
        entries = _svinfo_files.listing(path, cache)
    except OSError as e:
        if logger and e.errno in (errno.ENOENT, errno.ENOTDIR):
            return None
        snap["error"] = "unable to open %s: %s" % (display(path), errtext(e))
        return snap
    if b"down" in entries:
        snap["normally"] = "down"
    for knob, name in _KNOBS:
        if name in entries:
            snap["knobs"][knob] = _knob(path + b"/" + name, knob, cache)
    _supervision(snap, path, now, prev, cache)
    if usage and (snap["pid"] or snap["pgid"]):
        _usage(snap, cache.procs if cache else None)
    if b"log" in entries:
        snap["log"] = _read(path + b"/log", now, prev.get("log") if prev else None,
                            usage, cache, True)
    return snap


def wall():
    """The wall clock, unix seconds (float): the clock of xstatus's times."""
    now = _tai64.now()
    return now[0] + now[1] / 1e9


def _knob(path, knob, cache):
    if knob == "finish":
        return b""
    try:
        return _svinfo_files.parsed(path, 256, _first_line, cache)[0]
    except OSError as e:
        return ("(unreadable: %s)" % errtext(e)).encode()


def _first_line(data):
    return data.split(b"\n", 1)[0].strip()


def _supervision(snap, path, now, prev, cache=None):
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
            got, st = _svinfo_files.parsed(sup + b"status", _status.SIZE, _status.unpack, cache)
            secs, nanos, pid, paused, want = got
        except OSError as e:
            snap["error"] = "unable to read supervise/status: " + errtext(e)
            return
        except ValueError:
            snap["error"] = "unable to read supervise/status: bad format"
            return
        seen = (pid, bool(paused and pid), _WANT.get(want))
        xs, exits, problem = _extended(sup, st.st_mtime, seen, cache)
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


def _extended(sup, status_mtime, seen, cache):
    """(xstatus dict, exits, None), (None, [], problem or None) when there is
    none to trust, or (False, ...) when it disagrees with status (retry)."""
    try:
        xs, st = _svinfo_files.parsed(sup + b"xstatus", 65536, _xstatus.unpack, cache)
    except OSError as e:
        if e.errno == errno.ENOENT:
            return None, [], None
        return None, [], "unable to read supervise/xstatus: " + errtext(e)
    except ValueError as e:
        return None, [], "unable to read supervise/xstatus: %s" % e
    if (xs["pid"], xs["state"] == "paused", xs["want"]) != seen:
        return False, [], None
    if st.st_mtime < status_mtime - 0.5:
        # Left over from an svtools supervise (C runs it now), or caught
        # between supervise's two writes: status rewritten, xstatus not yet
        # (a command that changes neither pid nor want).  Read again; what
        # is still older after RETRIES reads is the leftover.
        return False, [], None
    try:
        exits = _svinfo_files.parsed(sup + b"exits", 1 << 20, _xstatus.unpack_exit_records, cache)[0]
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
    snap["failed_by"] = None if xs["failed_by"] == "-" else xs["failed_by"]
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
    if young and snap["want"] == "up" and len(recent) == 3:
        # A stop the operator asked for (svc -d, -t, -k) is not a crash; a
        # version 1 exits file does not say, so the signal is the guess there.
        guess = operator_signals(snap["knobs"])
        snap["crash_loop"] = all(
            ran < LOOP and not (asked if asked is not None else sig in guess)
            for _, _, _, sig, ran, asked in recent)


def operator_signals(knobs):
    """The signals a run dies of when the operator stops or kills it: TERM,
    KILL, and the down-signal knob's: the guess for exits recorded by a
    supervise whose exits file (version 1) does not say who asked."""
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


def _usage(snap, held):
    """rss, cpu, procs of the process tree below pid (and of pgid)."""
    got = _proctree.usage(snap["pid"], snap["pgid"], held)
    if got:
        snap["rss"], snap["cpu"], snap["procs"] = got


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


def logdir(path):
    """(absolute log directory as bytes, how) or (None, why not): see
    _logfind.find, where the loggers' command lines are understood."""
    from . import _logfind
    return _logfind.find(path)


def logger_pid(log):
    """The pid of LOG's ./run while a supervise runs it, else 0."""
    snap = _blank(log, 0)
    _supervision(snap, log, 0, None)
    return snap["pid"]
