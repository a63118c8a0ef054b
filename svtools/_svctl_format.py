"""svctl's text: the status table, show's report, durations and sizes.

Pure functions of _svinfo snapshots and a `now` (unix seconds); colour is
an argument.  No I/O.
"""

from ._svinfo_view import cpu, duration, exit_text, exit_words, exited, size, verdict  # noqa: F401
from ._svinfo_view import ran as ran_words


class Usage(Exception):
    """A usage error of svctl: the message for after the usage line."""


HEADER = ("NAME", "STATE", "PID", "UPTIME", "RESTARTS", "LAST EXIT", "MEM", "CPU")
_RIGHT = (False, False, True, True, True, False, True, True)

GREEN, YELLOW, RED, DIM, BOLD, RESET = "\033[32m", "\033[33m", "\033[31m", "\033[2m", "\033[1m", "\033[0m"
COLOURS = {"up": GREEN, "ready": GREEN, "starting": YELLOW, "stopping": YELLOW,
           "finishing": YELLOW, "paused": YELLOW, "down": DIM, "down, want up": YELLOW, "failed": RED,
           "exited": DIM,
           "scheduled": DIM, "crash-loop": RED, "supervise not running": RED, "unknown": RED}


def state(snap, now=None):
    """The words for the STATE column.  A scheduled job (not wanted up)
    reads "scheduled" while it waits, and with NOW its next firing and
    skipped count follow: "scheduled, next in 42s, 2 skipped"."""
    if snap["crash_loop"]:
        return "crash-loop"
    if snap["state"] == "unsupervised":
        return "supervise not running"
    if snap["state"] == "down" and snap["want"] == "up":
        return "down, want up"
    if exited(snap):
        return "exited"
    if not scheduled(snap):
        return snap["state"]
    words = ["scheduled" if snap["state"] == "down" else snap["state"]]
    if now is not None:
        if snap["next_fire"]:
            words.append("next in %s" % duration(max(0, snap["next_fire"] - now)))
        else:
            words.append("no next firing")
        if snap["skipped"]:
            words.append("%d skipped" % snap["skipped"])
    return ", ".join(words)


def scheduled(snap):
    """True for a scheduled job that runs on its schedule (not wanted up)."""
    return bool(snap.get("scheduled")) and snap["want"] != "up"


def pid_cell(snap):
    """The PID column: ./run's pid; "group N" while the process group N
    outlives its leader (process-group: stopping, or cleaning up before a
    restart); "-" for none."""
    if snap["pid"]:
        return str(snap["pid"])
    return "group %d" % snap["pgid"] if snap["pgid"] else "-"


def row(label, snap, now):
    """The cells of one table row, or (label, state, error) for a broken one."""
    if snap["error"]:
        return [label, "unknown", snap["error"]]
    if not snap["supervised"]:
        return [label, state(snap, now)]
    pid = pid_cell(snap)
    restarts = "-" if snap["restarts"] is None else str(snap["restarts"])
    return [label, state(snap, now), pid, duration(snap["uptime"]), restarts,
            exit_text(snap["exit"], now), size(snap["rss"]), cpu(snap["cpu"])]


def table(entries, now, colour=False):
    """ENTRIES: [(label, snapshot)]; each snapshot's logger follows it as
    an indented "  log" row.  Returns the text, lines ending in newline."""
    rows = [list(HEADER)]
    states = [None]
    for label, snap in entries:
        rows.append(row(label, snap, now))
        states.append(rows[-1][1])
        if snap["log"]:
            rows.append(row("  log", snap["log"], now))
            states.append(rows[-1][1])
    full = [r for r in rows if len(r) == len(HEADER)]
    widths = [max(len(r[i]) for r in full) for i in range(len(HEADER))]
    widths[0] = max(len(r[0]) for r in rows)
    widths[1] = max(len(r[1]) for r in rows)
    out = []
    for r, st in zip(rows, states):
        cells = []
        for i, cell in enumerate(r):
            if i >= 2 and len(r) < len(HEADER):
                cells.append(cell)  # an error runs to the end of the line
                break
            pad = " " * (widths[i] - len(cell))
            text = pad + cell if _RIGHT[i] else cell + pad
            key = st if st in COLOURS else (st or "").split(",")[0]
            if colour and st is not None and i == 1 and key in COLOURS:
                text = COLOURS[key] + cell + RESET + pad
            elif colour and st is None:
                text = BOLD + text + RESET
            cells.append(text)
        out.append("  ".join(cells).rstrip() + "\n")
    return "".join(out)


