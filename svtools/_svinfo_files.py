"""The files of a service directory as _svinfo reads them, optionally
through a Cache that skips re-reading and re-parsing what did not change.

    slurp(path, limit) -> (bytes, stat result); OSError
    parsed(path, limit, parse, cache) -> (parse(bytes), stat result);
        OSError from the file, ValueError from PARSE
    listing(path, cache) -> frozenset of entry names (bytes); OSError
        (ENOTDIR when PATH is not a directory)

Cache: one per long-running reader (svweb), used by one thread at a time.
An entry is the parsed value of a file (or a directory's listing) under the
key (st_ino, st_size, st_mtime_ns, st_ctime_ns) of a stat(2) taken *before*
the read: if the file changes in between, the value is newer than its key
and the next look reads again.  Timestamps are coarse (a clock tick; one
second on some file systems), so a file rewritten just after it was read
may keep its key: a key is therefore only trusted when its mtime and ctime
are more than GRACE seconds older than the read.  A later rewrite gets a
later ctime, hence a new key; ctime cannot be set from user space, and
every write, rename or utime sets it (supervise replaces its files by
rename, so an inode number may come back).  So a change always shows on
the next look; what is saved is open, read, close and the parsing, for one
stat.  (On NFS, stat may answer from the client's attribute cache where
open would not: there a change may show up to actimeo seconds late.)

rotate() starts a new round: entries not looked at since the previous
rotate() are dropped (removed services).
"""

import errno
import posix

GRACE = 2.0


def slurp(path, limit=65536):
    fd = posix.open(path, posix.O_RDONLY | posix.O_NONBLOCK)
    try:
        return posix.read(fd, limit), posix.fstat(fd)
    finally:
        posix.close(fd)


class Cache:
    """Parsed values of files, keyed by path and stat; see the module doc."""

    def __init__(self, clock, procs=None):
        self.clock = clock  # wall clock, unix seconds (float)
        self.procs = procs  # a _proctree.Held, or None
        self._old = {}
        self._new = {}
        self.hits = self.misses = 0

    def rotate(self):
        self._old, self._new = self._new, {}
        if self.procs is not None:
            self.procs.rotate()

    def close(self):
        """Close the descriptors the cache holds (it stays usable)."""
        if self.procs is not None:
            self.procs.close()

    def _get(self, path, key):
        hit = self._new.get(path) or self._old.pop(path, None)
        if hit is not None and hit[0] == key:
            self._new[path] = hit
            self.hits += 1
            return hit
        self.misses += 1
        return None

    def _put(self, path, key, value):
        stamp = max(key[2], key[3]) / 1e9
        if self.clock() - stamp > GRACE:
            self._new[path] = (key, value)
        else:
            self._new.pop(path, None)


def _key(st):
    return st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns


def parsed(path, limit, parse, cache):
    if cache is None:
        data, st = slurp(path, limit)
        return parse(data), st
    st = posix.stat(path)
    key = _key(st)
    hit = cache._get(path, key)
    if hit is not None:
        return hit[1], st
    value = parse(slurp(path, limit)[0])
    cache._put(path, key, value)
    return value, st


def listing(path, cache):
    if cache is None:
        return frozenset(posix.listdir(path))
    st = posix.stat(path)
    if st.st_mode & 0o170000 != 0o040000:
        raise NotADirectoryError(errno.ENOTDIR, "not a directory", path)
    key = _key(st)
    hit = cache._get(path, key)
    if hit is not None:
        return hit[1]
    value = frozenset(posix.listdir(path))
    cache._put(path, key, value)
    return value
