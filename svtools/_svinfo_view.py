"""How a front-end shows an _svinfo snapshot: pure functions, no I/O.

    wanted(snapshot) -> 0 in the wanted state, 3 not, 4 unknown/unsupervised
    to_json(snapshot) -> plain dict of the documented schema (SCHEMA)
    failure(snapshot) -> why a failed service failed (str), or None
    exited(snapshot) -> True for a one-shot that ran, exited 0 and is kept
        down by ./finish: shown as "exited", not "failed"
    verdict(snapshot) -> "exited (...)" or "failed (...)", or None
    duration, ran, size, cpu, signame, exit_words, last_exit, exit_text:
        the words svctl and svweb both use for times, sizes and exits
    display(name bytes) -> str, and argument(str) -> bytes, its inverse
    text(value bytes) -> str: a knob's or note's value for people and JSON

_svinfo re-exports all of them: callers use _svinfo.display etc.  The
schema is docs/svctl-json.md's.  Only _signal (built in) is imported, and
only when a signal is named.
"""

SCHEMA = 1


def _b(path):
    return path if isinstance(path, bytes) else path.encode("utf-8", "surrogateescape")


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
    if exited(snap):
        return 0  # a one-shot that did its job, where it was meant to end
    if want == "up":
        return 0 if state in ("up", "ready", "paused") else 3
    if want == "down":
        return 0 if state == "down" else 3
    return 0 if state not in ("failed", "unknown") else 3


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


def failure(snap):
    """Why supervise gave up on a failed service (str), as its xstatus
    says (failed_by): "fail-limit reached: 3 exits within 60s" or
    "./finish exited 125" (servicedir(5)); None when it does not say."""
    why = snap["failed_by"]
    if why == "fail-limit":
        return "fail-limit reached: %d exit%s within %ds" % (
            snap["fails"], "" if snap["fails"] == 1 else "s", snap["fail_secs"])
    if why == "finish":
        return "./finish exited 125"
    return None


def exited(snap):
    """True when SNAP (an _svinfo snapshot or its to_json dict) is failed
    only because ./finish exited 125 after a run that exited with code 0:
    a one-shot that finished (supervisord's EXITED; svimport's
    autorestart=false).  A non-zero code, a signal, or fail-limit: False."""
    if "exited_clean" in snap:
        return snap["exited_clean"]
    ex = snap["exit"]
    return bool(snap["state"] == "failed" and snap["failed_by"] == "finish" and ex
                and ex["code"] == 0 and not ex["signal"])


KEPT_DOWN = "kept down by ./finish"


def verdict(snap):
    """The words for a service supervise keeps down after its run: "exited
    (last exit 0 after 3.2s; kept down by ./finish)" for exited(), "failed
    (./finish exited 125; last exit 3 after 0.1s)" for the rest of state
    failed (the reason as failure() says it); None in any other state.
    SNAP is an _svinfo snapshot or its to_json dict."""
    ex = snap["exit"]
    if exited(snap):
        return "exited (last %s; %s)" % (last_exit(ex), KEPT_DOWN)
    if snap["state"] != "failed":
        return None
    why = snap["failed_reason"] if "failed_reason" in snap else failure(snap)
    parts = [w for w in (why, ex and "last " + last_exit(ex)) if w]
    return "failed (%s)" % "; ".join(parts) if parts else "failed"


def duration(secs):
    """12s, 5m03s, 3h12m, 4d03h; "-" for None."""
    if secs is None:
        return "-"
    s = int(secs)
    if s < 60:
        return "%ds" % s
    if s < 3600:
        return "%dm%02ds" % (s // 60, s % 60)
    if s < 86400:
        return "%dh%02dm" % (s // 3600, s % 3600 // 60)
    return "%dd%02dh" % (s // 86400, s % 86400 // 3600)


def ran(secs):
    """How long a run lived: 0.2s, 9.9s under ten seconds, else duration()."""
    return "%.1fs" % secs if secs < 10 else duration(secs)


def size(n):
    """Bytes as 512B, 12.3K, 4.0M, 1.2G (powers of 1024); "-" for None."""
    if n is None:
        return "-"
    if n < 1024:
        return "%dB" % n
    for unit in "KMGT":
        n /= 1024.0
        if n < 1000 or unit == "T":
            return "%.1f%s" % (n, unit)


def cpu(secs):
    """CPU seconds as 0.42s, 12.3s, 5m03s, 3h12m; "-" for None."""
    if secs is None:
        return "-"
    if secs < 10:
        return "%.2fs" % secs
    if secs < 60:
        return "%.1fs" % secs
    return duration(secs)


_SIGNAMES = {}


def signame(sig):
    """Signal number -> "SIGTERM"; "signal 40" for one without a name."""
    if not _SIGNAMES:
        import _signal
        _SIGNAMES.update((getattr(_signal, n), n) for n in dir(_signal)
                         if n.startswith("SIG") and not n.startswith("SIG_")
                         and n not in ("SIGIOT", "SIGPOLL", "SIGCLD"))
    return _SIGNAMES.get(sig, "signal %d" % sig)


def exit_words(ex):
    """An exit {"code", "signal", ...} as "exit 3" or "SIGTERM"."""
    return signame(ex["signal"]) if ex["signal"] else "exit %d" % ex["code"]


def last_exit(ex):
    """"exit 1 after 0.2s", "SIGSEGV after 3m05s"."""
    return "%s after %s" % (exit_words(ex), ran(ex["ran"]))


def exit_text(ex, now):
    """"exit 1, 5m00s ago" / "SIGTERM, 3h12m ago"; "-" for none; without
    "ago" when the time is not known (0)."""
    if not ex:
        return "-"
    if not ex["at"]:
        return exit_words(ex)
    return "%s, %s ago" % (exit_words(ex), duration(max(0, now - ex["at"])))


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
    out["failed_reason"] = failure(snap) if snap["state"] == "failed" else None
    out["exited_clean"] = exited(snap)
    out["exits"] = [{"at": at, "pid": pid, "code": code, "signal": sig, "ran": ran,
                     "asked": asked}
                    for at, pid, code, sig, ran, asked in snap["exits"]]
    out["knobs"] = {k: text(v) for k, v in snap["knobs"].items()}
    out["log"] = to_json(snap["log"]) if snap["log"] else None
    return out
