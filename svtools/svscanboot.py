"""svscanboot: start svscan at boot, keep it running, show its errors in ps.

    svscanboot [ DIR ]

svscanboot points its standard input, output and error at /dev/null and
starts `svscan DIR` with an environment of PATH alone (the directory
holding svscanboot followed by the daemontools list /command:/usr/local/bin:
...), its output and error piped into `readproctitle service errors: `
followed by 400 dots.  Both are the svscan and readproctitle of the
installation svscanboot belongs to (run by the same Python), never whatever
PATH finds first.  DIR defaults to /etc/service, as in Debian's daemontools.

svscanboot stays as their parent.  When svscan dies (killed, or exiting
111), svscanboot starts it again, at most once a second; the new svscan
adopts the supervise processes still running, so the tree is neither lost
nor duplicated.  readproctitle is restarted likewise, on the same pipe.
SIGTERM, SIGINT and SIGHUP are passed to svscan, which stops every service
in order; svscanboot exits 0 once svscan has exited (and at once if svscan
exits 0 or 100 by itself), so that init or systemd can act.

Unlike 0.76, svscanboot does not run `svc -dx DIR/* DIR/*/log` first:
svscan adopts supervise processes left over from an earlier start.

Exit codes: 0 after svscan exited 0 (an orderly shutdown); 100 if svscan
exited 100; 111 if the pipe cannot be made.
"""

import os
import select
import _signal as signal
import sys
import time

from . import _strerr

PROG = "svscanboot"
PATH = b"/command:/usr/local/bin:/usr/local/sbin:/bin:/sbin:/usr/bin:/usr/sbin:/usr/X11R6/bin"
DOTS = 400
THROTTLE = 1.0
STOP = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
_RUN = "import sys; sys.path.insert(0, %r); from svtools.%s import main; sys.exit(main(%r + sys.argv[1:]))"


def own(prog, args):
    """argv that runs svtools' PROG from this installation with ARGS."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    return [os.fsencode(sys.executable), b"-IS", b"-c",
            os.fsencode(_RUN % (root, prog, [prog]))] + args


class Boot:

    def __init__(self, scandir, env, r, w):
        self.svscan_argv = own("svscan", [scandir])
        self.title_argv = own("readproctitle", [b"service", b"errors:", b"." * DOTS])
        self.env = env
        self.r, self.w = r, w
        self.svscan = self.title = 0
        self.svscan_at = self.title_at = 0.0      # not before
        self.stopping = 0

    def spawn(self, argv, fds):
        try:
            pid = os.fork()
        except OSError as err:
            _strerr.warn(PROG, "unable to fork", err)
            return 0
        if pid == 0:
            try:
                for sig in STOP + (signal.SIGCHLD, signal.SIGPIPE, signal.SIGXFSZ):
                    signal.signal(sig, signal.SIG_DFL)
                signal.set_wakeup_fd(-1)
                signal.pthread_sigmask(signal.SIG_SETMASK, ())
                for src, dst in fds:
                    os.dup2(src, dst)
                os.execve(argv[0], argv, self.env)
            except OSError as err:
                _strerr.warn(PROG, "unable to run %s" % os.fsdecode(argv[0]), err)
            os._exit(111)
        return pid

    def start(self, now):
        if not self.svscan and not self.stopping and now >= self.svscan_at:
            self.svscan = self.spawn(self.svscan_argv, [(self.w, 1), (self.w, 2)])
            self.svscan_at = now + THROTTLE
        if not self.title and now >= self.title_at:
            self.title = self.spawn(self.title_argv, [(self.r, 0)])
            self.title_at = now + THROTTLE

    def reap(self):
        """Returns svscan's exit code when it has ended the tree, else None."""
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return None
            if pid == 0:
                return None
            if pid == self.title:
                self.title = 0
            elif pid == self.svscan:
                self.svscan = 0
                code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else None
                if self.stopping or code in (0, 100):
                    return code or 0
                # killed or failed: start another, which adopts the tree

    def stop(self, sig):
        if not self.stopping:
            self.stopping = sig
            if self.svscan:
                os.kill(self.svscan, sig)
        return None if self.svscan else 0

    def run(self, wakeup):
        while True:
            now = time.monotonic()
            self.start(now)
            waits = [t - now for t, pid in ((self.svscan_at, self.svscan), (self.title_at, self.title))
                     if not pid]
            timeout = max(0.0, min(waits)) + 0.001 if waits else None
            select.select([wakeup], [], [], timeout)
            try:
                got = os.read(wakeup, 512)
            except BlockingIOError:
                got = b""
            done = self.reap()
            for sig in STOP:
                if sig in got and done is None:
                    done = self.stop(sig)
            if done is not None:
                return done


def main(argv=None) -> int:
    argv = sys.argv if argv is None else argv
    scandir = os.fsencode(argv[1]) if len(argv) > 1 else b"/etc/service"
    here = os.path.dirname(os.fsencode(sys.argv[0]))
    path = (os.path.abspath(here) + b":" + PATH) if here else PATH
    try:
        null = os.open("/dev/null", os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(null, fd)
        if null > 2:
            os.close(null)
    except OSError as e:
        _strerr.fatal(PROG, "unable to open /dev/null", e)
    try:
        r, w = os.pipe()
        wakeup, wakeup_w = os.pipe()
    except OSError as e:
        _strerr.fatal(PROG, "unable to create pipe", e)
    for fd in (wakeup, wakeup_w):
        os.set_blocking(fd, False)
    signal.set_wakeup_fd(wakeup_w, warn_on_full_buffer=False)
    for sig in STOP + (signal.SIGCHLD,):
        signal.signal(sig, lambda signum, frame: None)
    return Boot(scandir, {b"PATH": path}, r, w).run(wakeup)


if __name__ == "__main__":
    sys.exit(main())
