"""svscan's policy about names: what an inotify event means, and when a name
is looked at again.  Part of _svscan_policy (its Table extends Names).

The loop reports what it saw; Names answers what to look at, and when:

  changed(events, now) -> (rescan?, [name])  inotify's (mask, name) pairs
  looking(name)            NAME is being looked at: no later look is owed
  trouble(name, what) -> bool  NAME could not be taken up; True if WHAT is
                           news (the loop warns only then)
  fine(name)               NAME is no trouble any more
  settled(now) -> [name]   directories made in place, now due
  retry_due(now) -> [name], arm_retry(now)  names in trouble, looked at again
  start_polling(now), poll_due(now) -> bool  the rescan without inotify
  looks() -> [time]        the deadlines above, for the Table's next one
  stop_looking()           svscan is shutting down: no more looks owed

Rules:
  * A name removed or moved away, or trouble with the watch itself (the
    queue overflowed, DIR deleted or moved), means a full rescan; any other
    change is looked at by name alone.  Dot names are ignored.
  * Names that could not be taken up are looked at again every RETRY
    seconds; a directory made in place is taken up after SETTLE seconds;
    without inotify everything is rescanned every POLL seconds.
  * A warning about a name is news once per distinct trouble; a scan that
    no longer finds the name in trouble forgets it (Table.end_scan).

This module performs no I/O and never reads a clock.
"""

# inotify(7) event bits (the kernel ABI; svscan reads them from its watch)
IN_MOVED_FROM, IN_MOVED_TO, IN_CREATE, IN_DELETE = 0x40, 0x80, 0x100, 0x200
IN_DELETE_SELF, IN_MOVE_SELF, IN_Q_OVERFLOW, IN_IGNORED = 0x400, 0x800, 0x4000, 0x8000
IN_ISDIR = 0x40000000

# the changes to DIR that svscan asks inotify for
WATCH = IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_DELETE_SELF | IN_MOVE_SELF

RETRY = 5.0        # look again at names that could not be taken up
POLL = 5.0         # rescan interval without inotify
SETTLE = 0.5       # a directory made in place gets time for its log/


class Names:

    def __init__(self):
        self.warned = {}         # name -> what we last warned about it
        self.retry = set()       # names to look at again
        self.retry_at = None
        self.settle = {}         # name -> when to take it up
        self.poll_at = None

    def looking(self, name):
        self.retry.discard(name)
        self.settle.pop(name, None)

    def trouble(self, name, what):
        self.retry.add(name)
        if self.warned.get(name) == what:
            return False
        self.warned[name] = what
        return True

    def fine(self, name):
        self.warned.pop(name, None)

    def changed(self, events, now):
        """inotify reported EVENTS, (mask, name) pairs; new directories are
        put to settle.  Returns (rescan everything?, names to look at now)."""
        full = False
        names = []
        for mask, name in events:
            if mask & (IN_Q_OVERFLOW | IN_DELETE_SELF | IN_MOVE_SELF | IN_IGNORED):
                full = True
            elif name.startswith(b"."):
                continue
            elif mask & (IN_DELETE | IN_MOVED_FROM):
                full = True
            elif mask & IN_CREATE and mask & IN_ISDIR:
                self.settle[name] = now + SETTLE
            else:
                names.append(name)
        return full, names

    def settled(self, now):
        return [name for name, t in self.settle.items() if t <= now]

    def retry_due(self, now):
        if self.retry_at is None or self.retry_at > now:
            return []
        self.retry_at = None
        return list(self.retry)

    def arm_retry(self, now):
        if self.retry and self.retry_at is None:
            self.retry_at = now + RETRY

    def start_polling(self, now):
        self.poll_at = now + POLL

    def poll_due(self, now):
        if self.poll_at is None or self.poll_at > now:
            return False
        self.poll_at = now + POLL
        return True

    def looks(self):
        times = list(self.settle.values())
        for t in (self.retry_at, self.poll_at):
            if t is not None:
                times.append(t)
        return times

    def stop_looking(self):
        self.retry = set()
        self.settle = {}
        self.retry_at = self.poll_at = None
