"""What svweb shows and does, on top of the shared reader _svinfo.

Board is the scan directory as svweb sees it: one snapshot of every service
(and its logger), read through _svinfo in a worker thread and shared for TTL
seconds, so that 50 browsers polling once a second cost two scans a second,
not fifty, and never wait for one.  Its JSON body is encoded once per
snapshot, and only when the previous one's was asked for.  The board keeps
an _svinfo cache across scans: files that did not change are not read or
parsed again (a change always shows on the next scan; see _svinfo_files).
A control command makes the next look wait for a new scan, so
that it shows the command's effect.  Control and the log location are
_svinfo's, reading the log and its local times _logtail's, reload's signal
svctl's: svweb and svctl agree because they share the code.

Names: the URL carries a service's name as its bytes on disk (percent
encoded); handlers hold it as str decoded with surrogateescape, the way os
does.  Only entries that _svinfo.service_names() lists are ever looked up.
"""

import asyncio
import concurrent.futures
import json
import os
import resource
import time
import urllib.parse

from . import _logtail, _svctl_control, _svinfo
from . import _svinfo_view as _words  # svctl's words for times, sizes and exits
from ._strerr import errtext

LETTERS = {"start": "u", "stop": "d", "restart": "du", "reload": "h", "once": "o"}

__all__ = ["Board", "Snapshot", "rows", "rows_of", "errtext"]


def _raw(name):
    return os.fsencode(name)


def _str(raw):
    return os.fsdecode(raw)


class Snapshot:
    """One look at every service: .error (str or None), .services (the
    _svinfo.to_json dicts, sorted by name), .body (the svctl status --json
    document, bytes), .at (unix seconds)."""

    def __init__(self, scandir, at, raw, error=None):
        self.scandir = scandir
        self.at = at
        self.error = error
        self.raw = raw
        self.services = [_svinfo.to_json(s) for s in raw.values()]
        self._by_name = {name: js for name, js in zip(raw, self.services)}
        self._body = None
        self.cache = {}  # other renderings of this snapshot (metrics)
        self.gen = 0
        self.taken = 0.0

    @property
    def body(self):
        """The document of `svctl status --json` for every service (bytes)."""
        if self._body is None:
            doc = {"schema": _svinfo.SCHEMA, "scandir": _svinfo.display(_raw(self.scandir)),
                   "time": self.at, "error": self.error, "services": self.services}
            self._body = json.dumps(doc).encode("utf-8")
        return self._body

    def find(self, name):
        """The to_json dict of the service NAME (str), or None."""
        return self._by_name.get(name)


