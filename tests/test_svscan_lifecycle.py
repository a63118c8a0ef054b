"""svscan surviving its own failures: orderly shutdown, re-adoption,
orphans, odd names, descriptors a supervise must not keep (the inotify
watch: test_svscan_watch, test_svscan_overflow)."""

import os
import signal
import sys

import pytest

import helpers
from svtools import _proc
from svtools._siteimport import showable
from helpers import c_tool, prog, wait_for, write_script
from test_svscan import Scan, children, cmdline, service, supervise_pid, up


def session(pid):
    """Live processes of session PID (the test started it with a new session)."""
    out = []
    for task in os.listdir("/proc"):
        st = task.isdigit() and _proc.stat(int(task))
        if st and st[3] == pid and st[0] not in (b"Z", b"X"):
            out.append(int(task))
    return out


def numbers(d):
    """A service that writes 0, 1, 2 ... to its logger, as fast as it can."""
    service(d, "i=0; while :; do echo $i; i=$((i+1)); done\n")
    os.makedirs(d / "log", exist_ok=True)
    write_script(d / "log" / "run", "exec %s s16777215 ./main\n" % prog("multilog"))
    return d


def logged(d):
    data = b""
    main = d / "log" / "main"
    for name in sorted(os.listdir(main)):
        if name.startswith("@") or name == "current":
            data += (main / name).read_bytes()
    return data


def assert_counts_from_zero(data):
    assert data.endswith(b"\n")
    got = [int(x) for x in data.split()]
    assert got == list(range(len(got)))      # nothing lost, nothing twice
    return len(got)


def ppid(pid):
    with open("/proc/%d/stat" % pid, "rb") as f:
        data = f.read()
    return int(data[data.rindex(b")") + 2:].split()[1])


def pidfds(pid):
    n = 0
    try:
        for fd in os.listdir("/proc/%d/fd" % pid):
            try:
                n += os.readlink("/proc/%d/fd/%s" % (pid, fd)) == "anon_inode:[pidfd]"
            except OSError:
                pass
    except OSError:
        pass
    return n


@pytest.fixture
def scan(procs, tmp_path):
    s = Scan(procs, tmp_path)
    yield s
    s.errf.close()


def test_term_stops_services_drains_loggers_and_exits_0(scan):
    dirs = [numbers(scan.dir / ("n%d" % k)) for k in range(3)]
    plain = service(scan.dir / "plain")
    for d in dirs:
        wait_for(lambda: (d / "log" / "main" / "current").exists()
                 and (d / "log" / "main" / "current").stat().st_size > 1000, 10, what="lines logged")
    wait_for(lambda: up(plain), 10, what="plain up")
    os.kill(scan.pid, signal.SIGTERM)
    assert scan.proc.wait(timeout=20) == 0
    wait_for(lambda: session(scan.pid) == [], 15, what="every process gone")
    for d in dirs:
        assert assert_counts_from_zero(logged(d)) > 100
    assert scan.stderr() == ""


def test_term_leaves_no_stray_of_a_run_without_exec(scan):
    """./run started `sleep` without exec and died of TERM: the sleep, svscan's
    child now (subreaper) and holding the logger's pipe, is sent the service's
    down signal, so the logger gets its end of file and nothing is left."""
    d = service(scan.dir / "loose", "echo hello\nsleep 300 &\necho $! > stray\nwait\n")
    os.makedirs(d / "log")
    write_script(d / "log" / "run", "exec %s ./main\n" % prog("multilog"))
    wait_for(lambda: (d / "stray").exists() and (d / "stray").read_text().strip()
             and (d / "log" / "main" / "current").exists()
             and b"hello" in (d / "log" / "main" / "current").read_bytes(), 10, what="up, logged")
    stray = int((d / "stray").read_text())
    assert helpers.pid_alive(stray)
    os.kill(scan.pid, signal.SIGTERM)
    assert scan.proc.wait(timeout=20) == 0
    assert not helpers.pid_alive(stray)
    wait_for(lambda: session(scan.pid) == [], 15, what="every process gone")
    assert (d / "log" / "main" / "current").read_bytes() == b"hello\n"


def test_k_dies_alone_as_0_76(procs, tmp_path):
    s = Scan(procs, tmp_path, ["-k"])
    d = service(s.dir / "a")
    wait_for(lambda: up(d), 10, what="a up")
    os.kill(s.pid, signal.SIGTERM)
    assert s.proc.wait(timeout=10) == -signal.SIGTERM
    assert up(d)
    s.errf.close()


