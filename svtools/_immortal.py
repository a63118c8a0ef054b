"""Immortal objects for svscan's forked children (CPython 3.12, 3.13).

A supervise forked by svscan shares svscan's memory until one of the two
writes a page.  CPython writes an object's reference count each time code
takes or drops a reference to it, so a child that only *uses* svscan's
functions, strings, tuples and classes still copies every 4 KiB page that
holds one of them: most of a forked supervise's private memory
(docs/performance.md, "Ninth round").

PEP 683 (CPython 3.12) gave objects an immortal reference count: on a
64-bit build a count whose low 32 bits are all set (0xFFFFFFFF,
_Py_IMMORTAL_REFCNT in Include/object.h), which Py_INCREF and Py_DECREF
recognise and leave unwritten.  CPython uses it for its static objects and
interned strings; the PEP names pre-fork servers as the case it is for.
freeze() gives that count to the objects svscan has made by the end of
its start-up (its modules, functions, classes, code and constants, and
what the dry run left), so that its children's uses of them write
nothing.

What that costs: an immortal object is never deallocated.  That is what
these objects are anyway (alive from start-up to exit), but an object
that owns an operating-system resource and is dropped later would keep
it: objects whose type has a close() or __del__ (files, sockets,
generators, epoll, inotify) are left as they are.  Objects made after
the call are not touched.

Only where the layout is known: the count is the object's first word
(ob_refcnt), and the 32-bit saturation rule is that of 3.12 and 3.13's
default (GIL) builds.  Elsewhere (another version, a free-threaded or
debug build, 32-bit, another implementation) ENABLED is false and
freeze() does nothing.
"""

import sys

VERIFIED = ((3, 12), (3, 13))
ENABLED = (sys.implementation.name == "cpython"
           and sys.version_info[:2] in VERIFIED
           and sys.maxsize > 2 ** 32
           and "t" not in sys.abiflags               # free-threaded: ob_ref_local
           and not hasattr(sys, "gettotalrefcount")  # debug build
           and not hasattr(sys, "getobjects"))       # Py_TRACE_REFS: other layout
IMMORTAL = 0xFFFFFFFF       # _Py_IMMORTAL_REFCNT, 64-bit


def _keeps_resource(tp):
    """True for a type whose objects must stay mortal: see above."""
    return hasattr(tp, "close") or hasattr(tp, "__del__")


def freeze():
    """Make every object reachable now from sys.modules and from the
    cyclic collector's lists immortal, but those of _keeps_resource types
    and those already immortal.  Returns how many were changed (0 where
    not ENABLED).  Call it once, after the last garbage collection of
    start-up and before the first fork; see the module's docstring."""
    if not ENABLED:
        return 0
    import ctypes
    import gc
    import types
    count = ctypes.c_ssize_t
    code = types.CodeType
    getrefcount = sys.getrefcount
    referents = gc.get_referents
    stack = gc.get_objects()
    stack.extend(sys.modules.values())
    seen = {id(stack)}
    mortal = {}         # type -> must stay mortal
    changed = 0
    while stack:
        o = stack.pop()
        if id(o) in seen:
            continue
        seen.add(id(o))
        tp = type(o)
        keep = mortal.get(tp)
        if keep is None:
            keep = mortal[tp] = _keeps_resource(tp)
        if not keep and getrefcount(o) < IMMORTAL:
            count.from_address(id(o)).value = IMMORTAL
            changed += 1
        stack.extend(referents(o))
        if tp is code:      # not traversed by the collector; the local
            # names (co_varnames) are interned strings, immortal already,
            # and reading that attribute would make a new tuple
            stack.extend((o.co_consts, o.co_names, o.co_filename, o.co_name,
                          o.co_qualname, o.co_linetable, o.co_exceptiontable))
    return changed
