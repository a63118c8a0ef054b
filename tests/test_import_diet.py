"""The daemons' import diet: what supervise, svscan's forked supervise and
multilog have in sys.modules after real work, against an allowed set.

Every module svscan has imported, and every page a forked child touches,
is paid once per service: one `import logging` in a shared module costs
every supervise 200-430 KiB.  A module outside the allowed set fails here;
import it lazily where it is needed, or add it here with its measured cost
(bench/svscan.py mem).  Our own svtools.* modules are always allowed (what
they import is what is checked).
"""

import os
import signal
import subprocess
import sys

import pytest

import helpers
from helpers import prog, wait_for, write_script
from test_svscan import cmdline

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# The modules behind the daemons' own work.
SUPERVISE = {"errno", "fcntl", "select", "stat", "time", "os", "os.path", "posixpath",
             "genericpath", "_collections_abc", "_stat", "_signal",
             # _spawn: CPython's C spawner (vfork), ~40 KiB private in a
             # process of its own, shared by the supervises svscan forks
             "_posixsubprocess"}
# svscan adds what it needs before the forks: process titles (the C
# extension alone, found through site), inotify and the subreaper through
# ctypes, resource limits, gc.freeze.  _distutils_hack is setuptools' .pth
# hook, present in some virtualenvs; sitecustomize is the distribution's
# (Debian's python3 has one).
SVSCAN_CHILD = SUPERVISE | {
    "gc", "resource", "ctypes", "ctypes._endian", "_ctypes", "struct", "_struct", "types",
    "warnings", "importlib", "importlib._bootstrap", "importlib._bootstrap_external",
    "importlib.machinery", "site", "_sitebuiltins", "_distutils_hack", "sitecustomize",
    "setproctitle._setproctitle",
    # site on 3.13 reads .pth files as utf-8-sig (this test's driver runs
    # with site; the launchers start svscan with -S)
    "encodings.utf_8_sig",
    # supervise.preload(): _socket for notify-socket, loaded once by svscan
    # (~100 KiB there, shared) instead of by each supervise that needs it
    # (~390 KiB of private memory each).
    "_socket"}
# multilog still uses the signal module (and so enum) for its handlers.
MULTILOG = SUPERVISE | {
    "signal", "enum", "types", "functools", "_functools", "collections", "_collections",
    "itertools", "keyword", "operator", "_operator", "reprlib"}

# Never, in any of them: each is hundreds of KiB per service, or a thread.
NEVER = {"logging", "threading", "re", "json", "subprocess", "argparse", "typing",
         "dataclasses", "selectors", "inotify_simple", "setproctitle", "socket", "traceback"}


def startup_modules():
    out = subprocess.run([sys.executable, "-I", "-S", "-c",
                          "import sys; print(' '.join(sys.modules))"],
                         capture_output=True, check=True, timeout=20).stdout
    return set(out.decode().split())


def excess(loaded, allowed):
    return sorted(m for m in loaded - startup_modules() - allowed
                  if m != "svtools" and not m.startswith("svtools."))


def driver(body):
    """python -I -S, as our launchers start it, running BODY with svtools
    importable; os._exit writes sys.modules to $DIET_OUT/PID first."""
    return [sys.executable, "-I", "-S", "-c",
            "import os, sys\n"
            "sys.path.insert(0, %r)\n"
            "out = os.environ['DIET_OUT']\n"
            "real = os._exit\n"
            "def dump(code=0):\n"
            "    fd = os.open('%%s/%%d' %% (out, os.getpid()), os.O_WRONLY | os.O_CREAT, 0o644)\n"
            "    os.write(fd, ' '.join(sys.modules).encode())\n"
            "    real(code)\n"
            "os._exit = dump\n" % ROOT + body + "\ndump(0)\n"]


def dumps(out):
    return [set((out / n).read_text().split()) for n in os.listdir(out)]


def dumps_by_pid(out):
    return {int(n): set((out / n).read_text().split()) for n in os.listdir(out)}


