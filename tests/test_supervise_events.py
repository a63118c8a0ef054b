"""log-events records, restart-backoff and fail-limit on real processes."""

import os
import re
import subprocess

from helpers import prog, wait_for, write_script
from supervisekit import service  # noqa: F401 (fixture)

START = re.compile(rb"^svtools: start pid (\d+)$")
EXIT = re.compile(rb"^svtools: exit pid (\d+) (code \d+|signal [A-Z0-9]+) after \d+\.\d{3} s$")


def start_logged(s, **kw):
    """Start S with its stdout on a file we can read."""
    out = open(s.file("../out"), "wb")
    s.start(stdout=out, **kw)
    out.close()
    return lambda: s.read("../out")


def test_records_start_and_exit_on_their_own_lines(service):
    s = service("echo $$ >> pids; printf 'no newline'; test -e stop && exec sleep 1000; exit 3\n")
    os.makedirs(s.path, exist_ok=True)
    s.knob("log-events", "")
    out = start_logged(s)
    wait_for(lambda: s.read("pids").count(b"\n") >= 2, timeout=15, what="two runs")
    open(s.file("stop"), "w").close()
    s.send(b"d")
    s.wait_state("down", want="down")
    wait_for(lambda: out().count(b"svtools: exit") >= 2, what="the records")
    lines = out().split(b"\n")
    pids = s.read("pids").split()
    assert lines[0] == b"svtools: start pid " + pids[0]
    assert lines[1] == b"no newline"
    assert lines[2] == b"svtools: exit pid " + pids[0] + b" code 3 after " + lines[2].split()[-2] + b" s"
    for line in lines:
        if line.startswith(b"svtools"):
            assert START.match(line) or EXIT.match(line), line
    assert all(line in (b"", b"no newline") or line.startswith(b"svtools: ") for line in lines)


def test_signal_exit_record_and_output_passes_through(service):
    s = service("echo hello; echo $$ > pid; exec sleep 1000\n", down=True)
    os.makedirs(s.path, exist_ok=True)
    s.knob("log-events", "")
    out = start_logged(s)
    s.send(b"o")
    pid = s.wait_up()
    wait_for(lambda: b"hello" in out(), what="the output")
    s.send(b"d")
    s.wait_state("down", want="down")
    wait_for(lambda: b"svtools: exit" in out(), what="the exit record")
    lines = out().splitlines()
    assert lines[:2] == [b"svtools: start pid %d" % pid, b"hello"]
    assert re.match(rb"svtools: exit pid %d signal TERM after \d+\.\d{3} s$" % pid, lines[2])


def test_records_through_multilog(service, tmp_path):
    s = service("printf 'partial'; exit 0\n", down=True)
    os.makedirs(s.path, exist_ok=True)
    s.knob("log-events", "")
    logdir = str(tmp_path / "main")
    logger = s.procs.start([prog("multilog"), "t", logdir], stdin=subprocess.PIPE)
    s.start(stdout=logger.stdin)
    logger.stdin.close()
    s.send(b"o")
    current = os.path.join(logdir, "current")
    wait_for(lambda: os.path.exists(current) and open(current, "rb").read().count(b"\n") >= 3,
             what="three lines in the log")
    lines = [line.split(b" ", 1)[1] for line in open(current, "rb").read().splitlines()]
    assert START.match(lines[0]) and lines[1] == b"partial" and EXIT.match(lines[2])


def test_restart_backoff_spaces_the_starts(service):
    s = service("date +%s.%N >> starts; exit 1\n")
    os.makedirs(s.path, exist_ok=True)
    s.knob("restart-backoff", "4")
    s.start()
    wait_for(lambda: s.read("starts").count(b"\n") >= 4, timeout=20, what="four starts")
    x = s.xstatus()
    s.send(b"d")
    starts = [float(t) for t in s.read("starts").split()]
    gaps = [b - a for a, b in zip(starts, starts[1:])]
    # waits of 1, 2 and 4 s after runs that lived a few ms; no upper bound asserted
    assert gaps[0] >= 0.95 and gaps[1] >= 1.95 and gaps[2] >= 3.95, gaps
    assert x["want"] == "up"


def test_fail_limit_fails_and_up_clears(service):
    s = service("echo run >> runs; exit 1\n")
    os.makedirs(s.path, exist_ok=True)
    s.knob("fail-limit", "2 60\n")
    s.start()
    x = s.wait_state("failed")
    assert (x["fails"], x["fail_limit"], x["fail_secs"], x["want"]) == (2, 2, 60, "down")
    assert s.status()[2:] == (0, 0, ord("d"))
    assert s.read("runs") == b"run\nrun\n"
    s.send(b"u")
    s.wait_state("failed", starts=4)
    assert s.read("runs") == b"run\n" * 4


def test_finish_and_log_events_together(service):
    s = service("printf x; exit 5\n", down=True)
    write_script(s.file("finish"), "echo \"finish $1 $2\"\n")
    s.knob("log-events", "")
    out = start_logged(s)
    s.send(b"o")
    wait_for(lambda: b"finish 5 0\n" in out(), what="finish's line")
    lines = out().splitlines()
    assert lines[1:] == [b"x", lines[2], b"finish 5 0"] and EXIT.match(lines[2])
