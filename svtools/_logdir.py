"""A multilog log directory: recovery, writing, rotation, processors, pruning.

LogDir writes a whole read at once, cutting `current` where
_multilog_policy.plan() says daemontools' multilog would have cut it.
Archive names never go back in time: when the wall clock is behind the
newest `@` name in the directory, the archive is named one nanosecond after
it, so that names keep the order of their contents and `n` prunes the
oldest.  Time-based rotation (_multilog_time) and compression
(_multilog_gzip) hang off the directory when its script asks for them.

Every failing step past start-up warns `..., pausing: ERR`, sleeps 5 s and
tries again: a logger must not die of a full disk.
"""

import errno
import fcntl
import os
import _signal as signal  # the C core: the enum wrappers cost 0.8 MB
import time

from . import _pathexec, _strerr, _tai64
from ._multilog_policy import WINDOW, plan
from ._multilog_time import Clock, Rotation

PROG = "multilog"
PAUSE = 5

O_READ = os.O_RDONLY | os.O_NONBLOCK
O_APPEND = os.O_WRONLY | os.O_NONBLOCK | os.O_APPEND | os.O_CREAT
O_TRUNC = os.O_WRONLY | os.O_NONBLOCK | os.O_TRUNC | os.O_CREAT


def pause(text, err=None):
    _strerr.warn(PROG, text + ", pausing", err)
    time.sleep(PAUSE)


def retry(fn, text):
    """FN() until it stops raising OSError, pausing after each failure."""
    while True:
        try:
            return fn()
        except OSError as e:
            pause(text, e)


def _fatal(text, err):
    _strerr.fatal(PROG, text, err)


