"""supervise as a real process on real ./run scripts."""

import os
import random
import signal
import time
import stat

import pytest

from helpers import c_tool, pid_alive, prog, run, wait_for, write_script
from supervisekit import Service, service  # noqa: F401 (fixture)

LETTERS = set(b"udopchaitkxq12w")


TRAPS = """\
for s in HUP ALRM INT TERM QUIT USR1 USR2 WINCH CONT; do
    trap "echo $s >> signals" $s
done
echo $$ > pid
while :; do sleep 1000 & wait $!; done
"""


def test_layout_modes_and_first_status(service):
    s = service().start()
    pid = s.wait_up()
    sv = s.file("supervise")
    assert stat.S_IMODE(os.stat(sv).st_mode) == 0o700
    for name, kind, mode in [("lock", stat.S_ISREG, 0o600), ("control", stat.S_ISFIFO, 0o600),
                             ("ok", stat.S_ISFIFO, 0o600), ("status", stat.S_ISREG, 0o644)]:
        st = os.lstat(os.path.join(sv, name))
        assert kind(st.st_mode), name
        assert stat.S_IMODE(st.st_mode) == mode, name
    assert os.path.getsize(os.path.join(sv, "status")) == 18
    assert not os.path.exists(os.path.join(sv, "status.new"))
    secs, nanos, spid, paused, want = s.status()
    assert (spid, paused, want) == (pid, 0, ord("u"))
    assert nanos % 1000 == 500
    assert pid_alive(pid)


def test_child_context(service, tmp_path):
    s = service("for f in /proc/$$/fd/*; do readlink $f; done > fds; pwd > cwd; "
                "echo \"$0\" > argv0; echo \"$FOO\" > foo; exec sleep 1000\n")
    s.start(env=dict(os.environ, FOO="bar baz"))
    s.wait_up()
    wait_for(lambda: s.read("foo"), what="run's output")
    assert s.read("cwd").strip() == os.path.realpath(s.path).encode()
    assert s.read("argv0").strip() == b"./run"
    assert s.read("foo") == b"bar baz\n"
    fddir = "/proc/%d/fd" % s.proc.pid
    own = {os.readlink(os.path.join(fddir, fd)) for fd in os.listdir(fddir) if int(fd) > 2}
    assert len(own) >= 4  # lock, control, ok, the signal pipe
    assert not own & set(os.fsdecode(x) for x in s.read("fds").split())


def test_run_gets_default_signals_and_empty_mask(service):
    s = service("grep -E '^Sig(Ign|Blk)' /proc/self/status > sigs; exec sleep 1000\n")
    # Start supervise from a parent that ignores SIGPIPE and SIGXFSZ (Python
    # does), SIGINT and SIGQUIT (a shell's &), and blocks USR1.
    def hostile():
        for sig in (signal.SIGPIPE, signal.SIGXFSZ, signal.SIGINT, signal.SIGQUIT):
            signal.signal(sig, signal.SIG_IGN)
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1})
    s.start(restore_signals=False, preexec_fn=hostile)
    wait_for(lambda: s.read("sigs").count(b"\n") == 2, what="run's signal report")
    fields = dict(line.split(b":") for line in s.read("sigs").splitlines())
    ign = int(fields[b"SigIgn"].strip(), 16)
    blk = int(fields[b"SigBlk"].strip(), 16)
    for sig in (signal.SIGPIPE, signal.SIGXFSZ, signal.SIGINT, signal.SIGQUIT, signal.SIGCHLD):
        assert not ign & (1 << (sig - 1)), sig
    assert blk == 0


@pytest.mark.parametrize("letter,name", [
    (b"h", "HUP"), (b"a", "ALRM"), (b"i", "INT"), (b"t", "TERM"),
    (b"q", "QUIT"), (b"1", "USR1"), (b"2", "USR2"), (b"w", "WINCH"),
])
def test_signal_letters_reach_the_service(service, letter, name):
    s = service(TRAPS).start()
    pid = s.wait_up()
    wait_for(lambda: s.read("pid"), what="run's pid file")
    s.send(letter)
    wait_for(lambda: name.encode() in s.read("signals").split(), what="the %s trap" % name)
    assert s.pid() == pid  # trapped: still the same process


def test_kill_restarts_a_long_lived_service_at_once(service):
    s = service().start()
    pid = s.wait_up()
    s.send(b"k")
    new = s.wait_up(other_than=pid)
    assert new != pid and pid_alive(new)


def test_pause_and_continue(service):
    s = service().start()
    pid = s.wait_up()
    s.send(b"p")
    wait_for(lambda: s.status()[3] == 1, what="the paused byte")
    wait_for(lambda: _proc_state(pid) == "T", what="the child to stop")
    s.send(b"c")
    wait_for(lambda: s.status()[3] == 0 and _proc_state(pid) in "SR", what="continue")


