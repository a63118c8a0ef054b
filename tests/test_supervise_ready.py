"""Readiness: notification-fd and notify-socket on real processes."""

import os
import socket
import sys

import pytest

from helpers import pid_alive, wait_for, write_script
from supervisekit import service  # noqa: F401 (fixture)

PY = sys.executable


def test_notification_fd_newline_makes_it_ready(service):
    s = service("echo $$ > pid; while ! test -e go; do sleep 0.01; done\n"
                "printf 'ready\\n' >&5; exec sleep 1000\n")
    os.makedirs(s.path, exist_ok=True)
    s.knob("notification-fd", "5\n")
    s.start()
    pid = s.wait_up()
    x = s.wait_state("starting", pid=pid)
    assert x["ready_since"] == 0.0
    open(s.file("go"), "w").close()
    x = s.wait_state("ready", pid=pid)
    assert x["ready_since"] >= x["since"] - 0.001 > 0
    s.send(b"d")
    s.wait_state("down", want="down")


def test_notification_fd_is_only_at_fd_n(service):
    s = service("exec sleep 1000\n")
    os.makedirs(s.path, exist_ok=True)
    s.knob("notification-fd", "7")
    s.start()
    pid = s.wait_up()
    fddir = "/proc/%d/fd" % pid
    wait_for(lambda: os.readlink("/proc/%d/exe" % pid).endswith("sleep"), what="the exec")
    # sleep's own start-up (locale files) may hold a descriptor for a moment:
    # wait for the set to settle; a leaked descriptor never goes away.
    fds = lambda: sorted(int(fd) for fd in os.listdir(fddir))
    wait_for(lambda: fds() == [0, 1, 2, 7], what="descriptors 0, 1, 2 and 7 only")
    assert os.readlink(os.path.join(fddir, "7")).startswith("pipe:")
    s.send(b"d")


def test_no_newline_close_and_flood_never_hang(service):
    # No newline then close: never ready, still answering.
    s = service("printf 'almost' >&4; exec 4>&-; exec sleep 1000\n", name="noline")
    os.makedirs(s.path, exist_ok=True)
    s.knob("notification-fd", "4")
    s.start()
    pid = s.wait_up()
    s.send(b"p")
    s.wait_state("paused", pid=pid)
    s.send(b"c")
    x = s.wait_state("starting", pid=pid)
    assert x["ready_since"] == 0.0
    s.send(b"d")
    s.wait_state("down", want="down")
    # A flood without a newline, then the newline: ready, and commands answered meanwhile.
    f = service("head -c 3000000 /dev/zero >&4; echo >&4; exec sleep 1000\n", name="flood")
    os.makedirs(f.path, exist_ok=True)
    f.knob("notification-fd", "4")
    f.start()
    pid = f.wait_up()
    f.wait_state("ready", pid=pid)
    # Writes after the newline go nowhere: the pipe was closed, the writer gets EPIPE.
    f.send(b"d")
    f.wait_state("down", want="down")


def notify_run(extra=""):
    return ("import os, socket, sys, time\n"
            "def send(msg):\n"
            "    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)\n"
            "    s.sendto(msg, os.environ['NOTIFY_SOCKET'])\n"
            "open('env', 'w').write(os.environ['NOTIFY_SOCKET'])\n"
            "while not os.path.exists('go'): time.sleep(0.01)\n"
            + extra +
            "time.sleep(1000)\n")


def test_notify_socket_ready_status_stopping(service):
    s = service(None)
    os.makedirs(s.path, exist_ok=True)
    write_script(s.file("run"), "exec %s -c \"$(cat run.py)\"\n" % PY)
    with open(s.file("run.py"), "w") as f:
        f.write(notify_run("send(b'STATUS=warming up\\nX=1')\n"
                           "while not os.path.exists('go2'): time.sleep(0.01)\n"
                           "send(b'READY=1\\nSTATUS=serving')\n"
                           "while not os.path.exists('go3'): time.sleep(0.01)\n"
                           "send(b'STOPPING=1')\n"))
    s.knob("notify-socket", "")
    s.start()
    pid = s.wait_up()
    wait_for(lambda: s.read("env"), what="NOTIFY_SOCKET")
    assert s.read("env") == os.path.realpath(s.file("supervise/notify")).encode()
    s.wait_state("starting", pid=pid)
    open(s.file("go"), "w").close()
    s.wait_state("starting", pid=pid, note=b"warming up")
    open(s.file("go2"), "w").close()
    s.wait_state("ready", pid=pid, note=b"serving")
    open(s.file("go3"), "w").close()
    s.wait_state("stopping", pid=pid)
    s.send(b"d")
    s.wait_state("down", want="down")


