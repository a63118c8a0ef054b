"""Scheduled jobs under a real svscan, over one real minute boundary."""

import os
import signal
import struct
import time

import pytest

import helpers
from helpers import prog, wait_for, write_script
from svtools import _xstatus


def xstatus(d):
    try:
        with open(os.path.join(d, "supervise", "xstatus"), "rb") as f:
            return _xstatus.unpack(f.read())
    except (OSError, ValueError):
        return None


def exits(d):
    try:
        with open(os.path.join(d, "supervise", "exits"), "rb") as f:
            return _xstatus.unpack_exits(f.read())
    except (OSError, ValueError):
        return []


def status_pid(d):
    try:
        with open(os.path.join(d, "supervise", "status"), "rb") as f:
            return struct.unpack("<I", f.read()[12:16])[0]
    except (OSError, struct.error):
        return 0


def service(d, body, schedule=None, log=False):
    os.makedirs(d)
    write_script(os.path.join(d, "run"), body)
    if schedule is not None:
        with open(os.path.join(d, "schedule"), "w") as f:
            f.write(schedule)
    if log:
        open(os.path.join(d, "log-events"), "w").close()
        os.mkdir(os.path.join(d, "log"))
        write_script(os.path.join(d, "log", "run"), "exec multilog t ./main\n")
    return d


@pytest.fixture
def scan(procs, tmp_path):
    d = tmp_path / "scan"
    d.mkdir()
    errf = open(tmp_path / "svscan.err", "wb")
    box = {}

    def start():
        box["p"] = procs.start([prog("svscan"), str(d)], stdout=errf, stderr=errf)
    yield d, start, tmp_path / "svscan.err"
    dirs = [str(x) for x in d.iterdir()] + [str(x / "log") for x in d.iterdir() if (x / "log").is_dir()]
    pids = [status_pid(x) for x in dirs]
    if "p" in box:
        helpers.run([prog("svc"), "-dx"] + dirs)
        procs.stop(box["p"])
    for pid in pids:
        if pid:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    errf.close()


def test_jobs_fire_at_the_minute_skip_while_running_and_junk_never_fires(scan):
    d, start, errpath = scan
    # Start well inside a minute, so that busy can be started by hand before
    # the first firing: a boundary let pass would fire the job once too.
    if time.time() % 60 > 40:
        boundary = time.time() // 60 * 60 + 60
        wait_for(lambda: time.time() > boundary + 0.5, 20, what="the next minute")
    job = service(str(d / "job"), "echo job ran\nexit 3\n", "* * * * *\n", log=True)
    busy = service(str(d / "busy"), "exec sleep 200\n", "TZ=Europe/Paris * * * * *\n")
    junk = service(str(d / "junk"), "echo junk ran > ran\n", "every day at noon\n")
    bad = service(str(d / "bad"), "echo bad ran > ran\n", "61 * * * *\n")
    start()
    wait_for(lambda: (xstatus(job) or {}).get("next_fire"), 20, what="job's next firing")
    x = xstatus(job)
    assert x["state"] == "down" and x["normally"] == "down" and x["starts"] == 0
    first = x["next_fire"]
    assert first % 60 == 0 and 0 < first - time.time() <= 61
    assert first - time.time() > 3, "started too close to the minute"
    helpers.run([prog("svc"), "-o", busy])
    wait_for(lambda: status_pid(busy), 20, what="busy started by svc -o")
    busy_pid = status_pid(busy)

    wait_for(lambda: exits(job), 90, interval=0.1, what="the job's first firing")
    at, pid, code, sig, ran = exits(job)[0]
    assert code == 3 and at - ran >= first - 0.001
    # exits is written at the reap, xstatus at the end of that loop round
    wait_for(lambda: xstatus(job)["exit_code"] == 3, 20, what="the exit in xstatus")
    x = xstatus(job)
    assert x["next_fire"] == first + 60
    assert x["starts"] == 1 and x["exit_code"] == 3 and x["state"] == "down" and x["skipped"] == 0
    log = os.path.join(job, "log", "main", "current")
    wait_for(lambda: os.path.exists(log) and b"code 3" in open(log, "rb").read(), 20)
    lines = [l.split(b" ", 1)[1] for l in open(log, "rb").read().splitlines()]
    assert lines[0] == b"svtools: start pid %d" % pid
    assert lines[1] == b"job ran"
    assert lines[2].startswith(b"svtools: exit pid %d code 3 after " % pid)

    wait_for(lambda: xstatus(busy)["skipped"] == 1, 20, what="busy's firing skipped")
    assert status_pid(busy) == busy_pid and xstatus(busy)["starts"] == 1

    for d_ in (junk, bad):
        x = xstatus(d_)
        assert x["starts"] == 0 and x["next_fire"] == 0 and x["state"] == "down"
        assert not os.path.exists(os.path.join(d_, "ran"))
    err = open(errpath, "rb").read().decode()
    assert err.count("supervise: warning: junk/schedule: not five fields") == 1, err
    assert err.count("supervise: warning: bad/schedule: bad cron expression '61 * * * *'") == 1, err


def test_schedule_fixed_while_running_and_svc_o_by_hand(procs, tmp_path):
    d = service(str(tmp_path / "job"), "echo ran >> runs\n", "0 0 31 2 *\n")
    err = open(tmp_path / "err", "wb")
    p = procs.start([prog("supervise"), d], stdout=err, stderr=err)
    try:
        wait_for(lambda: b"bad cron expression" in (tmp_path / "err").read_bytes(), 20,
                 what="the warning about February 31st")
        assert xstatus(d)["next_fire"] == 0 and xstatus(d)["normally"] == "down"
        with open(os.path.join(d, "schedule"), "w") as f:
            f.write("TZ=UTC @yearly\n")
        with open(os.path.join(d, "supervise", "control"), "wb") as f:
            f.write(b"z")   # any event makes supervise look at its files again
        wait_for(lambda: xstatus(d)["next_fire"], 20, what="the fixed schedule")
        nf = xstatus(d)["next_fire"]
        assert time.gmtime(nf)[1:6] == (1, 1, 0, 0, 0) and nf > time.time()
        helpers.run([prog("svc"), "-o", d])
        wait_for(lambda: os.path.exists(os.path.join(d, "runs")), 20, what="svc -o ran the job")
        wait_for(lambda: xstatus(d)["starts"] == 1 and xstatus(d)["state"] == "down", 20)
        assert xstatus(d)["next_fire"] == nf
        assert (tmp_path / "err").read_bytes().count(b"bad cron expression") == 1
    finally:
        helpers.run([prog("svc"), "-dx", d])
        procs.stop(p)
        err.close()
