"""supervise's start-up without exceptions on the usual path
(_supervise_setup: access() before stat, mkdir and mkfifo; docs/
performance.md, "Eighth round"), against C supervise for the unusual
ones: a down file that is a dangling symlink or a symlink loop, a
supervise/ left by an earlier run, a dangling supervise symlink."""

import os
import subprocess

import pytest

from helpers import c_tool, env, prog, wait_for, write_script


def make(base, down=None):
    d = os.path.join(base, "svc")
    os.makedirs(d)
    write_script(os.path.join(d, "run"), "echo started >> started\nexec sleep 1000\n")
    if down == "dangling":
        os.symlink("nowhere", os.path.join(d, "down"))
    elif down == "loop":
        os.symlink("down", os.path.join(d, "down"))
    elif down == "file":
        open(os.path.join(d, "down"), "w").close()
    return d


def started(d):
    p = os.path.join(d, "started")
    return os.path.exists(p) and os.path.getsize(p) > 0


def run_supervise(procs, program, d, tmp):
    err = open(os.path.join(tmp, "err-%s" % os.path.basename(os.path.dirname(program))), "wb")
    p = procs.start([program, d], stdout=err, stderr=err, env=env())
    return p, err


@pytest.mark.interop
@pytest.mark.parametrize("down", [None, "file", "dangling"])
def test_down_file_read_as_c_supervise_does(procs, tmp_path, down):
    """No down file or a dangling symlink: ./run started; a down file: not
    started, svstat says down, normally up is not said.  Ours and C's
    agree on each."""
    results = []
    for name, program in (("ours", prog("supervise")), ("c", c_tool("supervise"))):
        d = make(str(tmp_path / name), down)
        p, err = run_supervise(procs, program, d, str(tmp_path))
        wait_for(lambda: os.path.exists(os.path.join(d, "supervise", "status"))
                 and os.path.getsize(os.path.join(d, "supervise", "status")) == 18, 10,
                 what="%s status" % name)
        if down == "file":
            def word():
                out = subprocess.run([c_tool("svstat"), d], capture_output=True, env=env()).stdout
                w = out.split(b": ", 1)[1].split(b" ")[0]
                return None if w == b"supervise" else w     # not running yet
            results.append((started(d), wait_for(word, 10, what="%s svstat" % name)))
        else:
            wait_for(lambda: started(d), 10, what="%s ./run" % name)
            results.append((True, b"up"))
        subprocess.run([c_tool("svc"), "-dx", d], env=env(), timeout=10)
        p.wait(timeout=10)
        err.close()
    assert results[0] == results[1]
    assert results[0][0] == (down != "file")


@pytest.mark.interop
def test_down_symlink_loop_is_fatal_as_in_c(procs, tmp_path):
    outs = []
    for name, program in (("ours", prog("supervise")), ("c", c_tool("supervise"))):
        base = str(tmp_path / name)
        make(base, "loop")
        r = subprocess.run([program, "svc"], cwd=base, capture_output=True, env=env(), timeout=10)
        outs.append((r.returncode, r.stdout, r.stderr))
    assert outs[0] == outs[1]
    assert outs[0][0] == 111 and b"unable to stat svc/down" in outs[0][2]


def test_a_second_start_in_the_same_directory(procs, tmp_path):
    """supervise/ and its FIFOs (and a dangling supervise symlink's target)
    from an earlier run: used as they are, the service starts again."""
    d = make(str(tmp_path))
    for round in range(2):
        p, err = run_supervise(procs, prog("supervise"), d, str(tmp_path))
        wait_for(lambda: started(d) and os.path.getsize(os.path.join(d, "started")) == 8 * (round + 1),
                 10, what="./run, round %d" % round)
        subprocess.run([prog("svc"), "-dx", d], env=env(), timeout=10)
        assert p.wait(timeout=10) == 0
        err.close()
        with open(os.path.join(str(tmp_path), "err-bin"), "rb") as f:
            assert f.read() == b""
    for name in ("control", "ok"):
        assert os.path.exists(os.path.join(d, "supervise", name))


_NO_RAISE = r"""
import os, sys
from svtools import _supervise_setup, _logevents
raised = []
def profile(frame, event, arg):
    if event == "c_exception":
        raised.append((getattr(arg, "__name__", arg), frame.f_code.co_name))
base = sys.argv[1]
for round in range(2):            # a fresh directory, then one left by the first
    os.chdir(base)
    sys.setprofile(profile)
    want_up, fds = _supervise_setup.setup("svc")
    ok = _supervise_setup.open_fifo("supervise/ok", os.O_RDONLY, "read", "svc/supervise/ok")
    sys.setprofile(None)
    assert want_up, round
    for fd in fds + (ok,):
        os.close(fd)
f = _logevents.Forwarder(out=os.open("/dev/null", os.O_WRONLY))
sys.setprofile(profile)
f.read(_logevents.DRAIN)          # nothing in the pipe
os.write(f.w, b"x" * 100)
f.read(_logevents.DRAIN)          # a short read: drained, no read after it
sys.setprofile(None)
assert bytes(f.pending) == b"x" * 100
print(raised)
"""


def test_the_usual_start_raises_nothing(tmp_path):
    """setup() and open_fifo() on a fresh service directory and on one
    left by an earlier supervise, and the log-events pipe read empty or
    drained: no exception raised, even caught (each costs a supervise
    forked from svscan about 15 KiB: docs/performance.md)."""
    import sys
    os.makedirs(tmp_path / "svc")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    r = subprocess.run([sys.executable, "-c", _NO_RAISE, str(tmp_path)], cwd=root,
                       capture_output=True, timeout=30)
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"[]\n"


def test_no_reference_to_libpythons_frozen_strings_or_exception_types():
    """The start record's word equals "start" but is not libpython's
    deep-frozen string, which the literal would be (its page written in
    every forked supervise: docs/performance.md, "Eighth round"); and
    _dup_above gives what F_DUPFD_CLOEXEC gives, without the TypeError
    fcntl.fcntl raises and clears inside for an int argument."""
    import sys
    from svtools import _logevents, _spawn, _supervise_policy
    word = _supervise_policy.START
    assert word == "start" and word is not sys.intern("start")
    assert _logevents.line(word, 7, 0, 0, 0.0) == b"svtools: start pid 7\n"
    r, w = os.pipe()
    raised = []

    def profile(frame, event, arg):
        if event == "c_exception":
            raised.append(arg)
    before = set(os.listdir("/proc/self/fd"))
    sys.setprofile(profile)
    try:
        copy = _spawn._dup_above(r, w + 5)
    finally:
        sys.setprofile(None)
    try:
        assert copy >= w + 5 and not os.get_inheritable(copy)
        assert os.fstat(copy).st_ino == os.fstat(r).st_ino
        assert set(os.listdir("/proc/self/fd")) - before == {str(copy)}
        assert raised == []
    finally:
        for fd in (r, w, copy):
            os.close(fd)