def test_notify_socket_ignores_foreign_senders_and_takes_descendants(service):
    s = service(None)
    os.makedirs(s.path, exist_ok=True)
    # The run forks a child (a descendant, not a group leader) that notifies.
    write_script(s.file("run"), "%s -c \"$(cat run.py)\" &\nexec sleep 1000\n" % PY)
    with open(s.file("run.py"), "w") as f:
        f.write(notify_run("send(b'READY=1')\n"))
    s.knob("notify-socket", "")
    s.start()
    pid = s.wait_up()
    wait_for(lambda: s.read("env"), what="NOTIFY_SOCKET")
    path = s.read("env")
    foreign = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    for msg in (b"READY=1", b"STATUS=forged", b"STOPPING=1", os.urandom(5000)):
        foreign.sendto(msg, path)
    foreign.close()
    s.send(b"p")                       # the datagrams were read before this letter
    s.wait_state("paused", pid=pid)
    s.send(b"c")
    x = s.wait_state("starting", pid=pid)
    assert x["note"] == b""
    open(s.file("go"), "w").close()
    s.wait_state("ready", pid=pid)
    s.send(b"d")
    s.wait_state("down", want="down")
    assert pid_alive(s.proc.pid)


def test_supervise_imports_socket_only_with_the_knob(service):
    # _socket costs memory in every supervise: only notify-socket pays for it.
    s = service()
    s.start()
    s.wait_up()
    with open("/proc/%d/maps" % s.proc.pid) as f:
        assert "_socket" not in f.read()
    s.send(b"d")


def test_supervise_import_diet():
    # Everything supervise imports is paid once per service under svscan.
    import subprocess
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    code = ("import sys; sys.path.insert(0, %r); a = set(sys.modules); import svtools.supervise; "
            "print(' '.join(sorted(set(sys.modules) - a)))" % root)
    out = subprocess.run([sys.executable, "-I", "-S", "-c", code], capture_output=True,
                         text=True, check=True).stdout.split()
    heavy = {"socket", "_socket", "signal", "enum", "re", "json", "threading", "subprocess",
             "selectors", "logging", "typing", "struct"}
    assert not heavy & set(out), heavy & set(out)


def test_notify_socket_path_too_long_warns_and_supervises(service):
    # sun_path holds 107 bytes: a deeper directory gets the warning, and
    # ./run is supervised without NOTIFY_SOCKET (supervise never dies of it)
    s = service("echo \"${NOTIFY_SOCKET-unset}\" > env; exec sleep 1000\n", name="n" * 120)
    os.makedirs(s.path, exist_ok=True)
    s.knob("notify-socket", "")
    s.start()
    pid = s.wait_up()
    wait_for(lambda: s.read("env"), what="./run's NOTIFY_SOCKET")
    assert s.read("env") == b"unset\n"
    s.send(b"d")
    s.wait_state("down", want="down")
    s.send(b"x")
    assert s.proc.wait(timeout=15) == 0
    assert s.stderr() == b"supervise: warning: unable to bind %s/supervise/notify: name too long\n" % (
        s.path.encode())
    assert not os.path.exists(s.file("supervise/notify")) and pid


def test_notify_socket_takes_the_place_of_a_leftover(service):
    """supervise binds supervise/notify without unlinking first (no
    exception on a fresh directory: docs/performance.md); a socket a
    former supervise left there is replaced silently, and a directory
    there is warned about, ./run then supervised without NOTIFY_SOCKET."""
    s = service(None, name="left")
    os.makedirs(s.file("supervise"), exist_ok=True)
    write_script(s.file("run"), "exec %s -c \"$(cat run.py)\"\n" % PY)
    with open(s.file("run.py"), "w") as f:
        f.write(notify_run("send(b'READY=1')\n"))
    old = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    old.bind(s.file("supervise/notify"))
    old.close()
    s.knob("notify-socket", "")
    s.start()
    pid = s.wait_up()
    wait_for(lambda: s.read("env"), what="NOTIFY_SOCKET")
    open(s.file("go"), "w").close()
    s.wait_state("ready", pid=pid)
    s.send(b"dx")
    assert s.proc.wait(timeout=15) == 0
    assert s.stderr() == b""

    d = service("echo \"${NOTIFY_SOCKET-unset}\" > env; exec sleep 1000\n", name="dir")
    os.makedirs(d.file("supervise/notify"))
    d.knob("notify-socket", "")
    d.start()
    d.wait_up()
    wait_for(lambda: d.read("env"), what="./run's NOTIFY_SOCKET")
    assert d.read("env") == b"unset\n"
    d.send(b"dx")
    assert d.proc.wait(timeout=15) == 0
    assert d.stderr().startswith(b"supervise: warning: unable to unlink %s/supervise/notify: "
                                 % d.path.encode())
    assert d.stderr().count(b"\n") == 1


