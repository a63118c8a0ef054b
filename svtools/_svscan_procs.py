"""svscan's processes: forking supervise, adopting, reaping, shutting down.

Scanner (svscan.py) inherits these methods; they share its state: the
table, the poller, the pidfds of the processes that are not svscan's
children, and the Shutdown once it has begun.
"""

import gc
import os
import resource
import select
import _signal as signal
import sys
import time

from . import supervise
from . import _knobs, _loop, _notify, _pathexec, _pools, _proc, _siteimport, _spawn, _status, _strerr
from . import _svscan_adopt as adopt
from ._svscan_shutdown import Shutdown

PROG = "svscan"
STOP = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
NO_ORPHAN = (0, 0, None, None)
# Bound here for child(): unquickened code in a forked child that looks a
# name up in a module or an object writes the page holding the name (it
# takes a reference to it), once per name (docs/performance.md).
_CHILD_CALLS = (signal.set_wakeup_fd, signal.signal, signal.SIG_DFL, (signal.SIGALRM,) + STOP,
                os.dup2, os.closerange, resource.setrlimit, resource.RLIMIT_NOFILE, supervise.main)


def title(raw):
    """Set the process title to the bytes RAW (see _siteimport.showable)."""
    _siteimport.title(raw, keep_environ=True)


def _kill(pid, sig):
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


