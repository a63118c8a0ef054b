"""The supervise policy: a pure state machine.

Theory of operation
-------------------
One Machine holds everything supervise decides with:

  want        "up", "down" or "once" (the status byte 'u', 'd' or NUL)
  pid         the running ./run child, 0 when there is none
  pgid        its process group while process-group is on; it outlives
              pid while members of the group remain after the leader died
  finishing   ./finish has been asked for and has not ended
  paused      set by 'p', cleared by 'c', 'd' and every new start
  exiting     set by 'x', never cleared
  failed      fail-limit was reached or ./finish exited 125
  due         a start is owed (cleared by 'd' and by the start)
  wake        monotonic time at which deadline() must be called, or None
  knobs       the Knobs in force (the loop replaces them when re-read)

Events are method calls, each given `now` (monotonic seconds):

  command(letter, now)            one byte read from supervise/control
  started(pid, now)               the "spawn" effect succeeded
  fork_failed(now)                the "spawn" effect could not fork
  child_exited(code, sig, now)    ./run was reaped (code 256 if signalled)
  finish_started(pid, now)        the "finish" effect forked ./finish
  finish_exited(code, now)        ./finish was reaped, or could not be forked
  group_gone(pgid, now)           a "kill"/"probe" of -pgid found nobody
  ready(pid, now)                 ./run said it is ready
  notice(pid, stopping, note, now)  STOPPING=1 / STATUS= from the notify socket
  deadline(now)                   `wake` has passed

Each returns a list of effects for the loop to carry out, in order.  An
effect carries everything the loop needs; it never reads the machine back:

  ("spawn", pgroup, fd, notify, log)   fork and exec ./run (setsid when
                      pgroup; readiness pipe at fd N, notify socket, log
                      pipe when set), then report started()/fork_failed()
  ("finish", code, sig)  fork and exec ./finish CODE SIG, then report
                      finish_started()/finish_exited(111)
  ("kill", target, sig)  kill(target, sig); target -pgid is a group; an
                      ESRCH for a group is reported as group_gone()
  ("probe", pgid)     report group_gone() if no live member is left
  ("touch",)          the status timestamp becomes the wall clock now
  ("status", pid, paused, want)  write the 18-byte supervise/status
  ("xstatus", values)  write supervise/xstatus: values in _xstatus.FIELDS
                      order, times monotonic here
  ("record", at, pid, code, sig, ran, asked, tally)  append to supervise/exits
                      (asked: the run had been told to stop by 'd', 't' or 'k')
  ("log", what, pid, code, sig, ran)  a start/ready/exit record on stdout,
                      the failed record ("fail-limit", "finish") after it,
                      or a SIGKILL's ("kill": pid, or -pgid; "kill-finish")
  ("exit",)           write the status once more and exit 0

Rules:
  * ./run is never started twice within THROTTLE seconds.  A start asked
    for sooner waits for `wake` (daemontools sleeps instead, deaf to
    commands; we stay responsive).  A failed fork is retried after
    FORK_RETRY seconds.
  * ./run is started only when nothing of the last run is left: no ./run,
    no ./finish, no member of its process group.
  * The timestamp moves only when pid changes (a start or a reap).
  * 'd' sends the down signal (and CONT) to ./run, or to its group, and
    SIGKILL timeout-kill later.  When a group's leader exits, the rest of
    the group gets the down signal and SIGKILL after timeout-kill (or
    GROUP_KILL); the group is probed until it is gone, at most KILL_GRACE
    after the SIGKILL (a member may be a zombie nobody reaps).
  * ./finish is killed timeout-finish after it starts.  Its exit code 125
    fails the service only when a start is owed (`due`: want up, or 'u' or
    'o' came meanwhile), as s6's permanent failure matters only when the
    service would otherwise be started: after a stop asked for with 'd', or
    the end of an 'o' run, the service is simply down.
  * restart-backoff: a run shorter than BACKOFF_RESET doubles the wait
    before the next start, from 1 s up to the maximum; a longer run resets it.
    The backoff is a deadline of its own (`held`) beside the throttle and
    the fork retry (`next_start`); a start waits for both.
  * fail-limit N SECS: the Nth unexpected exit (want up; not asked for
    by 'd', 't' or 'k') within SECS fails
    the service: want becomes down (the 18-byte status stays truthful) until
    'u' or 'o'.
  * 'u' and 'o' are the operator's word: they clear failed, empty the
    fail-limit tally and reset the backoff to 1 s, dropping a backoff wait
    in progress (the throttle and a fork retry still hold).
  * 'x' makes supervise exit as soon as nothing runs; it never signals.
  * A byte that is not a known letter changes nothing and does nothing.

This module performs no I/O and never reads a clock.
"""

