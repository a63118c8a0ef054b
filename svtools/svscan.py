"""svscan: start and watch a collection of services.

    svscan [ -ep ] [ DIR ]

svscan changes to DIR (default: the current directory) and starts one
supervise for every subdirectory (or symlink to a directory) whose name does
not begin with a dot.  A directory is known by its device and inode, so two
names for it share one supervise.  If NAME/log exists when NAME is first
seen, a second supervise runs in NAME for "log", and a pipe that svscan
keeps open at both ends joins the service's stdout to the logger's stdin, so
neither a logger restart nor a service restart loses a line.

Unlike daemontools 0.76, svscan does not poll: it watches DIR with inotify
and reacts at once to new, renamed and removed entries, and to the exit of
a supervise, which it starts again (never twice within one second; five
seconds after an exit code of 100 or 111).  It rescans DIR fully at start,
on SIGALRM and after an inotify queue overflow; names that could not be
stat'ed are retried every five seconds.  A directory created in place is
taken up half a second after it appears, so that its log/ can be made.
svscan is a child subreaper: when a supervise dies while its service runs,
it stops that orphaned service (SIGTERM and SIGCONT, SIGKILL ten seconds
later) and starts the new supervise only once it is gone.  A removed
directory's supervise keeps running, as in 0.76.

supervise is forked from svscan, without exec, with the process title
"supervise NAME" (or "supervise log").

Options:
  -e  exec supervise from PATH instead of forking it, as 0.76 does.
  -p  do not use inotify: rescan every five seconds, as 0.76 does (also
      the fallback when inotify is unavailable).

Exit codes: 100 for a bad option, 111 if DIR cannot be entered; otherwise
svscan runs until it is killed.
"""

import errno
import gc
import os
import resource
import select
# The C core of the signal module: the enum wrappers of `signal` would run
# in every forked child when it resets its signals, dirtying ~170 KiB each.
import _signal as signal
import stat
import sys
import time

from . import supervise     # (import order: no measured effect on memory per service)
from . import _getopt, _inotify, _pathexec, _prewarm, _scantable, _siteimport, _status, _strerr

PROG = "svscan"
MAXNAME = 255
PR_SET_CHILD_SUBREAPER = 36


def _ppid(pid):
    try:
        with open(b"/proc/%d/stat" % pid, "rb") as f:
            data = f.read()
    except OSError:
        return 0
    return int(data[data.rindex(b")") + 2:].split()[1])


def _title(text):
    _siteimport.title(text, keep_environ=True)


def _subreaper():
    """Orphaned services come to us instead of init (Linux 3.4+)."""
    try:
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


