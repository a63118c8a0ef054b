import os
import subprocess

import pytest

from helpers import C_BIN, Procs, have_c_daemontools

# CPython 3.13's subprocess starts a child with posix_spawn wherever it
# can; glibc before 2.38 (Debian 12 has 2.36) leaves its own signals 32
# and 33 ignored in such a child, which no program can undo and which a
# shell never does (docs/performance.md, "Why posix_spawn is gated").  The
# tests start our programs and the C ones as a shell would: through
# fork_exec, as 3.11 and 3.12 always do.
subprocess._USE_POSIX_SPAWN = False


def pytest_collection_modifyitems(config, items):
    if have_c_daemontools():
        return
    if os.environ.get("CI"):
        raise pytest.UsageError("CI needs Debian's daemontools for the interop tests")
    skip = pytest.mark.skip(reason="Debian daemontools not installed (%s/supervise): interop tests need the C reference" % C_BIN)
    for item in items:
        if "interop" in item.keywords:
            item.add_marker(skip)


def pytest_configure(config):
    config.addinivalue_line("markers", "interop: needs Debian's daemontools in /usr/bin")


@pytest.fixture
def procs(tmp_path):
    p = Procs()
    try:
        yield p
    finally:
        p.cleanup()
        # What escaped the process groups above (a run in a session of its
        # own, a worker orphaned to init) still works in this test's tmp dir.
        p.kill_under(str(tmp_path))
