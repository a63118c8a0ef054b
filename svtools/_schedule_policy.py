"""The policy of scheduled jobs (the `schedule` file): pure, no I/O, no clock.

Theory of operation
-------------------
A service with a `schedule` file is normally down; at each firing time
supervise starts ./run once, as `svc -o` does.  The firing times are wall
clock (unix seconds): a short-lived child (svtools._schedule_cron, the only
code that imports croniter) computes the next few, and Schedule holds them
and decides.  supervise turns them into monotonic deadlines.

  times     the upcoming firing times, ascending (wall seconds)
  last      the last firing time handled (fired or skipped), or None
  offset    wall - monotonic at the previous look: a change is a clock step
  asking    a child is computing times
  broken    why the expression cannot be used (the job never fires)
  skipped   firings skipped because the previous run was still going
  wake      monotonic time at which deadline() must be called, or None

Events (each given now as monotonic and wall seconds):

  begin(mono, wall)                 the schedule was read
  received(times, mono, wall)       the child answered
  rejected(problem, mono, wall)     the child found the expression junk
  child_failed(mono, wall)          the child could not run or said nothing
  deadline(mono, wall, running)     `wake` has passed; RUNNING: ./run is
                                    still going (or its finish, or its group)

Effects, in order: ("ask", after) run the child for the times after wall
time AFTER; ("fire",) start ./run once; ("skip", n) n firings were skipped;
("warn", text) one warning.

Rules (Vixie cron's, as Debian's cron follows them):
  * A firing while the previous run still goes is skipped and counted,
    never overlapped.  Several firing times that passed together (a late
    wake-up, a clock step forward) start one run; the others count as
    skipped.
  * DST is local wall time, left to the child: a time that does not exist
    (spring forward) fires at the jump, as croniter computes; a fixed-time
    job (minute and hour fields without '*') fires once in a repeated hour
    (fall back), a wildcard job in both passes (_schedule_cron drops the
    repeat).
  * The system clock stepped forward by up to JUMP: the times passed are
    caught up with one run.  By more than JUMP: they are dropped (not run,
    not counted) and the times after now are asked for.
  * The clock stepped back: a fixed-time job keeps its next time (what has
    run does not run again) unless the step exceeds JUMP; a wildcard job
    asks for the times after the new now.
  * supervise looks at least every RECHECK seconds, so that a clock step
    is noticed within that time; a child that fails is retried then.
"""

JUMP = 3 * 3600.0
STEP = 2.0
RECHECK = 60.0
LOW = 2
KEYWORDS = {
    "@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0", "@daily": "0 0 * * *", "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
_FIELD_CHARS = set("0123456789*/,-?LW#abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")


def parse(data):
    """bytes of `schedule` -> ((zone, expr, wildcard), None) or (None, problem).

    The file holds one line: an optional zone as "TZ=Area/City " (or
    CRON_TZ=), then five cron fields or one of KEYWORDS.  The zone is
    checked by the child; None means the local time of supervise.  Only the
    shape is checked here; croniter has the last word.
    """
    try:
        text = data.decode("ascii")
    except UnicodeDecodeError:
        return None, "not ASCII text"
    lines = [l for l in text.split("\n") if l.strip() and not l.lstrip().startswith("#")]
    if not lines:
        return None, "empty"
    if len(lines) > 1:
        return None, "more than one line"
    words = lines[0].split()
    zone = None
    if words[0].startswith(("TZ=", "CRON_TZ=")):
        zone = words.pop(0).split("=", 1)[1].lstrip(":")
        if not zone or any(c.isspace() or c == "\\" for c in zone) or ".." in zone.split("/"):
            return None, "bad time zone"
    if not words:
        return None, "no cron expression"
    if words[0].startswith("@"):
        expr = KEYWORDS.get(words[0].lower())
        if expr is None or len(words) != 1:
            return None, "unknown keyword %s" % words[0][:20]
    else:
        if len(words) != 5:
            return None, "not five fields"
        if any(not set(w) <= _FIELD_CHARS for w in words):
            return None, "bad character in a field"
        expr = " ".join(words)
    fields = expr.split()
    wildcard = fields[0].startswith("*") or fields[1].startswith("*")
    return (zone, expr, wildcard), None


def parse_times(data):
    """The child's output -> ([wall seconds], None) or (None, problem)."""
    text = data.decode("ascii", "replace").strip()
    if text.startswith("error: "):
        return None, text[7:].splitlines()[0][:200]
    try:
        times = [float(w) for w in text.split()]
    except ValueError:
        return None, "bad answer from the schedule helper"
    if not times:
        return None, "no firing time"
    return times, None


class Schedule:
    def __init__(self, spec):
        self.zone, self.expr, self.wildcard = spec
        self.times = []
        self.last = None
        self.offset = None
        self.asking = False
        self.broken = None
        self.skipped = 0
        self.wake = None

    def next_fire(self):
        return self.times[0] if self.times and not self.broken else 0.0

    def begin(self, mono, wall):
        self.offset = wall - mono
        return self._ask(wall, mono, wall)

    def received(self, times, mono, wall):
        self.asking = False
        floor = self.last if self.last is not None else float("-inf")
        known = set(self.times)
        self.times = sorted(known.union(t for t in times if t > floor))
        return self._plan(mono, wall)

    def rejected(self, problem, mono, wall):
        self.asking = False
        self.broken = problem
        self.times = []
        self.wake = None
        return [("warn", problem)]

    def child_failed(self, mono, wall):
        self.asking = False
        return self._plan(mono, wall)

    def deadline(self, mono, wall, running):
        effects = []
        offset = wall - mono
        step = 0.0 if self.offset is None else offset - self.offset
        self.offset = offset
        if self.broken:
            self.wake = None
            return effects
        if step < -STEP and (self.wildcard or -step > JUMP):
            self.times = []
            self.last = wall
        elif step > JUMP:
            self.times = [t for t in self.times if t > wall]
            self.last = wall
        due = [t for t in self.times if t <= wall]
        if due:
            self.times = self.times[len(due):]
            self.last = due[-1]
            extra = len(due) - 1
            if running:
                extra += 1
            else:
                effects.append(("fire",))
            if extra:
                self.skipped += extra
                effects.append(("skip", extra))
        return effects + self._plan(mono, wall)

    def _ask(self, after, mono, wall):
        self.asking = True
        self.wake = mono + RECHECK
        return [("ask", after)]

    def _plan(self, mono, wall):
        if self.broken:
            self.wake = None
            return []
        effects = []
        if len(self.times) < LOW and not self.asking:
            after = self.times[-1] if self.times else max(wall, self.last or wall)
            effects = self._ask(after, mono, wall)
        wait = RECHECK
        if self.times:
            wait = min(RECHECK, max(0.0, self.times[0] - wall))
        self.wake = mono + wait
        return effects
