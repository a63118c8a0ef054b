"""When a start is done: supervisord's startsecs on daemontools' status.

Starter(snap0, settle).check(s, sent) judges one service's snapshots after
svctl start, restart or add wrote its letters (plan() and add() drive it);
the only I/O is ALIVE (/proc), for a 0.76 status.
"""

from . import _proctree, _svinfo
from ._svctl_control import _moved, _up, crash_loop_since, describe
from ._svinfo_view import last_exit


class Starter:
    """check(s, sent) -> None while a start is undecided, else (ok, text).

    SNAP0: the snapshot read before the letters went; SETTLE: seconds the
    run must stay up (supervisord's startsecs; 0: up is enough); OLD: the
    pid of the run a restart stops (its exit is no failed start).  SENT:
    wall-clock seconds the letters went; only what came after counts.  In
    this order: failed (fail-limit, ./finish exited 125; done, though, for
    a one-shot kept down after a clean exit: _svinfo.exited), a crash
    loop, a run that exited after less than SETTLE seconds (any exit:
    "start failed"; judged once ./finish, if it runs, has ended), then
    done when ready, or, without a readiness knob, when the run has been
    up SETTLE seconds.  note says how far the settle got.

    From xstatus an early exit is an exits record, with its code or
    signal.  From a 0.76 status (C supervise) only the pid and the stamp
    of its last change are known, and the exit status never is.  0.76's
    supervise sleeps one second after each start, so its status shows a
    run that died in that second as up until then: ALIVE(pid) (/proc:
    gone or a zombie is dead) tells; a run's life is up to the look that
    found it dead, or the time between two stamps.  A run that lives less
    than a poll and is reaped at once is seen only by the stamp its end
    left.
    """

    def __init__(self, snap0, settle, old=0, alive=_proctree.alive):
        self.snap0, self.settle, self.old, self.alive = snap0, settle, old, alive
        self.note = ""
        # 0.76 status: the run seen up [pid, stamp, found dead], the last stamp judged
        self.run = [snap0["pid"], snap0["since"] or 0.0, False] if snap0["pid"] and not old else None
        self.base = snap0["since"] or 0.0
        self.gap = bool(old)   # restart: the old run's end not yet seen
        # add: before supervise runs, its first status (written before
        # xstatus, and before the first run) is its start, not a run's end
        self.supervised = snap0["supervised"]
        # xstatus: exits already recorded before the command are not its
        # (by identity: an exit within the clocks' tolerance of it is not)
        self.known = {(r[0], r[1]) for r in snap0["exits"]}
        self.known_at = snap0["exit"]["at"] if snap0["exit"] else None

    def check(self, s, sent):
        snap0 = self.snap0
        self.note = ""
        if s["state"] == "failed":
            if _moved(s, snap0) and (snap0["state"] != "failed" or s["starts"] != snap0["starts"]):
                # a one-shot that ran and exited 0 (kept down by ./finish)
                # did what it was started for
                return _svinfo.exited(s), describe(s)
            return None
        if s["want"] != "up":
            return None
        if s["crash_loop"]:
            return (False, describe(s)) if crash_loop_since(s, sent) else None
        knobs = set(snap0["knobs"]) | set(s["knobs"])
        need_ready = s["source"] == "xstatus" and bool(knobs & {"notification-fd", "notify-socket"})
        settle = 0.0 if need_ready else self.settle
        if settle and s["state"] != "finishing":
            # (while ./finish runs, what it says is still to come: 125
            # makes the service failed, or exited for a one-shot)
            early = self._early(s, sent, settle)
            if early:
                now = describe(s)
                if not s["pid"] and s["state"] == "down":
                    now += ", want up"       # supervise starts it again
                return False, "start failed: %s, under the %gs settle; now %s" % (
                    early, settle, now)
        if not _up(s, need_ready):
            return None
        age = s["time"] - self._began(s)
        if settle and s["source"] != "xstatus" and not self.alive(s["pid"]):
            return None   # dead, not yet reaped, after the settle: the next run tells
        if age < settle:
            self.note = "; up %.1fs of the %gs settle" % (max(age, 0.0), settle)
            return None
        return True, describe(s)

    @staticmethod
    def _began(s):
        """When the run of the moment started: a new run's state may
        follow the old one's without a change (so since stays)."""
        if s["source"] == "xstatus" and s["exit"]:
            return max(s["since"] or 0.0, s["exit"]["at"])
        return s["since"] or 0.0

    def _early(self, s, sent, settle):
        if s["source"] != "xstatus":
            return self._early76(s, sent, settle)
        recs = s["exits"]
        if not recs and s["exit"]:   # max-death-tally 0: the last exit only
            e = s["exit"]
            if self.known_at is None or abs(e["at"] - self.known_at) > 0.01:
                recs = [(e["at"], 0, e["code"], e["signal"], e["ran"], None)]
        guess = None
        for at, pid, code, sig, ran, asked in recs:
            if (at < sent - 0.01 or ran >= settle or (pid and pid == self.old)
                    or (at, pid) in self.known):
                continue
            if asked is None:   # an exits file that does not say: the signal is the guess
                guess = guess or _svinfo.operator_signals(s["knobs"])
                asked = sig in guess
            if not asked:
                return last_exit({"code": code, "signal": sig, "ran": ran})
        return None

    def _early76(self, s, sent, settle):
        pid, since = s["pid"], s["since"] or 0.0
        unknown = " (exit status unknown: not svtools supervise)"
        if not self.supervised:
            self.supervised = True
            self.base = since
            if not pid:
                return None
        if self.gap:
            self.gap = False
            if not pid:
                self.base = since   # the old run's end
                return None
        run = self.run
        if not run and pid:
            self.run = run = [pid, since, False]
        if run and pid == run[0]:
            if pid and not run[2] and not self.alive(pid):
                run[2] = True   # found dead, judged: what follows is a new run
                ran = s["time"] - run[1]
                if ran < settle:
                    return "exited within %.1fs" % ran + unknown
        elif run and since > run[1] + 0.01:   # another pid: the run has ended
            self.run = [pid, since, False] if pid else None
            self.base = since
            ran = since - run[1]
            if ran < settle and not run[2]:
                return ("exited within %.1fs" if pid else "exited after %.1fs") % ran + unknown
        elif not run and since > self.base + 0.01 and since >= sent - 0.01:
            self.base = since   # a run came and went between two looks
            if since - sent < settle:
                return "exited within %.1fs" % max(since - sent, 0.0) + unknown
        return None
