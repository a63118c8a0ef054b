"""svscan's objects made immortal before it forks (svtools/_immortal.py,
docs/performance.md "Ninth round"): what becomes immortal, what stays
mortal, that a forked child's uses then write no page, and that svscan's
start-up does it.  Each case runs in a fresh interpreter: the change is
for a process's life."""

import os
import subprocess
import sys
import textwrap

import pytest

from svtools import _immortal

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENABLED = pytest.mark.skipif(not _immortal.ENABLED, reason="not a verified CPython "
                             "(svtools/_immortal.py VERIFIED): freeze() does nothing")


def run(script, *args):
    env = dict(os.environ, PYTHONPATH=ROOT)
    cp = subprocess.run([sys.executable, "-I", "-c", textwrap.dedent(script), ROOT, *args],
                        capture_output=True, timeout=60, env=env)
    assert cp.returncode == 0, cp.stderr.decode()
    return dict(line.split(" ", 1) for line in cp.stdout.decode().splitlines())


_WHAT = """
    import gc, os, sys
    sys.path.insert(0, sys.argv[1])
    from svtools import _immortal, supervise
    IMM = _immortal.IMMORTAL
    table = {("service", i): ["x" * (i % 7), float(i)] for i in range(50)}
    f = open(sys.argv[2], "rb")
    fd = f.fileno()
    g = (i for i in range(3))
    gc.collect()
    print("changed", _immortal.freeze())
    later = ["made", "after"]
    def state(o):
        return "immortal" if sys.getrefcount(o) >= IMM else "mortal"
    print("function", state(supervise.main))
    print("class", state(supervise.Supervisor))
    print("code", state(supervise.main.__code__))
    print("table", state(table), state(table[("service", 3)]), state(table[("service", 3)][1]))
    print("file", state(f))
    print("generator", state(g))
    print("later", state(later))
    del f, g
    try:
        os.fstat(fd)
        print("closed", "no")
    except OSError:
        print("closed", "yes")
"""


@ENABLED
def test_freeze_makes_what_exists_immortal_but_resources_and_later_objects(tmp_path):
    path = tmp_path / "data"
    path.write_bytes(b"x")
    got = run(_WHAT, str(path))
    assert int(got["changed"]) > 1000
    assert got["function"] == got["class"] == got["code"] == "immortal"
    assert got["table"] == "immortal immortal immortal"
    # an object owning a descriptor is still freed, and closes it
    assert got["file"] == got["generator"] == "mortal"
    assert got["closed"] == "yes"
    assert got["later"] == "mortal"


def test_elsewhere_freeze_does_nothing():
    got = run("""
        import sys
        sys.path.insert(0, sys.argv[1])
        from svtools import _immortal
        _immortal.ENABLED = False
        t = tuple(range(3, 9))
        before = sys.getrefcount(t)
        print("changed", _immortal.freeze())
        print("same", sys.getrefcount(t) == before)
    """)
    assert got == {"changed": "0", "same": "True"}


# A child forked after freeze() takes and drops a reference to each of
# 20000 objects (about 1.5 MiB of tuples and strings); its private
# memory grows by the pages it copied.
_FORK = """
    import gc, os, sys
    sys.path.insert(0, sys.argv[1])
    from svtools import _immortal
    data = [("name-%06d" % i, i * 3.5) for i in range(20000)]
    gc.collect()
    if sys.argv[2] == "freeze":
        _immortal.freeze()
    gc.freeze()
    def private():
        with open("/proc/self/smaps_rollup") as f:
            return sum(int(line.split()[1]) for line in f if line.startswith("Private_"))
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        before = private()
        for pair in data:
            name, value = pair
        os.write(w, b"%d" % (private() - before))
        os._exit(0)
    os.close(w)
    grown = os.read(r, 64)
    os.waitpid(pid, 0)
    print("grown", int(grown))
"""


@ENABLED
def test_a_forked_child_using_immortal_objects_copies_no_page_for_them():
    mortal = int(run(_FORK, "none")["grown"])
    immortal = int(run(_FORK, "freeze")["grown"])
    # each tuple's and string's count written: most of 1.5 MiB copied
    assert mortal > 1024, mortal
    assert immortal < mortal // 8, (immortal, mortal)


@ENABLED
def test_svscan_makes_its_objects_immortal_before_it_forks():
    """svscan.ready_to_fork, which main() calls before its first fork
    (not with -e): supervise's code and svscan's own come out immortal."""
    got = run("""
        import os, sys
        sys.path.insert(0, sys.argv[1])
        from svtools import _immortal, supervise, svscan
        svscan.ready_to_fork(dict(os.environ))
        for name, o in (("supervise", supervise.main), ("svscan", svscan.Scanner),
                        ("policy", supervise.Supervisor.__init__)):
            print(name, sys.getrefcount(o) >= _immortal.IMMORTAL)
    """)
    assert got == {"supervise": "True", "svscan": "True", "policy": "True"}
