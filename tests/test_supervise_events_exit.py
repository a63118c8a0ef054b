"""log-events: the last exit record is written before supervise exits
(svc -dx, svscan's orderly shutdown), and a stuck logger cannot hold
supervise's exit for long."""

import os
import re
import signal

from helpers import prog, wait_for, write_script
from supervisekit import service  # noqa: F401 (fixture)
from test_svscan import Scan

EXIT_TERM = rb"svtools: exit pid %d signal TERM after \d+\.\d{3} s\n"


def test_dx_writes_the_exit_record_before_supervise_exits(service):
    s = service("echo hello; exec sleep 1000\n")
    s.knob("log-events", "")
    with open(s.file("../out"), "wb") as out:
        s.start(stdout=out)
    pid = s.wait_up()
    wait_for(lambda: b"hello\n" in s.read("../out"), 15, what="the service's output")
    s.send(b"dx")
    assert s.proc.wait(timeout=20) == 0
    data = s.read("../out")
    assert re.fullmatch(rb"svtools: start pid %d\nhello\n" % pid + EXIT_TERM % pid, data), data
    assert [e[1] for e in s.exits()] == [pid]


def test_dx_with_a_stuck_logger_exits_all_the_same(service):
    # supervise's stdout is a pipe that is full and never read: the exit
    # record cannot be written, and supervise still exits, having waited
    # a bounded time for it.
    s = service("echo $$ > pid; exec sleep 1000\n")
    s.knob("log-events", "")
    r, w = os.pipe()
    try:
        os.set_blocking(w, False)
        try:
            while True:
                os.write(w, b"x" * 65536)
        except BlockingIOError:
            pass
        os.set_blocking(w, True)
        s.start(stdout=w)
        os.close(w)
        w = -1
        pid = s.wait_up()
        wait_for(lambda: s.read("pid").strip() == b"%d" % pid, 15, what="the run")
        s.send(b"dx")
        assert s.proc.wait(timeout=20) == 0
        assert [e[1] for e in s.exits()] == [pid]
    finally:
        os.close(r)
        if w >= 0:
            os.close(w)


def test_svscan_term_shutdown_logs_the_exit_record(procs, tmp_path):
    scan = Scan(procs, tmp_path)
    try:
        d = scan.dir / "b"
        os.makedirs(d / "log")
        write_script(d / "run", "echo $$ > pid; echo hello; exec sleep 1000\n")
        (d / "log-events").write_bytes(b"")
        write_script(d / "log" / "run", "exec %s ./main\n" % prog("multilog"))
        current = d / "log" / "main" / "current"
        wait_for(lambda: current.exists() and b"hello\n" in current.read_bytes(), 15,
                 what="the service's output in the log")
        pid = int((d / "pid").read_bytes())
        os.kill(scan.pid, signal.SIGTERM)
        assert scan.proc.wait(timeout=20) == 0
        data = current.read_bytes()
        assert re.fullmatch(rb"svtools: start pid %d\nhello\n" % pid + EXIT_TERM % pid, data), data
    finally:
        scan.errf.close()
