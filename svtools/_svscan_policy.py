"""svscan's policy: which supervise to start, and when.

Theory of operation
-------------------
The Table keeps one Entry per service directory, keyed by (dev, ino), so
two names for one directory share it.  An Entry has one slot, 0 (the
service), or two when NAME/log existed as the entry was made: 1 is the log.
For each slot i:

  pid[i]        its supervise; 0 when there is none, -1 while queued
  notbefore[i]  monotonic time before which it must not be started
  orphan[i]     pid of a service its dead supervise left running (its
                Orphan in Table.orphans), 0 when none

and for the entry: name (kept up to date while slot 0 is down), haslog,
active (the latest scan saw it), r and w (the log pipe) and dirfd (an
O_PATH descriptor of the directory, which finds its supervise/status once
the name is gone): the loop makes and closes them; the table only carries
them.

svscan.py does every system call and tells the table what it found; each
call is given `now` (monotonic seconds) where time matters and returns what
the loop must do:

  changed(events, now) -> (rescan?, [name])  what inotify said, sorted out
                                  (this and the other calls about names:
                                  _svscan_policy_names)
  add(key, name, haslog, r, w, dirfd)  a new directory, its descriptors made
  seen(e, name, now)              a scan or an event found E under NAME
  take_starts()      -> [(e, i)]  supervise to fork now, in one tight loop
  forked(starts, pids, now)       what came of it: pid, or 0 if fork failed
  supervise_of(pid)  -> (e, i)    whose supervise died, to look for its orphan
  reaped(pid, code, orphan, now, pgid, sig, timeout_kill) -> [e]  entries
                                  dropped: close their descriptors
  group_gone(pid, now) -> [e]     an orphan's process group has no live member
  begin_scan(), scan_failed(), end_scan() -> [e]  likewise
  due(now)           -> [e]       held starts now due: if the name still leads
                                  to the directory, the loop calls want()
  expired(now)       -> [effect]  what to do to orphans now:
                                  ("kill", target, sig)  kill(target, sig);
                                      target -pgid is a group
                                  ("probe", pid, pgid)  group_gone(pid) if
                                      group PGID has no live member
                                  ("gone", pid, pgid)   group_gone(pid)
  next_deadline()    -> when something above comes due, or None

Rules:
  * A slot is never started within THROTTLE seconds of its previous start,
    nor within FAILED seconds of its supervise exiting 100 or 111 (or of a
    failed fork).  A start held back waits in `pending` for its deadline.
  * When a supervise dies and leaves its service running, the orphan is
    stopped as supervise's "d" would stop it: its down signal (TERM when
    the service has no down-signal), then CONT, to the process group PGID
    when the loop found one (process-group), else to the pid; SIGKILL
    timeout-kill later (GRACE without one, or with 0).  The slot is not
    started again until the orphan is reaped and, with a group, until the
    group has no live member: it is probed every PROBE seconds once its
    leader is reaped, and given up KILL_GRACE after its SIGKILL (a member
    may be a zombie that nobody reaps).
  * An entry the latest scan did not see is dropped once both of its
    supervise and its orphans are gone; a running one is left alone.
  * What inotify events mean, and when names are looked at again (retry,
    settle, poll): _svscan_policy_names, whose Names the Table extends.
  * With nothing held back or pending, next_deadline() is None: svscan
    sleeps until something happens.
  * A pid or an entry the table does not know changes nothing.
  * Once stop() is called (svscan is shutting down, see _svscan_shutdown)
    nothing is started again and no deadline but the orphans' is kept.
  * adopted(e, i, pid, now) records a supervise that an earlier svscan
    started and that still holds its lock: it counts as started, and its
    death (the loop watches it) is reaped like that of a child.
  * held(e, i, now): the lock is held by a process that cannot be found;
    the start is tried again FAILED seconds later, quietly.

This module performs no I/O and never reads a clock.
"""

# The C core of the signal module: no enum wrappers (see supervise).
import _signal as signal

# Names, its timings and the inotify bits it sorts out are part of this
# policy; they are imported here so that svscan and the tests find them here.
from ._svscan_policy_names import (IN_CREATE, IN_DELETE, IN_DELETE_SELF, IN_IGNORED,  # noqa: F401
                                   IN_ISDIR, IN_MOVE_SELF, IN_MOVED_FROM, IN_MOVED_TO,
                                   IN_Q_OVERFLOW, POLL, RETRY, SETTLE, WATCH, Names)

