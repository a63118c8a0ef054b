"""svscan on real scan directories: pickup, restarts, orphans, log pipes."""

import os
import signal
import subprocess
import time

import pytest

import helpers
from helpers import c_tool, prog, wait_for, write_script


def children(pid):
    """PID's live children but svscan's inotify watch set-up child."""
    try:
        with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
            pids = [int(x) for x in f.read().split()]
    except OSError:
        return []
    # the set-up child, or a child not yet titled (it, being forked), or
    # one that has exited (a zombie's cmdline is empty: the set-up child
    # between its exit and svscan's reaping)
    return [p for p in pids if cmdline(p) not in ("svscan watcher", cmdline(pid), "")]


def cmdline(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return f.read().rstrip(b"\0").replace(b"\0", b" ").decode()
    except OSError:
        return ""


def supervise_pid(scanner, title):
    for pid in children(scanner.pid):
        if cmdline(pid) == title and helpers.pid_alive(pid):
            return pid
    return None


def up(d):
    return helpers.run([prog("svok"), str(d)]).returncode == 0


def svstat(d):
    return helpers.run([prog("svstat"), str(d)]).stdout.decode()


def service(d, body="exec sleep 1000\n"):
    os.makedirs(d, exist_ok=True)
    write_script(os.path.join(d, "run"), 'echo $$ >> started\n' + body)
    return d


class Scan:
    def __init__(self, procs, tmp_path, args=(), env=None):
        self.dir = tmp_path / "scan"
        self.dir.mkdir(exist_ok=True)
        self.err = tmp_path / "svscan.err"
        self.errf = open(self.err, "wb")
        self.proc = procs.start([prog("svscan")] + list(args) + [str(self.dir)],
                                stdout=self.errf, stderr=self.errf, env=env or helpers.env())
        self.pid = self.proc.pid

    def stderr(self):
        return self.err.read_bytes().decode()


@pytest.fixture
def scan(procs, tmp_path):
    s = Scan(procs, tmp_path)
    yield s
    s.errf.close()


def test_pickup_symlink_rename_and_new_directory(scan, tmp_path):
    a = service(tmp_path / "a")
    os.symlink(a, scan.dir / "a")
    wait_for(lambda: (a / "started").exists(), 3, what="symlinked service started")
    b = service(tmp_path / "b")
    os.rename(b, scan.dir / "b")
    wait_for(lambda: (scan.dir / "b" / "started").exists(), 3, what="renamed-in service started")
    service(scan.dir / "c")
    wait_for(lambda: (scan.dir / "c" / "started").exists(), 5, what="new directory started")
    assert supervise_pid(scan, "supervise a")
    assert "up (pid" in svstat(scan.dir / "b")


def test_dot_names_and_files_ignored_dangling_warned_once(scan, tmp_path):
    service(scan.dir / ".hidden")
    (scan.dir / "plain").write_text("x")
    os.symlink(tmp_path / "nowhere", scan.dir / "dangling")
    wait_for(lambda: "dangling" in scan.stderr(), 3, what="warning")
    for name in ("m1", "m2"):
        service(scan.dir / name)
        wait_for(lambda: (scan.dir / name / "started").exists(), 5, what=name)
    os.kill(scan.pid, signal.SIGALRM)       # a full rescan
    service(scan.dir / "m3")
    wait_for(lambda: (scan.dir / "m3" / "started").exists(), 5, what="m3")
    assert scan.stderr() == "svscan: warning: unable to stat dangling: file does not exist\n"
    assert not (scan.dir / ".hidden" / "supervise").exists()


def test_killed_supervise_restarted_and_orphan_stopped(scan, tmp_path):
    a = service(scan.dir / "a")
    wait_for(lambda: up(a) and (a / "started").exists() and (a / "started").read_text().endswith("\n"),
             5, what="a up")
    old_service = int((a / "started").read_text().split()[0])
    old = supervise_pid(scan, "supervise a")
    os.kill(old, signal.SIGKILL)
    wait_for(lambda: len((a / "started").read_text().split()) == 2, 10, what="new service")
    new = supervise_pid(scan, "supervise a")
    assert new and new != old
    wait_for(lambda: not helpers.pid_alive(old_service), 3, what="orphan stopped")
    running = [p for p in children(new)]
    assert running == [int((a / "started").read_text().split()[1])]


def test_removed_directory_keeps_its_supervise(scan, tmp_path):
    a = service(tmp_path / "a")
    os.symlink(a, scan.dir / "a")
    wait_for(lambda: up(a), 5, what="a up")
    pid = supervise_pid(scan, "supervise a")
    os.unlink(scan.dir / "a")
    service(scan.dir / "marker")
    wait_for(lambda: up(scan.dir / "marker"), 5, what="marker")
    assert helpers.pid_alive(pid) and up(a)
    helpers.run([prog("svc"), "-dx", str(a)])
    wait_for(lambda: not helpers.pid_alive(pid), 5, what="supervise exit")
    os.kill(scan.pid, signal.SIGALRM)
    service(scan.dir / "marker2")
    wait_for(lambda: up(scan.dir / "marker2"), 5, what="marker2")
    assert not up(a)


def test_services_get_default_signals_and_titles(scan):
    d = service(scan.dir / "sig", "grep -E '^Sig(Ign|Blk)' /proc/self/status > sigs\nexec sleep 1000\n")
    os.makedirs(d / "log")
    write_script(d / "log" / "run", "exec cat > /dev/null\n")
    wait_for(lambda: (d / "sigs").exists() and up(d / "log"), 5, what="service and log up")
    wait_for(lambda: (d / "sigs").read_text().count("\n") == 2, 2, what="sigs written")
    assert (d / "sigs").read_text() == "SigBlk:\t0000000000000000\nSigIgn:\t0000000000000000\n"
    assert supervise_pid(scan, "supervise sig") and supervise_pid(scan, "supervise log")


@pytest.mark.interop
def test_c_svc_and_svstat_drive_our_services(scan):
    d = service(scan.dir / "a")
    wait_for(lambda: "up (pid" in svstat(d), 5, what="up")
    helpers.run([c_tool("svc"), "-d", str(d)])
    wait_for(lambda: ": down " in svstat(d), 5, what="down")
    helpers.run([c_tool("svc"), "-u", str(d)])
    wait_for(lambda: "up (pid" in svstat(d), 5, what="up again")


@pytest.mark.interop
def test_log_pair_loses_nothing_across_logger_restarts(scan):
    n = 300000
    d = service(scan.dir / "num", 'i=0; while [ $i -lt %d ]; do echo $i; i=$((i+1)); done\n'
                'exec sleep 1000\n' % n)
    os.makedirs(d / "log")
    write_script(d / "log" / "run", "exec %s s16777215 ./main\n" % c_tool("multilog"))
    current = d / "log" / "main" / "current"
    wait_for(lambda: current.exists() and current.stat().st_size > 100, 5, what="first lines")
    first = int(svstat(d / "log").split("pid ")[1].split(")")[0])
    assert current.stat().st_size < 1000000     # the kills land mid-stream
    os.kill(first, signal.SIGTERM)          # the logger's run
    wait_for(lambda: "pid %d)" % first not in svstat(d / "log") and "up (pid" in svstat(d / "log"),
             5, what="logger back")
    sup = supervise_pid(scan, "supervise log")
    os.kill(sup, signal.SIGKILL)            # the logger's supervise
    wait_for(lambda: (supervise_pid(scan, "supervise log") or sup) != sup, 5, what="log supervise back")
    last = ("%d\n" % (n - 1)).encode()
    wait_for(lambda: current.read_bytes().endswith(last), 60, interval=0.05, what="all lines")
    lines = []
    for name in sorted(os.listdir(d / "log" / "main")):
        if name.startswith("@") or name == "current":
            lines.extend((d / "log" / "main" / name).read_bytes().split())
    assert lines == [b"%d" % i for i in range(n)]


def test_poll_mode_picks_up_within_five_seconds(procs, tmp_path):
    s = Scan(procs, tmp_path, ["-p"])
    service(tmp_path / "late")
    os.rename(tmp_path / "late", s.dir / "late")
    wait_for(lambda: (s.dir / "late" / "started").exists(), 7, what="poll pickup")
    s.errf.close()


@pytest.mark.interop
def test_exec_mode_runs_c_supervise(procs, tmp_path):
    env = helpers.env(PATH="/usr/bin:/bin")
    s = Scan(procs, tmp_path, ["-e"], env=env)
    d = service(s.dir / "a")
    wait_for(lambda: up(d), 5, what="C supervise up")
    pids = children(s.pid)
    assert [os.readlink("/proc/%d/exe" % p) for p in pids] == [c_tool("supervise")]
    assert cmdline(pids[0]) == "supervise a"
    s.errf.close()


@pytest.mark.interop
def test_exec_mode_missing_supervise_message_matches_c(procs, tmp_path):
    outs = []
    for tool in (c_tool("svscan"), prog("svscan")):
        d = tmp_path / os.path.basename(os.path.dirname(tool))
        service(d / "scan" / "a")
        args = [tool, str(d / "scan")] if tool.startswith("/usr") else [tool, "-e", str(d / "scan")]
        p = procs.start(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                        env={"PATH": str(tmp_path / "empty")})
        outs.append(helpers.read_line(p.stdout, 20))
        procs.stop(p)
    assert outs[0] == outs[1] == b"svscan: warning: unable to start supervise a: file does not exist\n"


@pytest.mark.interop
def test_chdir_failure_and_usage(tmp_path):
    missing = str(tmp_path / "missing")
    ours = helpers.run([prog("svscan"), missing])
    theirs = helpers.run([c_tool("svscan"), missing])
    assert (ours.returncode, ours.stdout, ours.stderr) == (theirs.returncode, theirs.stdout, theirs.stderr)
    assert ours.stderr == ("svscan: fatal: unable to chdir to %s: file does not exist\n" % missing).encode()
    assert ours.returncode == 111
    bad = helpers.run([prog("svscan"), "-z"])
    assert (bad.returncode, bad.stderr) == (100, b"svscan: illegal option -- z\nsvscan: usage: svscan [ -ekp ] [ dir ]\n")


def test_forked_child_reads_its_plan_not_the_table(monkeypatch):
    """svscan's child set-up (Processes.child) takes what it needs from
    child_plan, made in flush() before the forks: an entry of the table is
    not even looked at on the normal path (each object a forked supervise
    touches costs it a 4 KiB page: docs/performance.md)."""
    import resource
    import types
    from svtools import _svscan_procs

    class Untouchable:
        def __getattribute__(self, name):
            os._exit(99)
    calls = list(_svscan_procs._CHILD_CALLS)
    knobs, problems = object(), {"down-signal": ("unknown signal", None)}
    notify = b"/x/supervise/notify"
    calls[-1] = lambda argv, environ, kn, pr, no: \
        7 if (argv, environ, kn, pr, no) == (["supervise", "x"], {}, knobs, problems, notify) else 8
    monkeypatch.setattr(_svscan_procs, "_CHILD_CALLS", tuple(calls))
    limits = resource.getrlimit(resource.RLIMIT_NOFILE)
    scanner = types.SimpleNamespace(child_plan=(
        (), limits, [None], ["supervise x"], [["supervise", "x"]], None, {}, [0], [None], False,
        [knobs], [problems], [notify]))
    pid = os.fork()
    if pid == 0:
        os._exit(_svscan_procs.Processes.child(scanner, [(Untouchable(), 0)], 0))
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 7
