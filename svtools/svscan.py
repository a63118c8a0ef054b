"""svscan: start and watch a collection of services.

    svscan [ -ekp ] [ DIR ]

svscan changes to DIR (default: the current directory) and starts one
supervise for every subdirectory (or symlink to a directory) whose name does
not begin with a dot.  A directory is known by its device and inode, so two
names for it share one supervise.  If NAME/log exists when NAME is first
seen, a second supervise runs in NAME for "log", and a pipe that svscan
keeps open at both ends joins the service's stdout to the logger's stdin, so
neither a logger restart nor a service restart loses a line.

Unlike daemontools 0.76, svscan does not poll: a watcher child watches DIR
with inotify and svscan reacts at once to new, renamed and removed entries,
and to the exit of a supervise, which it starts again (never twice within
one second; five seconds after an exit code of 100 or 111).  It rescans DIR
fully at start, on SIGALRM, when the watcher (re)starts and after an
inotify queue overflow; names that could not be stat'ed are retried every
five seconds.  A directory created in place is taken up half a second after
it appears, so that its log/ can be made.  If DIR is replaced, svscan moves
to the new directory.

A supervise whose lock is held by a live process (left by an earlier
svscan) is adopted, not started twice: svscan watches it, starts a new one
when it dies, and reopens the logger pipe it held.  svscan is a child
subreaper: when a supervise dies while its service runs, it stops that
orphaned service (SIGTERM and SIGCONT, SIGKILL ten seconds later) and
starts the new supervise only once it is gone.

SIGTERM, SIGINT and SIGHUP shut the tree down in order (see svscan(8)):
every service is stopped through its supervise ("dx"), each logger drains
its pipe, and svscan exits 0.

supervise is forked from svscan, without exec, with the process title
"supervise NAME" (or "supervise log").

Options:
  -e  exec supervise from PATH instead of forking it, as 0.76 does.
  -k  die alone on SIGTERM, SIGINT and SIGHUP, as 0.76 does.
  -p  do not use inotify: rescan every five seconds, as 0.76 does (also
      the fallback when inotify is unavailable).

Exit codes: 100 for a bad option, 111 if DIR cannot be entered; 0 after an
orderly shutdown.
"""

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

from . import supervise     # first: what every forked child touches then lies together
from . import _getopt, _pathexec, _siteimport, _status, _strerr, _svscan_policy
from . import _svscan_adopt as adopt
from . import _svscan_watch
from ._svscan_shutdown import Shutdown, parse_timeout_kill

PROG = "svscan"
MAXNAME = 255
PR_SET_CHILD_SUBREAPER = 36
STOP = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


def title(raw):
    """Set the process title to the bytes RAW: what is not UTF-8 is shown
    as \\xNN (the title API takes text)."""
    set_title = _siteimport.setproctitle(keep_environ=True)
    if set_title is not None:
        set_title(raw.decode("utf-8", "backslashreplace"))


def _subreaper():
    """Orphaned services come to us instead of init (Linux 3.4+)."""
    try:
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _kill(pid, sig):
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def _open_fds():
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