def test_term_during_start_up_leaves_nothing(procs, tmp_path):
    for k in range(30):
        service(tmp_path / "scan" / ("s%02d" % k))
    s = Scan(procs, tmp_path)
    wait_for(lambda: any((s.dir / ("s%02d" % k) / "started").exists() for k in range(30)), 10,
             what="a first service")
    os.kill(s.pid, signal.SIGTERM)
    assert s.proc.wait(timeout=20) == 0
    wait_for(lambda: session(s.pid) == [], 15, what="every process gone")
    s.errf.close()


def test_ignored_down_signal_gets_sigkill_and_second_term_is_harmless(scan):
    d = service(scan.dir / "stubborn", "trap '' TERM\nwhile :; do sleep 0.1; done\n")
    quick = service(scan.dir / "quick")
    wait_for(lambda: up(d) and up(quick) and (d / "started").exists()
             and (d / "started").read_text().strip(), 10, what="up")
    shell = int((d / "started").read_text())
    os.kill(scan.pid, signal.SIGTERM)
    wait_for(lambda: not up(quick), 10, what="quick stopped")
    assert helpers.pid_alive(shell) and scan.proc.poll() is None
    os.kill(scan.pid, signal.SIGTERM)          # during the shutdown
    assert scan.proc.wait(timeout=30) == 0
    assert not helpers.pid_alive(shell)
    wait_for(lambda: session(scan.pid) == [], 15, what="every process gone")


def test_restarted_svscan_adopts_supervise_and_logger_pipes(procs, tmp_path):
    s = Scan(procs, tmp_path)
    d = numbers(s.dir / "num")
    plain = service(s.dir / "plain")
    wait_for(lambda: up(plain) and up(d / "log") and up(d), 10, what="up")
    before = sorted(children(s.pid))
    os.kill(s.pid, signal.SIGKILL)
    s.proc.wait(timeout=10)
    s.errf.close()
    t = Scan(procs, tmp_path)
    wait_for(lambda: pidfds(t.pid) == 3, 10, what="three supervise adopted")
    assert children(t.pid) == []               # none started twice
    assert all(helpers.pid_alive(p) for p in before)
    assert [int(x) for x in (plain / "started").read_text().split()] and \
        len((plain / "started").read_text().split()) == 1
    # an adopted supervise that dies is replaced, and its service stopped
    old = int((plain / "started").read_text())
    sup = [p for p in before if cmdline(p) == "supervise plain"][0]
    os.kill(sup, signal.SIGKILL)
    wait_for(lambda: supervise_pid(t, "supervise plain"), 10, what="new supervise plain")
    wait_for(lambda: not helpers.pid_alive(old), 15, what="the orphan stopped")
    wait_for(lambda: len((plain / "started").read_text().split()) == 2, 10, what="started again")
    os.kill(t.pid, signal.SIGTERM)
    assert t.proc.wait(timeout=20) == 0
    wait_for(lambda: session(s.pid) == [] and session(t.pid) == [], 15, what="every process gone")
    assert assert_counts_from_zero(logged(d)) > 100
    assert t.stderr() == ""
    t.errf.close()


@pytest.mark.parametrize("order", ["rm, svc -dx", "svc -dx, rm", "rm, kill supervise",
                                   "kill supervise, rm"])
def test_no_orphan_whatever_the_order(scan, tmp_path, order):
    real = service(tmp_path / "real")
    link = scan.dir / "real"
    os.symlink(real, link)
    wait_for(lambda: up(real) and (real / "started").exists()
             and (real / "started").read_text().endswith("\n"), 10, what="up")
    svc_pid = int((real / "started").read_text())
    sup = supervise_pid(scan, "supervise real")
    for step in order.split(", "):
        if step == "rm":
            os.unlink(link)
        elif step == "svc -dx":
            helpers.run([c_tool("svc"), "-dx", str(real)])
        else:
            os.kill(sup, signal.SIGKILL)
    wait_for(lambda: not helpers.pid_alive(svc_pid), 15, what="the service stopped")
    wait_for(lambda: not helpers.pid_alive(sup), 15, what="its supervise gone")
    os.kill(scan.pid, signal.SIGALRM)          # a full rescan, then a marker: svscan has
    service(scan.dir / "marker")               # had every chance to restart it wrongly
    wait_for(lambda: up(scan.dir / "marker"), 10, what="marker")
    alive = [int(x) for x in (real / "started").read_text().split() if helpers.pid_alive(int(x))]
    if order.startswith("rm"):
        assert alive == []
    else:                                      # still linked at first: restarted, as in 0.76
        assert len(alive) <= 1
        for pid in alive:                      # ... and supervised
            assert cmdline(ppid(pid)) == "supervise real"


