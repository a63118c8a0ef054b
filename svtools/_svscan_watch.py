"""svscan's inotify watch: set up by a short-lived child, read by svscan.

svscan never imports inotify_simple: its imports (enum, ctypes, the import
machinery writing libpython's frozen importlib code) would be paid by every
supervise svscan forks (about 680 KiB each), and a child that kept them for
as long as svscan runs cost 39 KiB of private memory per service at 100
services (bench/svscan.py memory).  So start() forks a set-up child, titled
"svscan watcher", that imports inotify_simple, makes the inotify instance
and the watch on the current directory, hands the inotify descriptor to
svscan over an AF_UNIX socket pair (SCM_RIGHTS, through the _socket C
module that svscan has loaded anyway) and exits.  svscan then polls and
reads the descriptor itself; parse() decodes what the kernel writes there.

The socket carries one message from the child, a native int32 (struct
"i"): 0 with the descriptor attached (the watch is in place), an errno
number (the watch could not be made: no inotify, DIR gone) or -1
(inotify_simple could not be imported).  End of file without a message
means the child died first.  receive() sorts this out for svscan.
"""

import errno
import os
import select
# The C core of the signal module: no enum wrappers (see supervise).
import _signal as signal
import struct
import time

from . import _notify, _strerr
from . import _svscan_policy as policy

PROG = "svscan"
TITLE = "svscan watcher"
# the watch is gone: DIR deleted or moved away, or the watch removed
GONE = policy.IN_IGNORED | policy.IN_DELETE_SELF | policy.IN_MOVE_SELF
READ_SIZE = 65536            # inotify(7): a read returns whole events only
NO_MODULE = -1               # the child's message: ImportError

_INT = struct.Struct("i")
# inotify(7), struct inotify_event: int wd; uint32_t mask, cookie, len;
# then len bytes of name, NUL-terminated and padded with NULs (len counts
# the padding).  Native byte order and alignment, as the kernel writes it.
_EVENT = struct.Struct("iIII")
DIR_WD = 1                   # the first watch of a new inotify instance
# DIR's parent is watched too, for DIR's own name: while svscan's working
# directory is DIR, removing DIR sends no IN_DELETE_SELF (the inode lives on)
PARENT = policy.IN_CREATE | policy.IN_MOVED_TO | policy.IN_DELETE | policy.IN_MOVED_FROM


def parse(data, others=None):
    """Decode the bytes of one read() of an inotify descriptor.

    Returns ([(mask, name bytes)], junk): every whole record in DATA, the
    name without its NUL padding (b"" for an event about the watched
    directory itself), and junk True when DATA ends in bytes that are not a
    whole record (the kernel never splits one: something else wrote
    them).  With a list OTHERS, the records of watches after the first
    (wd 1: DIR's; wd 2 is DIR's parent's) go there instead.
    Never raises."""
    events = []
    pos = 0
    end = len(data)
    while pos + _EVENT.size <= end:
        wd, mask, _, size = _EVENT.unpack_from(data, pos)
        at = pos + _EVENT.size
        if at + size > end:
            break
        name = data[at:at + size]
        nul = name.find(b"\0")
        # IN_Q_OVERFLOW comes with wd -1: it is about every watch
        (events if others is None or wd <= DIR_WD else others).append(
            (mask, name if nul < 0 else name[:nul]))
        pos = at + size
    return events, pos != end


def start(mask):
    """Fork the set-up child for a watch with MASK (inotify(7) IN_* bits)
    on the current directory.  Returns (pid, socket): a non-blocking
    _socket.socket to poll for POLLIN, then to give to receive().  The
    child writes nothing to stderr: svscan says what went wrong.
    OSError if the socket pair or the fork fails."""
    sock = _notify.load_socket()
    parent, child = sock.socketpair(sock.AF_UNIX, sock.SOCK_SEQPACKET, 0)
    try:
        pid = os.fork()
    except OSError:
        parent.close()
        child.close()
        raise
    if pid == 0:
        try:
            parent.close()
            _setup(child, mask)
        finally:
            os._exit(0)
    child.close()
    parent.setblocking(False)
    return pid, parent


def receive(sock):
    """What the set-up child said on SOCK (from start()): None while it has
    said nothing; else (fd, 0) with the inotify descriptor (close-on-exec),
    (None, errno number), (None, NO_MODULE), or (None, None) when the child
    died without a word.  Any other descriptor sent along is closed."""
    m = _notify.load_socket()
    try:
        data, anc, flags, _ = sock.recvmsg(_INT.size, m.CMSG_SPACE(4 * _INT.size),
                                           m.MSG_CMSG_CLOEXEC)
    except (BlockingIOError, InterruptedError):
        return None
    except OSError as err:
        return None, err.errno
    fds = []
    for level, kind, cdata in anc:
        if level == m.SOL_SOCKET and kind == m.SCM_RIGHTS:
            n = len(cdata) // _INT.size
            fds += struct.unpack("%di" % n, cdata[:n * _INT.size])
    code = None
    if len(data) == _INT.size and not flags & (m.MSG_TRUNC | m.MSG_CTRUNC):
        code = _INT.unpack(data)[0]
    fd = None
    if code == 0 and fds:
        fd = fds.pop(0)
    elif code == 0:
        code = None
    for extra in fds:
        os.close(extra)
    return fd, code


