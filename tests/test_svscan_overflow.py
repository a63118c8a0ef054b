"""svscan's inotify queue overflowing for real.

The watcher is stopped (SIGSTOP) so that the kernel queues the events;
more dot-name entries than fs.inotify.max_queued_events are made in the
scan directory, then one real service.  The kernel drops what exceeds the
queue and puts IN_Q_OVERFLOW in its place, so the real service's IN_CREATE
is lost: only the rescan that svscan does on the overflow can find it (svscan
has no periodic rescan, and the watcher is not restarted: same pid after).
The system-wide limit is read, never changed.
"""

import os
import signal

import pytest

from helpers import wait_for
from test_svscan import cmdline, service, up
from test_svscan_lifecycle import children_all, scan  # noqa: F401 (fixture)


def max_queued_events():
    with open("/proc/sys/fs/inotify/max_queued_events") as f:
        return int(f.read())


def watcher(scan):
    pids = wait_for(lambda: [p for p in children_all(scan.pid) if cmdline(p) == "svscan watcher"],
                    10, what="the watcher")
    return pids[0]


def test_queue_overflow_rescans_and_finds_the_lost_service(scan, tmp_path):
    first = service(scan.dir / "first")
    # the watch is in place once a service made now is picked up
    wait_for(lambda: up(first), 20, what="a service before the overflow")
    pid = watcher(scan)
    limit = max_queued_events()
    if limit > 200000:
        pytest.skip("fs.inotify.max_queued_events is %d: too many entries to make" % limit)
    target = tmp_path / "file"
    target.write_text("")
    real = service(tmp_path / "real")
    os.kill(pid, signal.SIGSTOP)
    try:
        for k in range(limit + 100):
            os.symlink(target, scan.dir / (".d%06d" % k))
        os.symlink(real, scan.dir / "real")
    finally:
        os.kill(pid, signal.SIGCONT)
    wait_for(lambda: up(real), 20, what="the service whose event the overflow dropped")
    assert watcher(scan) == pid            # the overflow's rescan, not a new watcher's
    assert scan.stderr() == ""
    after = service(scan.dir / "after")
    wait_for(lambda: up(after), 20, what="a service after the overflow")