# The C core of the signal module: the same calls without the enum wrappers,
# which would cost a long-running process 0.8 MB and every start-up 5 ms.
import _signal as signal

from ._knobs import DEFAULT

# The start record's word, equal to "start" but not that literal: a
# literal "start" is the deep-frozen string in libpython's data (the same
# object as the codecs module's), and each use writes its reference count
# there, a page of its own in a forked supervise (docs/performance.md,
# "Eighth round").  _logevents compares with it.
START = str(b"start", "ascii")

THROTTLE = 1.0
FORK_RETRY = 60.0
BACKOFF_RESET = 10.0
GROUP_KILL = 5.0
KILL_GRACE = 1.0
PROBE_FIRST = 0.01
PROBE_MAX = 0.2
PERMANENT_FAILURE = 125

SIGNALS = {
    "h": signal.SIGHUP,
    "a": signal.SIGALRM,
    "i": signal.SIGINT,
    "t": signal.SIGTERM,
    "k": signal.SIGKILL,
    "q": signal.SIGQUIT,
    "1": signal.SIGUSR1,
    "2": signal.SIGUSR2,
    "w": signal.SIGWINCH,
}
_CONT, _KILL, _STOP = signal.SIGCONT, signal.SIGKILL, signal.SIGSTOP
_NEVER = float("-inf")


