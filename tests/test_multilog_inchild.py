"""multilog run in `supervise log`'s forked child instead of exec'd."""

import os
import signal
import stat
import subprocess
import sys

import pytest

from helpers import env, prog, wait_for, write_script
from svtools import _multilog_inchild as mi


@pytest.mark.parametrize("script,args", [
    (b"#!/bin/sh\nexec multilog t ./main\n", [b"t", b"./main"]),
    (b"#!/bin/sh\nexec 2>&1\n# a comment\n\n  exec\tmultilog  t s999999 n20 '!x' ./main\n", None),
    (b"#!/bin/sh\nexec 2>&1\n# a comment\n\n  exec\tmultilog  t s999999 n20 -x+y:z@%,= ./main\n\n",
     [b"t", b"s999999", b"n20", b"-x+y:z@%,=", b"./main"]),
    (b"#!/bin/sh\nexec multilog\n", []),
    (b"#!/bin/sh -e\nexec multilog t ./main\n", None),
    (b"#!/bin/bash\nexec multilog t ./main\n", None),
    (b"#!/bin/sh\nexec multilog t ./main\r\n", None),
    (b"#!/bin/sh\nexec multilog t -* ./main\n", None),
    (b"#!/bin/sh\nexec multilog t $DIR\n", None),
    (b"#!/bin/sh\nexec multilog t ./main # c\n", None),
    (b"#!/bin/sh\nexec multilog t ./main > x\n", None),
    (b"#!/bin/sh\nexec multilog t ~/main\n", None),
    (b"#!/bin/sh\nexec multilog t ./main\necho after\n", None),
    (b"#!/bin/sh\ncd /var/log\nexec multilog t ./main\n", None),
    (b"#!/bin/sh\nexec /usr/bin/multilog t ./main\n", None),
    (b"#!/bin/sh\nexec setuidgid log multilog t ./main\n", None),
    (b"#!/bin/sh\nmultilog t ./main\n", None),
    (b"#!/bin/sh\n", None),
    (b"", None),
])
def test_plan_accepts_only_the_plain_script(script, args):
    assert mi.plan(script) == args


def _sigmask(pid, field):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1], 16)


def _start(procs, tmp_path, script, path=None, **extra):
    log = tmp_path / "svc" / "log"
    log.mkdir(parents=True)
    write_script(str(log / "run"), script)
    r, w = os.pipe()
    e = env(**extra) if path is None else env(PATH=path, **extra)
    p = procs.start([prog("supervise"), str(log)], stdin=r, stdout=subprocess.DEVNULL, env=e)
    os.close(r)
    status = log / "supervise" / "status"
    wait_for(lambda: status.exists() and int.from_bytes(status.read_bytes()[12:16], "little"),
             timeout=15, what="logger up")
    return p, w, log, int.from_bytes(status.read_bytes()[12:16], "little")


def _cmdline(pid):
    with open("/proc/%d/cmdline" % pid, "rb") as f:
        return f.read()


def test_plain_log_run_runs_multilog_in_the_child(tmp_path, procs):
    p, w, log, pid = _start(procs, tmp_path, "exec multilog t ./main\n")
    def comm():
        with open("/proc/%d/comm" % pid, "rb") as f:
            return f.read()
    wait_for(lambda: comm() == b"multilog\n", timeout=15, what="multilog running")
    assert _cmdline(pid).rstrip(b"\0") == b"multilog\0t\0./main"
    with open("/proc/%d/stat" % pid) as f:
        assert int(f.read().rsplit(")", 1)[1].split()[1]) == p.pid
    # like a fresh interpreter: SIGPIPE and SIGXFSZ ignored, nothing blocked,
    # and none of supervise's descriptors
    assert _sigmask(pid, "SigIgn") & (1 << (signal.SIGPIPE - 1) | 1 << (signal.SIGXFSZ - 1)) == \
        1 << (signal.SIGPIPE - 1) | 1 << (signal.SIGXFSZ - 1)
    assert _sigmask(pid, "SigBlk") == 0
    fds = {os.readlink("/proc/%d/fd/%s" % (pid, n)) for n in os.listdir("/proc/%d/fd" % pid)}
    assert not [f for f in fds if "/supervise/" in f], fds
    os.write(w, b"hello\n")
    wait_for(lambda: (log / "main" / "current").exists()
             and (log / "main" / "current").read_bytes().endswith(b" hello\n"), timeout=15, what="line")
    assert (log / "main" / "current").read_bytes()[:1] == b"@"
    # svc -d: TERM, multilog ends cleanly (current marked complete)
    with open(log / "supervise" / "control", "wb") as c:
        c.write(b"d")
    wait_for(lambda: stat.S_IMODE(os.stat(log / "main" / "current").st_mode) == 0o744, timeout=15,
             what="clean exit")
    os.close(w)


