"""readproctitle: exit codes and the rolling tail, beside the C program."""

import os
import subprocess

import pytest

import helpers
from helpers import c_tool, prog, wait_for


def title(pid):
    with open("/proc/%d/cmdline" % pid, "rb") as f:
        words = f.read().rstrip(b"\0").replace(b"\0", b" ").split(b" ", 1)
    return b" ".join([os.path.basename(words[0])] + words[1:])


def ps(pid):
    return subprocess.run(["ps", "-o", "args=", "-p", str(pid)], capture_output=True,
                          timeout=20).stdout


@pytest.mark.interop
@pytest.mark.parametrize("args", [[], ["...."], ["a", "b", "..."]])
def test_usage_exits_100_silently_like_c(args):
    ours = helpers.run([prog("readproctitle")] + args)
    theirs = helpers.run([c_tool("readproctitle")] + args)
    assert (ours.returncode, ours.stdout, ours.stderr) == (100, b"", b"")
    assert (theirs.returncode, theirs.stdout, theirs.stderr) == (100, b"", b"")


@pytest.mark.interop
def test_tail_matches_c_and_the_manual(procs):
    data = b"fatal error xyz\nwarning abc\n"
    seen = []
    for tool in (prog("readproctitle"), c_tool("readproctitle")):
        p = procs.start([tool, "service", "errors:", "x" * 20], stdin=subprocess.PIPE)
        p.stdin.write(data)
        p.stdin.flush()
        want = b"readproctitle service errors: ... xyz\nwarning abc\n"
        seen.append(wait_for(lambda: title(p.pid) == want and title(p.pid), 5, what="title"))
        if tool == prog("readproctitle"):
            assert ps(p.pid) == b"readproctitle service errors: ... xyz warning abc \n"
        p.stdin.close()
        assert p.wait(timeout=5) == 0
    assert seen[0] == seen[1]


def test_nul_bytes_dropped_and_long_input_keeps_the_end(procs):
    p = procs.start([prog("readproctitle"), "e:", "." * 10], stdin=subprocess.PIPE)
    p.stdin.write(b"ab\0cdefghijklmnop")
    p.stdin.flush()
    wait_for(lambda: title(p.pid) == b"readproctitle e: ...jklmnop", 5, what="tail")
    p.stdin.close()
    assert p.wait(timeout=5) == 0