class Machine:
    # Slots, not attributes in a dict: CPython 3.11 shares one table of
    # instance attribute names per class, which svscan's rehearsals fill
    # before any supervise is forked; a name they never set (started_at)
    # then turns each forked supervise's Machine into a dict of its own,
    # and every specialised attribute access in this file misses (about
    # 48 KiB private per supervise, docs/performance.md).
    __slots__ = ("pid", "pgid", "finishing", "finish_pid", "finish_timeout", "paused", "exiting",
                 "failed", "failed_by", "due", "wake", "next_start", "held", "kill_at",
                 "finish_kill_at", "probe_at", "probe_step", "giveup_at", "run", "signalled", "asked",
                 "stopping_note", "started_at", "ready_at", "delay", "fail_times", "starts",
                 "last_exit", "last_pid", "note", "shown", "since", "want", "normally", "knobs")

    def __init__(self, want_up=True, knobs=None):
        self.pid = 0
        self.pgid = 0
        self.finishing = False
        self.finish_pid = 0
        self.finish_timeout = 0.0
        self.paused = False
        self.exiting = False
        self.failed = False
        self.failed_by = "-"  # when failed: "fail-limit", or "finish" (./finish exited 125)
        self.due = False
        self.wake = None
        self.next_start = _NEVER  # throttle and fork retry
        self.held = _NEVER  # restart-backoff
        self.kill_at = None
        self.finish_kill_at = None
        self.probe_at = None
        self.probe_step = PROBE_FIRST
        self.giveup_at = None
        self.run = None  # the spawn options of the current run
        self.signalled = False  # the down signal went to this run
        self.asked = False  # so did 't' or 'k'
        self.stopping_note = False
        self.started_at = 0.0
        self.ready_at = 0.0
        self.delay = 1.0
        self.fail_times = ()
        self.starts = 0
        self.last_exit = (-1, 0, 0.0, 0.0)  # code, signal, at, ran
        self.last_pid = 0
        self.note = b""
        self.shown = None
        self.since = 0.0
        self.want = self.normally = "up" if want_up else "down"
        self.knobs = knobs or DEFAULT

    # -- what the outside sees

    def state(self):
        """One of _xstatus.STATES."""
        if self.pid:
            if self.paused:
                return "paused"
            if self.signalled or self.stopping_note:
                return "stopping"
            if self._readiness():
                return "ready" if self.ready_at else "starting"
            return "up"
        if self.finishing:
            return "finishing"
        if self.pgid:
            return "stopping"
        return "failed" if self.failed else "down"

    def idle(self):
        return not (self.pid or self.finishing or self.pgid)

    def _publish(self, now, status=True):
        state = self.state()
        if state != self.shown:
            self.shown, self.since = state, now
        fl = self.knobs.fail_limit or (0, 0)
        code, sig, at, ran = self.last_exit
        start_at = max(self.next_start, self.held)
        waiting = self.due and self.idle() and not self.exiting and start_at > now
        # _xstatus.FIELDS order; times are monotonic here
        x = ("xstatus", (state, self.pid, self.pgid, self.since, self.ready_at, self.want,
                         self.normally, self.starts, code, sig, at, ran,
                         start_at if waiting else 0.0,
                         len(self.fail_times) if fl[0] else 0, fl[0], int(fl[1]),
                         0.0, 0, self.note,
                         self.failed_by if state == "failed" else "-"))
        return [("status", self.pid, self.paused, self.want), x] if status else [x]

    # -- events

    def boot(self, now):
        """supervise has set up its files and written a first status."""
        self.due = self.want == "up"
        return self._end(now, self._publish(now))

    def command(self, letter, now):
        handler = _COMMANDS.get(letter)
        if handler is not None:
            return self._end(now, handler(self, now))
        sig = SIGNALS.get(letter)
        if sig is not None and self.pid:
            self.asked = self.asked or letter in "tk"
            return [("kill", self._target() if sig == _KILL else self.pid, sig)]
        return []

    def started(self, pid, now):
        self.pid = pid
        self.pgid = pid if self.run[0] else 0
        self.due = False
        self.paused = self.signalled = self.stopping_note = self.asked = False
        self.starts += 1
        self.started_at = now
        self.ready_at = 0.0
        self.note = b""
        self.next_start = now + THROTTLE
        effects = [("touch",)]
        if self.run[3]:
            effects.append(("log", START, pid, 0, 0, 0.0))
        return self._end(now, effects + self._publish(now))

    def fork_failed(self, now):
        self.due = True
        self.next_start = now + FORK_RETRY
        return self._end(now, self._publish(now, status=False))

    def child_exited(self, code, sig, now):
        pid, k, asked = self.pid, self.knobs, self.signalled or self.asked
        ran = now - self.started_at
        self.pid = 0
        self.paused = self.signalled = self.stopping_note = self.asked = False
        self.ready_at = 0.0
        self.last_exit = (code, sig, now, ran)
        self.last_pid = pid
        effects = [("touch",), ("record", now, pid, code, sig, ran, asked, k.max_death_tally)]
        if self.run[3]:
            effects.append(("log", "exit", pid, code, sig, ran))
        if self.want == "up" and not self.exiting and not self.failed:
            if not asked:
                self._count_failure(now)
                if self.failed and self.run[3]:
                    effects.append(("log", "fail-limit", pid, code, sig, ran))
            if not self.failed:
                self.due = True
                self._backoff(ran, now)
        if self.pgid:
            self.kill_at = self.kill_at or now + (k.timeout_kill or GROUP_KILL)
            self.probe_step = PROBE_FIRST
            self.probe_at = now + PROBE_FIRST
            effects += [("kill", -self.pgid, k.down_signal), ("kill", -self.pgid, _CONT)]
        else:
            self.kill_at = None
        if k.finish:
            self.finishing = True
            self.finish_timeout = k.timeout_finish
            return self._end(now, effects + self._publish(now) + [("finish", code, sig)])
        return self._end(now, effects + self._publish(now))

    def finish_started(self, pid, now):
        self.finish_pid = pid
        if self.finish_timeout:
            self.finish_kill_at = now + self.finish_timeout
        return self._end(now, [])

    def finish_exited(self, code, now):
        self.finishing = False
        self.finish_pid = 0
        self.finish_kill_at = None
        effects = []
        if code == PERMANENT_FAILURE and self.due and not self.exiting:
            self._fail("finish")
            if self.run[3]:
                effects.append(("log", "finish", self.last_pid, code, 0, 0.0))
        return self._end(now, effects + self._publish(now))

    def group_gone(self, pgid, now):
        if pgid != self.pgid or self.pid:
            return []
        self.pgid = 0
        self.kill_at = self.probe_at = self.giveup_at = None
        return self._end(now, self._publish(now))

    def ready(self, pid, now):
        if pid != self.pid or not pid or self.ready_at or not self._readiness():
            return []
        self.ready_at = now
        log = [("log", "ready", pid, 0, 0, now - self.started_at)] if self.run[3] else []
        return self._end(now, log + self._publish(now, status=False))

    def notice(self, pid, stopping, note, now):
        if pid != self.pid or not pid:
            return []
        self.stopping_note = self.stopping_note or stopping
        if note is not None:
            self.note = note
        return self._end(now, self._publish(now, status=False))

    def deadline(self, now):
        if self.wake is None or now < self.wake:
            return []
        effects = []
        if self.finish_kill_at is not None and now >= self.finish_kill_at:
            self.finish_kill_at = None
            if self.finish_pid:
                effects.append(("kill", self.finish_pid, _KILL))
                if self.run and self.run[3]:
                    effects.append(("log", "kill-finish", self.finish_pid, 0, _KILL, 0.0))
        if self.kill_at is not None and now >= self.kill_at:
            self.kill_at = None
            target = self._target()
            if target:
                effects.append(("kill", target, _KILL))
                if self.run and self.run[3]:
                    effects.append(("log", "kill", target, 0, _KILL, 0.0))
                if self.pgid:
                    self.giveup_at = now + KILL_GRACE
        if self.probe_at is not None and now >= self.probe_at:
            self.probe_at = None
            if self.pgid and not self.pid:
                if self.giveup_at is not None and now >= self.giveup_at:
                    return self._end(now, effects + self.group_gone(self.pgid, now))
                self.probe_step = min(self.probe_step * 2, PROBE_MAX)
                self.probe_at = now + self.probe_step
                effects.append(("probe", self.pgid))
        return self._end(now, effects)

    # -- rules

    def _readiness(self):
        return self.run[1] is not None or self.run[2]

    def _target(self):
        return -self.pgid if self.pgid else self.pid

    def _fail(self, why):
        self.failed = True
        self.failed_by = why
        self.want = "down"
        self.due = False

    def _count_failure(self, now):
        fl = self.knobs.fail_limit
        if not fl:
            self.fail_times = ()
            return
        n, secs = fl
        self.fail_times = tuple(t for t in self.fail_times if t > now - secs) + (now,)
        if len(self.fail_times) >= n:
            self._fail("fail-limit")

    def _backoff(self, ran, now):
        top = self.knobs.restart_backoff
        if top is None or ran >= BACKOFF_RESET:
            self.delay = 1.0
            return
        self.held = now + self.delay
        self.delay = min(self.delay * 2, top)

    def _end(self, now, effects):
        """Every event ends here: a start if one is due, exit, new wake."""
        if self.exiting:
            if self.idle():
                effects.append(("exit",))
        elif self.due and self.idle() and now >= max(self.next_start, self.held):
            k = self.knobs
            self.run = (k.process_group, k.notification_fd, k.notify_socket, k.log_events)
            self.due = False     # until fork_failed() says otherwise
            effects.append(("spawn",) + self.run)
        wake = None
        for t in (self.kill_at, self.finish_kill_at, self.probe_at):
            if t is not None and (wake is None or t < wake):
                wake = t
        start_at = max(self.next_start, self.held)
        if self.due and self.idle() and not self.exiting and (wake is None or start_at < wake):
            wake = start_at
        self.wake = wake
        return effects

    # control letters that change state; each returns its effects

    def _up(self, now):
        self.want = "up"
        return self._start(now)

    def _once(self, now):
        self.want = "once"
        return self._start(now)

    def _start(self, now):
        self.failed = False
        self.failed_by = "-"
        self.fail_times = ()
        self.delay = 1.0
        self.held = float("-inf")
        self.due = not self.pid
        return self._publish(now)

    def _down(self, now):
        self.want = "down"
        self.due = False
        if not self.pid:
            return self._publish(now)
        self.paused = False
        self.signalled = True
        k = self.knobs
        if k.timeout_kill and self.kill_at is None:
            self.kill_at = now + k.timeout_kill
        target = self._target()
        # CONT after the down signal, so that a stopped process wakes up to see it.
        return [("kill", target, k.down_signal), ("kill", target, _CONT)] + self._publish(now)

    def _pause(self, now):
        self.paused = True
        return ([("kill", self._target(), _STOP)] if self.pid else []) + self._publish(now)

    def _cont(self, now):
        self.paused = False
        return ([("kill", self._target(), _CONT)] if self.pid else []) + self._publish(now)

    def _exit(self, now):
        self.exiting = True
        return self._publish(now)


_COMMANDS = {
    "u": Machine._up,
    "o": Machine._once,
    "d": Machine._down,
    "p": Machine._pause,
    "c": Machine._cont,
    "x": Machine._exit,
}