class LogDir:
    """One log directory, locked and open for appending to `current`."""

    def __init__(self, spec, clock=Clock):
        self.path = spec.path
        self.size = spec.size
        self.num = spec.num
        self.processor = spec.processor
        self.clock = clock
        self.rot = Rotation(spec.age, spec.daily)
        self.gz = None
        if spec.gzip:
            from ._multilog_gzip import Gzip
            self.gz = Gzip(self, spec.gzip)
        self.fd = -1
        self.cur = -1
        self.bytes = 0
        self.newest = ""   # hex digits of the newest archive name seen

    def _name(self, name):
        return "%s/%s" % (self.path, name)

    # ---- start-up (fatal errors) ----

    def start(self):
        path = self.path
        try:
            os.mkdir(path, 0o700)
        except OSError:
            pass
        try:
            self.fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
        except OSError as e:
            _fatal("unable to open directory " + path, e)
        try:
            self.lockfd = os.open("lock", O_APPEND, 0o600, dir_fd=self.fd)
            fcntl.flock(self.lockfd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            _fatal("unable to lock directory " + path, e)
        try:
            self._seen(os.listdir(self.fd))
        except OSError:
            pass  # 0.76 never reads the directory here; names just start from now
        self._open_current()
        if self.bytes:
            self.rot.started(self.clock.monotonic(), self.clock.time_ns() / 1e9)
        if self.gz:
            self.gz.start()

    def _open_current(self):
        path = self.path
        try:
            st = os.stat("current", dir_fd=self.fd)
        except FileNotFoundError:
            st = None
        except OSError as e:
            _fatal("unable to stat %s" % self._name("current"), e)
        if st is not None and st.st_mode & 0o100:
            try:
                self.cur = os.open("current", O_APPEND, 0o600, dir_fd=self.fd)
            except OSError as e:
                _fatal("unable to append to %s" % self._name("current"), e)
            self._set_mode_current()
            self.bytes = st.st_size
            return
        self._recover()

    def _recover(self):
        fd = self.fd
        for name in ("state", "newstate"):
            try:
                os.unlink(name, dir_fd=fd)
            except OSError:
                pass
        try:
            st = os.stat("processed", dir_fd=fd)
        except FileNotFoundError:
            st = None
        except OSError as e:
            _fatal("unable to stat %s" % self._name("processed"), e)
        if st is not None and st.st_mode & 0o100:
            try:
                os.unlink("previous", dir_fd=fd)
            except OSError:
                pass
            self.archive("processed", "s")
        else:
            try:
                os.unlink("processed", dir_fd=fd)
            except OSError:
                pass
            self.archive("previous", "u")
        self.archive("current", "u")
        try:
            os.close(os.open("state", O_TRUNC, 0o644, dir_fd=fd))
        except OSError as e:
            _fatal("unable to write to %s" % self._name("state"), e)
        try:
            self.cur = os.open("current", O_APPEND, 0o600, dir_fd=fd)
        except OSError as e:
            _fatal("unable to write to %s" % self._name("current"), e)
        self._set_mode_current()
        self.bytes = 0

    def _set_mode_current(self):
        try:
            os.fchmod(self.cur, 0o644)
        except OSError as e:
            _fatal("unable to set mode of %s" % self._name("current"), e)

    # ---- writing ----

    def write(self, data):
        """Append DATA (bytes or memoryview) to current, pausing on errors."""
        mv = memoryview(data)
        while len(mv):
            try:
                mv = mv[os.write(self.cur, mv):]
            except OSError as e:
                pause("unable to write to %s" % self._name("current"), e)

    def writev(self, pieces, total):
        """Append the PIECES (TOTAL bytes) in one go where the kernel lets us."""
        try:
            done = os.writev(self.cur, pieces)
        except OSError:
            done = 0
        if done < total:
            self.write(memoryview(b"".join(pieces))[done:])

    def put(self, out, units):
        """Write one read's OUT, rotating where C multilog would."""
        n = len(out)
        if self.bytes + n < self.size - WINDOW:
            self.write(out)
            self.bytes += n
            return
        cuts, after = plan(out, units(), self.bytes, self.size)
        mv = memoryview(out)
        prev = 0
        for cut in cuts:
            self.write(mv[prev:cut])
            self.rotate()
            prev = cut
        self.write(mv[prev:])
        self.bytes = after

    # ---- rotation ----

    def rotate(self):
        fd = self.fd
        cur = self._name("current")
        retry(lambda: os.fsync(self.cur), "unable to write %s to disk" % cur)
        os.close(self.cur)
        retry(lambda: os.rename("current", "previous", src_dir_fd=fd, dst_dir_fd=fd),
              "unable to rename current to previous in directory " + self.path)
        self.cur = retry(lambda: os.open("current", O_APPEND, 0o600, dir_fd=fd),
                         "unable to create " + cur)
        retry(lambda: os.fchmod(self.cur, 0o644), "unable to set mode of " + cur)
        self.bytes = 0
        self.rot.rotated()
        retry(lambda: os.chmod("previous", 0o744, dir_fd=fd),
              "unable to set mode of " + self._name("previous"))
        if self.processor is None:
            self.archive("previous", "s")
        else:
            self._process()

    def _process(self):
        fd = self.fd
        while True:
            try:
                pid = os.fork()
            except OSError as e:
                pause("unable to fork for processor in " + self.path, e)
                continue
            if pid == 0:
                self._child()
            try:
                _, status = os.waitpid(pid, 0)
            except OSError as e:
                pause("wait failed for processor in " + self.path, e)
                continue
            if os.WIFSIGNALED(status):
                # C prints whatever errno was left over; in practice that is
                # ENOENT from an earlier probe, so users see the same text.
                pause("processor crashed in " + self.path, errno.ENOENT)
                continue
            if os.waitstatus_to_exitcode(status) != 0:
                pause("processor failed in " + self.path)
                continue
            break
        processed = self._name("processed")
        pfd = retry(lambda: os.open("processed", O_APPEND, 0o600, dir_fd=fd),
                    "unable to create " + processed)
        retry(lambda: os.fsync(pfd), "unable to write %s to disk" % processed)
        retry(lambda: os.fchmod(pfd, 0o744), "unable to set mode of " + processed)
        os.close(pfd)
        newstate = self._name("newstate")
        nfd = retry(lambda: os.open("newstate", O_APPEND, 0o600, dir_fd=fd),
                    "unable to create " + newstate)
        retry(lambda: os.fsync(nfd), "unable to write %s to disk" % newstate)
        os.close(nfd)
        retry(lambda: _unlink_quiet("previous", fd),
              "unable to remove " + self._name("previous"))
        retry(lambda: os.rename("newstate", "state", src_dir_fd=fd, dst_dir_fd=fd),
              "unable to rename newstate to state in directory " + self.path)
        self.archive("processed", "s")

    def _child(self):
        """In the forked child: set up fds 0, 1, 4, 5 and exec the processor."""
        try:
            _pathexec.reset_signals((signal.SIGTERM, signal.SIGALRM))
            os.fchdir(self.fd)
            for name, flags, target in (("previous", O_READ, 0),
                                        ("processed", O_TRUNC, 1),
                                        ("state", O_READ, 4),
                                        ("newstate", O_TRUNC, 5)):
                f = os.open(name, flags, 0o644)
                if f == target:
                    os.set_inheritable(f, True)
                else:
                    os.dup2(f, target)
                    os.close(f)
            os.execve("/bin/sh", [b"sh", b"-c", os.fsencode(self.processor)], os.environ)
        except OSError as e:
            _strerr.say(os.fsencode("%s: fatal: unable to run %s: %s\n"
                                    % (PROG, self.processor, _strerr.errtext(e))))
        os._exit(111)

    # ---- archives ----

    def archive(self, name, code):
        """Hard-link NAME to @now.CODE (unless done before a crash), remove it, prune."""
        fd = self.fd
        while True:
            try:
                st = os.stat(name, dir_fd=fd)
                break
            except FileNotFoundError:
                return
            except OSError as e:
                pause("unable to stat " + self._name(name), e)
        if st.st_nlink == 1:
            while True:
                target = self._next_name() + "." + code
                try:
                    os.link(name, target, src_dir_fd=fd, dst_dir_fd=fd,
                            follow_symlinks=False)
                    break
                except OSError as e:
                    pause("unable to link to " + self._name(target), e)
        retry(lambda: _unlink_quiet(name, fd), "unable to remove " + self._name(name))
        self.prune()
        if self.gz and self.fd >= 0 and self.cur >= 0:
            self.gz.kick()

    def _next_name(self):
        """@TAI64N of now, or one nanosecond after the newest name seen."""
        ns = self.clock.time_ns()
        secs, nanos = ns // 1000000000, (ns % 1000000000) // 1000 * 1000 + 500
        name = _tai64.stamp(secs, nanos)
        if name[1:] <= self.newest:
            label, nanos = int(self.newest[:16], 16), int(self.newest[16:], 16) + 1
            if nanos >= 1000000000:
                label, nanos = label + 1, 0
            name = "@%016x%08x" % (label, nanos)
        return name

    def _seen(self, names):
        for name in names:
            hexa = name[1:25]
            if name[:1] == "@" and hexa > self.newest and len(hexa) == 24 \
                    and hexa.strip("0123456789abcdef") == "":
                self.newest = hexa

    def prune(self):
        """Remove the oldest archives until fewer than num are left."""
        while True:
            try:
                names = os.listdir(self.fd)
            except OSError as e:
                pause("unable to read " + self.path, e)
                continue
            self._seen(names)
            old = []
            for name in names:
                raw = os.fsencode(name)
                if raw[:1] == b"@" and len(raw) >= 25:
                    old.append((raw[:25], name))
            if len(old) < self.num:
                return
            oldest = min(old)[1]
            try:
                _unlink_quiet(oldest, self.fd)
            except OSError as e:
                pause("unable to remove " + self._name(oldest), e)

    # ---- exit ----

    def finish(self):
        """Mark current complete (mode 0744) after syncing it."""
        cur = self._name("current")
        retry(lambda: os.fsync(self.cur), "unable to write %s to disk" % cur)
        retry(lambda: os.fchmod(self.cur, 0o744), "unable to set mode of " + cur)


def _unlink_quiet(name, fd):
    try:
        os.unlink(name, dir_fd=fd)
    except FileNotFoundError:
        pass
