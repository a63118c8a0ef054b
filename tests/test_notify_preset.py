"""notify-socket under our svscan: NOTIFY_SOCKET put into each forked
supervise's C environment by svscan itself (_spawn.preset), so that the
child neither copies glibc's environment nor writes the shared dict
(docs/performance.md, "Eighth round").  What ./run sees must be what a
supervise started by hand exports, for exactly the services with the
knob, and nothing may be left in svscan's own environment."""

import os
import socket
import subprocess
import sys
import textwrap

import pytest

from helpers import env, prog, run, wait_for, write_script, xstatus_is

ENV_RUN = 'echo "${NOTIFY_SOCKET-unset}" >> run.env\nexec sleep 1000\n'


def plain_env(**extra):
    e = env()
    e.pop("NOTIFY_SOCKET", None)
    e.update(extra)
    return e


def lines(d, name="run.env"):
    p = os.path.join(d, name)
    if not os.path.exists(p):
        return []
    with open(p) as f:
        return f.read().splitlines()


def service(path, knob, body=ENV_RUN, down=False):
    os.makedirs(path)
    write_script(os.path.join(path, "run"), body)
    if knob:
        open(os.path.join(path, "notify-socket"), "w").close()
    if down:
        open(os.path.join(path, "down"), "w").close()
    return str(path)


def socket_of(d):
    return os.path.realpath(os.path.join(d, "supervise", "notify"))


def test_each_service_gets_its_own_socket_and_only_with_the_knob(procs, tmp_path):
    """One round of forks with the knob on every other service, a service
    reached through a symlink and a logger with the knob: each ./run sees
    its own supervise/notify (real path, as supervise names it itself) or
    nothing."""
    scan = tmp_path / "scan"
    real = tmp_path / "elsewhere"
    dirs = {}
    for n in range(8):
        dirs["s%d" % n] = service(scan / ("s%d" % n), knob=n % 2 == 0)
    service(real, knob=True)
    os.makedirs(scan, exist_ok=True)
    os.symlink(real, scan / "linked")
    dirs["linked"] = str(scan / "linked")
    logged = service(scan / "logged", knob=False, body="exec sleep 1000\n")
    service(scan / "logged" / "log", knob=True)
    dirs["logged/log"] = os.path.join(logged, "log")
    err = open(tmp_path / "err", "wb")
    procs.start([prog("svscan"), str(scan)], stdout=err, stderr=err, env=plain_env())
    for name, d in dirs.items():
        wait_for(lambda: lines(d), 20, what="./run of %s" % name)
    for name, d in dirs.items():
        knob = os.path.exists(os.path.join(d, "notify-socket"))
        assert lines(d) == [socket_of(d) if knob else "unset"], name
    assert socket_of(dirs["linked"]) == os.path.realpath(real / "supervise" / "notify")
    # a restart of a knob service still gets its own
    run([prog("svc"), "-k", dirs["s0"]])
    wait_for(lambda: len(lines(dirs["s0"])) == 2, 20, what="s0 again")
    assert lines(dirs["s0"]) == [socket_of(dirs["s0"])] * 2
    err.close()
    assert (tmp_path / "err").read_bytes() == b""


def test_nothing_left_for_a_later_round(procs, tmp_path):
    """A round whose last fork had the knob: svscan takes the variable out
    of its own environment afterwards, so the next round's services
    without the knob do not inherit it."""
    scan = tmp_path / "scan"
    first = service(scan / "first", knob=True)
    procs.start([prog("svscan"), str(scan)], stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL, env=plain_env())
    wait_for(lambda: lines(first), 20, what="the first ./run")
    late = service(tmp_path / "late", knob=False)
    os.symlink(late, scan / "late")
    wait_for(lambda: lines(late), 20, what="the later service's ./run")
    assert lines(first) == [socket_of(first)]
    assert lines(late) == ["unset"]


def test_knob_gone_before_the_first_start(procs, tmp_path):
    """svscan put the variable in, but the knob is gone by the time
    supervise starts ./run (a down service, started later): ./run does
    not get it, and nothing was bound."""
    scan = tmp_path / "scan"
    d = service(scan / "n", knob=True, down=True)
    procs.start([prog("svscan"), str(scan)], stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL, env=plain_env())
    wait_for(lambda: os.path.exists(os.path.join(d, "supervise", "status")), 20,
             what="supervise")
    os.unlink(os.path.join(d, "notify-socket"))
    run([prog("svc"), "-u", d])
    wait_for(lambda: lines(d), 20, what="./run")
    assert lines(d) == ["unset"]
    assert not os.path.exists(os.path.join(d, "supervise", "notify"))


def test_bind_failure_takes_the_variable_out(procs, tmp_path):
    """A directory where the socket goes: the warning, and ./run runs
    without NOTIFY_SOCKET although svscan had put it in."""
    scan = tmp_path / "scan"
    d = service(scan / "n", knob=True)
    os.makedirs(os.path.join(d, "supervise", "notify"))
    err = open(tmp_path / "err", "wb")
    procs.start([prog("svscan"), str(scan)], stdout=err, stderr=err, env=plain_env())
    wait_for(lambda: lines(d), 20, what="./run")
    assert lines(d) == ["unset"]
    err.close()
    text = (tmp_path / "err").read_bytes()
    assert text.startswith(b"supervise: warning: unable to unlink n/supervise/notify: ")
    assert text.count(b"\n") == 1


