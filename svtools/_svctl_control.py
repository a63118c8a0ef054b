"""svctl's control verbs: which letters to send, and when a verb is done.

plan(verb, snap, letter) is pure: from the snapshot taken before sending it
gives a Job with the letters to write now, letters to write later (once the
run has stopped, or once timeout-kill has passed), and check(snap) -> None
while waiting, else (ok, text).  run(jobs, wait) is the thin loop: send,
then poll the status files every POLL seconds until each job is done or
the deadline passes.

The emulation for 0.76 (and C) supervise, which knows neither down-signal
nor timeout-kill: the signal of down-signal is sent with 'o' (so the run is
not restarted), and 'd' (or 'u' for restart) follows once it has exited;
timeout-kill's milliseconds later, 'k' is sent.  supervise from svtools
(its xstatus shows it) does both itself and gets a plain 'd'.

A start (start, restart, svctl add) is done, as supervisord's startsecs
has it, once the run has stayed up for SETTLE seconds; a run that exits
before, whatever its exit, is a failed start.  A service with a readiness
knob (notification-fd, notify-socket) is started when it is ready, with
no settle: _svctl_start.Starter judges.
"""

import time

from . import _proctree, _svinfo
from ._svinfo_view import last_exit  # the words svweb uses too

POLL = 0.01
WAIT = 7.0
SETTLE = 1.0
LETTERS = {"HUP": "h", "ALRM": "a", "INT": "i", "TERM": "t", "KILL": "k",
           "QUIT": "q", "USR1": "1", "USR2": "2", "WINCH": "w", "STOP": "p",
           "CONT": "c"}
_NUMBERS = {"1": "HUP", "14": "ALRM", "2": "INT", "15": "TERM", "9": "KILL",
            "3": "QUIT", "10": "USR1", "12": "USR2", "28": "WINCH",
            "19": "STOP", "18": "CONT"}
VERBS = ("start", "stop", "restart", "reload", "once", "pause", "cont", "kill", "signal")


def signal_letter(text):
    """"HUP", "SIGHUP", "hup" or "1" -> svc letter "h"; None if unknown."""
    if isinstance(text, bytes):
        text = text.decode("ascii", "replace")
    name = text.strip().upper()
    name = _NUMBERS.get(name, name)
    if name.startswith("SIG"):
        name = name[3:]
    return LETTERS.get(name)


def _millis(value):
    try:
        n = int(value)
    except ValueError:
        return None
    return n / 1000.0 if n > 0 else None


def describe(snap):
    """"up (pid 42)", "down", "paused (pid 42)", "stopping (group 42)",
    "crash-loop (last exit 1 after 0.1s)", "failed (./finish exited 125;
    last exit 3 after 1.0s)", "exited (last exit 0 after 3.2s; kept down by
    ./finish)" (a one-shot done: _svinfo.exited)..."""
    if snap["error"]:
        return snap["error"]
    if not snap["supervised"]:
        return "supervise not running"
    word = "crash-loop" if snap["crash_loop"] else snap["state"]
    if word == "crash-loop" and snap["exit"]:
        # the run of the moment, if any, is about to exit too
        return "%s (last %s)" % (word, last_exit(snap["exit"]))
    if snap["pid"]:
        return "%s (pid %d)" % (word, snap["pid"])
    if snap["pgid"]:
        return "%s (group %d)" % (word, snap["pgid"])
    if word == "failed":
        return _svinfo.verdict(snap)
    return word


def stop_wait(snap):
    """The default wait of a stop: 7 s, or longer when the service's own
    timeout-kill (and timeout-finish, with a finish) need more, plus 2 s."""
    from ._knobs import parse_ms
    knobs = snap["knobs"]
    need = parse_ms(knobs["timeout-kill"])[0] or 0.0 if "timeout-kill" in knobs else 0.0
    if "finish" in knobs:
        finish = parse_ms(knobs["timeout-finish"])[0] if "timeout-finish" in knobs else 5.0
        need += finish or 0.0
    return max(WAIT, need + 2.0 if need else 0.0)


class Job:
    def __init__(self, label, path, letters, check):
        self.label, self.path, self.letters, self.check = label, path, letters, check
        self.after_down = ""     # written once the old run has exited
        self.kill_after = None   # seconds after sending, then "k"
        self.result = None       # (ok, text) once decided
        self.until_gone = False  # done when supervise has exited ('x')
        self.last = None
        self.sent = None         # wall-clock time the letters were written
        self.old = {}            # the old run's other processes (no process group)
        self.watch = 0           # the old run's pid, while its children are gathered
        self.note = ""           # said after a timeout: how far the settle got


def _ran(snap):
    """What moves when a run starts and ends: the last exit from xstatus,
    the stamp of the last pid change from a 0.76 status.  supervise turns
    its monotonic times into wall-clock ones at every write, so they
    wobble by microseconds: compare them with a tolerance."""
    if snap["source"] == "xstatus":
        return snap["exit"]["at"] if snap["exit"] else 0.0
    return snap["since"] or 0.0


def _up(snap, need_ready):
    return snap["state"] == "ready" or (snap["state"] == "up" and not need_ready)


def _moved(s, s0):
    """S was written after S0: supervise has done something since."""
    if (s["source"], s["starts"], s["state"], s["pid"], s["want"], s["paused"]) != (
            s0["source"], s0["starts"], s0["state"], s0["pid"], s0["want"], s0["paused"]):
        return True
    return abs((s["since"] or 0.0) - (s0["since"] or 0.0)) > 0.01


