"""svctl against real services under a real svscan in a tmp dir: every
control verb with its waiting, add and remove, exit codes, bad input."""

import os
import re
import time

import pytest

import helpers
from svtools import _svinfo, _tai64

SIGS = """\
for s in HUP ALRM INT QUIT USR1 USR2 WINCH; do trap "echo $s >> sigs" $s; done
trap "echo TERM >> sigs; kill \\$! 2>/dev/null; exit 0" TERM
echo $$ >> pids
echo "started $$"
while :; do sleep 100 & wait $!; kill $! 2>/dev/null; done
"""
STUBBORN = """\
trap "echo TERM >> sigs" TERM
trap "echo HUP >> sigs; kill \\$! 2>/dev/null; exit 0" HUP
echo $$ >> pids
while :; do sleep 100 & wait $!; kill $! 2>/dev/null; done
"""


class Scan:
    def __init__(self, base, procs, impl="ours"):
        self.dir = os.path.join(str(base), "scan")
        self.procs = procs
        self.impl = impl
        os.makedirs(self.dir, exist_ok=True)

    def service(self, name, run, log=False, where=None, **knobs):
        d = os.path.join(where or self.dir, name)
        os.makedirs(d)
        helpers.write_script(os.path.join(d, "run"), run)
        for knob, value in knobs.items():
            with open(os.path.join(d, knob.replace("_", "-")), "w") as f:
                f.write(value)
        if log:
            os.mkdir(os.path.join(d, "log"))
            helpers.write_script(os.path.join(d, "log", "run"), "exec multilog t ./main\n")
        return d

    def start(self):
        exe = helpers.prog("svscan") if self.impl == "ours" else helpers.c_tool("svscan")
        env = helpers.env()
        if self.impl == "c":
            env["PATH"] = "/usr/bin:" + env["PATH"]  # C svscan execs supervise from PATH
        self.proc = self.procs.start([exe, self.dir], env=env)

    def svctl(self, *args, timeout=30):
        cp = helpers.run([helpers.prog("svctl"), "-d", self.dir] + list(args), timeout=timeout)
        return cp.stdout.decode(), cp.stderr.decode(), cp.returncode

    def snap(self, name):
        return _svinfo.read(os.path.join(self.dir, name))

    def wait(self, name, pred, what):
        return helpers.wait_for(lambda: (lambda s: pred(s) and s)(self.snap(name)), timeout=20, what=what)

    def trapping(self, name, what="up, its traps set"):
        """Up, and ./run has set its traps (it wrote its pid after them)."""
        return self.wait(name, lambda s: up(s) and str(s["pid"]) in self.lines(name, "pids"), what)

    def lines(self, name, what):
        try:
            with open(os.path.join(self.dir, name, what)) as f:
                return f.read().split()
        except FileNotFoundError:
            return []


@pytest.fixture
def scan(tmp_path, procs):
    return Scan(tmp_path, procs)


def up(s):
    return s["state"] == "up"