def test_down_sends_term_then_cont_to_a_paused_service(service):
    s = service("trap 'echo TERM >> signals; exit 0' TERM\n"
                "trap 'echo CONT >> signals' CONT\n"
                "echo $$ > pid\n"
                "while :; do sleep 1000 & wait $!; done\n").start()
    s.wait_up()
    wait_for(lambda: s.read("pid"), what="the traps to be set")
    s.send(b"p")
    wait_for(lambda: s.status()[3] == 1, what="paused")
    s.send(b"d")
    s.wait_down()
    assert b"TERM" in s.read("signals").split()
    secs, nanos, pid, paused, want = s.status()
    assert (pid, paused, want) == (0, 0, ord("d"))


def test_down_file_up_and_once(service):
    s = service("echo run >> runs; exec sleep 1000\n", down=True).start()
    assert s.status()[2:] == (0, 0, ord("d"))
    assert s.read("runs") == b""
    s.send(b"u")
    pid = s.wait_up()
    assert s.status()[4] == ord("u")
    # The shell must have run its echo before the TERM below can be fair.
    wait_for(lambda: s.read("runs") == b"run\n", what="run started once")
    s.send(b"o")
    wait_for(lambda: s.status()[4] == 0, what="want none after o")
    os.kill(pid, signal.SIGTERM)
    s.wait_down()
    assert s.status()[4] == 0  # ran once: not restarted
    assert s.read("runs") == b"run\n"


def test_once_then_exit(service):
    s = service("echo ran >> runs; exit 0\n", down=True).start()
    s.send(b"ox")
    assert s.proc.wait(timeout=10) == 0
    assert s.read("runs") == b"ran\n"
    assert s.status()[2] == 0 and not s.ok()


def test_down_and_exit(service):
    s = service().start()
    pid = s.wait_up()
    s.send(b"dx")
    assert s.proc.wait(timeout=10) == 0
    assert not pid_alive(pid)
    assert s.status()[2:] == (0, 0, ord("d"))


def test_exit_while_up_keeps_supervising_until_the_child_exits(service):
    s = service().start()
    pid = s.wait_up()
    s.send(b"x")
    s.send(b"p")
    wait_for(lambda: s.status()[3] == 1, what="commands still obeyed after x")
    assert s.proc.poll() is None
    s.send(b"c")
    os.kill(pid, signal.SIGTERM)
    assert s.proc.wait(timeout=10) == 0
    assert not pid_alive(pid)


def test_up_down_stops_at_once(service):
    # 0.76 sleeps a second after a start and only then sees the 'd'.
    s = service("trap 'date +%s.%N > termed; exit 0' TERM\n"
                "date +%s.%N > started\n"
                "while :; do sleep 1000 & wait $!; done\n", down=True).start()
    s.send(b"u")
    s.wait_up()
    wait_for(lambda: s.read("started"), what="run to start")
    s.send(b"d")
    s.wait_down()
    wait_for(lambda: s.read("termed"), what="./run to take the TERM")  # how soon: bench/


def test_at_most_one_start_per_second_and_still_answers(service):
    s = service("date +%s.%N >> starts; exit 1\n").start()
    wait_for(lambda: s.read("starts").count(b"\n") >= 3, timeout=10, what="three starts")
    s.send(b"p")  # answered at once, throttle or not
    wait_for(lambda: s.status()[4] == ord("u") and s.ok(), what="supervise alive")
    s.send(b"d")
    wait_for(lambda: s.status()[4] == ord("d"), what="want down")
    s.wait_down()
    n = s.read("starts").count(b"\n")
    starts = [float(x) for x in s.read("starts").split()]
    gaps = [b - a for a, b in zip(starts, starts[1:])]
    assert all(g >= 0.95 for g in gaps), gaps
    # No start after 'd', even once the throttle deadline has long passed.
    wait_for(lambda: time.time() > starts[-1] + 2.5, 10, what="the throttle deadline to pass")
    assert s.read("starts").count(b"\n") == n


@pytest.mark.parametrize("make,reason", [
    (lambda p: None, b"file does not exist"),
    (lambda p: write_script(os.path.join(p, "run"), "exit 0\n", mode=0o644), b"access denied"),
])
def test_missing_or_unexecutable_run(service, tmp_path, make, reason):
    s = service(body=None, name="bad dir")
    make(s.path)
    s.start()
    msg = b"supervise: fatal: unable to start " + s.path.encode() + b"/run: " + reason + b"\n"
    wait_for(lambda: s.stderr().count(msg) >= 2, timeout=10, what="two failed attempts")
    s.send(b"d")
    wait_for(lambda: s.status()[4] == ord("d"), what="supervise still answers")
    s.wait_down()
    assert set(s.stderr().splitlines(keepends=True)) == {msg}


