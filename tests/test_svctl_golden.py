"""Golden output of `svctl status` on crafted service directories (live
FIFOs held by the test stand in for supervise; pids above pid_max, so /proc
has nothing to say), with durations normalised; the --json form against
docs/svctl-status.schema.json; exit codes."""

import json
import os
import re
import time

import pytest

import helpers
from clientkit import Zoo, status_bytes
from svtools import _status, _xstatus
from test_svinfo import check_schema

D, NONE = _status.WANT_DOWN, _status.WANT_NONE

GOLDEN = """\
NAME            STATE                    PID  UPTIME  RESTARTS  LAST EXIT           MEM  CPU
a-up            up                     40001     99s         -  -                     -    -
  log           up                     40002     99s         -  -                     -    -
b-down          down                       -   9h99m         -  -                     -    -
c-waiting       down, want up              -     99s         -  -                     -    -
d-paused        paused                 40003     99s         -  -                     -    -
e-ready         ready                  40004   9d99h         4  SIGTERM, 9m99s ago    -    -
f-loop          crash-loop                 -      9s         7  exit 1, 9s ago        -    -
g-failed        failed                     -     99s         2  exit 2, 99s ago       -    -
h-short         unknown                unable to read supervise/status: bad format
i-dead          supervise not running
j\\x20space      up                     40005     99s         -  -                     -    -
k\\xff           up                     40006     99s         -  -                     -    -
l\\x0anewline    up                     40007     99s         -  -                     -    -
m\\x5cbackslash  down                       -     99s         0  -                     -    -
"""


def normalise(text):
    return re.sub(r"\b\d+[smhd](\d\d[smh])?\b", lambda m: re.sub(r"\d", "9", m.group(0)), text)


@pytest.fixture(scope="module")
def scan(tmp_path_factory):
    base = tmp_path_factory.mktemp("scan")
    z = Zoo(base)
    now = time.time()
    z.make("a-up", status=status_bytes(30, pid=40001))
    z.make("a-up/log", status=status_bytes(30, pid=40002))
    z.make("b-down", status=status_bytes(3700, want=D))
    z.make("c-waiting", status=status_bytes(30))
    z.make("d-paused", status=status_bytes(30, pid=40003, paused=1))
    x = z.make("e-ready", status=status_bytes(30, pid=40004))
    xs(x, [(now - 300, 1, 256, 15, 50.0)], state="ready", pid=40004, since=now - 90000,
       ready_since=now - 89999, starts=5, exit_code=256, exit_signal=15, exit_at=now - 300,
       exit_ran=50.0)
    x = z.make("f-loop", status=status_bytes(0))
    xs(x, [(now - 4, 1, 1, 0, 0.1), (now - 3, 1, 1, 0, 0.1), (now - 2, 2, 1, 0, 0.1)],
       state="down", since=now - 2, starts=8, exit_code=1, exit_at=now - 2, exit_ran=0.1,
       next_start=now + 1)
    x = z.make("g-failed", status=status_bytes(30))
    xs(x, [(now - 30, 3, 2, 0, 0.5)], state="failed", since=now - 30, starts=3, exit_code=2,
       exit_at=now - 30, exit_ran=0.5, fails=3, fail_limit=3, fail_secs=60)
    z.make("h-short", status=b"\0" * 17)
    z.make("i-dead", status=status_bytes(30), ok="dead")
    z.make("j space", status=status_bytes(30, pid=40005))
    z.make("k\udcff", status=status_bytes(30, pid=40006))
    z.make("l\nnewline", status=status_bytes(30, pid=40007))
    x = z.make("m\\backslash", status=status_bytes(30, want=NONE))
    with open(os.path.join(x, b"supervise", b"xstatus"), "wb") as f:
        f.write(_xstatus.pack(dict(state="down", want="once", since=now - 30)))
    os.mkdir(os.path.join(str(base), ".hidden"))
    yield str(base)
    z.close()


def xs(d, exits, **fields):
    with open(os.path.join(d, b"supervise", b"xstatus"), "wb") as f:
        f.write(_xstatus.pack(fields))
    with open(os.path.join(d, b"supervise", b"exits"), "wb") as f:
        f.write(_xstatus.pack_exits(exits))