def stamp(t, utc=False):
    """Unix time T as YYYY-MM-DD HH:MM:SS.mmm, local (or UTC with a Z)."""
    import time
    tm = time.gmtime(t) if utc else time.localtime(t)
    return "%04d-%02d-%02d %02d:%02d:%02d.%03d%s" % (
        tm.tm_year, tm.tm_mon, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
        int(t % 1 * 1000), "Z" if utc else "")


def show(label, snap, now, where, how, utc=False):
    """svctl show: everything known about one service, as text."""
    lines = []

    def block(title, s):
        rows = []
        add = lambda key, value: rows.append((key, value))  # noqa: E731
        add("path", _disp(s["path"]))
        for k, v in sorted(s["knobs"].items()):
            add(k, knob_text(k, v))
        if s["supervised"]:
            _status_rows(s, now, utc, add)
        width = max([15] + [len(k) for k, v in rows if v is not None]) + 2
        head = verdict(s) if exited(s) else state(s, now)
        lines.append("%s: %s" % (title, head + (" (%s)" % s["error"] if s["error"] else "")))
        lines.extend(("  %-*s%s" % (width, k, v) if v is not None else "  " + k).rstrip() for k, v in rows)
    block(label, snap)
    if snap["log"]:
        block("  log", snap["log"])
    lines.append("log directory: %s" % (_disp(where) + " (" + how + ")" if where else how))
    return "\n".join(lines) + "\n"


def _status_rows(s, now, utc, add):
    add("source", {"xstatus": "supervise/xstatus (svtools supervise)",
                   "status": "supervise/status only (daemontools 0.76 or C supervise)"}[s["source"]])
    if scheduled(s):
        add("want", "scheduled (./run starts once at each firing), normally %s" % s["normally"])
    else:
        add("want", "%s, normally %s" % (s["want"], s["normally"]))
    if s["pid"] or s["pgid"]:
        if s["pid"]:
            add("pid", "%d%s" % (s["pid"], ", group %d" % s["pgid"] if s["pgid"] else ""))
        else:
            add("pid", "none (the leader is gone), group %d still running" % s["pgid"])
        add("memory", "%s in %s process%s" % (size(s["rss"]), s["procs"] or 0, "" if s["procs"] == 1 else "es"))
        add("cpu", cpu(s["cpu"]))
    if s["since"]:
        add("since", "%s (%s ago)" % (stamp(s["since"], utc), duration(s["uptime"])))
    if s["ready_since"]:
        add("ready since", stamp(s["ready_since"], utc))
    if s["restarts"] is not None:
        add("restarts", "%d" % s["restarts"])
    if s["next_start"]:
        add("next start", stamp(s["next_start"], utc))
    if exited(s):
        add("exited", "./finish exited 125 after a clean exit: down until svctl start (svc -u)"
            " or once (svc -o)")
    elif s["state"] == "failed" and s["failed_by"]:
        from ._svinfo_view import failure
        add("failed", failure(s) + ", down until svctl start (svc -u) or once (svc -o)")
    if s["fail_limit"]:
        add("fails", "%d of %d in %ds" % (s["fails"], s["fail_limit"], s["fail_secs"]))
    if s["next_fire"]:
        add("next fire", "%s (%d skipped)" % (stamp(s["next_fire"], utc), s["skipped"]))
    if s["note"]:
        add("note", _text(s["note"]))
    if s["crash_loop"]:
        add("crash loop", "./run keeps exiting within seconds of its start")
    if s["exits"]:
        add("exits", "(oldest first)")
        # (at, pid, code, signal, ran[, asked]): asked True when a stop (svc
        # -d, -t, -k) came before the exit, None when supervise did not say
        for at, pid, code, sig, ran, *asked in s["exits"]:
            what = exit_words({"code": code, "signal": sig})
            add("  %s  pid %-7d %-8s after %s%s" % (stamp(at, utc), pid, what, ran_words(ran),
                                                     ", asked" if asked and asked[0] else ""), None)
    elif s["exit"]:
        add("last exit", exit_text(s["exit"], now))


def knob_text(name, value):
    """A knob file's first line as text (only control characters and bytes
    that are not UTF-8 escaped, as \\xHH), and "(ignored: WHY)" when
    supervise (or, for reload-signal, svctl) would not take it."""
    from . import _knobs
    if name == "finish":
        return "(present)"
    problem = None
    if value.startswith(b"(unreadable: "):
        return _text(value)
    if name in _knobs.PARSERS:
        problem = _knobs.PARSERS[name][1](value)[1]
    elif name == "reload-signal":
        from ._svctl_control import signal_letter
        problem = None if signal_letter(value) else "unknown signal"
    text = _text(value) if value else "(empty)"
    return text + ("  (ignored: %s)" % problem if problem else "")


def _text(b):
    from ._svinfo import text
    return text(b)


def _disp(b):
    from ._svinfo import display
    return display(b)