THROTTLE = 1.0     # between two starts of one supervise
FAILED = 5.0       # pause after a supervise that exits 100 or 111
GRACE = 10.0       # an orphaned service gets SIGKILL after this
PROBE = 0.05       # how often a leaderless orphaned group is looked at
KILL_GRACE = 1.0   # a group sent SIGKILL is waited for this long at most
MAXSERVICES = 1000
INF = float("inf")

SIGTERM, SIGCONT, SIGKILL = signal.SIGTERM, signal.SIGCONT, signal.SIGKILL


class Entry:
    """One service directory: slot 0 its supervise, slot 1 the log's."""

    __slots__ = ("key", "name", "haslog", "r", "w", "dirfd", "active", "pid", "notbefore",
                 "orphan")

    def __init__(self, key, name, haslog, r=-1, w=-1, dirfd=-1):
        self.key = key
        self.name = name
        self.haslog = haslog
        self.r = r
        self.w = w
        self.dirfd = dirfd
        self.active = True
        self.pid = [0, 0]
        self.notbefore = [0.0, 0.0]
        self.orphan = [0, 0]

    def label(self, i):
        return self.name + b"/log" if i else self.name

    def waiting(self, i):
        """When slot I may be started; INF if it needs no start."""
        if self.pid[i] or self.orphan[i] or (i and not self.haslog):
            return INF
        return self.notbefore[i]


class Orphan:
    """Slot I of E's service, left running by its dead supervise."""

    __slots__ = ("e", "i", "pid", "pgid", "leader", "kill_at", "probe_at", "giveup_at")

    def __init__(self, e, i, pid, pgid, kill_at):
        self.e, self.i, self.pid, self.pgid = e, i, pid, pgid
        self.leader = True          # PID not reaped yet
        self.kill_at = kill_at      # SIGKILL then (INF once sent)
        self.probe_at = INF         # look at the group then
        self.giveup_at = INF        # stop waiting for the group then

    def target(self):
        return -self.pgid if self.pgid else self.pid