class Processes:
    # What child() needs, made in flush() for the round being forked:
    # (inherited descriptors, RLIMIT_NOFILE, then for each start its pipe
    # end or None, title, supervise's argv, then the title setter, environ,
    # then for each start its slot and the directory to enter or None,
    # whether supervise is exec'd, then for each start the Knobs and the
    # problems svscan read for it, and the NOTIFY_SOCKET svscan puts into
    # its environment or None, or () for none): the child touches no
    # entry, no tuple of the table's and looks up no name
    # (docs/performance.md).
    child_plan = ((), (0, 0), (), (), (), None, None, (), (), False, (), (), ())

    @staticmethod
    def close_pipe(e):
        for fd in (e.r, e.w):
            if fd >= 0:
                os.close(fd)
        e.r = e.w = -1

    def drop(self, entries):
        for e in entries:
            self.close_pipe(e)
            if e.dirfd >= 0:
                os.close(e.dirfd)
                e.dirfd = -1

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
        # The reserved pools first (_pools): the objects of the plan below
        # then lie in the pages where each child's own new objects go, which
        # it writes anyway, not among svscan's (docs/performance.md).
        _pools.release()
        # Made here rather than in each child, where the pages they touch
        # would be copied (docs/performance.md).
        pipes = [(e.r if i else e.w) if e.haslog else None for e, i in starts]
        args = titles = ()
        set_title = None
        if not self.execmode:
            args = [b"log" if i else e.name for e, i in starts]
            titles = [_siteimport.showable(b"supervise " + arg) for arg in args]
            args = [["supervise", os.fsdecode(arg)] for arg in args]
            set_title = _siteimport.setproctitle(keep_environ=True)
        slots = [i for e, i in starts]
        dirs = [e.name if i else None for e, i in starts]
        knobs = problems = ()
        if not self.execmode:
            # Each supervise's knob files, read here where the work is
            # shared: a child that reads and parses them itself pays about
            # 100 KiB for it (docs/performance.md); it warns the problems.
            problems = [{} for _ in starts]
            knobs = [_knobs.load(problems[k], None, self.slot_base(e, i))
                     for k, (e, i) in enumerate(starts)]
        notify = _notify.presets(starts, knobs, self.environ, self.slot_path)
        self.child_plan = (self.keep, self.nofile, pipes, titles, args, set_title, self.environ,
                           slots, dirs, self.execmode, knobs, problems, notify)
        if not self.execmode:
            gc.freeze()      # the collector must not touch the shared heap
        pids = [0] * len(starts)
        now_set = None
        for k in range(len(starts)):
            if notify and notify[k] is not now_set:
                now_set = notify[k]
                _spawn.preset(_notify.VAR, now_set)
            pids[k] = self.spawn(starts, k)
        if now_set is not None:
            _spawn.preset(_notify.VAR, None)
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
        self.close_pipe(e)
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
                code = self.child(starts, k)
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

    def child(self, starts, k):
        """In the forked child: become `supervise NAME` (or `log`) for
        STARTS[K], the K-th (entry, slot) of this round; the entry is
        looked at only on errors and with -e."""
        # main() reset the signals Python touches and the mask before any
        # fork, and supervise installs its own SIGCHLD handler: undoing only
        # what svscan set since saves each supervise ~35 KiB.
        (set_wakeup_fd, set_signal, default, signals, dup2, closerange, setrlimit, nofile,
         main) = _CHILD_CALLS
        (keep, limits, pipes, titles, args, set_title, environ, slots, dirs, execmode, knobs,
         problems, notify) = self.child_plan
        pipe = pipes[k]
        i = slots[k]
        set_wakeup_fd(-1)
        for sig in signals:
            set_signal(sig, default)
        try:
            if pipe is not None:
                dup2(pipe, 0 if i else 1)
            lo = 3
            for fd in keep:
                closerange(lo, fd)
                lo = fd + 1
            closerange(lo, limits[1] if limits[1] > 0 else 1 << 20)
        except OSError as err:
            label = os.fsdecode(starts[k][0].label(i))
            _strerr.warn(PROG, "unable to set up descriptors for %s" % label, err)
            return 111
        try:
            setrlimit(nofile, limits)
        except (OSError, ValueError):
            pass
        if i:
            try:
                os.chdir(dirs[k])
            except OSError as err:
                _strerr.warn(PROG, "unable to switch to %s" % os.fsdecode(dirs[k]), err)
                return 111
        if execmode:
            e = starts[k][0]
            err = _pathexec.run([b"supervise", b"log" if i else e.name])
            _strerr.warn(PROG, "unable to start supervise %s" % os.fsdecode(e.label(i)), err)
            return 111
        if set_title is not None:
            set_title(titles[k])
        return main(args[k], environ, knobs[k], problems[k], notify[k] if notify else None)

    # -- deaths ---------------------------------------------------------------

    def watch_pid(self, fd, pid):
        self.pidfds[fd] = pid
        self.poller.register(fd, select.POLLIN)

    def reap(self):
        for pid, code, sig in _loop.reap():
            self.died(pid, None if sig else code)

    def pidfd_ready(self, fd):
        pid = self.pidfds.pop(fd)
        self.poller.unregister(fd)
        os.close(fd)
        self.died(pid, None)

    def died(self, pid, code):
        now = time.monotonic()
        slot = self.table.supervise_of(pid)
        orphan = self.find_orphan(pid, *slot, code is None) if slot else NO_ORPHAN
        self.adopted.pop(pid, None)
        self.drop(self.table.reaped(pid, code, orphan[0], now, *orphan[1:]))
        self.orphans(now)
        if self.stopping:
            self.perform(self.stopping.gone())

    def orphans(self, now):
        """Carry out what the table says about orphans (see expired())."""
        for what, target, arg in self.table.expired(now):
            if what == "kill":
                _kill(target, arg)
            elif what == "gone" or not _proc.group_alive(arg):
                self.drop(self.table.group_gone(target, now))
                if self.stopping:
                    self.perform(self.stopping.gone())

    @staticmethod
    def slot_path(e, i, name):
        """NAME in slot I's directory, through the directory's descriptor:
        the name may be gone."""
        path = b"log/" + name if i else name
        if e.dirfd >= 0:
            return b"/proc/self/fd/%d/%s" % (e.dirfd, path)
        return e.name + b"/" + path

    def slot_base(self, e, i):
        """Slot I's directory for _knobs (a str ending in "/")."""
        return os.fsdecode(self.slot_path(e, i, b""))

    def knob(self, e, i, name):
        """Knob file NAME of slot I through _knobs; None when it is missing,
        unreadable or junk (supervise warns about junk)."""
        return _knobs.read(self.slot_base(e, i), name)[0]

    def find_orphan(self, sup, e, i, killed=False):
        """The service the dead supervise SUP (KILLED by a signal) left
        running, if any, as the arguments table.reaped() wants: (pid, pgid,
        down signal, timeout-kill), or NO_ORPHAN."""
        try:
            pid = _status.read(self.slot_path(e, i, b"supervise/status"))[2]
        except (OSError, ValueError):
            pid = 0
        if not pid and killed and sup not in self.adopted:
            # killed before it wrote the pid of the run it had just started,
            # or while ./finish ran: its child is ours now (subreaper)
            pid = adopt.left_behind(self.me, adopt.dir_id(self.slot_path(e, i, b".")),
                                    self.not_orphan)
        if not pid or self.table.known(pid):
            return NO_ORPHAN
        fd = None
        if adopt.ppid(pid) != self.me:
            # the orphan of a supervise we adopted: not our child
            born = self.adopted.get(sup)
            if born is None or adopt.starttime(pid) < born:
                return NO_ORPHAN
            fd = adopt.pidfd(pid)
            if fd is None:
                return NO_ORPHAN
            self.watch_pid(fd, pid)
        pgid = 0
        if self.knob(e, i, "process-group"):
            # supervise made ./run a session leader: its group is its pid
            # (never svscan's own group, whatever ./run did since)
            st = _proc.stat(pid)
            if st is not None and st[2] == pid and pid != os.getpgrp():
                pgid = pid
        return pid, pgid, self.knob(e, i, "down-signal"), self.knob(e, i, "timeout-kill")

    def not_orphan(self, pid):
        return self.table.known(pid) or bool(self.watcher and pid == self.watcher[0])

    def shutdown(self):
        tk = {}
        for e in self.table.entries.values():
            tk[e.key] = self.knob(e, 0, "timeout-kill") or None   # 0: never
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
                self.close_pipe(e)
            elif what == "kill":
                # the supervise's children: its service (or finish), found even
                # when the directory, and so supervise/status, is gone
                for pid in adopt.children(e.pid[effect[2]]):
                    _kill(pid, signal.SIGKILL)
            elif what == "kill_supervise":
                _kill(e.pid[effect[2]], signal.SIGKILL)
            elif what == "strays":
                self.strays(e)

    def strays(self, e):
        """Send the down signal of E's service (and CONT) to what it left
        behind among svscan's children: not a supervise or the watch's
        set-up child, working in the service's directory or holding the
        logger's pipe (which would keep the logger from its end of file)."""
        where = adopt.dir_id(self.slot_path(e, 0, b"."))
        pipe = None
        if e.r >= 0:
            try:
                pipe = b"pipe:[%d]" % os.fstat(e.r).st_ino
            except OSError:
                pass
        sig = self.knob(e, 0, "down-signal") or signal.SIGTERM
        for pid in adopt.children(self.me):
            if self.not_orphan(pid):
                continue
            if adopt.works_in(pid, where) or (pipe and adopt.holds(pid, pipe)):
                _kill(pid, sig)
                _kill(pid, signal.SIGCONT)

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