def test_control_verbs_wait(scan):
    scan.service("web", SIGS, log=True)
    scan.start()
    first = scan.wait("web", lambda s: up(s) and s["log"] and up(s["log"]), "web and its logger up")
    first = scan.trapping("web")
    out, err, code = scan.svctl("status")
    assert (err, code) == ("", 0) and out.splitlines()[1].split()[:3] == ["web", "up", str(first["pid"])]

    out, err, code = scan.svctl("stop", "web")
    assert (out, err, code) == ("web: down\n", "", 0)
    assert scan.snap("web")["pid"] == 0 and "TERM" in scan.lines("web", "sigs")
    assert scan.svctl("status", "web")[2] == 0            # down, and wanted down

    out, _, code = scan.svctl("start", "web")
    pid = scan.trapping("web")["pid"]
    assert (out, code) == ("web: up (pid %d)\n" % pid, 0) and pid != first["pid"]

    out, _, code = scan.svctl("restart", "web")
    new = scan.trapping("web")["pid"]
    assert (out, code) == ("web: up (pid %d)\n" % new, 0) and new not in (0, pid)

    out, _, code = scan.svctl("pause", "web")
    assert (out, code) == ("web: paused (pid %d)\n" % new, 0)
    with open("/proc/%d/stat" % new) as f:
        assert f.read().rsplit(")", 1)[1].split()[0] == "T"
    assert scan.svctl("cont", "web")[:3:2] == ("web: up (pid %d)\n" % new, 0)

    before = len(scan.lines("web", "sigs"))
    assert scan.svctl("reload", "web")[2] == 0
    assert scan.svctl("signal", "USR2", "web")[2] == 0
    assert scan.svctl("signal", "-WINCH", "web")[0] == "web: up (pid %d), sent\n" % new
    helpers.wait_for(lambda: scan.lines("web", "sigs")[before:] == ["HUP", "USR2", "WINCH"],
                     timeout=10, what="signals delivered")

    out, _, code = scan.svctl("kill", "web")
    assert code == 0 and out.startswith("web: ") and scan.snap("web")["pid"] != new
    scan.trapping("web")

    assert scan.svctl("stop", "--no-wait", "web")[:3:2] == ("web: sent\n", 0)
    scan.wait("web", lambda s: s["state"] == "down", "down after --no-wait")
    out, _, code = scan.svctl("once", "web")
    assert code == 0 and out.startswith("web: up (pid ")
    assert scan.snap("web")["want"] == "once"
    scan.trapping("web")        # the new run has written its pid (up comes first)
    pids = scan.lines("web", "pids")

    def logged():
        out = scan.svctl("tail", "-n", "100", "web")[0]
        return out.count(" started ") == len(pids) and out
    out = helpers.wait_for(logged, timeout=20, what="every start logged")
    assert [line.split()[-1] for line in out.splitlines()] == pids
    assert all(line.startswith("web | ") for line in out.splitlines())
    out, _, code = scan.svctl("show", "web")
    log = scan.snap("web")["log"]["pid"]
    assert "log directory: %s/web/log/main (from the running multilog (pid %d))" % (scan.dir, log) in out
    assert out.splitlines()[-1].endswith(" started %s" % pids[-1]) and code == 0
    assert scan.svctl("kill", "web/log")[2] == 0          # a logger by its path in DIR


def test_status_exit_codes_live(scan):
    scan.service("ok", "exec sleep 1000\n")
    scan.service("crash", "exit 1\n")
    scan.start()
    scan.wait("ok", up, "ok up")
    assert scan.svctl("status", "ok")[2] == 0
    helpers.wait_for(lambda: "crash-loop" in scan.svctl("status", "crash")[0], timeout=20,
                     what="crash loop seen")
    assert scan.svctl("status", "crash")[2] == 3
    assert scan.svctl("stop", "crash")[2] == 0
    assert scan.svctl("status", "crash")[2] == 0
    _svinfo.control(os.path.join(scan.dir, "ok"), "x")
    helpers.wait_for(lambda: not scan.snap("ok")["supervised"] or scan.snap("ok")["pid"],
                     timeout=10, what="x taken")


def test_stop_timeout_and_timeout_kill(scan):
    scan.service("stubborn", STUBBORN)
    scan.service("killable", STUBBORN, timeout_kill="500\n")
    scan.service("hupper", STUBBORN, down_signal="SIGHUP\n")
    scan.start()
    for name in ("stubborn", "killable", "hupper"):
        scan.trapping(name)
    pid = scan.snap("stubborn")["pid"]
    out, _, code = scan.svctl("stop", "--wait", "0.5", "stubborn", "good")
    assert (out, code) == ("stubborn: timeout after 0.5s: stopping (pid %d)\n"
                           "good: unable to open %s/good: file does not exist\n" % (pid, scan.dir), 1)
    out, _, code = scan.svctl("stop", "killable")      # TERM ignored, KILL 500 ms later
    # The KILL took the shell, not its sleep: no process-group, and svctl says so.
    m = re.match(r"killable: down; 1 process of the old run still running \(no process-group\): (\d+)\n$", out)
    assert m and code == 0, out
    with open("/proc/%s/cmdline" % m.group(1), "rb") as f:
        assert f.read().split(b"\0")[0] == b"sleep"
    os.kill(int(m.group(1)), 9)
    assert scan.lines("killable", "sigs") == ["TERM"]
    out, _, code = scan.svctl("stop", "hupper")
    assert (out, code) == ("hupper: down\n", 0)
    assert scan.lines("hupper", "sigs") == ["HUP"]  # never TERM
    assert scan.snap("hupper")["want"] == "down"
    assert scan.svctl("kill", "stubborn")[2] == 0   # want down: it stays down
    scan.wait("stubborn", lambda s: s["state"] == "down", "stubborn down")


