"""service-examples/ run as shipped (the ones that need nothing but Python)."""

import os
import shutil
import socket
import tempfile
import urllib.request

import pytest

import helpers
from helpers import prog, wait_for

EXAMPLES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                        "service-examples")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(port):
    try:
        with urllib.request.urlopen("http://127.0.0.1:%d/" % port, timeout=5) as r:
            return r.read()
    except OSError:
        return None


@pytest.fixture
def world():
    """A copy place www-data can enter (pytest's tmp_path is 0700)."""
    if os.geteuid() != 0:
        pytest.skip("the web examples run as www-data: needs root")
    d = tempfile.mkdtemp(prefix="svtools-examples-")
    os.chmod(d, 0o755)
    try:
        yield d
    finally:
        shutil.rmtree(d)


def test_webapp_runs_as_shipped(procs, world):
    d = os.path.join(world, "webapp")
    shutil.copytree(os.path.join(EXAMPLES, "webapp"), d, symlinks=True)
    port = free_port()          # the only change: a free port instead of 8090
    with open(os.path.join(d, "env", "PORT"), "w") as f:
        f.write("%d\n" % port)
    p = procs.start([prog("supervise"), d])
    body = wait_for(lambda: get(port), 20, what="webapp answering")
    assert body.startswith(b"hello from webapp (APP_ENV=production, pid ")
    helpers.run([prog("svc"), "-dx", d])
    assert p.wait(timeout=10) == 0


def test_web_instance_runs_as_shipped(procs, world):
    d = os.path.join(world, "web-8080")
    shutil.copytree(os.path.join(EXAMPLES, "web-8080"), d, symlinks=True)
    port = free_port()          # the only change: a free port instead of 8080
    with open(os.path.join(d, "run")) as f:
        run = f.read()
    assert run.count(" 8080\n") == 1
    with open(os.path.join(d, "run"), "w") as f:
        f.write(run.replace(" 8080\n", " %d\n" % port))
    p = procs.start([prog("supervise"), d])
    body = wait_for(lambda: get(port), 20, what="web-8080 answering")
    assert body == b"web-8080: one of four instances of the same static site\n"
    helpers.run([prog("svc"), "-dx", d])
    assert p.wait(timeout=10) == 0