class Scanner:
    """Carries out what the _svscan_policy.Table decides."""

    def __init__(self, execmode, inotify, nofile, keep):
        self.execmode = execmode
        self.inotify = inotify
        self.nofile = nofile
        self.keep = sorted(keep)       # what svscan inherited: passed on, as in 0.76
        self.me = os.getpid()
        self.path = os.getcwdb()
        self.environ = _pathexec.initial_environ()   # for every ./run
        self.table = _svscan_policy.Table()
        self.wakeup = None
        self.poller = select.poll()
        self.pidfds = {}           # pidfd -> pid of a process that is not our child
        self.adopted = {}          # adopted supervise pid -> its start time
        self.watcher = None        # (pid, fd) of the inotify watcher
        self.watch_buf = b""
        self.watch_at = None       # when to start the watcher again
        self.watch_last = -1.0
        self.stopping = None       # the Shutdown, once one has begun

    def warn_once(self, name, what, text, err=None):
        if self.table.trouble(name, what):
            _strerr.warn(PROG, text, err)

    @staticmethod
    def close(dropped):
        for e in dropped:
            for fd in (e.r, e.w):
                if fd >= 0:
                    os.close(fd)
            e.r = e.w = -1

    # -- the scan directory -------------------------------------------------

    def moved(self):
        """DIR now names another directory: go there (True), or stay."""
        try:
            there, here = os.stat(self.path), os.stat(b".")
        except OSError:
            return False
        if (there.st_dev, there.st_ino) == (here.st_dev, here.st_ino):
            return False
        try:
            os.chdir(self.path)
        except OSError as err:
            _strerr.warn(PROG, "unable to chdir to %s" % os.fsdecode(self.path), err)
            return False
        return True

    def scan(self):
        if self.moved() and self.watcher:
            os.kill(self.watcher[0], signal.SIGTERM)   # it watches the old one
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

    # -- starting supervise ---------------------------------------------------

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
        starts = self.adopt(starts, now)
        if not starts:
            return
        if not self.execmode:
            gc.freeze()      # the collector must not touch the shared heap
        pids = [0] * len(starts)
        for k in range(len(starts)):
            pids[k] = self.spawn(starts, k)
        self.table.forked(starts, pids, now)

    def adopt(self, starts, now):
        """Take over the supervise processes that already run; the rest."""
        rest = []
        taken = {}
        for e, i in starts:
            pid = adopt.lock_holder(e.label(i) + b"/supervise/lock")
            if pid == 0:
                rest.append((e, i))
                continue
            fd = adopt.pidfd(pid) if pid > 0 else None
            if fd is None:
                self.table.held(e, i, now)     # look again later, quietly
                continue
            self.watch_pid(fd, pid)
            self.adopted[pid] = adopt.starttime(pid)
            self.table.adopted(e, i, pid, now)
            taken.setdefault(e, []).append(i)
        for e, slots in taken.items():
            if e.haslog:
                self.old_pipe(e, slots)
        return rest

    def old_pipe(self, e, slots):
        """Use the pipe the adopted supervise of E holds (logger's stdin,
        service's stdout) instead of the new one."""
        log = (e.pid[1], 0) if 1 in slots else None
        svc = (e.pid[0], 1) if 0 in slots else None
        ino = adopt.pipe_inode(*(log or svc))
        if ino is None or (log and svc and adopt.pipe_inode(*svc) != ino):
            return
        if not log and ino in (adopt.pipe_inode(self.me, 1), adopt.pipe_inode(self.me, 2)):
            return           # svscan's own output: that service had no log then
        try:
            r, w = adopt.reopen_pipe(*(log or svc))
        except OSError as err:
            _strerr.warn(PROG, "unable to reopen pipe for %s" % os.fsdecode(e.name), err)
            return
        self.close([e])
        e.r, e.w = r, w

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
                code = self.child(*starts[k])
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

    def child(self, e, i):
        """In the forked child: become `supervise NAME` (or `log`)."""
        signal.set_wakeup_fd(-1)
        _pathexec.reset_signals((signal.SIGCHLD, signal.SIGALRM) + STOP)
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
        arg = b"log" if i else e.name
        if self.execmode:
            err = _pathexec.run([b"supervise", arg])
            _strerr.warn(PROG, "unable to start supervise %s" % os.fsdecode(e.label(i)), err)
            return 111
        title(b"supervise " + arg)
        return supervise.main(["supervise", os.fsdecode(arg)], self.environ)

    # -- deaths ---------------------------------------------------------------

    def watch_pid(self, fd, pid):
        self.pidfds[fd] = pid
        self.poller.register(fd, select.POLLIN)

    def reap(self):
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else None
            self.died(pid, code)

    def pidfd_ready(self, fd):
        pid = self.pidfds.pop(fd)
        self.poller.unregister(fd)
        os.close(fd)
        self.died(pid, None)

    def died(self, pid, code):
        slot = self.table.supervise_of(pid)
        orphan = self.stop_orphan(pid, *slot) if slot else 0
        self.adopted.pop(pid, None)
        self.close(self.table.reaped(pid, code, orphan, time.monotonic()))
        if self.stopping:
            self.perform(self.stopping.gone())

    def stop_orphan(self, sup, e, i):
        """The dead supervise's service, if it was left running, is ours now."""
        try:
            pid = _status.read(e.label(i) + b"/supervise/status")[2]
        except (OSError, ValueError):
            return 0
        if not pid or self.table.known(pid):
            return 0
        fd = None
        if adopt.ppid(pid) != self.me:
            # the orphan of a supervise we adopted: not our child
            born = self.adopted.get(sup)
            if born is None or adopt.starttime(pid) < born:
                return 0
            fd = adopt.pidfd(pid)
            if fd is None:
                return 0
        # SIGCONT after SIGTERM so that a paused service sees it.
        for sig in (signal.SIGTERM, signal.SIGCONT):
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                if fd is not None:
                    os.close(fd)
                return 0
        if fd is not None:
            self.watch_pid(fd, pid)
        return pid

    # -- the watcher ----------------------------------------------------------

    def start_watcher(self, now):
        self.watch_at = None
        self.watch_last = now
        try:
            pid, fd = _svscan_watch.start(_svscan_policy.WATCH)
        except OSError as err:
            _strerr.warn(PROG, "unable to start watcher", err)
            self.watch_at = now + _svscan_policy.FAILED
            return
        self.watcher = (pid, fd)
        self.watch_buf = None            # None until the watch is in place
        self.poller.register(fd, select.POLLIN)

    def watch_events(self):
        pid, fd = self.watcher
        try:
            data = os.read(fd, 65536)
        except (BlockingIOError, InterruptedError):
            return
        if not data:
            self.poller.unregister(fd)
            os.close(fd)
            self.watcher = None
            now = time.monotonic()
            if self.watch_buf is None:           # it never watched: poll instead
                self.table.start_polling(now)
            else:
                self.watch_at = max(now, self.watch_last + _svscan_policy.THROTTLE)
            return
        events, self.watch_buf = _svscan_watch.decode((self.watch_buf or b"") + data)
        if self.stopping:
            return
        if events[:1] == [(_svscan_watch.READY, b"")]:
            self.scan()
            events = events[1:]
        full, names = self.table.changed(events, time.monotonic())
        if full:
            self.scan()
        else:
            for name in names:
                self.consider(name)

    # -- time and signals -----------------------------------------------------

    def due(self, now):
        """Carry out whatever has come due."""
        table = self.table
        for pid in table.expired(now):
            _kill(pid, signal.SIGKILL)
        if self.stopping:
            self.perform(self.stopping.due(now))
            return
        if self.watch_at is not None and self.watch_at <= now:
            self.start_watcher(now)
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
        if rescan:
            self.scan()
        for name in table.settled(now):
            self.consider(name)
        for name in table.retry_due(now):
            self.consider(name)
        table.arm_retry(now)

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
        if got.intersection(STOP) and not self.stopping:
            self.shutdown()
        if signal.SIGALRM in got and not self.stopping:
            self.scan()

    def shutdown(self):
        tk = {}
        for e in self.table.entries.values():
            try:
                with open(e.name + b"/timeout-kill", "rb") as f:
                    tk[e.key] = parse_timeout_kill(f.read(64))
            except OSError:
                pass
        self.stopping = Shutdown(self.table, tk, time.monotonic())
        self.perform(self.stopping.begin())

    def perform(self, effects):
        for effect in effects:
            what = effect[0]
            if what == "exit":
                raise SystemExit(0)
            e = effect[1]
            if what == "control":
                self.control(e, effect[2], effect[3])
            elif what == "close":
                self.close([e])
            elif what == "kill":
                sup = e.pid[effect[2]]
                try:
                    pid = _status.read(b"/proc/%d/cwd/supervise/status" % sup)[2]
                except (OSError, ValueError):
                    pid = 0
                if pid and adopt.ppid(pid) == sup:
                    _kill(pid, signal.SIGKILL)
            elif what == "kill_supervise":
                _kill(e.pid[effect[2]], signal.SIGKILL)

    def control(self, e, i, letters):
        """Write LETTERS to the supervise of slot I, found through its cwd
        (the name may have been removed)."""
        path = b"/proc/%d/cwd/supervise/control" % e.pid[i]
        try:
            fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC)
            try:
                os.write(fd, letters)
            finally:
                os.close(fd)
        except OSError:        # ENXIO: it has not opened its FIFO yet
            self.stopping.unsent(e, i, letters, time.monotonic())

    def run(self, wakeup):
        self.wakeup = wakeup
        self.poller.register(wakeup, select.POLLIN)
        now = time.monotonic()
        if self.inotify:
            self.start_watcher(now)
        else:
            self.table.start_polling(now)
        self.scan()
        self.reap()
        self.signals()       # SIGTERM during start-up: fork nothing
        while True:
            now = time.monotonic()
            self.due(now)
            self.flush()
            times = [self.table.next_deadline(), self.watch_at,
                     self.stopping and self.stopping.next_deadline()]
            times = [t for t in times if t is not None]
            timeout = None
            if times:
                timeout = max(0, int((min(times) - time.monotonic()) * 1000) + 1)
            for fd, _ in self.poller.poll(timeout):
                if fd == wakeup:
                    self.signals()
                elif self.watcher and fd == self.watcher[1]:
                    self.watch_events()
                elif fd in self.pidfds:
                    self.pidfd_ready(fd)