@pytest.mark.parametrize("under", ["svscan", "supervise"])
def test_notify_socket_reaches_run_and_finish_until_the_knob_goes(procs, tmp_path, under):
    """./run and ./finish get NOTIFY_SOCKET while notify-socket is there,
    neither once it is gone.  Under svscan the variable goes into the
    environment ./run inherits itself (_spawn.setenv: no copy,
    docs/performance.md); supervise started by hand uses a copy."""
    from helpers import env, prog, run
    d = tmp_path / "scan" / "n"
    os.makedirs(d)
    write_script(d / "run", 'echo "${NOTIFY_SOCKET-unset}" >> run.env\nexec sleep 1000\n')
    write_script(d / "finish", 'echo "${NOTIFY_SOCKET-unset}" >> finish.env\n')
    (d / "notify-socket").write_text("")
    err = open(tmp_path / "err", "wb")
    args = [prog("svscan"), str(tmp_path / "scan")] if under == "svscan" else [prog("supervise"), str(d)]
    procs.start(args, stdout=err, stderr=err, env=env())

    def lines(name):
        return (d / name).read_text().splitlines() if (d / name).exists() else []
    wait_for(lambda: len(lines("run.env")) == 1, 20, what="./run")
    path = os.path.realpath(d / "supervise" / "notify")
    assert lines("run.env") == [path]
    (d / "notify-socket").unlink()
    run([prog("svc"), "-k", str(d)])
    wait_for(lambda: len(lines("run.env")) == 2, 20, what="./run again")
    assert lines("finish.env") == [path]       # after the run that had it
    assert lines("run.env") == [path, "unset"]
    (d / "notify-socket").write_text("")
    run([prog("svc"), "-k", str(d)])
    wait_for(lambda: len(lines("run.env")) == 3, 20, what="./run with the knob back")
    assert lines("finish.env") == [path, "unset"]
    assert lines("run.env") == [path, "unset", path]
    err.close()
    assert (tmp_path / "err").read_bytes() == b""


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to drop privileges")
@pytest.mark.skipif(not os.path.exists("/usr/bin/python3"),
                    reason="needs a python3 that nobody may run (ours may be under /root)")
def test_notify_socket_reaches_a_run_that_dropped_root(procs):
    """The socket is 0666, as systemd's: a ./run that setuidgid's to
    nobody is heard once supervise/ is searchable (chmod 711, which
    supervise keeps); the sender is still judged by its pid.  (In a
    directory nobody can reach: pytest's own are 0700.)"""
    import shutil
    import subprocess
    import tempfile
    from helpers import env, prog, xstatus_is
    base = tempfile.mkdtemp(prefix="svtools-dropped-", dir="/tmp")
    try:
        os.chmod(base, 0o755)
        d = os.path.join(base, "dropped")
        os.makedirs(os.path.join(d, "supervise"), mode=0o700)
        os.chmod(os.path.join(d, "supervise"), 0o711)
        os.chmod(d, 0o755)
        write_script(os.path.join(d, "run"),
                     "exec %s nobody /usr/bin/python3 -I -c \"$(cat run.py)\"\n"
                     % prog("setuidgid"))
        with open(os.path.join(d, "run.py"), "w") as f:
            f.write("import os, socket, time\n"
                    "s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)\n"
                    "s.sendto(b'READY=1', os.environ['NOTIFY_SOCKET'])\n"
                    "time.sleep(1000)\n")
        open(os.path.join(d, "notify-socket"), "w").close()
        err = open(os.path.join(base, "err"), "wb")
        procs.start([prog("supervise"), d], stdout=err, stderr=err, env=env())
        wait_for(lambda: xstatus_is(d, b"ready"), 20, what="state ready")
        assert os.stat(os.path.join(d, "supervise", "notify")).st_mode & 0o777 == 0o666
        assert os.stat(os.path.join(d, "supervise")).st_mode & 0o777 == 0o711
        subprocess.run([prog("svc"), "-dx", d], env=env(), timeout=20, check=True)
        wait_for(lambda: not os.path.exists(os.path.join(d, "supervise", "notify"))
                 or procs.procs[-1].poll() is not None, 20, what="supervise to exit")
        err.close()
        with open(os.path.join(base, "err"), "rb") as f:
            assert f.read() == b""
    finally:
        shutil.rmtree(base, ignore_errors=True)
