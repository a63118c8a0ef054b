"""svscan's inotify queue overflowing for real.

svscan itself reads the inotify descriptor, so svscan is stopped (SIGSTOP)
while more dot-name entries than fs.inotify.max_queued_events are made in
the scan directory, then one real service.  The kernel drops what exceeds
the queue and puts IN_Q_OVERFLOW in its place, so the real service's
IN_CREATE is lost: only the rescan that svscan does on the overflow can
find it (svscan has no periodic rescan while it watches, and no new watch
is set up: the stand-in library counts the set-ups).  The system-wide
limit is read, never changed.
"""

import os
import signal

import pytest

from helpers import wait_for
from test_svscan import service, up
from test_svscan_watch import watched, wscan  # noqa: F401,F811 (fixture)


def max_queued_events():
    with open("/proc/sys/fs/inotify/max_queued_events") as f:
        return int(f.read())


def test_queue_overflow_rescans_and_finds_the_lost_service(wscan, tmp_path):
    limit = max_queued_events()
    if limit > 200000:
        pytest.skip("fs.inotify.max_queued_events is %d: too many entries to make" % limit)
    first = service(wscan.dir / "first")
    wait_for(lambda: up(first), 20, what="a service before the overflow")
    wait_for(lambda: watched(wscan.pid) == [os.stat(wscan.dir).st_ino], 20, what="the watch")
    target = tmp_path / "file"
    target.write_text("")
    real = service(tmp_path / "real")
    os.kill(wscan.pid, signal.SIGSTOP)
    try:
        for k in range(limit + 100):
            os.symlink(target, wscan.dir / (".d%06d" % k))
        os.symlink(real, wscan.dir / "real")
    finally:
        os.kill(wscan.pid, signal.SIGCONT)
    wait_for(lambda: up(real), 20, what="the service whose event the overflow dropped")
    assert len(wscan.setups()) == 1        # the overflow's rescan, not a new watch's
    assert wscan.stderr() == ""
    after = service(wscan.dir / "after")
    wait_for(lambda: up(after), 20, what="a service after the overflow")