class Scanner:
    """Carries out what the _scantable.Table decides."""

    def __init__(self, execmode, inotify, nofile):
        self.execmode = execmode
        self.inotify = inotify
        self.nofile = nofile
        self.me = os.getpid()
        self.environ = _pathexec.initial_environ()   # for every ./run
        self.table = _scantable.Table()
        self.keep = sorted(self._inherited())
        self.wakeup = None
        self.args, self.titles, self.set_title = [], [], None

    @staticmethod
    def _inherited():
        fds = set()
        for name in os.listdir("/proc/self/fd"):
            fd = int(name)
            if fd > 2:
                try:
                    os.fstat(fd)
                except OSError:
                    continue
                fds.add(fd)
        return fds

    def warn_once(self, name, what, text, err=None):
        if self.table.trouble(name, what):
            _strerr.warn(PROG, text, err)

    @staticmethod
    def close(dropped):
        for e in dropped:
            os.close(e.r)
            os.close(e.w)

    def scan(self):
        try:
            names = os.listdir(b".")
        except OSError as err:
            _strerr.warn(PROG, "unable to read directory", err)
            self.table.scan_failed()
            return
        self.table.begin_scan()
        for name in names:
            self.consider(name)
        self.close(self.table.end_scan())

    def consider(self, name):
        if name.startswith(b"."):
            return
        self.table.looking(name)
        text = os.fsdecode(name)
        try:
            st = os.stat(name)
        except OSError as err:
            try:
                os.lstat(name)
            except OSError:
                self.table.fine(name)
                return       # gone again: nothing to say
            self.warn_once(name, err.errno, "unable to stat %s" % text, err)
            return
        if not stat.S_ISDIR(st.st_mode):
            self.table.fine(name)
            return
        key = (st.st_dev, st.st_ino)
        e = self.table.entries.get(key)
        if e is None:
            e = self.new_entry(key, name, text)
            if e is None:
                return
        self.table.seen(e, name, time.monotonic())

    def new_entry(self, key, name, text):
        if self.table.full():
            self.warn_once(name, "full", "unable to start %s: running too many services" % text)
            return None
        haslog = False
        if len(name) <= MAXNAME:
            try:
                os.stat(name + b"/log")
                haslog = True
            except FileNotFoundError:
                pass
            except OSError as err:
                self.warn_once(name, ("log", err.errno), "unable to stat %s/log" % text, err)
                return None
        r = w = -1
        if haslog:
            try:
                r, w = os.pipe()
            except OSError as err:
                self.warn_once(name, ("pipe", err.errno), "unable to create pipe for %s" % text, err)
                return None
        return self.table.add(key, name, haslog, r, w)

    def flush(self):
        """Fork the queued supervise processes in one tight loop.

        Every page svscan writes between two forks ends up private to the
        earlier child, so the loop touches nothing but a list of pids: not
        even the entries, which the table updates once all are forked.
        """
        starts = self.table.take_starts()
        if not starts:
            return
        now = time.monotonic()
        if not self.execmode:
            # Titles made here, not in each child: that is where the pages
            # they touch are still shared (about 30 KiB per supervise).
            self.args = ["log" if i else os.fsdecode(e.name) for e, i in starts]
            self.titles = [_siteimport.showable("supervise " + arg) for arg in self.args]
            self.set_title = _siteimport.setproctitle(keep_environ=True)
            gc.freeze()      # the collector must not touch the shared heap
        pids = [0] * len(starts)
        for k in range(len(starts)):
            pids[k] = self.spawn(starts, k)
        self.table.forked(starts, pids, now)

    def spawn(self, starts, k):
        try:
            pid = os.fork()
        except OSError as err:
            e, i = starts[k]
            _strerr.warn(PROG, "unable to fork for %s" % os.fsdecode(e.label(i)), err)
            return 0
        if pid == 0:
            code = 111
            try:
                code = self.child(*starts[k], k)
            except SystemExit as ex:
                code = ex.code if isinstance(ex.code, int) else 111
            except BaseException:
                import traceback
                traceback.print_exc()
            finally:
                for f in (sys.stdout, sys.stderr):
                    try:
                        f.flush()
                    except (OSError, ValueError):
                        pass
                os._exit(code)
        return pid

    def child(self, e, i, k):
        """In the forked child: become `supervise NAME` (or `log`), the
        K-th of this round of starts."""
        # main() reset the rest before any fork, and supervise installs its
        # own wake-up pipe and SIGCHLD handler: undoing only what svscan.run
        # set saves each supervise ~25 KiB (docs/performance.md).
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGALRM, signal.SIG_DFL)
        try:
            if e.haslog:
                os.dup2(e.r if i else e.w, 0 if i else 1)
            lo = 3
            for fd in self.keep:
                os.closerange(lo, fd)
                lo = fd + 1
            os.closerange(lo, self.nofile[1] if self.nofile[1] > 0 else 1 << 20)
        except OSError as err:
            label = os.fsdecode(e.label(i))
            _strerr.warn(PROG, "unable to set up descriptors for %s" % label, err)
            return 111
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, self.nofile)
        except (OSError, ValueError):
            pass
        if i:
            try:
                os.chdir(e.name)
            except OSError as err:
                _strerr.warn(PROG, "unable to switch to %s" % os.fsdecode(e.name), err)
                return 111
        if self.execmode:
            err = _pathexec.run([b"supervise", b"log" if i else e.name])
            _strerr.warn(PROG, "unable to start supervise %s" % os.fsdecode(e.label(i)), err)
            return 111
        if self.set_title is not None:
            self.set_title(self.titles[k])
        return supervise.main(["supervise", self.args[k]], self.environ)

    def reap(self):
        now = time.monotonic()
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else None
            slot = self.table.supervise_of(pid)
            orphan = self.stop_orphan(*slot) if slot else 0
            self.close(self.table.reaped(pid, code, orphan, now))

    def stop_orphan(self, e, i):
        """The dead supervise's service, if it was left running, is ours now."""
        try:
            pid = _status.read(e.label(i) + b"/supervise/status")[2]
        except (OSError, ValueError):
            return 0
        if not pid or self.table.known(pid) or _ppid(pid) != self.me:
            return 0
        # SIGCONT after SIGTERM so that a paused service sees it.
        for sig in (signal.SIGTERM, signal.SIGCONT):
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                return 0
        return pid

    def due(self, now):
        """Carry out whatever has come due."""
        table = self.table
        rescan = table.poll_due(now)
        for e in table.due(now):
            try:
                st = os.stat(e.name)
                same = (st.st_dev, st.st_ino) == e.key
            except OSError:
                same = False
            if same:
                table.want(e, now)
            else:
                rescan = True
        for pid in table.expired(now):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if rescan:
            self.scan()
        for name in table.settled(now):
            self.consider(name)
        for name in table.retry_due(now):
            self.consider(name)
        table.arm_retry(now)

    def events(self):
        full, names = self.table.changed(self.inotify.read(), time.monotonic())
        if full:
            self.scan()
        else:
            for name in names:
                self.consider(name)

    def signals(self):
        got = set()
        try:
            while True:
                data = os.read(self.wakeup, 512)
                if not data:
                    break
                got.update(data)
        except (BlockingIOError, InterruptedError):
            pass
        if signal.SIGCHLD in got:
            self.reap()
        if signal.SIGALRM in got:
            self.scan()

    def run(self):
        r, w = os.pipe()
        os.set_blocking(r, False)
        os.set_blocking(w, False)
        self.wakeup = r
        signal.set_wakeup_fd(w, warn_on_full_buffer=False)
        for sig in (signal.SIGCHLD, signal.SIGALRM):
            signal.signal(sig, lambda signum, frame: None)
        poller = select.poll()
        poller.register(r, select.POLLIN)
        if self.inotify is not None:
            poller.register(self.inotify.fileno(), select.POLLIN)
        else:
            self.table.start_polling(time.monotonic())
        self.scan()
        self.reap()
        while True:
            self.due(time.monotonic())
            self.flush()
            deadline = self.table.next_deadline()
            timeout = None
            if deadline is not None:
                timeout = max(0, int((deadline - time.monotonic()) * 1000) + 1)
            for fd, _ in poller.poll(timeout):
                if fd == r:
                    self.signals()
                else:
                    self.events()


