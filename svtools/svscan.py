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

from . import _getopt, _inotify, _pathexec, _siteimport, _status, _strerr

PROG = "svscan"
MAXSERVICES = 1000
MAXNAME = 255
THROTTLE = 1.0
FAILED = 5.0       # pause after a supervise that exits 100 or 111
RETRY = 5.0        # rescan of names that could not be taken up
POLL = 5.0         # rescan interval without inotify
SETTLE = 0.5       # a directory made in place gets time for its log/
GRACE = 10.0       # an orphaned service gets SIGKILL after this
PR_SET_CHILD_SUBREAPER = 36

from ._inotify import (IN_CREATE, IN_DELETE, IN_DELETE_SELF, IN_IGNORED, IN_ISDIR,
                       IN_MOVE_SELF, IN_MOVED_FROM, IN_MOVED_TO, IN_Q_OVERFLOW)


class Entry:
    """One service directory: [main, log] supervise pids, the log pipe."""

    __slots__ = ("key", "name", "haslog", "r", "w", "active", "pid", "notbefore", "orphan")

    def __init__(self, key, name, haslog, r, w):
        self.key = key
        self.name = name
        self.haslog = haslog
        self.r = r
        self.w = w
        self.active = True
        self.pid = [0, 0]
        self.notbefore = [0.0, 0.0]
        self.orphan = [0, 0]

    def label(self, i):
        return self.name + b"/log" if i else self.name


def _ppid(pid):
    try:
        with open(b"/proc/%d/stat" % pid, "rb") as f:
            data = f.read()
    except OSError:
        return 0
    return int(data[data.rindex(b")") + 2:].split()[1])


def _title(text):
    set_title = _siteimport.setproctitle(keep_environ=True)
    if set_title is not None:
        set_title(text)


def _subreaper():
    """Orphaned services come to us instead of init (Linux 3.4+)."""
    try:
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


