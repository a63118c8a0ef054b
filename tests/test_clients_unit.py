"""Pure tests of the client code: command strings, svstat's line, imports."""

import os
import subprocess
import sys

import pytest

from clientkit import Zoo, is_fifo
from svtools import _control, _status, _supervise_policy, svstat

U, D, NONE = _status.WANT_UP, _status.WANT_DOWN, _status.WANT_NONE
NOW = 1_700_000_000


@pytest.mark.parametrize("letters,expected", [
    ("xdudhhhoa", "xduhoa"),
    ("", ""),
    ("uuuu", "u"),
    ("q12wq21w", "q12w"),
    (_control.LETTERS * 2, _control.LETTERS),
])
def test_commands_each_letter_once_first_seen_order(letters, expected):
    assert _control.commands(letters) == expected


def test_letters_cover_usage_and_signals():
    for c in _control.LETTERS:
        assert " %s " % c in _control.USAGE
    # svc accepts exactly the letters supervise obeys
    assert set(_supervise_policy.SIGNALS) <= set(_control.LETTERS)
    assert set(_control.LETTERS) - set(_supervise_policy.SIGNALS) == set("udopcx")


def rec(secs, pid=0, paused=0, want=U):
    return _status.pack(secs, 500, pid, paused, want)


@pytest.mark.parametrize("data,normallyup,expected", [
    (rec(NOW - 100, want=U), True, "down 100 seconds, normally up, want up"),
    (rec(NOW - 1, want=D), True, "down 1 seconds, normally up"),
    (rec(NOW, want=D), False, "down 0 seconds"),
    (rec(NOW, paused=1, want=U), False, "down 0 seconds, want up"),
    (rec(NOW - 5, pid=8433, want=U), True, "up (pid 8433) 5 seconds"),
    (rec(NOW - 5, pid=8433, paused=1, want=U), True, "up (pid 8433) 5 seconds, paused"),
    (rec(NOW - 3, pid=8880, paused=1, want=D), False,
     "up (pid 8880) 3 seconds, normally down, paused, want down"),
    (rec(NOW + 50, pid=12345, paused=1, want=D), True,
     "up (pid 12345) 0 seconds, paused, want down"),
    (rec(NOW - 7, pid=9, want=NONE), True, "up (pid 9) 7 seconds"),
    (rec(NOW - 7, want=NONE), True, "down 7 seconds, normally up"),
    (rec(NOW - 2, pid=9) + b"runit", True, "up (pid 9) 2 seconds"),
])
def test_svstat_line(data, normallyup, expected):
    assert svstat.line(data, NOW, normallyup) == expected


def test_svstat_line_label_zero_goes_through_a_double():
    # 2**62 + 10 + NOW is not a double; C prints the rounded value.
    data = b"\0" * 12 + b"\0\0\0\0\0u"
    exact = 0x400000000000000A + NOW
    assert svstat.line(data, NOW, True) == (
        "down %d seconds, normally up, want up" % int(float(exact)))
    assert int(float(exact)) != exact


@pytest.mark.parametrize("module", ["svc", "svok", "svstat"])
def test_client_imports_stay_small(module):
    """Clients start fast: beyond what `python -I -S` loads by itself, only
    errno and our small modules (not even os: 1.5 ms of every start)."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    code = ("import sys; sys.path.insert(0, %r); a = set(sys.modules); import svtools.%s; "
            "print(' '.join(sorted(set(sys.modules) - a)))" % (root, module))
    out = subprocess.run([sys.executable, "-I", "-S", "-c", code], capture_output=True,
                         text=True, check=True).stdout.split()
    extra = {m for m in out if not m.startswith("svtools")}
    assert extra <= {"errno"}, extra


def test_send_leaves_a_dead_fifo_alone(tmp_path):
    zoo = Zoo(tmp_path)
    d = os.fsdecode(zoo.make("dead", control="dead"))
    here = os.getcwd()
    try:
        assert _control.send(d, b"u") == (
            "unable to control %s: supervise not running" % d)
    finally:
        os.chdir(here)
    assert is_fifo(os.path.join(d, "supervise", "control"))