def _watch(prog):
    try:
        return _inotify.Inotify(".", _scantable.WATCH)
    except AttributeError:       # a libc without inotify
        _strerr.warn(prog, "unable to watch directory", errno.ENOSYS)
    except OSError as err:
        _strerr.warn(prog, "unable to watch directory", err)
    return None


def main(argv=None) -> int:
    argv = sys.argv if argv is None else argv
    try:
        opts, args = _getopt.getopt(argv, "ep")
    except _getopt.GetoptError:
        _strerr.usage(PROG, "svscan [ -ep ] [ dir ]")
    letters = {o for o, _ in opts}
    if args:
        try:
            os.chdir(args[0])
        except OSError as err:
            _strerr.fatal(PROG, "unable to chdir to %s" % args[0], err)
    _pathexec.reset_signals()
    nofile = resource.getrlimit(resource.RLIMIT_NOFILE)
    if nofile[1] == resource.RLIM_INFINITY or nofile[0] < nofile[1]:
        # two descriptors per logged service
        for soft in (nofile[1], 1 << 20, 65536):
            try:
                resource.setrlimit(resource.RLIMIT_NOFILE, (soft, nofile[1]))
                break
            except (OSError, ValueError):
                continue
    inotify = None if "p" in letters else _watch(PROG)
    scanner = Scanner("e" in letters, inotify, nofile)
    if "e" not in letters:
        _title(" ".join(["svscan"] + [os.fsdecode(a) for a in args[:1]]))
    _subreaper()
    if "e" not in letters:
        _prewarm.run()      # one-time writes made here, shared by every child
    gc.collect()
    gc.freeze()
    scanner.run()
    return 111


if __name__ == "__main__":
    sys.exit(main())
