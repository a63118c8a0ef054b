"""svscan's orderly shutdown: stop every service, drain every logger, exit 0.

Theory of operation
-------------------
Shutdown begins when svscan gets SIGTERM, SIGINT or SIGHUP.  The table is
told to start nothing more (Table.stop) and each Entry goes through:

  SERVICE  its supervise was sent "dx": it stops the service with the
           service's own down signal (and timeout-kill), then exits.
  LOG      the service and its supervise are gone.  What the service
           left behind among svscan's own children (a `sleep` its run
           started without exec, now svscan's as subreaper: working in
           the service's directory or holding the logger's pipe) is sent
           the service's down signal and CONT ("strays").  The logger's
           supervise is sent "x" alone (exit once the logger exits; no
           signal), then svscan closes its own two ends of the pipe.  The
           logger reads what is left, sees end of file and exits; its
           supervise exits.  "d" would send the logger TERM with lines
           still in the pipe.
  DONE     nothing of the entry runs.

An entry without a log skips LOG.  When every entry is DONE: ("exit",).

A slot "runs" while its supervise or an orphan it left is alive; the loop
reports each death with gone().  Deadlines, from the start of shutdown:
  KILL       (timeout-kill + 5 s, or 10 s without timeout-kill): SIGKILL
             the service; a logger still waiting for end of file (some
             other process holds the pipe) is sent "d".
  KILL + 2   SIGKILL whatever supervise of the entry still runs.
  KILL + 3   the entry counts as DONE whatever runs.
A control message that cannot be written (the supervise has not opened its
FIFO yet) is written again RESEND seconds later.

Effects: ("control", e, i, letters), ("strays", e) (signal what a
service that ran left behind), ("close", e) (svscan's pipe ends),
("kill", e, i) (SIGKILL slot I's service), ("kill_supervise", e, i),
("exit",).  This module performs no I/O and never reads a clock.
"""

NOKILL = 10.0     # SIGKILL a service this long after shutdown began...
AFTER = 5.0       # ... or this long after its own timeout-kill
RESEND = 0.05

SERVICE, LOG, DONE = "service", "log", "done"


def running(e, i):
    return e.pid[i] > 0 or bool(e.orphan[i])


class Shutdown:

    def __init__(self, table, timeout_kill, now):
        """TIMEOUT_KILL maps an entry's key to its timeout-kill in seconds
        (missing or None: none)."""
        self.table = table
        table.stop()
        self.phase = {}
        self.kill_at = {}
        self.stage = {}
        self.resend = {}          # (key, i) -> [letters, when]
        self.effects = []
        self.ran = set()          # keys of the entries whose service ran
        for e in table.entries.values():
            tk = timeout_kill.get(e.key)
            self.kill_at[e.key] = now + (NOKILL if tk is None else tk + AFTER)
            self.stage[e.key] = 0
            self.phase[e.key] = SERVICE
            if running(e, 0):
                self.ran.add(e.key)
            if e.pid[0] > 0:
                self.effects.append(("control", e, 0, b"dx"))
        self.effects += self._advance()

    def begin(self):
        effects, self.effects = self.effects, []
        return effects

    def _advance(self):
        effects = []
        for e in self.table.entries.values():
            phase = self.phase[e.key]
            if phase == SERVICE and not running(e, 0):
                phase = LOG
                if e.key in self.ran:
                    effects.append(("strays", e))
                if e.haslog:
                    if e.pid[1] > 0:
                        effects.append(("control", e, 1, b"x"))
                    effects.append(("close", e))
            if phase == LOG and not (e.haslog and running(e, 1)):
                phase = DONE
            self.phase[e.key] = phase
        if all(p == DONE for p in self.phase.values()):
            effects.append(("exit",))
        return effects

    def gone(self):
        """A supervise or an orphan has died (the table knows which)."""
        return self._advance()

    def unsent(self, e, i, letters, now):
        """LETTERS could not be written to slot I's supervise."""
        self.resend[(e.key, i)] = [letters, now + RESEND]

    def due(self, now):
        effects = []
        for (key, i), item in list(self.resend.items()):
            e = self.table.entries.get(key)
            if e is None or not e.pid[i] > 0:
                del self.resend[(key, i)]
            elif item[1] <= now:
                del self.resend[(key, i)]
                effects.append(("control", e, i, item[0]))
        for e in self.table.entries.values():
            key = e.key
            if self.phase[key] == DONE:
                continue
            stage = self.stage[key]
            at = self.kill_at[key] + (0, 2, 3)[stage] if stage < 3 else None
            if at is None or at > now:
                continue
            self.stage[key] = stage + 1
            slots = (0, 1) if e.haslog else (0,)
            if stage == 0:
                if self.phase[key] == SERVICE:
                    effects.append(("kill", e, 0))
                elif e.pid[1] > 0:
                    effects.append(("control", e, 1, b"d"))
            elif stage == 1:
                effects += [("kill_supervise", e, i) for i in slots if e.pid[i] > 0]
            else:
                if self.phase[key] == SERVICE and e.haslog:
                    effects.append(("close", e))
                self.phase[key] = DONE
        return effects + self._advance()

    def next_deadline(self):
        times = [item[1] for item in self.resend.values()]
        for key, phase in self.phase.items():
            if phase != DONE and self.stage[key] < 3:
                times.append(self.kill_at[key] + (0, 2, 3)[self.stage[key]])
        return min(times, default=None)
