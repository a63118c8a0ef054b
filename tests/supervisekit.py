"""A service directory with a supervise on it, for the supervise tests."""

import os

import pytest

from helpers import prog, wait_for, write_script
from svtools import _status, _xstatus


class Service:
    """A service directory with a supervise running on it."""

    def __init__(self, procs, path, body=None, down=False, supervise=None):
        self.procs = procs
        self.path = path
        os.makedirs(path, exist_ok=True)
        if body is not None:
            write_script(os.path.join(path, "run"), body)
        if down:
            open(os.path.join(path, "down"), "w").close()
        self.err = os.path.join(os.path.dirname(path), os.path.basename(path) + ".stderr")
        self.supervise = supervise or prog("supervise")
        self.proc = None

    def start(self, **kw):
        with open(self.err, "ab") as err:
            self.proc = self.procs.start([self.supervise, self.path], stderr=err, **kw)
        wait_for(self.ok, what="supervise/ok to have a reader")
        return self

    def file(self, name):
        return os.path.join(self.path, name)

    def ok(self):
        try:
            fd = os.open(self.file("supervise/ok"), os.O_WRONLY | os.O_NONBLOCK)
        except OSError:
            return False
        os.close(fd)
        return True

    def send(self, data):
        fd = os.open(self.file("supervise/control"), os.O_WRONLY | os.O_NONBLOCK)
        try:
            os.set_blocking(fd, True)
            os.write(fd, data)
        finally:
            os.close(fd)

    def status(self):
        return _status.read(self.file("supervise/status"))

    def pid(self):
        return self.status()[2]

    def wait_pid(self, pred=bool, what="a running child"):
        return wait_for(lambda: (lambda p: pred(p) and (p or True))(self.pid()), what=what)

    def wait_up(self, other_than=0):
        pid = wait_for(lambda: (lambda p: p if p and p != other_than else 0)(self.pid()),
                       what="./run to be running")
        return pid

    def wait_down(self):
        wait_for(lambda: self.pid() == 0, what="the service to be down")

    def stderr(self):
        with open(self.err, "rb") as f:
            return f.read()

    def read(self, name):
        try:
            with open(self.file(name), "rb") as f:
                return f.read()
        except FileNotFoundError:
            return b""


    def xstatus(self):
        return _xstatus.unpack(self.read("supervise/xstatus"))

    def exits(self):
        return _xstatus.unpack_exits(self.read("supervise/exits"))

    def wait_state(self, *states, **fields):
        def check():
            try:
                x = self.xstatus()
            except ValueError:
                return None
            if x["state"] in states and all(x[k] == v for k, v in fields.items()):
                return x
            return None
        return wait_for(check, timeout=15, what="xstatus state %s %s" % (states, fields))

    def knob(self, name, data):
        if isinstance(data, str):
            data = data.encode()
        # .new + rename: supervise re-reads knobs at any command, and must
        # never see a half-written file (it would warn about it).
        with open(self.file(name + ".new"), "wb") as f:
            f.write(data)
        os.rename(self.file(name + ".new"), self.file(name))


@pytest.fixture
def service(procs, tmp_path):
    def make(body="exec sleep 1000\n", name="svc", **kw):
        return Service(procs, str(tmp_path / name), body, **kw)
    return make
