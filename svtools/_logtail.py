"""Reading log directories back: multilog's (current and the @TAI64N.s/.u
archives) in time order, with their stamps rendered; tail and follow.

_logfind locates the directory.
"""

import posix  # not os: see _strerr

from . import _tai64
from ._strerr import errtext
from ._svinfo import _b, display


HEX = b"0123456789abcdef"
CHUNK = 65536
IN_MODIFY, IN_MOVED_TO, IN_CREATE = 0x2, 0x80, 0x100     # inotify(7)


def line_time(line):
    """Unix time of LINE's stamp: a TAI64N label, an ISO 8601 date-time with
    T (s6-log T), or svlogd's YYYY-MM-DD_HH:MM:SS.  None when unstamped."""
    if line[:1] == b"@" and len(line) >= 25 and not line[1:25].strip(HEX):
        return int(line[1:17], 16) - _tai64.BASE + int(line[17:25], 16) / 1e9
    if len(line) >= 19 and line[10:11] in (b"T", b"_") and line[4:5] == b"-" and line[13:14] == b":":
        try:
            y, mo, d = int(line[0:4]), int(line[5:7]), int(line[8:10])
            h, mi, s = int(line[11:13]), int(line[14:16]), int(line[17:19])
        except ValueError:
            return None
        t = _days(y, mo, d) * 86400 + h * 3600 + mi * 60 + s
        rest = line[19:]
        if rest[:1] in (b".", b","):
            digits = rest[1:] and rest[1:len(rest) - len(rest[1:].lstrip(b"0123456789"))]
            t += int(digits) / 10 ** len(digits) if digits else 0
            rest = rest[1 + len(digits):]
        if rest[:1] in (b"+", b"-") and rest[3:4] == b":" and rest[1:3].isdigit() and rest[4:6].isdigit():
            off = int(rest[1:3]) * 3600 + int(rest[4:6]) * 60
            if rest[6:7] == b":" and rest[7:9].isdigit():     # +HH:MM:SS (multilog T)
                off += int(rest[7:9])
            t -= off if rest[:1] == b"+" else -off
        return t
    return None


def _days(y, m, d):
    """Days from 1970-01-01 to the proleptic Gregorian date Y-M-D."""
    y -= m <= 2
    era = y // 400
    yoe = y - era * 400
    doy = (153 * (m + (-3 if m > 2 else 9)) + 2) // 5 + d - 1
    return era * 146097 + yoe * 365 + yoe // 4 - yoe // 100 + doy - 719468


class Render:
    """TAI64N stamps at line starts -> local (or UTC) time; other lines
    (ISO 8601 stamped ones too) are left alone."""

    def __init__(self, utc=False):
        self.utc = utc
        self.cache = {}

    def __call__(self, line):
        if line[:1] != b"@" or len(line) < 25 or line[1:25].strip(HEX):
            return line
        secs = int(line[1:17], 16) - _tai64.BASE
        text = self.cache.get(secs)
        if text is None:
            import time
            try:
                tm = time.gmtime(secs) if self.utc else time.localtime(secs)
            except (OverflowError, OSError, ValueError):
                return line
            text = b"%04d-%02d-%02d %02d:%02d:%02d" % tm[:6]
            if len(self.cache) > 4096:
                self.cache.clear()
            self.cache[secs] = text
        return b"%s.%03d%s%s" % (text, int(line[17:25], 16) // 1000000,
                                 b"Z" if self.utc else b"", line[25:])


def archives(where):
    """Names of the rotated files in WHERE (@TAI64N.s / .u), oldest first."""
    return sorted(n for n in posix.listdir(where)
                  if n[:1] == b"@" and n[-2:] in (b".s", b".u") and len(n) == 27)


def _read_back(fd, end, n):
    """The last N complete lines of the first END bytes of FD, oldest first."""
    data = b""
    pos = end
    while pos > 0 and data.count(b"\n") <= n:
        step = min(CHUNK, pos)
        pos -= step
        data = posix.pread(fd, step, pos) + data
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    return lines[-n:] if n else []


def last_lines(where, n, fd=None, end=None):
    """The last N lines of the log in WHERE: `current` (FD up to END when
    given), then the archives, newest first, while fewer.  OSError."""
    own = fd is None
    if own:
        fd = posix.open(where + b"/current", posix.O_RDONLY | posix.O_NONBLOCK)
        end = posix.fstat(fd).st_size
    try:
        lines = _read_back(fd, end, n)
    finally:
        if own:
            posix.close(fd)
    if len(lines) < n:
        for name in reversed(archives(where)):
            try:
                afd = posix.open(where + b"/" + name, posix.O_RDONLY | posix.O_NONBLOCK)
            except FileNotFoundError:
                continue
            try:
                lines = _read_back(afd, posix.fstat(afd).st_size, n - len(lines)) + lines
            finally:
                posix.close(afd)
            if len(lines) >= n:
                break
    return lines


def stamped(lines, last=None):
    """[(time, line)]: an unstamped line takes the time of the one before."""
    out = []
    for line in lines:
        t = line_time(line)
        if t is None:
            t = last if last is not None else 0.0
        last = t
        out.append((t, line))
    return out


