"""log-events records, restart-backoff and fail-limit on real processes."""

import os
import re
import subprocess
import sys

from helpers import prog, run, wait_for, write_script
from supervisekit import service  # noqa: F401 (fixture)

START = re.compile(rb"^svtools: start pid (\d+)$")
READY = re.compile(rb"^svtools: ready pid (\d+) after \d+\.\d{3} s$")
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


def test_ready_record_after_what_came_before_on_a_line_of_its_own(service):
    # 'partial' has no newline and is written before the readiness newline:
    # the record follows it on a new line, and 'after' follows the record.
    s = service("printf partial; echo $$ > pid; while ! test -e go; do sleep 0.01; done\n"
                "echo >&5; while ! test -e go2; do sleep 0.01; done; echo after;"
                " exec sleep 1000\n", down=True)
    os.makedirs(s.path, exist_ok=True)
    s.knob("log-events", "")
    s.knob("notification-fd", "5")
    out = start_logged(s)
    s.send(b"o")
    pid = s.wait_up()
    s.wait_state("starting", pid=pid)
    open(s.file("go"), "w").close()
    s.wait_state("ready", pid=pid)
    wait_for(lambda: b"svtools: ready" in out(), what="the ready record")
    open(s.file("go2"), "w").close()
    wait_for(lambda: b"after\n" in out(), what="the output after readiness")
    s.send(b"d")
    s.wait_state("down", want="down")
    wait_for(lambda: b"svtools: exit" in out(), what="the exit record")
    lines = out().splitlines()
    assert lines[:2] == [b"svtools: start pid %d" % pid, b"partial"], lines
    assert READY.match(lines[2]) and READY.match(lines[2]).group(1) == b"%d" % pid, lines
    assert lines[3] == b"after" and EXIT.match(lines[4]) and len(lines) == 5, lines


def test_ready_record_from_the_notify_socket(service):
    s = service(None, down=True)
    os.makedirs(s.path, exist_ok=True)
    write_script(s.file("run"), "exec %s -c \"$(cat run.py)\"\n" % sys.executable)
    with open(s.file("run.py"), "w") as f:
        f.write("import os, socket, time\n"
                "s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)\n"
                "s.sendto(b'READY=1', os.environ['NOTIFY_SOCKET'])\n"
                "s.sendto(b'READY=1', os.environ['NOTIFY_SOCKET'])\n"
                "time.sleep(1000)\n")
    s.knob("log-events", "")
    s.knob("notify-socket", "")
    out = start_logged(s)
    s.send(b"o")
    pid = s.wait_up()
    s.wait_state("ready", pid=pid)
    wait_for(lambda: b"svtools: ready" in out(), what="the ready record")
    s.send(b"d")
    s.wait_state("down", want="down")
    wait_for(lambda: b"svtools: exit" in out(), what="the exit record")
    lines = out().splitlines()
    # one record although READY=1 came twice
    assert lines[0] == b"svtools: start pid %d" % pid and READY.match(lines[1]), lines
    assert READY.match(lines[1]).group(1) == b"%d" % pid and EXIT.match(lines[2]), lines
    assert len(lines) == 3, lines


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


FAILED = re.compile(rb"^svtools: failed pid (\d+): (fail-limit reached|\./finish exited 125), "
                    rb"down until svc -u or svc -o$")


def logged(service, run, **knobs):
    """A service with log-events and KNOBS (name_with_underscores: text),
    started with its stdout on a file: (service, reader of that file)."""
    s = service(run)
    os.makedirs(s.path, exist_ok=True)
    for name, text in knobs.items():
        s.knob(name.replace("_", "-"), text)
    s.knob("log-events", "")
    return s, start_logged(s)


def test_giving_up_leaves_a_record_after_the_last_exit(service):
    s, out = logged(service, "echo $$ >> pids; printf partial; exit 4\n", fail_limit="2 60\n")
    assert s.wait_state("failed")["failed_by"] == "fail-limit"
    wait_for(lambda: b"svtools: failed" in out(), what="the failed record")
    lines = out().splitlines()
    last = s.read("pids").split()[-1]
    assert EXIT.match(lines[-2]) and lines[-2].startswith(b"svtools: exit pid " + last + b" code 4")
    assert FAILED.match(lines[-1]).groups() == (last, b"fail-limit reached")
    s.send(b"d")   # no new record: it is down already