class Scanner:

    def __init__(self, execmode, inotify, nofile):
        self.execmode = execmode
        self.inotify = inotify
        self.nofile = nofile
        self.me = os.getpid()
        self.environ = _pathexec.initial_environ()   # for every ./run
        self.table = {}          # (dev, ino) -> Entry
        self.children = {}       # supervise pid -> Entry
        self.orphans = {}        # service pid -> [Entry, i, kill deadline]
        self.pending = set()     # entries with a start held back
        self.starts = []         # (Entry, i) to fork at the next flush()
        self.warned = {}         # name -> what we last warned about it
        self.retry = set()       # names to look at again in RETRY seconds
        self.retry_at = None
        self.settle = {}         # name -> monotonic time to take it up
        self.poll_at = None
        self.keep = sorted(self._inherited())
        self.wakeup = None

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

    # -- scanning --------------------------------------------------------

    def warn_once(self, name, what, text, err=None):
        if self.warned.get(name) != what:
            self.warned[name] = what
            _strerr.warn(PROG, text, err)
        self.retry.add(name)

    def scan(self):
        for e in self.table.values():
            e.active = False
        try:
            names = os.listdir(b".")
        except OSError as err:
            _strerr.warn(PROG, "unable to read directory", err)
            for e in self.table.values():
                e.active = True
            return
        self.retry = set()
        for name in names:
            self.consider(name)
        for name in list(self.warned):
            if name not in self.retry:
                del self.warned[name]
        for e in list(self.table.values()):
            self.prune(e)

    def consider(self, name):
        if name.startswith(b"."):
            return
        self.retry.discard(name)
        self.settle.pop(name, None)
        text = os.fsdecode(name)
        try:
            st = os.stat(name)
        except OSError as err:
            try:
                os.lstat(name)
            except OSError:
                self.warned.pop(name, None)
                return       # gone again: nothing to say
            self.warn_once(name, err.errno, "unable to stat %s" % text, err)
            return
        if not stat.S_ISDIR(st.st_mode):
            self.warned.pop(name, None)
            return
        key = (st.st_dev, st.st_ino)
        e = self.table.get(key)
        if e is None:
            e = self.new_entry(key, name, text)
            if e is None:
                return
        self.warned.pop(name, None)
        e.active = True
        if not e.pid[0]:
            e.name = name
        self.want(e)

    def new_entry(self, key, name, text):
        if len(self.table) >= MAXSERVICES:
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
        e = self.table[key] = Entry(key, name, haslog, r, w)
        return e

    def prune(self, e):
        if e.active or e.pid[0] or e.pid[1] or e.orphan[0] or e.orphan[1]:
            return
        del self.table[e.key]
        self.pending.discard(e)
        if e.haslog:
            os.close(e.r)
            os.close(e.w)

    # -- starting ----------------------------------------------------------

    def want(self, e):
        """Queue whichever supervise of E is missing, or hold it back."""
        now = time.monotonic()
        held = False
        for i in (0, 1) if e.haslog else (0,):
            if e.pid[i] or e.orphan[i]:
                continue
            if now < e.notbefore[i]:
                held = True
            else:
                e.pid[i] = -1
                self.starts.append((e, i))
        if held:
            self.pending.add(e)
        else:
            self.pending.discard(e)

    def flush(self):
        """Fork the queued supervise processes in one tight loop.

        Every page svscan writes between two forks ends up private to the
        earlier child, so nothing else happens in between.
        """
        starts, self.starts = self.starts, []
        if not starts:
            return
        until = time.monotonic() + THROTTLE
        if not self.execmode:
            gc.freeze()      # the collector must not touch the shared heap
        for e, i in starts:
            if e.pid[i] == -1:
                self.spawn(e, i, until)

    def spawn(self, e, i, until):
        try:
            pid = os.fork()
        except OSError as err:
            _strerr.warn(PROG, "unable to fork for %s" % os.fsdecode(e.label(i)), err)
            e.pid[i] = 0
            e.notbefore[i] = until - THROTTLE + FAILED
            self.pending.add(e)
            return
        if pid == 0:
            code = 111
            try:
                code = self.child(e, i)
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
        e.pid[i] = pid
        e.notbefore[i] = until
        self.children[pid] = e

    def child(self, e, i):
        """In the forked child: become `supervise NAME` (or `log`)."""
        label = os.fsdecode(e.label(i))
        signal.set_wakeup_fd(-1)
        for sig in (signal.SIGCHLD, signal.SIGALRM):
            signal.signal(sig, signal.SIG_DFL)
        _pathexec.reset_signals()
        try:
            if e.haslog:
                os.dup2(e.r if i else e.w, 0 if i else 1)
            lo = 3
            for fd in self.keep:
                os.closerange(lo, fd)
                lo = fd + 1
            os.closerange(lo, self.nofile[1] if self.nofile[1] > 0 else 1 << 20)
        except OSError as err:
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
        arg = "log" if i else os.fsdecode(e.name)
        if self.execmode:
            err = _pathexec.run([b"supervise", os.fsencode(arg)])
            _strerr.warn(PROG, "unable to start supervise %s" % label, err)
            return 111
        from . import supervise
        _title("supervise " + arg)
        return supervise.main(["supervise", arg], self.environ)

    # -- events ------------------------------------------------------------

    def reap(self):
        now = time.monotonic()
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            e = self.children.pop(pid, None)
            if e is None:
                orphan = self.orphans.pop(pid, None)
                if orphan is not None:
                    e, i = orphan[0], orphan[1]
                    e.orphan[i] = 0
                    self.restart(e)
                continue
            i = 0 if e.pid[0] == pid else 1
            e.pid[i] = 0
            if os.WIFEXITED(status) and os.WEXITSTATUS(status) in (100, 111):
                e.notbefore[i] = max(e.notbefore[i], now + FAILED)
            self.stop_orphan(e, i, now)
            self.restart(e)

    def stop_orphan(self, e, i, now):
        """The dead supervise's service, if it was left running, is ours now."""
        try:
            pid = _status.read(e.label(i) + b"/supervise/status")[2]
        except (OSError, ValueError):
            return
        if not pid or pid in self.children or pid in self.orphans or _ppid(pid) != self.me:
            return
        # SIGCONT after SIGTERM so that a paused service sees it.
        for sig in (signal.SIGTERM, signal.SIGCONT):
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                return
        e.orphan[i] = pid
        self.orphans[pid] = [e, i, now + GRACE]

    def restart(self, e):
        if not e.active:
            self.prune(e)
            return
        self.pending.add(e)

    def due(self, now):
        """Carry out whatever has come due; returns the next deadline."""
        rescan = False
        for e in list(self.pending):
            when = min(self._waiting(e, 0), self._waiting(e, 1))
            if when == float("inf"):
                self.pending.discard(e)
            if when > now:
                continue
            try:
                st = os.stat(e.name)
                same = (st.st_dev, st.st_ino) == e.key
            except OSError:
                same = False
            if same:
                self.want(e)
            else:
                rescan = True
        for pid, orphan in self.orphans.items():
            if orphan[2] <= now:
                orphan[2] = float("inf")
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        if self.poll_at is not None and self.poll_at <= now:
            self.poll_at = now + POLL
            rescan = True
        if rescan:
            self.scan()
        for name, t in list(self.settle.items()):
            if t <= now:
                self.consider(name)
        if self.retry_at is not None and self.retry_at <= now:
            for name in list(self.retry):
                self.consider(name)
            self.retry_at = None
        if self.retry and self.retry_at is None:
            self.retry_at = now + RETRY

    @staticmethod
    def _waiting(e, i):
        """When slot I of E may be started; inf if it needs no start."""
        if e.pid[i] or e.orphan[i] or (i and not e.haslog):
            return float("inf")
        return e.notbefore[i]

    def next_deadline(self):
        times = [self._waiting(e, i) for e in self.pending for i in (0, 1)]
        times.extend(o[2] for o in self.orphans.values())
        times.extend(self.settle.values())
        for t in (self.retry_at, self.poll_at):
            if t is not None:
                times.append(t)
        t = min(times, default=float("inf"))
        return None if t == float("inf") else t

    def events(self):
        full = False
        names = []
        for mask, name in self.inotify.read():
            if mask & (IN_Q_OVERFLOW | IN_DELETE_SELF | IN_MOVE_SELF | IN_IGNORED):
                full = True
                continue
            if name.startswith(b"."):
                continue
            if mask & (IN_DELETE | IN_MOVED_FROM):
                full = True
            elif mask & IN_CREATE and mask & IN_ISDIR:
                self.settle[name] = time.monotonic() + SETTLE
            else:
                names.append(name)
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
            self.poll_at = time.monotonic() + POLL
        self.scan()
        self.reap()
        while True:
            self.due(time.monotonic())
            self.flush()
            deadline = self.next_deadline()
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
        return _inotify.Inotify(".", IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO
                                | IN_DELETE_SELF | IN_MOVE_SELF)
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
        # loaded once here, shared by every forked supervise
        from . import supervise  # noqa: F401
        _title(" ".join(["svscan"] + [os.fsdecode(a) for a in args[:1]]))
    _subreaper()
    gc.collect()
    gc.freeze()
    scanner.run()
    return 111


if __name__ == "__main__":
    sys.exit(main())
