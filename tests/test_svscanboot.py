"""svscanboot: svscan under readproctitle, svscan's warnings visible in ps;
svscan restarted (adopting the tree), its own svscan never PATH's, TERM
stops the tree."""

import os
import signal
import subprocess

import helpers
from helpers import prog, wait_for, write_script


def tree(pid):
    """(pid, cmdline) of every process in session PID."""
    out = []
    for task in os.listdir("/proc"):
        if task.isdigit():
            try:
                with open("/proc/%s/stat" % task, "rb") as f:
                    stat = f.read()
                with open("/proc/%s/cmdline" % task, "rb") as f:
                    cmd = f.read().rstrip(b"\0").replace(b"\0", b" ")
            except OSError:
                continue
            fields = stat[stat.rindex(b")") + 2:].split()
            if int(fields[3]) == pid and fields[0] not in (b"Z", b"X"):   # session id
                out.append((int(task), cmd))
    return out


def named(pid, prefix):
    return [p for p, cmd in tree(pid) if cmd.startswith(prefix)]


def pidfds(pids):
    """How many pidfds the process in PIDS holds (what svscan adopted)."""
    try:
        fds = os.listdir("/proc/%d/fd" % pids[0])
    except (OSError, IndexError):
        return 0
    n = 0
    for fd in fds:
        try:
            n += os.readlink("/proc/%d/fd/%s" % (pids[0], fd)) == "anon_inode:[pidfd]"
        except OSError:
            pass
    return n


def boot(procs, sv, argv0=None, path=None):
    env = helpers.env() if path is None else dict(os.environ, PATH=path)
    return procs.start([argv0 or prog("svscanboot"), str(sv)], stdin=subprocess.DEVNULL, env=env)


def test_svscanboot_runs_services_and_shows_errors(procs, tmp_path):
    sv = tmp_path / "service"
    (sv / "a").mkdir(parents=True)
    write_script(sv / "a" / "run", "env > env\nexec sleep 1000\n")
    os.symlink(tmp_path / "nowhere", sv / "broken")
    p = boot(procs, sv)
    want = b"svscan: warning: unable to stat broken: file does not exist\n"

    def shown():
        return [cmd for pid, cmd in tree(p.pid) if cmd.startswith(b"readproctitle ") and cmd.endswith(want)]
    wait_for(shown, 10, what="warning on the readproctitle line")
    line = shown()[0]
    assert line.startswith(b"readproctitle service errors: ...")
    assert len(line) == len(b"readproctitle service errors: ") + 400
    wait_for(lambda: (sv / "a" / "env").exists(), 5, what="service started")
    wait_for(lambda: (sv / "a" / "env").read_text().endswith("\n"), 2, what="env written")
    names = sorted(v.split("=", 1)[0] for v in (sv / "a" / "env").read_text().splitlines())
    assert names == ["PATH", "PWD"]
    assert any(cmd == b"svscan " + bytes(sv) for _, cmd in tree(p.pid))


def test_own_svscan_and_readproctitle_not_paths(procs, tmp_path):
    """A svscanboot linked into a bin directory whose svscan and
    readproctitle are others (C ones, say) still runs its own."""
    fake = tmp_path / "bin"
    fake.mkdir()
    for name in ("svscan", "readproctitle", "supervise"):
        write_script(fake / name, "echo $0 >> %s\nexec sleep 1000\n" % (tmp_path / "ran"))
    os.symlink(prog("svscanboot"), fake / "svscanboot")
    sv = tmp_path / "service"
    (sv / "a").mkdir(parents=True)
    write_script(sv / "a" / "run", "exec sleep 1000\n")
    p = boot(procs, sv, argv0=str(fake / "svscanboot"), path="%s:/usr/bin:/bin" % fake)
    wait_for(lambda: named(p.pid, b"supervise a"), 10, what="our supervise")
    wait_for(lambda: named(p.pid, b"readproctitle service errors: ..."), 10, what="readproctitle")
    assert named(p.pid, b"svscan " + bytes(sv))
    assert not (tmp_path / "ran").exists()


def test_killed_svscan_is_restarted_and_adopts_the_tree(procs, tmp_path):
    sv = tmp_path / "service"
    for name in ("a", "b"):
        (sv / name / "log").mkdir(parents=True)
        write_script(sv / name / "run", "echo $$ >> started\nexec sleep 1000\n")
        write_script(sv / name / "log" / "run", "exec cat > /dev/null\n")
    p = boot(procs, sv)
    wait_for(lambda: len(named(p.pid, b"supervise ")) == 4, 10, what="four supervise")
    svscan = b"svscan " + bytes(sv)        # not "svscan watcher"
    first = named(p.pid, svscan)
    sups = sorted(named(p.pid, b"supervise "))
    os.kill(first[0], signal.SIGKILL)
    wait_for(lambda: named(p.pid, svscan) not in ([], first), 10, what="a new svscan")
    wait_for(lambda: pidfds(named(p.pid, svscan)) == 4, 10, what="the four supervise adopted")
    os.kill(sups[0], signal.SIGKILL)         # an adopted supervise dies: replaced
    wait_for(lambda: len(named(p.pid, b"supervise ")) == 4 and sups[0] not in named(p.pid, b"supervise "),
             10, what="the dead supervise replaced")
    for name in ("a", "b"):
        def alive():
            return [x for x in (sv / name / "started").read_text().split() if helpers.pid_alive(int(x))]
        wait_for(lambda: len(alive()) == 1, 10, what="%s running once" % name)
        assert len((sv / name / "started").read_text().split()) <= 2   # restarted once at most
    assert p.poll() is None


def test_term_stops_the_tree_and_svscanboot_exits_0(procs, tmp_path):
    sv = tmp_path / "service"
    (sv / "a").mkdir(parents=True)
    write_script(sv / "a" / "run", "echo $$ > pid\nexec sleep 1000\n")
    p = boot(procs, sv)
    wait_for(lambda: (sv / "a" / "pid").exists() and (sv / "a" / "pid").read_text().endswith("\n"),
             10, what="service up")
    service = int((sv / "a" / "pid").read_text())
    os.kill(p.pid, signal.SIGTERM)
    assert p.wait(timeout=20) == 0
    wait_for(lambda: not helpers.pid_alive(service), 10, what="service stopped")
    wait_for(lambda: not named(p.pid, b"supervise ") and not named(p.pid, b"svscan"), 10,
             what="no supervise, no svscan")