def test_inotify_overflow_10000_links_at_once(scan, tmp_path):
    target = tmp_path / "file"
    target.write_text("")
    real = service(tmp_path / "real")
    for k in range(10000):
        os.symlink(target, scan.dir / ("l%05d" % k))
        if k == 9000:
            os.symlink(real, scan.dir / "real")
    wait_for(lambda: up(real), 20, what="the service among 10,000 links")
    service(scan.dir / "after")
    wait_for(lambda: up(scan.dir / "after"), 20, what="a service after the burst")
    assert scan.stderr() == ""


NAMES = [b"bad\xff", b"new\nline", b"with space", b"\x80lone"]


def test_names_that_are_not_utf8(scan):
    dirs = [service(os.fsdecode(os.path.join(bytes(scan.dir), n))) for n in NAMES]
    for d in dirs:
        wait_for(lambda: helpers.run([c_tool("svok"), d]).returncode == 0, 10, what=repr(d))
    titles = {cmdline(p) for p in children(scan.pid)}
    assert {"supervise " + showable(n) for n in NAMES} <= titles
    assert scan.stderr() == ""


def test_supervise_keeps_no_descriptor_of_svscan(scan):
    def targets(pid, low=3):
        out = {}
        for fd in os.listdir("/proc/%d/fd" % pid):
            if int(fd) >= low:
                try:
                    out[int(fd)] = os.readlink("/proc/%d/fd/%s" % (pid, fd))
                except OSError:
                    pass
        return out
    d = service(scan.dir / "a")
    os.makedirs(d / "log")
    write_script(d / "log" / "run", "exec cat > /dev/null\n")
    wait_for(lambda: up(d) and up(d / "log"), 10, what="up")
    # the watch in place, its set-up child gone
    wait_for(lambda: pidfds(scan.pid) == 0 and len(helpers.children_of(scan.pid)) == 2
             and "anon_inode:inotify" in targets(scan.pid).values(), 10, what="the watch")
    mine = set(targets(scan.pid).values())
    assert any(t.startswith("pipe:") for t in mine)
    for pid in children(scan.pid):
        theirs = targets(pid)
        assert not any("inotify" in t or "pidfd" in t for t in theirs.values())
        assert not mine & set(theirs.values()), (cmdline(pid), theirs)


def test_svscan_imports_no_inotify_simple_nor_what_it_brings():
    """Every module svscan imports is paid by each supervise it forks: the
    child that sets up the watch imports inotify_simple, svscan does not."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    code = ("import sys; sys.path.insert(0, %r); import svtools.svscan; "
            "print(' '.join(sorted(sys.modules)))" % root)
    mods = set(helpers.run([sys.executable, "-IS", "-c", code]).stdout.decode().split())
    assert "svtools.svscan" in mods
    assert not mods & {"inotify_simple", "threading", "enum", "ctypes", "subprocess", "json", "re"}


def test_shutdown_uses_each_service_s_down_signal_and_timeout_kill(scan):
    polite = service(scan.dir / "polite", "trap 'echo got INT > bye; exit 0' INT\n"
                     "trap '' TERM\nwhile :; do sleep 0.1; done\n")
    (polite / "down-signal").write_text("INT\n")
    deaf = service(scan.dir / "deaf", "trap '' TERM\nwhile :; do sleep 0.1; done\n")
    (deaf / "timeout-kill").write_text("300\n")
    wait_for(lambda: all(up(d) and (d / "started").exists() for d in (polite, deaf)), 10, what="up")
    os.kill(scan.pid, signal.SIGTERM)
    assert scan.proc.wait(timeout=8) == 0        # well before the 10 s of a service without one
    assert (polite / "bye").read_text() == "got INT\n"
    wait_for(lambda: session(scan.pid) == [], 15, what="every process gone")


@pytest.mark.interop
def test_orderly_shutdown_of_c_supervise_and_c_multilog(procs, tmp_path):
    s = Scan(procs, tmp_path, ["-e"], env=helpers.env(PATH="/usr/bin:/bin"))
    d = numbers(tmp_path / "num")
    write_script(d / "log" / "run", "exec %s s16777215 ./main\n" % c_tool("multilog"))
    d = d.rename(s.dir / "num")
    wait_for(lambda: (d / "log" / "main" / "current").exists()
             and (d / "log" / "main" / "current").stat().st_size > 1000, 10, what="lines logged")
    assert [os.readlink("/proc/%d/exe" % p) for p in children(s.pid)] == [c_tool("supervise")] * 2
    os.kill(s.pid, signal.SIGTERM)
    assert s.proc.wait(timeout=20) == 0
    wait_for(lambda: session(s.pid) == [], 15, what="every process gone")
    assert assert_counts_from_zero(logged(d)) > 100
    s.errf.close()