def test_any_other_log_run_is_execd(tmp_path, procs):
    p, w, log, pid = _start(procs, tmp_path, 'exec multilog "t" ./main\n')
    wait_for(lambda: b"multilog" in _cmdline(pid), timeout=15, what="exec")
    assert b"python" in _cmdline(pid).split(b"\0")[0] or b"-IS" in _cmdline(pid)
    os.write(w, b"x\n")
    wait_for(lambda: (log / "main" / "current").exists()
             and (log / "main" / "current").read_bytes().endswith(b" x\n"), timeout=15, what="line")
    os.close(w)


def test_a_multilog_that_is_not_ours_is_execd(tmp_path, procs):
    bindir = tmp_path / "bin"
    bindir.mkdir()
    write_script(str(bindir / "multilog"), "echo $$ > %s/theirs; exec /bin/sleep 1000\n" % tmp_path)
    p, w, log, pid = _start(procs, tmp_path, "exec multilog t ./main\n", path="%s:/usr/bin:/bin" % bindir)
    procs.track(pid)
    wait_for(lambda: (tmp_path / "theirs").exists() and (tmp_path / "theirs").read_bytes().strip(),
             timeout=15, what="their multilog")
    assert int((tmp_path / "theirs").read_bytes()) == pid
    os.close(w)


def test_the_logger_takes_the_environment_run_would_get(tmp_path):
    """_adopt_environ: C and Python environment become exactly ENVIRON, in
    its order (a program started without an explicit environment sees it),
    and a new TZ is in force for `T` stamps."""
    code = ("import os, subprocess, time\n"
            "from svtools import _multilog_inchild as mi\n"
            "env = {b'ZED': b'1', b'PATH': b'/usr/bin:/bin', b'TZ': b'XYZ-9'}\n"
            "mi._adopt_environ(env)\n"
            "assert os.environb == env, os.environb\n"
            "assert time.localtime().tm_gmtoff == 9 * 3600\n"
            "out = subprocess.run(['/usr/bin/env'], stdout=subprocess.PIPE).stdout\n"
            "assert out == b'ZED=1\\nPATH=/usr/bin:/bin\\nTZ=XYZ-9\\n', out\n")
    e = {"PATH": "/usr/bin:/bin", "LC_ALL": "C", "JUNK": "x"}   # no TZ
    r = subprocess.run([sys.executable, "-c", code], env=e, capture_output=True, timeout=60)
    assert (r.returncode, r.stderr) == (0, b"")


@pytest.mark.parametrize("data,environ,fresh", [
    ({b"A": b"1"}, {b"A": b"1"}, True),
    ({b"A": b"1", b"LC_CTYPE": b"C.UTF-8"}, {b"A": b"1"}, True),     # PEP 538
    ({b"A": b"1", b"LC_CTYPE": b"C.UTF-8"}, {b"A": b"2"}, False),
    ({b"A": b"1", b"B": b"2"}, {b"A": b"1"}, False),
    ({b"A": b"1", b"LC_CTYPE": b"C"}, {b"A": b"1", b"LC_CTYPE": b"C.UTF-8"}, False),
    ({b"A": b"1"}, {b"A": b"1", b"NOTIFY_SOCKET": b"x"}, False),
])
def test_the_environment_is_left_alone_when_exec_would_give_the_same(data, environ, fresh):
    assert mi._fresh(data, environ) is fresh


def test_in_child_stamps_follow_the_services_time_zone(tmp_path, procs):
    p, w, log, pid = _start(procs, tmp_path, "exec multilog T ./main\n", TZ="XYZ-9")
    os.write(w, b"zoned\n")
    cur = log / "main" / "current"
    wait_for(lambda: cur.exists() and cur.read_bytes().endswith(b" zoned\n"), timeout=15, what="line")
    assert cur.read_bytes().endswith(b"+09:00 zoned\n")
    os.close(w)


def test_a_forked_child_has_the_argument_area_read_at_import():
    """ARG_AREA, read once where the module is imported, is the forked
    child's own (what _retitle writes over)."""
    code = ("import os\n"
            "from svtools import _multilog_inchild as mi\n"
            "assert mi.ARG_AREA is not None and mi.ARG_AREA[0] < mi.ARG_AREA[1]\n"
            "pid = os.fork()\n"
            "if pid == 0:\n"
            "    os._exit(0 if mi._arg_area() == mi.ARG_AREA else 1)\n"
            "assert os.waitpid(pid, 0)[1] == 0\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=60)
    assert (r.returncode, r.stderr) == (0, b"")


def test_find_leaves_its_answer_for_the_child_it_forks(tmp_path, monkeypatch):
    """A supervise that checks in its own process forks right after find():
    maybe_run() in the child takes that answer for the same environment
    object, and only for it."""
    monkeypatch.chdir(tmp_path)
    write_script(str(tmp_path / "run"), "exec multilog t ./main\n")
    environ = {b"PATH": os.fsencode(env()["PATH"])}
    argv = mi.find(environ)
    assert argv == [b"multilog", b"t", b"./main"]
    assert mi._LAST[0] is environ and mi._LAST[1] == argv
    write_script(str(tmp_path / "run"), "exec multilog t ./other\n")
    assert mi.find(dict(environ)) == [b"multilog", b"t", b"./other"]
    assert mi._LAST[0] is not environ
