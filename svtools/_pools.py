"""Where a forked supervise's new objects go: one page per size class.

CPython's small-object allocator (obmalloc) serves a request of N bytes
(up to 512) from the first pool of N's size class that has a free block.
In svscan those pools are full of holes left by freed objects, and every
pool a forked child takes a block from is a 4 KiB page it then copies:
a child that makes a few dozen tuples, ints and strings copies a few
dozen pages that are otherwise svscan's.

fill_and_reserve(), called by svscan's dry run (_prewarm) before any
fork, makes objects of every size class from 48 to 512 bytes until the
next block of the class is the first of an empty pool (those fillers stay
for svscan's life, in pages it has anyway), then takes the rest of that
pool's blocks.  release(), called by svscan right before it forks, gives
them back: each pool (full until then) comes first in its class, so the
child's new objects of a class go there, into one page nobody else uses,
filled from the front.  Only the first round of forks has such pools.

It relies on obmalloc's layout on 64-bit CPython 3.11 (16 KiB pools with
a 48-byte header, size classes 16 bytes apart), where it was measured
(docs/performance.md); elsewhere (POOLS false) it does nothing, and a
class that finds no empty pool within TRIES blocks keeps nothing.
"""

import sys

POOLS = sys.implementation.name == "cpython" and sys.version_info[:2] == (3, 11) \
    and sys.maxsize > 2 ** 32
POOL = 1 << 14
_POOL_HEAD = 48
_BYTES_HEAD = sys.getsizeof(b"")     # a bytes object of N bytes takes N + this
CLASSES = range(48, 513, 16)         # the size classes a bytes object can take
TRIES = 4096
_filled = []        # for svscan's life
reserved = []       # until release()


def _take(size, into, last):
    """Bytes objects of SIZE bytes put in INTO until one is the first block
    of a pool (itself put in INTO if LAST); none kept if none is within
    TRIES (another allocator, another layout)."""
    first = len(into)
    for _ in range(TRIES):
        b = bytes(size - _BYTES_HEAD)
        if id(b) % POOL == _POOL_HEAD:
            if last:
                into.append(b)
            return
        into.append(b)
    del into[first:]


def fill_and_reserve():
    """Fill the free blocks of every size class until its next block is
    the first of an empty pool; then take the rest of that pool (reserved).
    Nothing where POOLS is false."""
    if not POOLS:
        return
    for size in CLASSES:
        _take(size, _filled, True)
    for size in CLASSES:
        _take(size, reserved, False)


def release():
    """Give the reserved blocks back, right before forking: see above.
    Nothing after the first call."""
    del reserved[:]
