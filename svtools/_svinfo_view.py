"""How a front-end shows an _svinfo snapshot: pure functions, no I/O.

    wanted(snapshot) -> 0 in the wanted state, 3 not, 4 unknown/unsupervised
    to_json(snapshot) -> plain dict of the documented schema (SCHEMA)
    failure(snapshot) -> why a failed service failed (str), or None
    display(name bytes) -> str, and argument(str) -> bytes, its inverse
    text(value bytes) -> str: a knob's or note's value for people and JSON

_svinfo re-exports all of them: callers use _svinfo.display etc.  The
schema is docs/svctl-json.md's.
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
    out["exits"] = [{"at": at, "pid": pid, "code": code, "signal": sig, "ran": ran,
                     "asked": asked}
                    for at, pid, code, sig, ran, asked in snap["exits"]]
    out["knobs"] = {k: text(v) for k, v in snap["knobs"].items()}
    out["log"] = to_json(snap["log"]) if snap["log"] else None
    return out