def svctl(*args, **kw):
    cp = helpers.run([helpers.prog("svctl")] + list(args), **kw)
    return cp.stdout.decode("utf-8"), cp.stderr.decode(), cp.returncode


def test_golden_table(scan):
    out, err, code = svctl("-d", scan)
    assert (normalise(out), err, code) == (GOLDEN, "", 4)


def test_golden_with_svdir_and_names(scan):
    out, err, code = svctl("status", "a-up", "e-ready", env=helpers.env(SVDIR=scan))
    assert normalise(out).splitlines() == [
        "NAME     STATE    PID  UPTIME  RESTARTS  LAST EXIT           MEM  CPU",
        "a-up     up     40001     99s         -  -                     -    -",
        "  log    up     40002     99s         -  -                     -    -",
        "e-ready  ready  40004   9d99h         4  SIGTERM, 9m99s ago    -    -",
    ]
    assert (err, code) == ("", 0)


def test_escaped_names_work_as_arguments(scan):
    for shown in ("j\\x20space", "k\\xff", "l\\x0anewline", "m\\x5cbackslash"):
        out, err, code = svctl("-d", scan, "status", shown)
        assert out.splitlines()[1].startswith(shown + " "), out
        assert err == ""
    # and the raw bytes as well
    cp = helpers.run([helpers.prog("svctl"), "-d", scan, "status", b"k\xff", "j space"])
    lines = cp.stdout.decode().splitlines()
    assert lines[1].startswith("k\\xff ") and lines[2].startswith("j\\x20space ")


@pytest.mark.parametrize("names,code", [
    (["a-up"], 0), (["b-down"], 0), (["c-waiting"], 3), (["f-loop"], 3), (["g-failed"], 3),
    (["h-short"], 4), (["i-dead"], 4), (["nosuch"], 4), (["a-up", "c-waiting"], 3),
    (["c-waiting", "i-dead"], 4),
])
def test_status_exit_codes(scan, names, code):
    assert svctl("-d", scan, "status", *names)[2] == code


def test_unknown_service_and_missing_scandir(scan, tmp_path):
    out, err, code = svctl("-d", scan, "status", "nosuch", "a-up")
    rows = out.splitlines()
    assert rows[1] == "nosuch  unknown  unable to open %s/nosuch: file does not exist" % scan
    assert rows[2].startswith("a-up ") and code == 4
    none = str(tmp_path / "none")
    out, err, code = svctl("-d", none)
    assert (out.split(), code) == (["NAME", "STATE", "PID", "UPTIME", "RESTARTS", "LAST", "EXIT", "MEM", "CPU"], 4)
    assert err == "svctl: warning: unable to read %s/none: file does not exist\n" % tmp_path
    out, err, code = svctl("-d", none, "status", "--json")
    doc = json.loads(out)
    assert (doc["services"], doc["error"], code) == ([], "unable to read %s: file does not exist" % none, 4)
    with open(os.path.join(os.path.dirname(__file__), "..", "docs", "svctl-status.schema.json")) as f:
        schema = json.load(f)
    check_schema(doc, schema, schema)
    for args in (["stop", "all"], ["stop", "x"], ["signal", "HUP", "x"], ["tail", "x"], ["remove", "x"]):
        out, err, code = svctl("-d", none, *args)
        assert (out, code) == ("", 111), args
        assert err == "svctl: fatal: unable to read %s/none: file does not exist\n" % tmp_path


def test_json_matches_schema(scan):
    out, err, code = svctl("-d", scan, "status", "--json")
    doc = json.loads(out)
    with open(os.path.join(os.path.dirname(__file__), "..", "docs", "svctl-status.schema.json")) as f:
        schema = json.load(f)
    check_schema(doc, schema, schema)
    by = {s["name"]: s for s in doc["services"]}
    assert list(by) == ["a-up", "b-down", "c-waiting", "d-paused", "e-ready", "f-loop", "g-failed",
                        "h-short", "i-dead", "j\\x20space", "k\\xff", "l\\x0anewline", "m\\x5cbackslash"]
    assert by["a-up"]["log"]["pid"] == 40002 and by["a-up"]["source"] == "status"
    assert by["e-ready"]["restarts"] == 4 and by["e-ready"]["exit"]["signal"] == 15
    assert by["f-loop"]["crash_loop"] is True
    assert by["h-short"]["error"] == "unable to read supervise/status: bad format"
    assert by["i-dead"]["state"] == "unsupervised"
    assert code == 4 and err == ""


