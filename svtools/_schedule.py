"""The loop side of scheduled jobs: supervise's hands for _schedule_policy.

Imported by supervise only when a service has a `schedule` file.  Cron runs
the croniter child (python -m svtools._schedule_cron) through supervise's
own spawn, reads its answer from a pipe watched by supervise's poll loop,
and turns the policy's effects into machine commands: a firing is the 'o'
command, as `svc -o` sends it.
"""

import os
# The C core of the signal module (see supervise).
import _signal as signal
import sys
import time

from ._schedule_policy import Schedule, parse_times

COUNT = 10
CHILD_TIMEOUT = 30.0
EARLY = 1.0


class Cron:
    def __init__(self, sup, spec):
        self.sup = sup
        self.spec = spec
        self.policy = Schedule(spec)
        self.pid = 0
        self.fd = -1
        self.data = b""
        self.asked_at = 0.0
        self.shown = None
        self.near = False

    @property
    def wake(self):
        """Monotonic time for the loop's next deadline() call, or None.

        Linux lets poll() end late by 0.1% of its timeout (40 ms for a
        40 s wait): supervise first wakes EARLY seconds before a firing,
        then waits the last stretch, where the slack is 1 ms.
        """
        w = self.policy.wake
        if w is not None and not self.near:
            w -= EARLY
        if self.pid:
            limit = self.asked_at + CHILD_TIMEOUT
            w = limit if w is None else min(w, limit)
        return w

    def begin(self):
        self.perform(self.policy.begin(time.monotonic(), time.time()))

    def deadline(self):
        mono, wall = time.monotonic(), time.time()
        if self.pid and mono >= self.asked_at + CHILD_TIMEOUT:
            try:
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if self.policy.wake is None:
            return
        if mono < self.policy.wake:
            self.near = True
            return
        self.perform(self.policy.deadline(mono, wall, not self.sup.machine.idle()))

    def perform(self, effects):
        self.near = False
        for effect in effects:
            kind = effect[0]
            if kind == "ask":
                self.ask(effect[1])
            elif kind == "fire":
                self.sup.perform(self.sup.machine.command("o", time.monotonic()))
            elif kind == "warn":
                self.sup.knob_warning("schedule", effect[1], None)
        shown = (self.policy.next_fire(), self.policy.skipped)
        if shown != self.shown:
            self.shown = shown
            self.sup.schedule_changed()

    def ask(self, after):
        zone = self.spec[0] or "-"
        argv = [sys.executable, "-m", "svtools._schedule_cron", zone, self.spec[1],
                "%.6f" % after, str(COUNT)]
        try:
            r, w = os.pipe()
        except OSError as e:
            self.sup.knob_warning("schedule", None, e.errno)
            return self.perform(self.policy.child_failed(time.monotonic(), time.time()))
        try:
            self.pid = self.sup.spawn(argv, self.sup.environ, False, [(w, 1)])
        except OSError as e:
            os.close(r)
            self.sup.knob_warning("schedule", None, e.errno)
            return self.perform(self.policy.child_failed(time.monotonic(), time.time()))
        finally:
            os.close(w)
        os.set_blocking(r, False)
        self.fd, self.data, self.asked_at = r, b"", time.monotonic()
        self.sup.add(r, self.readable)

    def readable(self):
        try:
            chunk = os.read(self.fd, 4096)
        except (BlockingIOError, InterruptedError):
            return
        if chunk and len(self.data) < 65536:
            self.data += chunk
            return
        self.sup.remove(self.fd)
        os.close(self.fd)
        self.fd, self.pid = -1, 0   # supervise's reap collects the child
        mono, wall = time.monotonic(), time.time()
        times, problem = parse_times(self.data)
        if times is not None:
            self.perform(self.policy.received(times, mono, wall))
        elif self.data.startswith(b"error: "):
            self.perform(self.policy.rejected(problem, mono, wall))
        else:
            self.perform(self.policy.child_failed(mono, wall))

    def close(self):
        if self.fd >= 0:
            self.sup.remove(self.fd)
            os.close(self.fd)
            self.fd = -1
        if self.pid:
            try:
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.pid = 0
