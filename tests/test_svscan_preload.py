"""svscan reads a service's knob files before it forks its supervise
(_svscan_procs.flush); the forked supervise starts with what svscan read
and reads the files itself only from its first event on.

Watched with inotify (through ctypes: no strace): the files' opens are
ordered against the creation of DIR/supervise, the first thing a
supervise does in DIR after its chdir.
"""

import ctypes
import os
import struct

import helpers
from helpers import prog, wait_for, write_script
from test_svscan import scan, service, up  # noqa: F401 (fixture)

IN_OPEN = 0x20
IN_CREATE = 0x100
KNOBS = {"timeout-kill": "700\n", "down-signal": "BOGUS\n"}


class Watch:
    """An inotify descriptor watching directories for opens and creations."""

    def __init__(self):
        self.libc = ctypes.CDLL(None, use_errno=True)
        self.fd = self.libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        assert self.fd >= 0, os.strerror(ctypes.get_errno())
        self.dirs = {}
        self.events = []

    def add(self, path):
        wd = self.libc.inotify_add_watch(self.fd, os.fsencode(path), IN_OPEN | IN_CREATE)
        assert wd >= 0, os.strerror(ctypes.get_errno())
        self.dirs[wd] = path

    def read(self):
        """Every event so far, in order, as (dir, mask, name)."""
        while True:
            try:
                data = os.read(self.fd, 65536)
            except BlockingIOError:
                return self.events
            k = 0
            while k < len(data):
                wd, mask, _, n = struct.unpack_from("iIII", data, k)
                name = data[k + 16:k + 16 + n].rstrip(b"\0").decode()
                self.events.append((self.dirs[wd], mask, name))
                k += 16 + n

    def close(self):
        os.close(self.fd)


def knob_opens(events, d):
    """For directory D: (knob opens before DIR/supervise was made, after)."""
    before, after, made = [], [], False
    for where, mask, name in events:
        if where != d:
            continue
        if mask & IN_CREATE and name == "supervise":
            made = True
        elif mask & IN_OPEN and name in KNOBS:
            (after if made else before).append(name)
    assert made, "no supervise made in %s" % d
    return before, after


def test_forked_supervise_starts_with_the_knobs_svscan_read(scan, tmp_path):
    d = service(tmp_path / "pre")
    os.mkdir(d / "log")
    write_script(d / "log" / "run", "exec cat > /dev/null\n")
    for where in (d, d / "log"):
        for name, text in KNOBS.items():
            (where / name).write_text(text)
    watch = Watch()
    try:
        watch.add(d)
        watch.add(d / "log")
        os.rename(d, scan.dir / "pre")
        d = scan.dir / "pre"
        wait_for(lambda: up(d) and up(d / "log") and (d / "started").exists(), 20,
                 what="service and logger up")
        # settled: both supervise have made their first status and started ./run
        events = list(watch.read())
        for where in (tmp_path / "pre", tmp_path / "pre" / "log"):
            before, after = knob_opens(events, where)
            # svscan read each file once before the fork; the child none
            assert sorted(before) == sorted(KNOBS), (where, events)
            assert after == [], (where, events)
        # the junk was warned by each supervise, once, in supervise's words
        wait_for(lambda: "log/down-signal" in scan.stderr(), 20, what="the logger's warning")
        text = scan.stderr()
        assert text.count("supervise: warning: pre/down-signal: unknown signal\n") == 1, text
        assert text.count("supervise: warning: log/down-signal: unknown signal\n") == 1, text
        assert "svscan:" not in text, text
        # from the first event on the files are read again, as before; the
        # same problem is not warned again
        assert helpers.run([prog("svc"), "-d", str(d)]).returncode == 0
        wait_for(lambda: knob_opens(watch.read(), tmp_path / "pre")[1], 20,
                 what="the knobs read at the first event")
        wait_for(lambda: b": down " in helpers.run([prog("svstat"), str(d)]).stdout, 20,
                 what="down")
        assert helpers.run([prog("svc"), "-u", str(d)]).returncode == 0
        wait_for(lambda: up(d) and len((d / "started").read_text().split()) == 2, 20,
                 what="up again")
        assert scan.stderr().count("pre/down-signal") == 1, scan.stderr()
    finally:
        watch.close()