class Board:
    """The scan directory SCANDIR (str) as one shared, recent Snapshot.

    A snapshot younger than TTL seconds is served as it is.  Up to STALE
    seconds past that it is still served, while a fresh one is read in a
    worker thread: steady pollers never wait for a scan.  Older than that,
    or after a control command (invalidate()), callers wait for a scan that
    started afterwards.  Scans run one at a time, off the event loop.
    """

    def __init__(self, scandir, ttl=0.5, stale=1.0, clock=time.monotonic):
        self.scandir = scandir
        self.ttl = ttl
        self.stale = stale
        self.clock = clock
        self.scans = 0
        self._snap = None
        self._gen = 0           # bumped by invalidate()
        self._pending = None    # (generation, future) of the scan under way
        self._worker = concurrent.futures.ThreadPoolExecutor(max_workers=1)
        # Used by scan() only, one scan at a time.  Half the descriptors
        # svweb may open (at most 4096) keep /proc files open between scans.
        soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        held = 4096 if soft == resource.RLIM_INFINITY else min(4096, soft // 2)
        self._files = _svinfo.cache(held)

    def entries(self):
        """Names (str) of the services in the scan directory; OSError."""
        return {_str(n) for n in _svinfo.service_names(_raw(self.scandir))}

    def scan(self):
        """Read every service now (blocking): a new Snapshot."""
        started = self.clock()
        prev = self._snap.raw if self._snap is not None else {}
        raw = {}
        error = None
        base = _raw(self.scandir) + b"/"
        self._files.rotate()
        try:
            names = _svinfo.service_names(base)
        except OSError as e:
            names = []
            error = "unable to read scan directory %s: %s" % (self.scandir, errtext(e))
        for name in names:
            key = _str(name)
            raw[key] = _svinfo.read(base + name, prev=prev.get(key), cache=self._files)
        snap = Snapshot(self.scandir, time.time(), raw, error)
        snap.taken = started
        if self._snap is not None and self._snap._body is not None:
            # Someone reads the JSON (browsers, API pollers): encode it
            # here, in the worker, not on the event loop.  A lone
            # Prometheus never waits for it.
            snap.body
        return snap

    async def snapshot(self):
        """A Snapshot no older than the rules above."""
        snap = self._snap
        if snap is not None and snap.gen == self._gen:
            age = self.clock() - snap.taken
            if age < self.ttl:
                return snap
            if age < self.ttl + self.stale:
                self._refresh()
                return snap
        return await self._refresh()

    def _refresh(self):
        gen = self._gen
        if self._pending is not None and self._pending[0] == gen:
            return self._pending[1]
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(self._worker, self.scan)
        self._pending = (gen, future)

        def done(f):
            if self._pending is not None and self._pending[1] is f:
                self._pending = None
            if f.cancelled() or f.exception() is not None:
                return
            snap = f.result()
            snap.gen = gen
            self.scans += 1
            if self._snap is None or gen >= self._snap.gen:
                self._snap = snap

        future.add_done_callback(done)
        return future

    def invalidate(self):
        """Make the next snapshot() wait for a scan that starts from now."""
        self._gen += 1

    def control(self, name, action):
        """Send ACTION (a key of LETTERS) to service NAME: None, or the problem.

        reload sends the signal of the service's reload-signal file, as
        `svctl reload` does (HUP without one)."""
        path = _raw(self.scandir) + b"/" + _raw(name)
        letters = LETTERS[action]
        if action == "reload":
            knob = _svinfo.read(path)["knobs"].get("reload-signal", b"HUP")
            letters = _svctl_control.signal_letter(knob) or "h"
        problem = _svinfo.control(path, letters)
        self.invalidate()
        return problem

    def tail(self, name, count):
        """([(local time str, text str)], problem str or None): the last
        COUNT lines of NAME's log, current then the archives, as `svctl
        tail -n COUNT` finds and reads them."""
        where, how = _svinfo.logdir(_raw(self.scandir) + b"/" + _raw(name))
        if where is None:
            return [], how
        try:
            lines = _logtail.last_lines(where, count)
        except OSError as e:
            return [], "unable to read %s/current: %s" % (_svinfo.display(where), errtext(e))
        render = _logtail.Render()
        out = []
        for line in lines:
            stamp, text = _split_stamp(line, render)
            out.append((stamp.decode("ascii", "replace"), text.decode("utf-8", "replace")))
        return out, None


def _split_stamp(line, render):
    """(stamp, text) of one log line: a TAI64N label as RENDER's local time
    (b'YYYY-MM-DD HH:MM:SS.mmm'); an ISO 8601 stamp (multilog or s6-log T,
    with its microseconds and offset) or svlogd's, whole as written, as
    `svctl tail` leaves them; b'' for an unstamped line."""
    if line[:1] == b"@":
        shown = render(line)
        if shown is not line:
            return shown[:23], shown[24:]
        return b"", line
    if _logtail.line_time(line) is not None:
        stamp, _, text = line.partition(b" ")
        return stamp, text
    return b"", line


def _duration(secs):
    return "" if secs is None else _words.duration(secs)


def _exit(ex, now):
    return _words.exit_text(ex, now) if ex else ""


def _schedule(js, now):
    """For a scheduled job (not wanted up): (words for the state column,
    the sentence for its page), else ("", "")."""
    if not js["scheduled"] or js["want"] == "up":
        return "", ""
    words, page = [], ["Scheduled: %s." % js["knobs"].get("schedule", "")]
    if js["next_fire"]:
        words.append("next in %s" % _duration(max(0.0, js["next_fire"] - now) + 0.999))
        page.append("Next firing %s (%s)." % (_stamp(js["next_fire"]), words[-1]))
    else:
        words.append("no next firing")
        page.append("No next firing (see supervise's warning in svscan's log).")
    if js["skipped"]:
        words.append("%d skipped" % js["skipped"])
    page.append("%d firing%s skipped while a run was still going." % (
        js["skipped"] or 0, "" if js["skipped"] == 1 else "s"))
    if js["exit"]:
        page.append("Last run: %s, after %s." % (_exit(js["exit"], now), _words.ran(js["exit"]["ran"])))
    else:
        page.append("Not run yet.")
    return ", ".join(words), " ".join(page)


def _stamp(t):
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t))


def _row(js, name, logger, now):
    state = js["state"]
    text = "supervise not running" if state == "unsupervised" else state
    sched, page = _schedule(js, now)
    if js["crash_loop"]:
        text, state = "crash-loop", "crashloop"
    elif _words.exited(js):
        state = "exited"
    elif sched:
        if state == "down":
            text = state = "scheduled"
        text += ", " + sched
    elif js["want"] == "down" and state not in ("down", "stopping", "failed"):
        text += ", want down"
    elif js["want"] == "up" and state == "down":
        text += ", want up"
    if js["next_start"] and js["next_start"] > now and not js["pid"]:
        text += ", next start in %s" % _duration(js["next_start"] - now + 0.999)
    if state in ("failed", "exited"):
        text = _words.verdict(js)
    if js["error"]:
        text = js["error"]
    return {
        "name": _svinfo.display(_raw(name)), "logger": logger,
        "href": "/services/" + urllib.parse.quote(_raw(name), safe=""),
        "cls": "logger" if logger else "service", "state": state, "state_text": text,
        "pid": js["pid"] or ("group %d" % js["pgid"] if js.get("pgid") else ""),
        "uptime": _duration(js["uptime"]),  # as svctl: time in the state, down too
        "restarts": "" if js["restarts"] is None else js["restarts"],
        "last_exit": _exit(js["exit"], now),
        "memory": "" if js["rss"] is None else _words.size(js["rss"]),
        "cpu": "" if js["cpu"] is None else _words.cpu(js["cpu"]),
        "schedule": page,
    }


def rows_of(name, js, now=None):
    """Display rows (dicts of str) for service NAME (str), from its to_json
    dict JS, and for its logger."""
    now = time.time() if now is None else now
    out = [_row(js, name, False, now)]
    if js["log"]:
        out.append(_row(js["log"], name, True, now))
    return out


def rows(snap):
    """Display rows for every service of SNAP, each followed by its logger."""
    out = []
    for name, js in zip(snap.raw, snap.services):
        out.extend(rows_of(name, js, snap.at))
    return out