@pytest.mark.interop
def test_verbs_with_c_svscan_and_supervise(tmp_path, procs):
    scan = Scan(tmp_path, procs, impl="c")
    scan.service("web", SIGS, log=True)
    scan.start()
    scan.wait("web", lambda s: up(s) and s["log"] and up(s["log"]), "web up under C svscan")
    scan.trapping("web")
    assert scan.svctl("stop", "web")[:3:2] == ("web: down\n", 0)
    out, _, code = scan.svctl("restart", "web")
    assert code == 0 and out.startswith("web: up (pid ")
    scan.trapping("web")
    out, _, code = scan.svctl("status")
    assert code == 0 and out.splitlines()[1].split()[:2] == ["web", "up"]
    # remove: C svscan rescans every 5 s and must not start it again.
    assert scan.svctl("remove", "web")[:3:2] == (
        "web: removed (renamed to .web; service and logger stopped)\n", 0)
    hidden = os.path.join(scan.dir, ".web")
    time.sleep(5.5)
    assert not _svinfo.read(hidden)["supervised"] and not _svinfo.read(hidden + "/log")["supervised"]


def test_add_and_remove(scan, tmp_path):
    scan.start()
    elsewhere = str(tmp_path / "elsewhere")
    os.mkdir(elsewhere)
    src = scan.service("app", SIGS, log=True, where=elsewhere)
    out, err, code = scan.svctl("add", src)
    snap = scan.snap("app")
    assert (err, code) == ("", 0), out
    assert out == "app: added: up (pid %d), log up (pid %d)\n" % (snap["pid"], snap["log"]["pid"])
    assert os.readlink(os.path.join(scan.dir, "app")) == src
    assert scan.svctl("add", src)[:3:2] == ("app: already in %s\n" % scan.dir, 1)
    run_pid, log_pid = snap["pid"], snap["log"]["pid"]
    helpers.wait_for(lambda: str(run_pid) in scan.lines(src, "pids"), timeout=20, what="traps set")

    out, err, code = scan.svctl("remove", "app")
    assert (out, err, code) == ("app: removed (unlinked; service and logger stopped)\n", "", 0)
    assert not os.path.lexists(os.path.join(scan.dir, "app"))
    for d in (src, os.path.join(src, "log")):
        s = _svinfo.read(d)
        assert not s["supervised"] and s["want"] is None
    assert not helpers.pid_alive(run_pid) and not helpers.pid_alive(log_pid)
    assert scan.lines(os.path.join(src), "sigs") == ["TERM"]
    # svscan must not bring it back: rescan now, and look again.
    os.kill(scan.proc.pid, 14)
    time.sleep(1)
    assert not _svinfo.read(src)["supervised"] and not _svinfo.read(src + "/log")["supervised"]


def test_remove_directory_and_errors(scan, tmp_path):
    scan.service("inplace", "exec sleep 1000\n")
    scan.start()
    scan.wait("inplace", up, "inplace up")
    out, _, code = scan.svctl("remove", "inplace")
    assert (out, code) == ("inplace: removed (renamed to .inplace; service stopped)\n", 0)
    assert not _svinfo.read(os.path.join(scan.dir, ".inplace"))["supervised"]
    assert scan.svctl("remove", "nosuch")[:3:2] == ("nosuch: no such service in %s\n" % scan.dir, 1)
    assert scan.svctl("remove", "all")[2] == 100
    assert scan.svctl("add", str(tmp_path / "missing"))[1:] == (
        "svctl: fatal: unable to add %s: not a directory\n" % (tmp_path / "missing"), 111)
    assert scan.svctl("add", str(tmp_path), ".bad")[2] == 100
    assert scan.svctl("add", str(tmp_path), "bad\\xzz")[2] == 100
    assert scan.svctl("add", str(tmp_path))[1:] == (
        "svctl: fatal: unable to add %s: no executable run in it\n" % tmp_path, 111)


