"""svc, svok and svstat against a running supervise, both ways round.

Parametrized over the supervise (Debian's C one, ours) and the clients (C,
ours): ours driving C supervise, C clients driving ours, and each with its
own.  At every settled state both svstats read the same status bytes and
must print the same line.
"""

import os
import re

import pytest

import helpers
from clientkit import norm, transcript


RUN = """\
echo $$ >> pids
for s in HUP ALRM INT TERM QUIT USR1 USR2 WINCH; do trap "echo $s >> sigs" $s; done
while :; do sleep 100 & wait $!; kill $! 2>/dev/null; done
"""

PAIRS = [
    pytest.param("c", "ours", marks=pytest.mark.interop, id="ours-drive-C-supervise"),
    pytest.param("ours", "c", marks=pytest.mark.interop, id="C-clients-drive-ours"),
    pytest.param("c", "c", marks=pytest.mark.interop, id="C-reference"),
    pytest.param("ours", "ours", id="ours-alone"),
]


class Service:
    def __init__(self, base, procs, sup, cli, name="svc0"):
        self.base, self.name, self.cli, self.sup = str(base), name, cli, sup
        self.dir = os.path.join(self.base, name)
        os.mkdir(self.dir)
        helpers.write_script(os.path.join(self.dir, "run"), RUN)
        exe = helpers.prog("supervise") if sup == "ours" else helpers.c_tool("supervise")
        self.proc = procs.start([exe, name], cwd=self.base)

    def client(self, *args, impl=None):
        return transcript(list(args), self.base, impl=impl or self.cli)

    def svc(self, *opts, impl=None):
        assert self.client("svc", *opts, self.name, impl=impl) == (b"", b"", 0)

    def pids(self):
        try:
            with open(os.path.join(self.dir, "pids")) as f:
                return [int(x) for x in f.read().split()]
        except FileNotFoundError:
            return []

    def signals(self):
        try:
            with open(os.path.join(self.dir, "sigs")) as f:
                return f.read().split()
        except FileNotFoundError:
            return []

    def status(self):
        """svstat's line from the chosen clients, checked against the others'."""
        mine = self.client("svstat", self.name)
        other = (self.client("svstat", self.name, impl="c" if self.cli == "ours" else "ours")
                 if helpers.have_c_daemontools() else mine)
        if norm(mine[0]) != norm(other[0]):
            return None  # caught mid-change; the caller's wait tries again
        assert mine[1:] == (b"", 0)
        return norm(mine[0]).decode()

    def wait_status(self, pattern, what):
        rx = re.compile(pattern.replace("PID", r"\d+") + r"\n\Z")
        return helpers.wait_for(lambda: (lambda s: s and rx.match(s) and s)(self.status()),
                                timeout=10, what=what)


def proc_state(pid):
    with open("/proc/%d/stat" % pid, "rb") as f:
        data = f.read()
    return data[data.rindex(b")") + 2:][:1]


