"""supervise's side of the channels ./run talks through, by knob file
(servicedir(5)): the readiness pipe (notification-fd), the notify socket
(notify-socket) and the pipe of ./run's output (log-events).

KnobIO is a mixin of supervise.Supervisor, which holds the state these
methods use (ready_fd, notify, notify_path, notify_plain, environ, forward,
forwarding, run_pid, watch, poller, machine) and provides perform(), add()
and remove(); it has no state of its own (empty __slots__, so that the
Supervisor's slots stay the whole layout).  Readiness becomes the policy's
ready() and notice() events; nothing here decides anything.  Formats:
_notify (sd_notify(3)'s datagrams), _logevents (the records).
"""

import os
import select
import time

from . import _logevents, _loop, _notify, _spawn

_IN, _OUT = select.POLLIN, select.POLLOUT


class KnobIO:
    __slots__ = ()

    # readiness: notification-fd

    def ready_readable(self):
        try:
            data = os.read(self.ready_fd, _loop.READ)
        except (BlockingIOError, InterruptedError):
            return
        if b"\n" in data:
            self.perform(self.machine.ready(self.run_pid, time.monotonic()))
        if b"\n" in data or not data:
            self.close_ready()

    def close_ready(self):
        if self.ready_fd >= 0:
            self.remove(self.ready_fd)
            os.close(self.ready_fd)
            self.ready_fd = -1

    # readiness: notify-socket

    def notify_env(self, on):
        """NOTIFY_SOCKET in the environment of ./run and ./finish
        (self.environ) while ON and the socket is bound, out of it
        otherwise (_notify.export, unexport); the socket is made at the
        first ON (_notify.bind; self.notify is then the socket, or False
        when it could not be made)."""
        if self.notify is None:
            # notify_path before the first bind: what svscan put into our
            # C environment before it forked us (_spawn.preset), or None
            preset = self.notify_path
            if on:
                plain = self.environ
                self.notify, fd, self.notify_path, self.environ = _notify.bind(
                    self.dirname, plain, preset)
                if fd >= 0:
                    self.notify_plain = plain
                    self.watch[fd] = self.notified
                    self.poller.register(fd, _IN)
                    return
                self.notify = False
            if preset is not None:
                self.notify_path = None
                _spawn.unsetenv(self.environ, _notify.VAR)
            return
        want = on and self.notify_path is not None
        if want != (self.notify_plain is not None):
            if want:
                self.notify_plain = self.environ
                self.environ = _notify.export(self.environ, self.notify_path)
            else:
                self.environ, self.notify_plain = _notify.unexport(self.environ, self.notify_plain), None

    def notified(self):
        for pid, ready, stopping, note in _notify.receive(self.notify, self.run_pid):
            now = time.monotonic()
            if ready:
                self.perform(self.machine.ready(pid, now))
            if stopping or note is not None:
                self.perform(self.machine.notice(pid, stopping, note, now))

    # log-events: ./run's output passes through us

    def forwarder(self):
        if self.forward is None:
            self.forward = f = _logevents.Forwarder()
            self.watch[f.r] = f.read
            self.poller.register(f.r, _IN)
        return self.forward

    def log(self, what, pid, code, sig, ran):
        if self.forward is not None:
            self.forward.record(what, pid, code, sig, ran)

    def forward_sync(self):
        """Read ./run's pipe while nothing waits; else wait for stdout."""
        f = self.forward
        if bool(f.pending) != self.forwarding:
            self.forwarding = not self.forwarding
            if self.forwarding:
                self.remove(f.r)
                self.add(1, f.write, _OUT)
            else:
                self.remove(1)
                self.add(f.r, f.read)
