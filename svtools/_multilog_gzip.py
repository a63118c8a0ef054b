"""multilog's `z`: compress a directory's archives with gzip in a child.

One child per directory at a time, oldest archive first: the system `gzip`
(found through PATH, niced by 10) reads `@TAI64N.s` (or `.u`) on its
standard input and writes `gzip.new`, which multilog syncs, renames to
`@TAI64N.s.gz` (mode 0744, the name keeps its stamp, so `n` counts it as
the same archive) and then removes the original.  multilog never waits for
the child while input flows; it hears of its end through SIGCHLD.

A child that fails, is killed or cannot be run leaves the archive as it was
and a warning; that archive is tried again after the next compression that
succeeds, or at the next start.  At start-up every uncompressed archive of
the directory is queued, and a `gzip.new` left by a crash is removed.
"""

import os
import _signal as signal  # the C core: the enum wrappers cost 0.8 MB

from . import _pathexec, _strerr

PROG = "multilog"
TEMP = "gzip.new"
NICE = 10


def _candidate(name):
    """An archive to compress: '@', 24 hex digits, '.s' or '.u'."""
    return (len(name) == 27 and name[0] == "@" and name[25] == "."
            and name[26] in "su" and all(c in "0123456789abcdef" for c in name[1:25]))


class Gzip:
    def __init__(self, logdir, level):
        self.dir = logdir
        self.level = level
        self.pid = 0
        self.name = None
        self.failed = set()

    def start(self):
        try:
            os.unlink(TEMP, dir_fd=self.dir.fd)
        except FileNotFoundError:
            pass
        except OSError as e:
            _strerr.warn(PROG, "unable to remove %s/%s" % (self.dir.path, TEMP), e)
        self.kick()

    def kick(self):
        """Start the next compression unless one is running; True if one runs."""
        if self.pid:
            return True
        try:
            names = os.listdir(self.dir.fd)
        except OSError as e:
            _strerr.warn(PROG, "unable to read " + self.dir.path, e)
            return False
        have = set(names)
        todo = sorted(n for n in names if _candidate(n) and n + ".gz" not in have
                      and n not in self.failed)
        if not todo:
            return False
        name = todo[0]
        try:
            pid = os.fork()
        except OSError as e:
            _strerr.warn(PROG, "unable to fork to compress %s/%s" % (self.dir.path, name), e)
            self.failed.add(name)
            return False
        if pid == 0:
            self._child(name)
        self.pid, self.name = pid, name
        return True

    def _child(self, name):
        try:
            _pathexec.reset_signals((signal.SIGTERM, signal.SIGALRM, signal.SIGCHLD))
            os.nice(NICE)
            os.fchdir(self.dir.fd)
            src = os.open(name, os.O_RDONLY)
            dst = os.open(TEMP, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            os.dup2(src, 0)
            os.dup2(dst, 1)
            err = _pathexec.run([b"gzip", b"-c", b"-%d" % self.level])
            _strerr.warn(PROG, "unable to run gzip", err)
        except OSError as e:
            _strerr.warn(PROG, "unable to compress %s/%s" % (self.dir.path, name), e)
        os._exit(111)

    def done(self, status):
        """The child ended with wait STATUS: keep its result or the archive."""
        name, path = self.name, "%s/%s" % (self.dir.path, self.name)
        self.pid, self.name = 0, None
        if os.WIFSIGNALED(status):
            self._fail(name, "gzip crashed compressing %s, keeping it" % path)
        elif os.waitstatus_to_exitcode(status) != 0:
            self._fail(name, "gzip failed compressing %s, keeping it" % path)
        else:
            self._install(name, path)
        self.kick()

    def _install(self, name, path):
        fd = self.dir.fd
        try:
            out = os.open(TEMP, os.O_WRONLY, dir_fd=fd)
            try:
                os.fsync(out)
                os.fchmod(out, 0o744)
            finally:
                os.close(out)
            os.stat(name, dir_fd=fd)  # pruned meanwhile: nothing to replace
            os.rename(TEMP, name + ".gz", src_dir_fd=fd, dst_dir_fd=fd)
        except FileNotFoundError:
            self._remove_temp()
            return
        except OSError as e:
            self._fail(name, "unable to keep the compressed %s, keeping it" % path, e)
            return
        try:
            os.unlink(name, dir_fd=fd)
        except OSError as e:
            _strerr.warn(PROG, "unable to remove " + path, e)
        self.failed.clear()

    def _fail(self, name, text, err=None):
        _strerr.warn(PROG, text, err)
        self.failed.add(name)
        self._remove_temp()

    def _remove_temp(self):
        try:
            os.unlink(TEMP, dir_fd=self.dir.fd)
        except OSError:
            pass