def test_readiness_through_the_preset_socket(procs, tmp_path):
    """READY=1 sent to the NOTIFY_SOCKET that svscan put in reaches
    supervise: xstatus says ready."""
    scan = tmp_path / "scan"
    d = service(scan / "n", knob=True, body="exec %s -c \"$(cat run.py)\"\n" % sys.executable)
    with open(os.path.join(d, "run.py"), "w") as f:
        f.write(textwrap.dedent("""\
            import os, socket, time
            s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            s.sendto(b"READY=1", os.environ["NOTIFY_SOCKET"])
            time.sleep(1000)
            """))
    procs.start([prog("svscan"), str(scan)], stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL, env=plain_env())
    wait_for(lambda: xstatus_is(d, b"ready"), 20, what="state ready")


def test_svscan_with_its_own_notify_socket_keeps_it(procs, tmp_path):
    """svscan started with NOTIFY_SOCKET (under systemd, say) does not
    preset: a service without the knob inherits svscan's variable, as
    under 0.76, and one with the knob gets its own."""
    scan = tmp_path / "scan"
    mine = str(tmp_path / "outer.sock")
    outer = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    outer.bind(mine)
    try:
        a = service(scan / "a", knob=True)
        b = service(scan / "b", knob=False)
        procs.start([prog("svscan"), str(scan)], stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL, env=plain_env(NOTIFY_SOCKET=mine))
        wait_for(lambda: lines(a) and lines(b), 20, what="both runs")
        assert lines(a) == [socket_of(a)]
        assert lines(b) == [mine]
    finally:
        outer.close()


@pytest.mark.parametrize("preset", [False, True])
def test_fork_path_takes_the_c_environment_for_the_inherited_dict(tmp_path, preset):
    """_spawn.fork_exec (the fallback) execs with this process's own
    environment when given the inherited dict, so that a preset reaches
    ./run on every path; without a preset the two are the same."""
    script = textwrap.dedent("""
        import os, sys
        from svtools import _spawn
        environ = dict(os.environb)
        environ.pop(b"NOTIFY_SOCKET", None)
        os.unsetenv("NOTIFY_SOCKET")
        os.environb.pop(b"NOTIFY_SOCKET", None)
        assert _spawn.inherit(environ)
        if %r:
            # (presettable() is false where posix_spawn is used: CLEAN)
            assert _spawn.presettable(environ) != _spawn.CLEAN
            _spawn.preset(b"NOTIFY_SOCKET", b"/x/supervise/notify")
        pid = _spawn.fork_exec(["/bin/sh", "-c", 'echo "${NOTIFY_SOCKET-unset}"'], environ)
        _, status = os.waitpid(pid, 0)
        sys.exit(os.waitstatus_to_exitcode(status))
    """ % preset)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=30,
                         env=plain_env(), cwd=os.path.dirname(os.path.dirname(
                             os.path.abspath(__file__))))
    assert out.returncode == 0, out.stderr
    assert out.stdout == (b"/x/supervise/notify\n" if preset else b"unset\n")


def test_presets_only_for_the_knob_and_paths_that_fit(tmp_path):
    """_notify.presets: a path per start with the knob whose socket path
    fits sun_path and whose directory exists; None for the others; ()
    when there is none, when the environment is not the inherited one or
    already has NOTIFY_SOCKET; nothing left in the C environment."""
    script = textwrap.dedent("""
        import os, sys, types
        from svtools import _notify, _spawn
        base = sys.argv[1].encode()
        short, deep = base + b"/s", base + b"/" + b"d" * 120
        for d in (short, deep):
            os.makedirs(d)
        environ = dict(os.environb)
        assert _spawn.inherit(environ)
        on, off = types.SimpleNamespace(notify_socket=True), types.SimpleNamespace(notify_socket=False)
        starts = [(short, 0), (short, 0), (deep, 0), (base + b"/gone", 0)]
        knobs = [on, off, on, on]
        path = lambda e, i, name: e + b"/"
        out = _notify.presets(starts, knobs, environ, path)
        if _spawn.CLEAN:        # posix_spawn takes a dict: never a preset
            assert out == ()
        else:
            assert out == [os.path.realpath(short) + b"/supervise/notify", None, None, None], out
        assert _notify.presets(starts[1:], knobs[1:], environ, path) == ()
        assert _notify.presets(starts, knobs, dict(environ), path) == ()
        environ2 = dict(environ, NOTIFY_SOCKET=b"/elsewhere")
        assert _notify.presets(starts, knobs, environ2, path) == ()
        os.execv("/bin/sh", ["sh", "-c", 'echo "${NOTIFY_SOCKET-unset}"'])
    """)
    out = subprocess.run([sys.executable, "-c", script, str(tmp_path)], capture_output=True,
                         timeout=30, env=plain_env(), cwd=os.path.dirname(os.path.dirname(
                             os.path.abspath(__file__))))
    assert out.returncode == 0, out.stderr
    assert out.stdout == b"unset\n"
