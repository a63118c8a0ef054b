"""supervise/xstatus and supervise/exits written by a real supervise."""

import os
import signal
import time

from helpers import pid_alive, wait_for
from supervisekit import service  # noqa: F401 (fixture)


def test_files_for_a_service_without_knobs(service):
    s = service().start()
    pid = s.wait_up()
    x = s.wait_state("up", pid=pid)
    assert (x["want"], x["normally"], x["starts"], x["pgid"]) == ("up", "up", 1, 0)
    assert (x["exit_code"], x["ready_since"], x["next_start"]) == (-1, 0.0, 0.0)
    assert abs(x["since"] - time.time()) < 60
    assert s.exits() == []
    assert os.path.getsize(s.file("supervise/status")) == 18
    for name in ("xstatus.new", "exits.new", "status.new"):
        assert not os.path.exists(s.file("supervise/" + name))


def test_down_file_then_up_and_exit_history(service):
    s = service("echo $$ >> pids; exit 3\n", down=True).start()
    x = s.wait_state("down")
    assert (x["want"], x["normally"], x["starts"]) == ("down", "down", 0)
    s.send(b"o")
    x = s.wait_state("down", starts=1, exit_code=3)
    pid = int(s.read("pids"))
    assert (x["want"], x["exit_signal"]) == ("once", 0)
    assert x["exit_ran"] >= 0 and abs(x["exit_at"] - time.time()) < 60
    [(at, epid, code, sig, ran)] = s.exits()
    assert (epid, code, sig) == (pid, 3, 0) and at == x["exit_at"]


def test_signal_exit_and_throttle_shows_next_start(service):
    s = service("echo $$ > pid; exec sleep 1000\n").start()
    pid = s.wait_up()
    os.kill(pid, signal.SIGKILL)
    new = s.wait_up(other_than=pid)
    x = s.wait_state("up", pid=new)
    assert (x["exit_code"], x["exit_signal"], x["starts"]) == (256, 9, 2)
    assert s.exits()[-1][1:4] == (pid, 256, 9)


def test_throttled_restart_is_down_with_next_start(service):
    s = service("exit 1\n")
    s.knob("restart-backoff", "30\n")
    s.start()
    x = s.wait_state("down", starts=3)
    assert x["want"] == "up" and x["next_start"] > time.time() - 1
    s.send(b"d")
    x = s.wait_state("down", want="down", next_start=0.0)


def test_stopping_then_down(service):
    s = service("trap '' TERM; echo $$ > pid; while :; do sleep 1; done\n").start()
    pid = s.wait_up()
    wait_for(lambda: s.read("pid"), what="the trap")
    s.send(b"d")
    s.wait_state("stopping", pid=pid, want="down")
    s.send(b"k")
    s.wait_state("down", want="down")
    assert not pid_alive(pid)


def test_paused(service):
    s = service().start()
    pid = s.wait_up()
    s.send(b"p")
    s.wait_state("paused", pid=pid)
    s.send(b"c")
    s.wait_state("up", pid=pid)


def test_max_death_tally_trims_the_history(service):
    s = service("exit 0\n")
    s.knob("max-death-tally", "2\n")
    s.start()
    s.wait_state("down", "up", starts=4)
    wait_for(lambda: len(s.exits()) == 2 and s.xstatus()["starts"] >= 4, timeout=15,
             what="two exits kept")
    s.send(b"d")


def test_the_executor_refuses_an_unknown_effect(tmp_path, monkeypatch):
    import pytest
    from svtools import supervise
    monkeypatch.chdir(tmp_path)
    sup = supervise.Supervisor("d", True, -1, {})
    with pytest.raises(ValueError):
        sup.perform([("teleport", 42)])
