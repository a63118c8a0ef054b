"""svscan: start and watch a collection of services.

    svscan [ -ekp ] [ DIR ]

svscan changes to DIR (default: the current directory) and starts one
supervise for every subdirectory (or symlink to a directory) whose name does
not begin with a dot.  A directory is known by its device and inode, so two
names for it share one supervise.  If NAME/log exists when NAME is first
seen, a second supervise runs in NAME for "log", and a pipe that svscan
keeps open at both ends joins the service's stdout to the logger's stdin, so
neither a logger restart nor a service restart loses a line.

Unlike daemontools 0.76, svscan does not poll: it watches DIR with inotify
(a short-lived child, "svscan watcher", imports inotify_simple, makes the
watch and hands its descriptor over: see _svscan_watch) and reacts at once
to new, renamed and removed entries, and to the exit of a supervise, which
it starts again (never twice within one second; five seconds after an exit
code of 100 or 111).  It rescans DIR fully at start, on SIGALRM, whenever a
watch is (re)set up and after an inotify queue overflow; names that could
not be stat'ed are retried every five seconds.  A directory created in
place is taken up half a second after it appears, so that its log/ can be
made.  If DIR is replaced, svscan moves to the new directory.

A supervise whose lock is held by a live process (left by an earlier
svscan) is adopted, not started twice: svscan watches it, starts a new one
when it dies, and reopens the logger pipe it held.  svscan is a child
subreaper: when a supervise dies while its service runs, it stops that
orphaned service as supervise's "d" would (its down-signal, then SIGCONT,
to its process group with process-group; SIGKILL after timeout-kill, or
ten seconds) and starts the new supervise only once it, and its group,
are gone.

SIGTERM, SIGINT and SIGHUP shut the tree down in order (see svscan(8)):
every service is stopped through its supervise ("dx"), each logger drains
its pipe, and svscan exits 0.

supervise is forked from svscan, without exec, with the process title
"supervise NAME" (or "supervise log").

Options:
  -e  exec supervise from PATH instead of forking it, as 0.76 does.
  -k  die alone on SIGTERM, SIGINT and SIGHUP, as 0.76 does.
  -p  do not use inotify: rescan every five seconds, as 0.76 does (also
      the fallback while no watch can be set up).

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

from . import supervise     # (import order: no measured effect on memory per service)
from . import _getopt, _immortal, _pathexec, _prewarm, _strerr, _svscan_policy, _svscan_watch
from ._svscan_procs import PROG, STOP, Processes, title
from . import _loop
from . import _multilog_prewarm

MAXNAME = 255
PR_SET_CHILD_SUBREAPER = 36


def _subreaper():
    """Orphaned services come to us instead of init (Linux 3.4+)."""
    try:
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


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


class Scanner(Processes, _svscan_watch.Watch):
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
        self.watcher = None        # (pid, socket) of the child setting up the watch
        self.setup_by = None       # when to stop waiting for it and poll
        self.watch_fd = None       # the inotify descriptor, once it has come
        self.watch_at = None       # when to set up a watch again
        self.watch_last = -1.0
        self.watch_failed = False
        self.stopping = None       # the Shutdown, once one has begun

    def warn_once(self, name, what, text, err=None):
        if self.table.trouble(name, what):
            _strerr.warn(PROG, text, err)

    # -- the scan directory -------------------------------------------------

    def moved(self):
        """DIR now names another directory: go there (True), or stay."""
        if self.at_dir() is not False:
            return False
        try:
            os.chdir(self.path)
        except OSError as err:
            _strerr.warn(PROG, "unable to chdir to %s" % os.fsdecode(self.path), err)
            return False
        return True

    def at_dir(self):
        """True if DIR still leads to the current directory, False if it
        leads to another, None if it leads nowhere."""
        try:
            there, here = os.stat(self.path), os.stat(b".")
        except OSError:
            return None
        return (there.st_dev, there.st_ino) == (here.st_dev, here.st_ino)

    def scan(self):
        if self.moved() and (self.watcher or self.watch_fd is not None):
            self.unwatch(time.monotonic())     # it watches the old one
        elif self.at_dir() is None and self.table.poll_at is None:
            # DIR is gone: the watch on what was DIR says nothing more (its
            # DELETE_SELF waits for our cwd to go); poll until DIR is back
            self.table.start_polling(time.monotonic())
        try:
            names = os.listdir(b".")
        except OSError as err:
            _strerr.warn(PROG, "unable to read directory", err)
            self.table.scan_failed()
            return
        self.table.begin_scan()
        for name in names:
            self.consider(name)
        self.drop(self.table.end_scan())

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
        try:
            dirfd = os.open(name, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        except OSError as err:
            self.warn_once(name, ("open", err.errno), "unable to open %s" % text, err)
            return None
        r = w = -1
        if haslog:
            try:
                r, w = os.pipe()
            except OSError as err:
                self.warn_once(name, ("pipe", err.errno), "unable to create pipe for %s" % text, err)
                os.close(dirfd)
                return None
        return self.table.add(key, name, haslog, r, w, dirfd)

    # -- time and signals -----------------------------------------------------

    def due(self, now):
        """Carry out whatever has come due."""
        table = self.table
        self.orphans(now)
        if self.stopping:
            self.perform(self.stopping.due(now))
            return
        if self.watch_at is not None and self.watch_at <= now:
            self.start_watcher(now)
        if self.setup_by is not None and self.setup_by <= now:
            self.setup_slow(now)
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
        got = _loop.drain(self.wakeup)
        if signal.SIGCHLD in got:
            self.reap()
        if got.intersection(STOP) and not self.stopping:
            self.shutdown()
        if signal.SIGALRM in got and not self.stopping:
            self.scan()

    def run(self, wakeup):
        self.wakeup = wakeup
        self.poller.register(wakeup, select.POLLIN)
        self.scan()
        self.reap()
        self.signals()       # SIGTERM during start-up: fork nothing
        self.flush()
        # The watch is set up after the first supervise processes, where the
        # long-lived watcher had to be forked (before them it cost each about
        # 40 KiB); for the set-up child, which exits, the order makes no
        # difference beyond noise (bench/svscan.py memory, 3 pairs).  Its
        # hand-over makes svscan rescan, so nothing is missed.
        if self.inotify:
            self.start_watcher(time.monotonic())
        else:
            self.table.start_polling(time.monotonic())
        while True:
            now = time.monotonic()
            self.due(now)
            self.flush()
            times = [self.table.next_deadline(), self.watch_at, self.setup_by,
                     self.stopping and self.stopping.next_deadline()]
            times = [t for t in times if t is not None]
            timeout = None
            if times:
                timeout = max(0, int((min(times) - time.monotonic()) * 1000) + 1)
            for fd, _ in self.poller.poll(timeout):
                if fd == wakeup:
                    self.signals()
                elif fd == self.watch_fd:
                    self.watch_events()
                elif self.watcher and fd == self.watcher[1].fileno():
                    self.setup_done()
                elif fd in self.pidfds:
                    self.pidfd_ready(fd)


def ready_to_fork(environ):
    """What svscan does once, before its first fork, so that each forked
    supervise shares what it can: the one-time work of supervise and of
    an in-child multilog done here (ENVIRON: supervise's environment),
    then the garbage collected and the objects left made immortal (where
    _immortal.ENABLED: a child's uses of them write no page).  Not with
    -e, where each supervise is a program of its own."""
    supervise.preload()     # _socket, once here rather than in each supervise
    _prewarm.run(environ)   # one-time writes made here, shared by every child
    _multilog_prewarm.run()  # the same for loggers run in supervise's child
    gc.collect()
    _immortal.freeze()


def main(argv=None) -> int:
    argv = sys.argv if argv is None else argv
    keep = _open_fds()
    try:
        opts, args = _getopt.getopt(argv, "ekp")
    except _getopt.GetoptError:
        _strerr.usage(PROG, "svscan [ -ekp ] [ dir ]")
    letters = {o for o, _ in opts}
    _pathexec.reset_signals()
    try:
        r = _loop.wakeup((signal.SIGCHLD, signal.SIGALRM) + (() if "k" in letters else STOP))
    except OSError as err:
        _strerr.fatal(PROG, "unable to create pipe", err)
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
    if "e" not in letters:
        ready_to_fork(scanner.environ)
    else:
        gc.collect()
    gc.freeze()
    try:
        scanner.run(r)
    except SystemExit as ex:
        if scanner.watcher:
            pid = scanner.watcher[0]
            scanner.forget_watcher(kill=True)
            try:
                os.waitpid(pid, 0)
            except ChildProcessError:    # reaped already
                pass
        return ex.code
    return 111


if __name__ == "__main__":
    sys.exit(main())