class Watch:
    """svscan's side, inherited by its Scanner (with whose state: table,
    poller, scan(), consider(), moved(), at_dir(), stopping): sets up
    the watch, reads it, sets it up again when it is gone."""

    def start_watcher(self, now):
        """Fork the child that sets up the watch (see _svscan_watch)."""
        self.watch_at = None
        self.watch_last = now
        self.moved()
        if not self.at_dir():
            # DIR is gone (or moved away and not made again): watching what
            # was DIR would never tell; poll the old one, and look for DIR
            # every second (a replacement is usually made at once)
            if self.table.poll_at is None:
                self.table.start_polling(now)
            self.watch_at = now + policy.THROTTLE
            return
        try:
            self.watcher = start(policy.WATCH)
        except OSError as err:
            _strerr.warn(PROG, "unable to start watcher", err)
            self.watch_at = now + policy.FAILED
            return
        self.setup_by = now + policy.POLL
        self.poller.register(self.watcher[1].fileno(), select.POLLIN)

    def setup_done(self):
        """The set-up child has spoken (or died): take its word."""
        got = receive(self.watcher[1])
        if got is None:
            return
        self.forget_watcher()
        fd, code = got
        now = time.monotonic()
        if fd is not None:
            self.watch_failed = False
            self.watch_fd = fd
            os.set_blocking(fd, False)
            self.poller.register(fd, select.POLLIN)
            if self.stopping:
                return
            if self.at_dir():
                self.table.poll_at = None
            self.scan()       # what was made before the watch was in place
        elif code is None:
            # killed, say: try again, no sooner than a second after the last
            self.watch_at = max(now, self.watch_last + policy.THROTTLE)
        else:
            # no inotify, DIR gone, no inotify_simple: poll, try again
            # later, and warn only the first time
            if not self.watch_failed:
                if code == NO_MODULE:
                    _strerr.warn(PROG, "unable to import inotify_simple")
                else:
                    _strerr.warn(PROG, "unable to watch directory", code)
            self.watch_failed = True
            if self.table.poll_at is None:
                self.table.start_polling(now)
            self.watch_at = now + policy.POLL

    def setup_slow(self, now):
        """The set-up child hangs: poll meanwhile; it may still send."""
        self.setup_by = None
        if self.table.poll_at is None:
            self.table.start_polling(now)

    def forget_watcher(self, kill=False):
        if self.watcher is None:
            return
        pid, sock = self.watcher
        if kill:
            # SIGKILL: until the child has reset its handlers, a signal it
            # catches would be written to svscan's own wake-up pipe
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.poller.unregister(sock.fileno())
        sock.close()
        self.watcher = None
        self.setup_by = None

    def unwatch(self, now):
        """Drop the watch (and any set-up under way); set up a new one."""
        self.forget_watcher(kill=True)
        if self.watch_fd is not None:
            self.poller.unregister(self.watch_fd)
            os.close(self.watch_fd)
            self.watch_fd = None
        self.watch_at = max(now, self.watch_last + policy.THROTTLE)

    def watch_events(self):
        try:
            data = os.read(self.watch_fd, READ_SIZE)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as err:
            # EINVAL (a record larger than READ_SIZE) cannot come from the
            # kernel: whatever this descriptor is, set up a new watch
            _strerr.warn(PROG, "unable to read inotify watch", err)
            data = b""
        now = time.monotonic()
        parent = []
        events, junk = parse(data, parent)
        base = self.path.rstrip(b"/").rpartition(b"/")[2]
        if not data or any(mask & GONE for mask, _ in events) \
                or any(name == base for _, name in parent):
            # DIR deleted, moved or made again (or the watch removed): this
            # watch will say nothing more; the rescan below moves to a new
            # DIR, if any
            self.unwatch(now)
            junk = True
        if self.stopping:
            return
        full, names = self.table.changed(events, now)
        if full or junk:
            self.scan()
        else:
            for name in names:
                self.consider(name)


def _no_find_library():
    """inotify_simple asks ctypes.util.find_library("c") for libc, which
    imports shutil, re and subprocess and runs /sbin/ldconfig: the set-up
    would take about 2 MiB more and much longer.  CDLL(None), what
    find_library's None gives, reaches libc's inotify calls as well."""
    import sys
    import types
    util = types.ModuleType("ctypes.util")
    util.find_library = lambda name: None
    sys.modules.setdefault("ctypes.util", util)


def _setup(sock, mask):
    """In the child: make the watch and send it, or the reason it failed."""
    from . import _siteimport
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGALRM):
        signal.signal(sig, signal.SIG_DFL)
    signal.set_wakeup_fd(-1)
    fd = sock.fileno()
    os.closerange(3, fd)
    os.closerange(fd + 1, 2 ** 31 - 1)
    _siteimport.title(TITLE, keep_environ=True)
    _siteimport.site_path()
    _no_find_library()
    m = _notify.load_socket()
    try:
        import inotify_simple
        ino = inotify_simple.INotify()
        ino.add_watch(".", mask)
        here, up = os.stat("."), os.stat("..")
        if (here.st_dev, here.st_ino) != (up.st_dev, up.st_ino):     # not /
            try:
                ino.add_watch("..", PARENT)
            except OSError:
                pass        # unreadable parent: DIR's removal is noticed later
    except ImportError:
        message = (_INT.pack(NO_MODULE), [])
    except OSError as err:
        message = (_INT.pack(err.errno or errno.EIO), [])
    else:
        message = (_INT.pack(0), [(m.SOL_SOCKET, m.SCM_RIGHTS, _INT.pack(ino.fileno()))])
    try:
        sock.sendmsg([message[0]], message[1])
    except OSError:         # svscan has closed its end: it wants no more
        pass