def test_timeout_kill_leaves_a_record_before_the_exit(service):
    s, out = logged(service, "trap '' TERM; echo $$ > pid; while :; do sleep 1; done\n",
                    timeout_kill="300\n")
    wait_for(lambda: s.read("pid").strip(), what="./run's pid")
    pid = s.read("pid").strip()
    s.send(b"d")
    s.wait_state("down", want="down")
    wait_for(lambda: b"svtools: exit" in out(), what="the exit record")
    lines = out().splitlines()
    assert lines[-2:] == [b"svtools: SIGKILL to pid %s: still running after the down signal" % pid,
                          lines[-1]]
    assert lines[-1].startswith(b"svtools: exit pid %s signal KILL after " % pid)


def test_finish_125_leaves_a_failed_record(service):
    s = service("echo $$ > pid; exit 0\n")
    os.makedirs(s.path, exist_ok=True)
    write_script(s.file("finish"), "echo finishing; exit 125\n")
    s.knob("log-events", "")
    out = start_logged(s)
    assert s.wait_state("failed")["failed_by"] == "finish"
    wait_for(lambda: b"svtools: failed" in out(), what="the failed record")
    lines = out().splitlines()
    assert lines[-2:-1] == [b"finishing"]
    assert FAILED.match(lines[-1]).groups() == (s.read("pid").strip(), b"./finish exited 125")


def test_finish_and_log_events_together(service):
    s = service("printf x; exit 5\n", down=True)
    write_script(s.file("finish"), "echo \"finish $1 $2\"\n")
    s.knob("log-events", "")
    out = start_logged(s)
    s.send(b"o")
    wait_for(lambda: b"finish 5 0\n" in out(), what="finish's line")
    lines = out().splitlines()
    assert lines[1:] == [b"x", lines[2], b"finish 5 0"] and EXIT.match(lines[2])


def test_up_on_a_failed_service_resets_the_backoff(service):
    # Two quick exits fail it with the backoff at 2 s; after svc -u the
    # first run is immediate and the wait after it is 1 s again, with one
    # exit in the fail-limit tally.
    s = service("echo run >> runs; exit 1\n")
    os.makedirs(s.path, exist_ok=True)
    s.knob("restart-backoff", "60\n")
    s.knob("fail-limit", "2 100\n")
    s.start()
    s.wait_state("failed", starts=2)
    run([prog("svc"), "-u", s.path])
    x = s.wait_state("down", starts=3, want="up")
    assert x["fails"] == 1 and x["exit_code"] == 1
    # both times come from one monotonic instant plus one offset
    assert abs(x["next_start"] - x["exit_at"] - 1.0) < 0.001, x
    s.wait_state("failed", starts=4)


def test_xstatus_leaves_failed_in_the_round_of_the_command(service):
    # svc returns once the byte is in the FIFO, so a read right after it may
    # still see the old "failed" (readers compare with what they saw
    # before); the next change, though, is already the new state, want up,
    # with a fresh since.
    s = service("test -e ok && exec sleep 1000; exit 1\n")
    os.makedirs(s.path, exist_ok=True)
    s.knob("fail-limit", "1 100\n")
    s.start()
    before = s.wait_state("failed", starts=1)
    raw = s.read("supervise/xstatus")
    open(s.file("ok"), "w").close()
    assert run([prog("svc"), "-u", s.path]).returncode == 0
    first = s.xstatus()
    assert first == before or first["state"] != "failed"
    wait_for(lambda: s.read("supervise/xstatus") not in (b"", raw), timeout=15,
             what="xstatus to change")
    x = s.xstatus()
    assert x["state"] in ("down", "starting", "up") and x["want"] == "up", x
    assert x["since"] > before["since"] and x["fails"] == 0
    assert s.status()[4] == ord("u")
    s.wait_state("up", starts=2)
    s.send(b"d")