def test_bad_control_files_one_line_each(scan):
    scan.service("good", "exec sleep 1000\n")
    scan.start()
    scan.wait("good", up, "good up")
    for name, kind in (("regular", "file"), ("linked", "link")):
        d = os.path.join(scan.dir, "..", name)
        os.makedirs(os.path.join(d, "supervise"))
        os.mkfifo(os.path.join(d, "supervise", "ok"))
        fd = os.open(os.path.join(d, "supervise", "ok"), os.O_RDONLY | os.O_NONBLOCK)
        scan.procs.fds = getattr(scan.procs, "fds", []) + [fd]
        with open(os.path.join(d, "supervise", "status"), "wb") as f:
            f.write(__import__("clientkit").status_bytes(5, pid=40009))
        target = os.path.join(d, "supervise", "control")
        if kind == "file":
            open(target, "w").close()
        else:
            os.symlink(os.path.join(scan.dir, "good", "supervise", "control"), target)
    out, err, code = scan.svctl("restart", "../regular", "../linked", "good")
    lines = out.splitlines()
    assert lines[0] == "../regular: unable to control %s/../regular: control is not a fifo" % scan.dir
    assert lines[1] == "../linked: unable to control %s/../linked: control is a symlink" % scan.dir
    assert lines[2].startswith("good: up (pid ") and code == 1 and err == ""
    for fd in scan.procs.fds:
        os.close(fd)


def test_odd_names_escaped_and_usable(scan, procs):
    odd = os.fsdecode(b"my app\n\xff")
    d = scan.service(odd, "exec sleep 1000\n", log=True)
    os.mkdir(os.path.join(d, "log", "main"))
    with open(os.path.join(d, "log", "main", "current"), "wb") as f:
        f.write(b"%s hi\n" % _tai64.stamp_bytes())
    procs.start([helpers.prog("supervise"), odd], cwd=scan.dir)
    scan.wait(odd, up, "odd one up")
    shown = "my\\x20app\\x0a\\xff"
    out, err, code = scan.svctl("stop", shown)
    assert (out, err, code) == (shown + ": down\n", "", 0)
    out, _, code = scan.svctl("status")
    assert out.splitlines()[1].startswith(shown + "  down") and code == 4   # its logger is not supervised
    out, _, code = scan.svctl("start", os.path.join(scan.dir, odd))   # a path with the raw bytes
    assert code == 0 and out.startswith("%s/%s: up (pid " % (scan.dir, shown))
    out, _, code = scan.svctl("tail", shown)
    assert out.startswith(shown + " | ") and out.endswith(" hi\n") and code == 0
    _svinfo.control(d, "dx")


def test_group_outliving_its_leader_is_shown(scan, procs):
    # process-group: TERM ends ./run (the leader) but not its worker, which
    # ignores it; until timeout-kill the service is stopping with no pid.
    scan.service("grp", "sh -c 'trap \"\" TERM; echo $$ > worker; while :; do sleep 1; done' &\n"
                 "while ! test -s worker; do sleep 0.01; done\n"
                 "echo $$ >> pids\nexec sleep 1000\n",
                 process_group="", timeout_kill="60000\n")
    scan.start()
    s = scan.wait("grp", lambda s: up(s) and scan.lines("grp", "worker"), "grp up with its worker")
    leader = s["pid"]
    worker = int(scan.lines("grp", "worker")[0])
    procs.track(worker)
    _svinfo.control(os.path.join(scan.dir, "grp"), "d")
    scan.wait("grp", lambda s: s["state"] == "stopping" and not s["pid"], "the leader gone")
    out, _, code = scan.svctl("stop", "--wait", "0.5", "grp")   # a second stop: still waiting
    assert (out, code) == ("grp: timeout after 0.5s: stopping (group %d)\n" % leader, 1)
    out, _, code = scan.svctl("status")
    assert re.search(r"^grp +stopping +group %d " % leader, out, re.M), out
    out, _, code = scan.svctl("show", "grp")
    assert "none (the leader is gone), group %d still running" % leader in out, out
    assert re.search(r"memory +[0-9.]+\w+ in [12] process", out), out  # sh (and its sleep)
    from svtools import _svweb_model
    [row] = _svweb_model.rows_of("grp", _svinfo.to_json(scan.snap("grp")))
    assert row["pid"] == "group %d" % leader      # svweb's board shows it the same way
    os.kill(worker, 9)
    scan.wait("grp", lambda s: s["state"] == "down", "grp down once its group is gone")
