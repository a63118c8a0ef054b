"""Knob files: the pure parsers, and bad input given to a real supervise."""

import os
import signal

import pytest

from helpers import wait_for
from supervisekit import service  # noqa: F401 (fixture)
from svtools import _knobs


@pytest.mark.parametrize("parse,data,value", [
    (_knobs.parse_ms, b"500\n", 0.5),
    (_knobs.parse_ms, b" 0 ", 0.0),
    (_knobs.parse_ms, b"2147483647", 2147483.647),
    (_knobs.parse_signal, b"QUIT\n", signal.SIGQUIT),
    (_knobs.parse_signal, b"SIGUSR1", signal.SIGUSR1),
    (_knobs.parse_signal, b"KILL", signal.SIGKILL),
    (_knobs.parse_fd, b"3\n", 3),
    (_knobs.parse_backoff, b"60\n", 60.0),
    (_knobs.parse_fail_limit, b"5 60\n", (5, 60.0)),
    (_knobs.parse_tally, b"0", 0),
    (_knobs.parse_tally, b"4096", 4096),
    (_knobs.parse_flag, b"\xff junk", True),
])
def test_parsers_accept(parse, data, value):
    assert parse(data) == (value, None)


@pytest.mark.parametrize("parse,data,problem", [
    (_knobs.parse_ms, b"", "empty"),
    (_knobs.parse_ms, b"\n\n", "empty"),
    (_knobs.parse_ms, b"abc", "not a number"),
    (_knobs.parse_ms, b"-5", "negative"),
    (_knobs.parse_ms, b"1.5", "not a number"),
    (_knobs.parse_ms, b"99999999999999999999999", "out of range"),
    (_knobs.parse_ms, b"\x00\xff\x01", "not a number"),
    (_knobs.parse_ms, "\u0661".encode(), "not a number"),  # a non-ASCII digit
    (_knobs.parse_signal, b"TERMINATE", "unknown signal"),
    (_knobs.parse_signal, b"15", "unknown signal"),
    (_knobs.parse_signal, b"", "empty"),
    (_knobs.parse_signal, b"\xff\xfe", "unknown signal"),
    (_knobs.parse_fd, b"1", "out of range"),
    (_knobs.parse_fd, b"100000", "out of range"),
    (_knobs.parse_backoff, b"0", "out of range"),
    (_knobs.parse_fail_limit, b"5", "not N SECS"),
    (_knobs.parse_fail_limit, b"5 60 7", "not N SECS"),
    (_knobs.parse_fail_limit, b"0 60", "out of range"),
    (_knobs.parse_fail_limit, b"5 x", "not a number"),
    (_knobs.parse_tally, b"4097", "out of range"),
])
def test_parsers_refuse(parse, data, problem):
    assert parse(data) == (None, problem)


class Reader:
    def __init__(self):
        self.problems = {}
        self.said = []

    def load(self):
        return _knobs.load(self.problems, lambda name, problem, err: self.said.append(("D/" + name, problem, err)))


def test_reader_warns_once_per_distinct_problem(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    reader = Reader()
    said = reader.said
    assert reader.load() is _knobs.DEFAULT
    (tmp_path / "timeout-kill").write_bytes(b"junk")
    (tmp_path / "down-signal").write_bytes(b"QUIT")
    for _ in range(3):
        k = reader.load()
        assert (k.timeout_kill, k.down_signal) == (0.0, signal.SIGQUIT)
    assert said == [("D/timeout-kill", "not a number", None)]
    (tmp_path / "timeout-kill").write_bytes(b"-1")
    reader.load()
    (tmp_path / "timeout-kill").write_bytes(b"250")
    assert reader.load().timeout_kill == 0.25
    (tmp_path / "timeout-kill").write_bytes(b"junk")
    reader.load()
    assert [p for _, p, _ in said] == ["not a number", "negative", "not a number"]


def test_reader_unreadable_directory_and_finish(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    reader = Reader()
    said = reader.said
    os.mkdir("timeout-kill")
    os.symlink("/proc/self/mem", "down-signal")      # read() fails with EIO, even for root
    with open("finish", "w") as f:
        f.write("#!/bin/sh\n")
    k = reader.load()
    assert (k.timeout_kill, k.down_signal, k.finish) == (0.0, signal.SIGTERM, False)
    import errno
    assert sorted(said) == [("D/down-signal", None, errno.EIO), ("D/finish", "not an executable file", None),
                            ("D/timeout-kill", None, errno.EISDIR)]
    os.chmod("finish", 0o755)
    assert reader.load().finish is True


BAD = {
    "timeout-kill": b"junk\n",
    "timeout-finish": b"-3",
    "down-signal": b"NOSUCH",
    "notification-fd": b"99999999999999999999",
    "restart-backoff": b"",
    "fail-limit": b"\x00\xff\xfe\x01",
    "max-death-tally": b"5000",
}
PROBLEMS = {
    "timeout-kill": "not a number", "timeout-finish": "negative", "down-signal": "unknown signal",
    "notification-fd": "out of range", "restart-backoff": "empty", "fail-limit": "not N SECS",
    "max-death-tally": "out of range",
}


def test_junk_knobs_warn_once_and_supervision_goes_on(service):
    s = service("echo $$ > pid; exec sleep 1000\n")
    os.makedirs(s.path, exist_ok=True)
    for name, data in BAD.items():
        s.knob(name, data)
    os.mkdir(s.file("process-group"))
    os.symlink("/proc/self/mem", s.file("log-events"))   # unreadable, even for root
    s.start()
    pid = s.wait_up()
    s.wait_state("up", pid=pid, pgid=0)        # junk notification-fd: no readiness
    for _ in range(3):                          # knobs are re-read at each command
        s.send(b"p")
        s.send(b"c")
    s.wait_state("up", pid=pid)
    s.send(b"d")                                # default TERM, no SIGKILL deadline
    s.wait_state("down", want="down")
    err = s.stderr().decode("utf-8", "replace").splitlines()
    expected = ["supervise: warning: %s/%s: %s" % (s.path, n, p) for n, p in PROBLEMS.items()]
    expected.append("supervise: warning: unable to read %s/process-group: is a directory" % s.path)
    expected.append("supervise: warning: unable to read %s/log-events: input/output error" % s.path)
    assert sorted(err) == sorted(expected)
    assert s.proc.poll() is None


def test_a_knob_changed_while_running_takes_effect(service):
    s = service("trap '' TERM QUIT; echo $$ > pid; while :; do sleep 1; done\n").start()
    pid = s.wait_up()
    wait_for(lambda: s.read("pid"), what="the trap")
    s.knob("timeout-kill", "junk")
    s.send(b"p")
    wait_for(lambda: b"timeout-kill: not a number" in s.stderr(), what="the warning")
    s.send(b"c")
    s.knob("timeout-kill", "200\n")
    s.knob("down-signal", "QUIT\n")
    s.send(b"d")
    s.wait_state("down", want="down")           # SIGKILL came: it ignored TERM and QUIT
    assert s.exits()[-1][1:4] == (pid, 256, signal.SIGKILL)
    assert s.stderr().count(b"warning") == 1
    assert s.proc.poll() is None