def test_second_supervise_refused(service):
    s = service().start()
    s.wait_up()
    s.send(b"p")  # answered only after the loop's own first status write
    wait_for(lambda: s.status()[3] == 1, what="the paused byte")
    before = os.stat(s.file("supervise/status"))
    r = run([prog("supervise"), s.path])
    assert r.returncode == 111
    assert r.stderr == b"supervise: fatal: unable to acquire " + s.path.encode() + \
        b"/supervise/lock: temporary failure\n"
    after = os.stat(s.file("supervise/status"))
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)


@pytest.mark.interop
@pytest.mark.parametrize("first,second", [("ours", "c"), ("c", "ours")])
def test_lock_excludes_the_other_implementation(service, first, second):
    impl = {"ours": prog("supervise"), "c": c_tool("supervise")}
    s = service(supervise=impl[first]).start()
    s.wait_up()
    r = run([impl[second], s.path])
    assert r.returncode == 111
    assert r.stderr == b"supervise: fatal: unable to acquire " + s.path.encode() + \
        b"/supervise/lock: temporary failure\n"


def test_usage_and_chdir_errors(tmp_path):
    for args in ([], ["a", "b"]):
        r = run([prog("supervise")] + args)
        assert (r.returncode, r.stdout, r.stderr) == (100, b"", b"supervise: usage: supervise dir\n")
    r = run([prog("supervise"), "nonexistent"], cwd=str(tmp_path))
    assert (r.returncode, r.stderr) == (
        111, b"supervise: fatal: unable to chdir to nonexistent: file does not exist\n")


def test_junk_on_control_changes_nothing(service):
    s = service().start()
    pid = s.wait_up()
    before = s.status()
    junk = bytes(b for b in range(256) if b not in LETTERS)
    rng = random.Random(1234)
    s.send(b"\0" * 65536)
    for _ in range(4):
        s.send(bytes(rng.choice(junk) for _ in range(16384)))
    s.send(b"p")  # a valid letter after the junk is still obeyed
    wait_for(lambda: s.status()[3] == 1, what="p after junk")
    after = s.status()
    assert after[:3] == before[:3] and after[4] == before[4]
    assert pid_alive(pid) and s.proc.poll() is None


def test_control_that_is_not_a_fifo_is_refused(service, tmp_path):
    s = service()
    os.makedirs(s.file("supervise"))
    target = tmp_path / "regular"
    target.write_bytes(b"d")
    os.symlink(str(target), s.file("supervise/control"))
    r = run([prog("supervise"), s.path])
    assert r.returncode == 111
    assert r.stderr == b"supervise: fatal: unable to read " + s.path.encode() + \
        b"/supervise/control: not a fifo\n"
    assert target.read_bytes() == b"d"


def test_odd_directory_names(procs, tmp_path):
    name = os.path.join(os.fsencode(str(tmp_path)), b"sp ace \xff\xfe")
    os.mkdir(name)
    write_script(os.fsdecode(os.path.join(name, b"run")), "exec sleep 1000\n")
    s = Service(procs, os.fsdecode(name)).start()
    s.wait_up()
    r = run([prog("supervise"), name])
    assert r.stderr == b"supervise: fatal: unable to acquire " + name + \
        b"/supervise/lock: temporary failure\n"


def _proc_state(pid):
    with open("/proc/%d/stat" % pid) as f:
        data = f.read()
    return data[data.rindex(")") + 2]


def test_run_gets_the_environment_unchanged(service):
    # With no LANG/LC_*, CPython coerces its own locale and would add
    # LC_CTYPE=C.UTF-8 to what it passes on; C supervise passes no such thing.
    s = service("env > env.out; exec sleep 1000\n")
    s.start(env={"PATH": os.environ["PATH"], "ODD": "a b=c"})
    s.wait_up()
    wait_for(lambda: s.read("env.out"), what="run's environment")
    lines = set(s.read("env.out").splitlines()) - {b"PWD=" + os.path.realpath(s.path).encode()}
    assert lines == {b"PATH=" + os.environ["PATH"].encode(), b"ODD=a b=c"}


def test_supervise_dir_may_be_a_dangling_symlink(service, tmp_path):
    # As Debian's supervise does: state kept elsewhere, e.g. on a tmpfs.
    s = service()
    target = tmp_path / "state" / "svc"
    os.makedirs(s.path, exist_ok=True)
    (tmp_path / "state").mkdir()
    os.symlink(str(target), s.file("supervise"))
    s.start()
    s.wait_up()
    assert stat.S_ISFIFO(os.stat(target / "control").st_mode)
    assert os.path.getsize(target / "status") == 18