def crash_loop_since(snap, since):
    """SNAP shows a crash loop whose last exit came at or after SINCE
    (wall-clock seconds): the loop is that command's, not an old one.
    Only svtools supervise records exits; from 0.76 status alone, False."""
    return bool(snap["crash_loop"] and snap["exit"] and snap["exit"]["at"] >= since - 0.01)


def plan(verb, label, snap, letter=None, settle=0.0):
    """The Job for VERB on the service SNAP describes (read just now).

    LETTER: the svc letter for signal.  SETTLE: seconds a start's run must
    stay up (see Starter; 0: up is enough).  A Job whose result is already set
    needs nothing sent (a refusal, or nothing to do).

    A check never concludes from a snapshot supervise wrote before it
    obeyed the letters: it looks for the want the letter sets (u: up,
    d: down, o: once), and a "failed" or a crash loop counts only when it
    came after the command (a new run, or an exit since it was sent).
    """
    path = snap["path"]
    pid0 = snap["pid"]
    knobs = snap["knobs"]
    own = snap["source"] == "xstatus"
    job = None

    def started(s):
        got = starter.check(s, job.sent)
        job.note = starter.note
        return got

    def stopped(s):
        if s["want"] == "down" and not s["pid"] and s["state"] not in ("stopping", "finishing"):
            return True, describe(s)
        return None

    def restarted(s):
        if s["pid"] == pid0 and pid0:
            return None
        return started(s)

    from ._svctl_start import Starter
    starter = Starter(snap, settle, old=pid0 if verb == "restart" else 0)

    def once(s):
        if s["want"] != "once":
            return None
        if s["pid"] or (s["source"] == snap["source"] and abs(_ran(s) - _ran(snap)) > 0.01):
            return True, describe(s)
        return None

    def paused(s):
        return (True, describe(s)) if s["paused"] or not s["pid"] else None

    def resumed(s):
        return (True, describe(s)) if not s["paused"] else None

    def killed(s):
        return (True, describe(s)) if s["pid"] != pid0 else None

    def sent(s):
        return True, "%s, sent" % describe(s)

    table = {
        "start": ("u", started), "stop": ("d", stopped), "restart": ("du", restarted),
        "once": ("o", once), "pause": ("p", paused), "cont": ("c", resumed),
        "kill": ("k", killed),
        "reload": (signal_letter(knobs.get("reload-signal", b"HUP")) or "h", sent),
        "signal": (letter, sent),
    }
    letters, check = table[verb]
    job = Job(label, path, letters, check)
    if snap["error"]:
        job.result = False, snap["error"]
    elif not snap["supervised"]:
        job.result = False, "supervise not running"
    elif not pid0 and verb in ("reload", "signal", "pause", "kill"):
        job.result = False, "not running: %s" % describe(snap)
    elif pid0 and verb in ("stop", "restart") and not own:
        sig = signal_letter(knobs["down-signal"]) if "down-signal" in knobs else None
        if sig and sig != "t":
            job.letters = "o" + sig
            job.after_down = "d" if verb == "stop" else "u"
        if "timeout-kill" in knobs:
            job.kill_after = _millis(knobs["timeout-kill"])
    if pid0 and verb in ("stop", "restart") and not snap["pgid"] and job.result is None:
        job.watch = pid0
        job.old = _proctree.processes(pid0)
        job.old.pop(pid0, None)
    return job


def leftovers(job):
    """"" or the text about the old run's processes that outlived it."""
    alive = _proctree.survivors(job.old) if job.old else []
    if not alive:
        return ""
    return "; %d process%s of the old run still running (no process-group): %s" % (
        len(alive), "" if len(alive) == 1 else "es", " ".join(map(str, alive)))


def exit_job(label, snap):
    """stop, then 'x': done when the supervise process is gone."""
    job = plan("stop", label, snap)
    if job.after_down:
        job.after_down += "x"
    else:
        job.letters += "x"
    job.until_gone = True
    job.check = lambda s: None
    return job


def run(jobs, wait, clock=time.monotonic):
    """Send every job's letters, then wait up to WAIT seconds (None: do not
    wait) for each to be done; each job's result is set on return."""
    start = clock()
    for job in jobs:
        job.sent = _svinfo.wall()
        if job.result is None:
            problem = _svinfo.control(job.path, job.letters)
            if problem:
                job.result = False, problem
            elif wait is None:
                job.result = True, "sent"
    deadline = start + (wait or 0)
    while True:
        pending = [j for j in jobs if j.result is None]
        if not pending:
            return
        now = clock()
        for job in pending:
            snap = _svinfo.read(job.path, usage=False)
            job.last = snap
            if job.watch:
                # what the old run forks while it stops (a shell's next sleep)
                if snap["pid"] == job.watch:
                    job.old.update(_proctree.processes(job.watch))
                    job.old.pop(job.watch, None)
                else:
                    job.watch = 0
            if job.after_down and not snap["pid"]:
                _svinfo.control(job.path, job.after_down)
                job.after_down = ""
                continue
            if job.kill_after is not None and now - start >= job.kill_after and snap["pid"]:
                _svinfo.control(job.path, "k")
                job.kill_after = None
            if job.until_gone and not snap["supervised"] and not snap["error"]:
                job.result = True, "gone" + leftovers(job)
                continue
            if not snap["supervised"] or snap["error"]:
                job.result = False, describe(snap)
                continue
            job.result = None if job.after_down else job.check(snap)
            if job.result and job.result[0] and job.old:
                job.result = True, job.result[1] + leftovers(job)
        if now >= deadline:
            for job in jobs:
                if job.result is None:
                    job.result = False, "timeout after %gs: %s%s" % (wait, describe(job.last), job.note)
            return
        time.sleep(POLL)
