"""The supervise policy: a pure state machine.

Theory of operation
-------------------
One Machine holds everything supervise decides with:

  want      "up", "down" or "once" (the status byte 'u', 'd' or NUL)
  pid       the running ./run child, 0 when there is none
  paused    set by 'p', cleared by 'c', 'd' and every new start
  exiting   set by 'x', never cleared
  pending   a start was asked for but the throttle holds it back
  wake      monotonic time at which deadline() must be called, or None

Events are method calls, each given `now` (monotonic seconds) by the caller:

  command(letter, now)     one byte read from supervise/control
  child_exited(now)        the ./run child (and only it) was reaped
  started(pid, now)        the "spawn" effect succeeded
  fork_failed(now)         the "spawn" effect could not fork
  deadline(now)            `wake` has passed

Each returns a list of effects for the loop to carry out, in order:

  ("spawn",)        fork and exec ./run, then report started()/fork_failed()
  ("kill", sig)     send sig to pid (pid only, never a group)
  ("touch",)        the status timestamp becomes the wall clock now
  ("status",)       write supervise/status
  ("exit",)         write the status once more and exit 0

Rules:
  * ./run is never started twice within THROTTLE seconds.  A start asked
    for sooner is held as `pending` until `wake` (daemontools sleeps
    instead, deaf to commands; we stay responsive).
  * A failed fork is retried after FORK_RETRY seconds.
  * The timestamp moves only when pid changes (a start or a reap).
  * 'x' makes supervise exit as soon as no child runs; it never signals.
  * A byte that is not a known letter changes nothing and does nothing.

This module performs no I/O and never reads a clock.
"""

# The C core of the signal module: the same calls without the enum wrappers,
# which would cost a long-running process 0.8 MB and every start-up 5 ms.
import _signal as signal

THROTTLE = 1.0
FORK_RETRY = 60.0

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

STATUS = [("status",)]


class Machine:
    def __init__(self, want_up=True):
        self.want = "up" if want_up else "down"
        self.pid = 0
        self.paused = False
        self.exiting = False
        self.pending = False
        self.wake = None
        self.next_start = float("-inf")

    def boot(self, now):
        """supervise has set up its files and written a first status."""
        if self.want == "up":
            return self._trystart(now)
        return []

    def command(self, letter, now):
        handler = _COMMANDS.get(letter)
        if handler is not None:
            return handler(self, now) + self._maybe_exit()
        sig = SIGNALS.get(letter)
        if sig is not None and self.pid:
            return [("kill", sig)]
        return []

    def child_exited(self, now):
        self.pid = 0
        effects = [("touch",), ("status",)]
        if self.exiting:
            return effects + [("exit",)]
        if self.want == "up":
            effects += self._trystart(now)
        return effects

    def started(self, pid, now):
        self.pid = pid
        self.paused = False
        self.next_start = now + THROTTLE
        return [("touch",), ("status",)]

    def fork_failed(self, now):
        self.next_start = now + FORK_RETRY
        self.pending = True
        self.wake = self.next_start
        return []

    def deadline(self, now):
        if self.wake is None or now < self.wake:
            return []
        self.wake = None
        if self.pending and not self.pid:
            return self._trystart(now)
        self.pending = False
        return []

    def _trystart(self, now):
        if self.pid:
            return []
        if now < self.next_start:
            self.pending = True
            self.wake = self.next_start
            return []
        self.pending = False
        self.wake = None
        return [("spawn",)]

    def _maybe_exit(self):
        if self.exiting and not self.pid:
            return [("exit",)]
        return []

    # control letters that change state; each returns its effects

    def _up(self, now):
        self.want = "up"
        return STATUS + self._trystart(now)

    def _once(self, now):
        self.want = "once"
        return STATUS + self._trystart(now)

    def _down(self, now):
        self.want = "down"
        self.pending = False
        self.wake = None
        if not self.pid:
            return STATUS
        self.paused = False
        # CONT after TERM, so that a stopped process wakes up to see the TERM.
        return [("kill", signal.SIGTERM), ("kill", signal.SIGCONT)] + STATUS

    def _pause(self, now):
        self.paused = True
        return ([("kill", signal.SIGSTOP)] if self.pid else []) + STATUS

    def _cont(self, now):
        self.paused = False
        return ([("kill", signal.SIGCONT)] if self.pid else []) + STATUS

    def _exit(self, now):
        self.exiting = True
        return STATUS


_COMMANDS = {
    "u": Machine._up,
    "o": Machine._once,
    "d": Machine._down,
    "p": Machine._pause,
    "c": Machine._cont,
    "x": Machine._exit,
}