def test_supervise(procs, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (tmp_path / "svc").mkdir()
    write_script(tmp_path / "svc" / "run", "exec sleep 1000\n")
    p = procs.start(driver("from svtools.supervise import main\nmain(['supervise', 'svc'])"),
                    cwd=str(tmp_path), env=helpers.env(DIET_OUT=str(out)))
    wait_for(lambda: helpers.run([prog("svok"), str(tmp_path / "svc")]).returncode == 0, 10,
             what="supervise up")
    helpers.run([prog("svc"), "-dx", str(tmp_path / "svc")])
    assert p.wait(timeout=10) == 0
    [loaded] = dumps(out)
    assert "svtools.supervise" in loaded and not loaded & NEVER, loaded & NEVER
    assert excess(loaded, SUPERVISE) == []


def test_svscan_forked_supervise(procs, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (tmp_path / "scan" / "a").mkdir(parents=True)
    write_script(tmp_path / "scan" / "a" / "run", "exec sleep 1000\n")
    p = procs.start(driver("from svtools.svscan import main\nmain(['svscan', 'scan'])"),
                    cwd=str(tmp_path), env=helpers.env(DIET_OUT=str(out)))
    a = str(tmp_path / "scan" / "a")
    wait_for(lambda: helpers.run([prog("svok"), a]).returncode == 0, 10, what="supervise a up")
    with open("/proc/%d/task/%d/children" % (p.pid, p.pid)) as f:
        kids = [int(x) for x in f.read().split()]
    [sup] = [k for k in kids if cmdline(k) == "supervise a"]
    helpers.run([prog("svc"), "-dx", a])
    # The dump is created, then written: wait for its bytes, not its name.
    # (The child that set up svscan's inotify watch has exited and dumped
    # too, with inotify_simple: not svscan's nor a supervise's.)
    wait_for(lambda: (out / str(sup)).exists() and (out / str(sup)).stat().st_size, 10,
             what="the forked supervise to exit")
    loaded = set((out / str(sup)).read_text().split())
    wait_for(lambda: [n for n, d in dumps_by_pid(out).items() if n != sup and d], 10,
             what="the watch's set-up child to exit")
    os.kill(p.pid, signal.SIGTERM)            # svscan's own modules, after its work
    assert p.wait(timeout=20) == 0
    svscan = set((out / str(p.pid)).read_text().split())
    setup = [d for n, d in dumps_by_pid(out).items() if n not in (sup, p.pid)]
    assert "svtools.supervise" in loaded and not loaded & NEVER, loaded & NEVER
    assert excess(loaded, SVSCAN_CHILD) == []
    assert "svtools.svscan" in svscan and "inotify_simple" not in svscan
    assert [("inotify_simple" in d) for d in setup] == [True]   # the watch's set-up child


def test_multilog(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    r = subprocess.run(driver("from svtools.multilog import main\nmain(['multilog', 't', './log'])"),
                       input=b"one\ntwo\n", cwd=str(tmp_path), capture_output=True, timeout=20,
                       env=helpers.env(DIET_OUT=str(out)))
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "log" / "current").read_bytes().count(b"\n") == 2
    [loaded] = dumps(out)
    assert "svtools.multilog" in loaded and not loaded & NEVER, loaded & NEVER
    assert excess(loaded, MULTILOG) == []


@pytest.mark.parametrize("bad", ["logging", "threading"])
def test_the_check_catches_a_heavy_import(bad, tmp_path):
    # The same check, with a shared module that imports something heavy.
    out = tmp_path / "out"
    out.mkdir()
    r = subprocess.run(driver("import %s\nimport svtools.supervise" % bad),
                       capture_output=True, timeout=20, env=helpers.env(DIET_OUT=str(out)))
    assert r.returncode == 0, r.stderr
    [loaded] = dumps(out)
    assert bad in excess(loaded, SUPERVISE)