@pytest.mark.parametrize("sup,cli", PAIRS)
def test_clients_drive_supervise(tmp_path, procs, sup, cli):
    s = Service(tmp_path, procs, sup, cli)
    helpers.wait_for(lambda: s.client("svok", s.name)[2] == 0, what="svok")
    helpers.wait_for(s.pids, what="./run to start")
    pid = s.pids()[0]
    s.wait_status(r"svc0: up \(pid %d\) N seconds" % pid, "up")

    s.svc("-h", "-a", "-i", "-t")
    helpers.wait_for(lambda: sorted(s.signals()) == ["ALRM", "HUP", "INT", "TERM"],
                     what="h a i t delivered")

    if sup == "ours":
        s.svc("-q12w", impl="ours")  # the C svc does not know these letters
        helpers.wait_for(lambda: len(s.signals()) == 8, what="q 1 2 w delivered")
        assert sorted(s.signals()[4:]) == ["QUIT", "USR1", "USR2", "WINCH"]

    s.svc("-p")
    s.wait_status(r"svc0: up \(pid %d\) N seconds, paused" % pid, "paused")
    helpers.wait_for(lambda: proc_state(pid) == b"T", what="stopped")
    s.svc("-c")
    s.wait_status(r"svc0: up \(pid %d\) N seconds" % pid, "continued")
    helpers.wait_for(lambda: proc_state(pid) != b"T", what="running again")

    # The run script survives TERM, so the down request stays pending.
    s.svc("-d")
    s.wait_status(r"svc0: up \(pid %d\) N seconds, want down" % pid, "want down")
    s.svc("-k")
    s.wait_status(r"svc0: down N seconds, normally up", "down")
    assert not helpers.pid_alive(pid)

    s.svc("-u")
    helpers.wait_for(lambda: len(s.pids()) == 2, what="second start")
    pid2 = s.pids()[1]
    s.wait_status(r"svc0: up \(pid %d\) N seconds" % pid2, "up again")

    s.svc("-dx")
    s.svc("-k")
    helpers.wait_for(lambda: s.proc.poll() is not None, timeout=10, what="supervise exit")
    assert s.proc.returncode == 0
    assert s.client("svok", s.name) == (b"", b"", 100)
    assert s.client("svstat", s.name) == (b"svc0: supervise not running\n", b"", 0)
    assert s.client("svc", "-u", s.name) == (
        b"", b"svc: warning: unable to control svc0: supervise not running\n", 0)


@pytest.mark.parametrize("sup,cli", PAIRS)
def test_once_and_down_file(tmp_path, procs, sup, cli):
    """A service with ./down starts down; -o runs it once, no want shown."""
    d = tmp_path / "svc0"
    d.mkdir()
    (d / "down").touch()
    helpers.write_script(str(d / "run"), RUN)
    exe = helpers.prog("supervise") if sup == "ours" else helpers.c_tool("supervise")
    proc = procs.start([exe, "svc0"], cwd=str(tmp_path))
    base = str(tmp_path)

    def status():
        out = transcript(["svstat", "svc0"], base, impl=cli)
        return norm(out[0]).decode()

    helpers.wait_for(lambda: status() == "svc0: down N seconds\n", what="down")
    assert transcript(["svc", "-o", "svc0"], base, impl=cli) == (b"", b"", 0)
    helpers.wait_for(lambda: (d / "pids").exists() and (d / "pids").read_text().strip(),
                     what="run once")
    pid = int((d / "pids").read_text())
    helpers.wait_for(lambda: status() == "svc0: up (pid %d) N seconds, normally down\n" % pid,
                     what="up once")
    assert transcript(["svc", "-k", "svc0"], base, impl=cli) == (b"", b"", 0)
    helpers.wait_for(lambda: status() == "svc0: down N seconds\n", what="down, not restarted")
    assert (d / "pids").read_text().split() == [str(pid)]
    assert transcript(["svc", "-x", "svc0"], base, impl=cli) == (b"", b"", 0)
    helpers.wait_for(lambda: proc.poll() is not None, timeout=10, what="supervise exit")


@pytest.mark.interop
def test_status_bytes_identical_layout(tmp_path, procs):
    """Both supervises write the same 18-byte shape for the same state."""
    modes = {}
    for sup in ("c", "ours"):
        (tmp_path / sup).mkdir()
        s = Service(tmp_path / sup, procs, sup, "ours")
        helpers.wait_for(s.pids, what="./run to start")
        pid = s.pids()[0]
        s.svc("-p")
        s.wait_status(r"svc0: up \(pid %d\) N seconds, paused" % pid, "paused")
        with open(os.path.join(s.dir, "supervise", "status"), "rb") as f:
            data = f.read()
        assert len(data) == 18
        assert data[12:] == pid.to_bytes(4, "little") + b"\x01u"
        assert data[0:4] == b"\x40\x00\x00\x00"
        assert int.from_bytes(data[8:12], "big") % 1000 == 500
        modes[sup] = {n: os.stat(os.path.join(s.dir, "supervise", n)).st_mode
                      for n in ("lock", "control", "ok", "status")}
        s.svc("-dx")
        s.svc("-k")
        helpers.wait_for(lambda: s.proc.poll() is not None, timeout=10, what="exit")
    assert modes["c"] == modes["ours"]
