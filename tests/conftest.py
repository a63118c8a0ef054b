import os

import pytest

from helpers import C_BIN, Procs, have_c_daemontools


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