def main(argv=None) -> int:
    argv = sys.argv if argv is None else argv
    keep = _open_fds()
    try:
        opts, args = _getopt.getopt(argv, "ekp")
    except _getopt.GetoptError:
        _strerr.usage(PROG, "svscan [ -ekp ] [ dir ]")
    letters = {o for o, _ in opts}
    _pathexec.reset_signals()
    r, w = os.pipe()
    for fd in (r, w):
        os.set_blocking(fd, False)
    signal.set_wakeup_fd(w, warn_on_full_buffer=False)
    for sig in (signal.SIGCHLD, signal.SIGALRM) + (() if "k" in letters else STOP):
        signal.signal(sig, lambda signum, frame: None)
    if args:
        try:
            os.chdir(args[0])
        except OSError as err:
            _strerr.fatal(PROG, "unable to chdir to %s" % args[0], err)
    nofile = resource.getrlimit(resource.RLIMIT_NOFILE)
    if nofile[1] == resource.RLIM_INFINITY or nofile[0] < nofile[1]:
        # two descriptors per logged service
        for soft in (nofile[1], 1 << 20, 65536):
            try:
                resource.setrlimit(resource.RLIMIT_NOFILE, (soft, nofile[1]))
                break
            except (OSError, ValueError):
                continue
    scanner = Scanner("e" in letters, "p" not in letters, nofile, keep)
    if "e" not in letters:
        title(b" ".join([b"svscan"] + [os.fsencode(a) for a in args[:1]]))
    _subreaper()
    gc.collect()
    gc.freeze()
    try:
        scanner.run(r)
    except SystemExit as ex:
        if scanner.watcher:
            _kill(scanner.watcher[0], signal.SIGTERM)
        return ex.code
    return 111


if __name__ == "__main__":
    sys.exit(main())