class Table(Names):

    def __init__(self):
        Names.__init__(self)
        self.entries = {}        # (dev, ino) -> Entry
        self.children = {}       # supervise pid -> Entry
        self.orphans = {}        # service pid -> Orphan
        self.signals = []        # effects for expired() to hand out
        self.pending = set()     # entries with a start held back
        self.starts = []         # (Entry, i) for take_starts()
        self.stopping = False

    # -- entries -------------------------------------------------------------

    def full(self):
        return len(self.entries) >= MAXSERVICES

    def add(self, key, name, haslog, r=-1, w=-1, dirfd=-1):
        e = self.entries[key] = Entry(key, name, haslog, r, w, dirfd)
        return e

    def seen(self, e, name, now):
        self.fine(name)
        e.active = True
        if not e.pid[0]:
            e.name = name
        self.want(e, now)

    def begin_scan(self):
        self.retry = set()       # the scan looks at every name again
        for e in self.entries.values():
            e.active = False

    def scan_failed(self):
        """The directory could not be read: that proves no entry gone."""
        for e in self.entries.values():
            e.active = True

    def end_scan(self):
        for name in list(self.warned):
            if name not in self.retry:
                del self.warned[name]
        dropped = []
        for e in list(self.entries.values()):
            dropped += self.prune(e)
        return dropped

    def prune(self, e):
        """Drop E if no scan saw it and nothing of it runs: [E], whose
        descriptors must close."""
        if e.active or e.pid[0] or e.pid[1] or e.orphan[0] or e.orphan[1]:
            return []
        del self.entries[e.key]
        self.pending.discard(e)
        return [e]

    # -- starting ------------------------------------------------------------

    def want(self, e, now):
        """Queue whichever supervise of E is missing, or hold it back."""
        if self.stopping:
            return
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

    def take_starts(self):
        starts, self.starts = self.starts, []
        return [(e, i) for e, i in starts if e.pid[i] == -1]

    def forked(self, starts, pids, now):
        """The loop forked STARTS (from take_starts()) as PIDS, 0 for a failure."""
        for (e, i), pid in zip(starts, pids):
            if pid:
                self.started(e, i, pid, now)
            else:
                self.fork_failed(e, i, now)

    def started(self, e, i, pid, now):
        e.pid[i] = pid
        e.notbefore[i] = now + THROTTLE
        self.children[pid] = e

    def fork_failed(self, e, i, now):
        e.pid[i] = 0
        e.notbefore[i] = now + FAILED
        self.pending.add(e)

    def adopted(self, e, i, pid, now):
        self.started(e, i, pid, now)

    held = fork_failed

    def stop(self):
        """svscan is shutting down: start nothing more."""
        self.stopping = True
        for e, i in self.starts:
            if e.pid[i] == -1:
                e.pid[i] = 0
        self.starts = []
        self.pending = set()
        self.stop_looking()

    # -- reaping -------------------------------------------------------------

    def supervise_of(self, pid):
        e = self.children.get(pid)
        if e is None:
            return None
        return e, 0 if e.pid[0] == pid else 1

    def known(self, pid):
        return pid in self.children or pid in self.orphans

    def reaped(self, pid, code, orphan, now, pgid=0, sig=None, timeout_kill=None):
        """PID has been reaped: a supervise that exited with CODE (None if
        killed by a signal), leaving ORPHAN running (0: none), or an orphan.
        For ORPHAN: PGID its process group when it is to be stopped as a
        group (0: not), SIG and TIMEOUT_KILL (seconds) the service's
        down-signal and timeout-kill (None: no file)."""
        e = self.children.pop(pid, None)
        if e is not None:
            i = 0 if e.pid[0] == pid else 1
            e.pid[i] = 0
            if code in (100, 111):
                e.notbefore[i] = max(e.notbefore[i], now + FAILED)
            if orphan:
                self.orphaned(e, i, orphan, pgid, sig, timeout_kill, now)
            return self.restart(e)
        o = self.orphans.get(pid)
        if o is None:
            return []
        o.leader = False
        if o.pgid:
            o.probe_at = now          # the rest of its group may live on
            return []
        return self.forget(o)

    def orphaned(self, e, i, pid, pgid, sig, timeout_kill, now):
        o = self.orphans[pid] = Orphan(e, i, pid, pgid, now + (timeout_kill or GRACE))
        e.orphan[i] = pid
        # CONT after the down signal, so that a stopped process sees it.
        self.signals += [("kill", o.target(), sig or SIGTERM), ("kill", o.target(), SIGCONT)]

    def group_gone(self, pid, now):
        """The group of orphan PID has no live member left."""
        o = self.orphans.get(pid)
        if o is None or o.leader:
            return []
        return self.forget(o)

    def forget(self, o):
        del self.orphans[o.pid]
        o.e.orphan[o.i] = 0
        return self.restart(o.e)

    def restart(self, e):
        if self.stopping:
            return []
        if not e.active:
            return self.prune(e)
        self.pending.add(e)
        return []

    # -- time ----------------------------------------------------------------

    def due(self, now):
        """Entries whose held start has come due."""
        ready = []
        for e in list(self.pending):
            when = min(e.waiting(0), e.waiting(1))
            if when == INF:
                self.pending.discard(e)
            elif when <= now:
                ready.append(e)
        return ready

    def expired(self, now):
        """What to do to the orphans now (see the top)."""
        effects, self.signals = self.signals, []
        for o in self.orphans.values():
            if o.kill_at <= now:
                o.kill_at = INF
                effects.append(("kill", o.target(), SIGKILL))
                if o.pgid:
                    o.giveup_at = now + KILL_GRACE
            if not o.leader and o.probe_at <= now:
                o.probe_at = now + PROBE
                effects.append(("gone" if o.giveup_at <= now else "probe", o.pid, o.pgid))
        return effects

    def next_deadline(self):
        times = [e.waiting(i) for e in self.pending for i in (0, 1)]
        times.extend(o.kill_at for o in self.orphans.values())
        times.extend(o.probe_at for o in self.orphans.values() if not o.leader)
        times.extend(self.looks())
        t = min(times, default=INF)
        return None if t == INF else t
