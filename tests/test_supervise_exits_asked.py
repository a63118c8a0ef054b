"""supervise/exits says whether each exit was asked for (svc -d, -t, -k), on
real processes: a TERM from someone else is not, a TERM from svc -t is."""

import os
import signal

from helpers import prog, run, wait_for
from supervisekit import service  # noqa: F401 (fixture)
from svtools import _svinfo, _xstatus


def records(s):
    return _xstatus.unpack_exit_records(s.read("supervise/exits"))


def test_exits_record_asked(service):
    s = service("echo $$ >> pids; exec sleep 1000\n")
    s.start()
    first = s.wait_up()
    assert run([prog("svc"), "-t", s.path]).returncode == 0           # asked
    second = s.wait_up(other_than=first)
    os.kill(second, signal.SIGTERM)                                   # not asked: not svc
    third = s.wait_up(other_than=second)
    assert run([prog("svc"), "-k", s.path]).returncode == 0           # asked
    fourth = s.wait_up(other_than=third)
    assert run([prog("svc"), "-d", s.path]).returncode == 0           # asked
    s.wait_state("down", want="down")
    wait_for(lambda: len(records(s)) == 4, timeout=15, what="four exits")
    got = [(pid, code, sig, asked) for _, pid, code, sig, _, asked in records(s)]
    assert got == [(first, 256, 15, True), (second, 256, 15, False), (third, 256, 9, True),
                   (fourth, 256, 15, True)]
    assert s.read("supervise/exits").startswith(b"svtools-exits 2\n")
    # the five-word view older readers had
    assert [e[1:4] for e in s.exits()] == [(first, 256, 15), (second, 256, 15), (third, 256, 9),
                                           (fourth, 256, 15)]


def test_svc_t_does_not_count_towards_fail_limit(service):
    # fail-limit 2: two svc -t are two asked restarts, not two failures
    s = service("exec sleep 1000\n")
    os.makedirs(s.path, exist_ok=True)
    s.knob("fail-limit", "2 60\n")
    s.start()
    pid = s.wait_up()
    for _ in range(2):
        assert run([prog("svc"), "-t", s.path]).returncode == 0
        pid = s.wait_up(other_than=pid)
    x = s.wait_state("up", pid=pid)
    assert x["fails"] == 0 and x["want"] == "up"
    os.kill(pid, signal.SIGTERM)                                       # one real failure
    x = s.wait_state("up", starts=4)
    assert x["fails"] == 1



def test_crash_loop_judged_by_asked_not_by_signal(service):
    # The run exits 0 on TERM, so the signal says nothing: ASKED tells the
    # operator's restarts (svc -t) from a TERM sent by something else.
    script = "trap 'exit 0' TERM\necho $$ > ready.new && mv ready.new ready\nsleep 1000 & wait\n"
    s = service(script)
    s.start()
    pid = s.wait_up()
    for asked in (True, False):
        wait_for(lambda: s.read("ready").strip() == str(pid).encode(), timeout=15,
                 what="trap set")
        if asked:
            assert run([prog("svc"), "-t", s.path]).returncode == 0
        else:
            os.kill(pid, signal.SIGTERM)
        pid = s.wait_up(other_than=pid)
    wait_for(lambda: len(records(s)) == 2, timeout=15, what="two exits")
    assert [r[2:4] + r[5:] for r in records(s)] == [(0, 0, True), (0, 0, False)]
    snap = _svinfo.read(s.path.encode())
    assert [e["asked"] for e in _svinfo.to_json(snap)["exits"]] == [True, False]
    # The judgement itself, on this service's xstatus at a time when its
    # last start is young, with three short exits of each kind.
    xs = s.xstatus()
    for asked, loop in ((True, False), (False, True), (None, False)):
        one = dict(_svinfo._blank(s.path.encode(), 0.0), knobs={})
        exits = [(xs["since"] - 3 + k, 10 + k, 0, 15 if asked is None else 0, 0.5, asked)
                 for k in range(3)]
        _svinfo._from_xstatus(one, xs, exits, xs["since"] + 0.5)
        assert one["crash_loop"] is loop, (asked, one)