class Follower:
    """One log directory followed across rotations: `current` through an
    open descriptor; when the name `current` moves to a new file, the old
    one is read to its end (multilog writes nothing after the rename), then
    any archive made meanwhile, then the new `current` from its start."""

    def __init__(self, where):
        self.where = where
        self.fd = posix.open(where + b"/current", posix.O_RDONLY | posix.O_NONBLOCK)
        st = posix.fstat(self.fd)
        self.ino, self.pos = st.st_ino, st.st_size
        self.known = set(archives(where))
        self.done = []   # (inode, size, mtime) of files read to their end
        self.partial = b""
        self.last = None
        self.trouble = None

    def _drain(self):
        chunks = []
        while True:
            data = posix.pread(self.fd, 1 << 20, self.pos)
            if not data:
                break
            self.pos += len(data)
            chunks.append(data)
        if not chunks:
            return []
        data = self.partial + b"".join(chunks)
        lines = data.split(b"\n")
        self.partial = lines.pop()
        return lines

    def fresh(self):
        """New complete lines since the last call, [(time, line)]; OSError."""
        lines = self._drain()
        try:
            ino = posix.stat(self.where + b"/current").st_ino
        except FileNotFoundError:
            ino = self.ino  # caught between the rename and the new current
        if ino != self.ino:
            lines += self._drain()
            if self.partial:
                lines.append(self.partial)
                self.partial = b""
            self.done.append(_key(self.fd))
            fd = posix.open(self.where + b"/current", posix.O_RDONLY | posix.O_NONBLOCK)
            new = posix.fstat(fd).st_ino
            # An archive shows up only after the new current (multilog
            # renames current to previous, makes current, then links
            # previous to @TAI64N.s), so a new name may be the file just
            # followed.  Inodes are reused once files are pruned: a file is
            # known by inode, size, mtime and its ends, which no longer change.
            names = archives(self.where)
            for name in names:
                if name in self.known:
                    continue
                try:
                    afd = posix.open(self.where + b"/" + name, posix.O_RDONLY | posix.O_NONBLOCK)
                except FileNotFoundError:
                    continue
                try:
                    key = _key(afd)
                    if key[0] != new and key not in self.done:
                        lines += _split(_whole(afd))
                        self.done.append(key)
                finally:
                    posix.close(afd)
            self.known = set(names)
            self.done = self.done[-64:]
            posix.close(self.fd)
            self.fd, self.ino, self.pos = fd, new, 0
            lines += self._drain()
        if self.last is None and lines:
            import time
            self.last = time.time()
        out = stamped(lines, self.last)
        if out:
            self.last = out[-1][0]
        return out


def _key(fd):
    st = posix.fstat(fd)
    return (st.st_ino, st.st_size, st.st_mtime_ns, posix.pread(fd, 64, 0),
            posix.pread(fd, 64, max(0, st.st_size - 64)))


def _split(data):
    lines = data.split(b"\n")
    if lines[-1] == b"":
        lines.pop()
    return lines


def _whole(fd):
    chunks = []
    pos = 0
    while True:
        data = posix.pread(fd, 1 << 20, pos)
        if not data:
            return b"".join(chunks)
        chunks.append(data)
        pos += len(data)


PALETTE = (b"\033[36m", b"\033[35m", b"\033[34m", b"\033[33m", b"\033[32m", b"\033[31m")


def tail(entries, n, follow, prefix=True, utc=False, colour=False, out=None, warn=None):
    """Print the last N lines of each (label, directory) in ENTRIES, merged
    in time order; with FOLLOW, keep printing new ones.  OUT takes bytes,
    WARN a line of text.  Returns 0, or 1 when a directory could not be read."""
    render = Render(utc)
    width = max([len(label) for label, _ in entries] or [0])
    heads = []
    for i, (label, _) in enumerate(entries):
        head = _b(label.ljust(width)) + b" | " if prefix else b""
        if prefix and colour:
            head = PALETTE[i % len(PALETTE)] + _b(label.ljust(width)) + b"\033[0m | "
        heads.append(head)
    code = 0
    followers = []
    batch = []
    for i, (label, where) in enumerate(entries):
        try:
            f = Follower(where)
        except OSError as e:
            warn("%s: unable to read %s/current: %s" % (label, display(where), errtext(e)))
            code = 1
            continue
        try:
            got = stamped(last_lines(where, n, f.fd, f.pos))
        except OSError as e:
            warn("%s: unable to read %s: %s" % (label, display(where), errtext(e)))
            got = []
        f.last = got[-1][0] if got else None
        batch += [(t, i, line) for t, line in got]
        followers.append((i, label, f))
    _emit(batch, heads, render, out, len(entries) > 1)
    if not follow or not followers:
        return code
    return _follow(followers, heads, render, out, warn)


def _emit(batch, heads, render, out, merge):
    if merge:
        batch.sort(key=lambda item: (item[0], item[1]))
    if batch:
        out(b"".join([heads[i] + render(line) + b"\n" for _, i, line in batch]))


def _follow(followers, heads, render, out, warn):
    import select
    from . import _siteimport
    _siteimport.site_path()
    try:
        from inotify_simple import INotify
    except ImportError:
        INotify = None
    poller = select.poll()
    watches = []
    for _, label, f in followers:
        if INotify is None:
            break
        try:
            w = INotify()
        except OSError:
            continue
        try:
            w.add_watch(f.where, IN_MODIFY | IN_CREATE | IN_MOVED_TO)
        except OSError:
            w.close()
            continue
        watches.append(w)
        poller.register(w.fileno(), select.POLLIN)
    # Without inotify (or as a safety net with it), look every so often.
    timeout = 250 if len(watches) == len(followers) else 50
    while True:
        poller.poll(timeout)
        for w in watches:
            while w.read(timeout=0):
                pass
        batch = []
        for i, label, f in followers:
            try:
                batch += [(t, i, line) for t, line in f.fresh()]
                f.trouble = None
            except OSError as e:
                text = "%s: unable to read %s: %s" % (label, display(f.where), errtext(e))
                if text != f.trouble:  # once, not every 250 ms
                    warn(text)
                f.trouble = text
        _emit(batch, heads, render, out, len(followers) > 1)