def test_colour_only_on_a_terminal(scan):
    import pty
    import subprocess
    master, slave = pty.openpty()
    try:
        p = subprocess.run([helpers.prog("svctl"), "-d", scan, "status", "a-up", "g-failed"],
                           stdout=slave, stderr=subprocess.PIPE, env=helpers.env(TERM="xterm"),
                           timeout=20)
        os.close(slave)
        slave = None
        data = b""
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:
                break
            if not chunk:
                break
            data += chunk
    finally:
        os.close(master)
        if slave is not None:
            os.close(slave)
    assert p.returncode == 3
    assert b"\033[32mup\033[0m" in data and b"\033[31mfailed\033[0m" in data
    out, _, _ = svctl("-d", scan, "status", "a-up", "g-failed")
    assert "\033" not in out
    cp = subprocess.run([helpers.prog("svctl"), "-d", scan, "status", "a-up"], stdout=subprocess.PIPE,
                        env=helpers.env(NO_COLOR="1"), timeout=20)
    assert b"\033" not in cp.stdout


@pytest.fixture(scope="module")
def jobs(tmp_path_factory):
    """Scheduled jobs as svtools supervise publishes them."""
    base = tmp_path_factory.mktemp("jobs")
    z = Zoo(base)
    now = time.time()
    statuses = {"n-waiting": status_bytes(30, want=D), "o-ran": status_bytes(20, want=NONE),
                "p-running": status_bytes(5, pid=40011, want=NONE), "q-junk": status_bytes(30, want=D)}
    for name, status in statuses.items():
        d = z.make(name, status=status, down=True)
        with open(os.path.join(d, b"schedule"), "w") as f:
            f.write("every day\n" if name == "q-junk" else "* * * * *\n")
    with open(os.path.join(z.path("n-waiting"), b"fail-limit"), "w") as f:
        f.write("4 18\n")
    xs(z.path("n-waiting"), [], state="down", want="down", normally="down", since=now - 30,
       next_fire=now + 42)
    xs(z.path("o-ran"), [(now - 20, 7, 3, 0, 1.5)], state="down", want="once", normally="down",
       since=now - 20, starts=1, exit_code=3, exit_at=now - 20, exit_ran=1.5,
       next_fire=now + 40, skipped=2)
    xs(z.path("p-running"), [], state="up", pid=40011, want="once", normally="down",
       since=now - 5, starts=1, next_fire=now + 55)
    xs(z.path("q-junk"), [], state="down", want="down", normally="down", since=now - 30)
    yield str(base)
    z.close()


def test_scheduled_jobs_read_as_scheduled(jobs):
    out, err, code = svctl("-d", jobs)
    assert normalise(out).splitlines() == [
        "NAME       STATE                                PID  UPTIME  RESTARTS  LAST EXIT        MEM  CPU",
        "n-waiting  scheduled, next in 99s                 -     99s         0  -                  -    -",
        "o-ran      scheduled, next in 99s, 2 skipped      -     99s         0  exit 3, 99s ago    -    -",
        "p-running  up, next in 99s                    40011      9s         0  -                  -    -",
        "q-junk     scheduled, no next firing              -     99s         0  -                  -    -",
    ]
    assert (err, code) == ("", 0)
    out, err, code = svctl("-d", jobs, "show", "o-ran")
    assert "  want             scheduled (./run starts once at each firing), normally down\n" in out
    assert out.startswith("o-ran: scheduled, next in ")


def test_json_values_are_text(jobs):
    out, err, code = svctl("-d", jobs, "status", "--json")
    doc = json.loads(out)
    with open(os.path.join(os.path.dirname(__file__), "..", "docs", "svctl-status.schema.json")) as f:
        schema = json.load(f)
    check_schema(doc, schema, schema)
    by = {s["name"]: s for s in doc["services"]}
    assert by["n-waiting"]["knobs"] == {"fail-limit": "4 18", "schedule": "* * * * *"}
    assert by["q-junk"]["knobs"] == {"schedule": "every day"}
    assert [by[n]["scheduled"] for n in sorted(by)] == [True] * 4
    assert by["o-ran"]["skipped"] == 2 and by["o-ran"]["want"] == "once"
