"""A one-shot (./finish exits 125, svimport's autorestart=false) under a real
svscan: a run that exits 0 is shown "exited" by svctl status, show, --json
and svweb, in the same words; one that exits 3 stays "failed"."""

import json
import os
import re

import pytest

import helpers
from helpers import prog, wait_for, write_script
from svwebkit import Scan, Web, service
from test_svinfo import check_schema

def svctl(scan, *args):
    cp = helpers.run([prog("svctl"), "-d", str(scan.dir)] + list(args))
    return cp.stdout.decode(), cp.stderr.decode(), cp.returncode


@pytest.fixture
def world(procs, tmp_path):
    scan = Scan(procs, tmp_path)
    for name, body in (("done", "echo $$ > ran\nexit 0\n"), ("broke", "echo $$ > ran\nexit 3\n"),
                       ("steady", "exec sleep 1000\n")):
        d = service(scan.dir, name, body, log=False)
        if name != "steady":
            write_script(d / "finish", "exit 125\n")
    for name in ("done", "broke", "steady"):
        wait_for(lambda: scan.svok(name), 20, what="supervise on " + name)
    for name in ("done", "broke"):
        wait_for(lambda: json.loads(svctl(scan, "status", "--json", name)[0])["services"][0]["state"]
                 == "failed", 20, what=name + " kept down by ./finish")
    web = Web(procs, tmp_path, scan.dir)
    try:
        yield scan, web
    finally:
        web.close()
        scan.close()


def test_clean_exit_is_exited_and_code_3_is_failed(world):
    scan, web = world
    out, err, code = svctl(scan, "status", "--json")
    doc = json.loads(out)
    with open(os.path.join(os.path.dirname(__file__), "..", "docs", "svctl-status.schema.json")) as f:
        schema = json.load(f)
    check_schema(doc, schema, schema)
    by = {s["name"]: s for s in doc["services"]}
    # supervise's word stays; exited_clean tells the two apart
    assert [(by[n]["state"], by[n]["exited_clean"], by[n]["failed_reason"]) for n in ("done", "broke")] == [
        ("failed", True, "./finish exited 125"), ("failed", False, "./finish exited 125")]
    assert by["steady"]["exited_clean"] is False
    assert (err, code) == ("", 3)  # broke is not where it should be
    assert svctl(scan, "status", "done", "steady")[2] == 0
    assert svctl(scan, "status", "broke")[2] == 3

    rows = {line.split()[0]: line for line in svctl(scan, "status")[0].splitlines()[1:]}
    assert re.match(r"done +exited +- +\d+s +0 +exit 0, \d+s ago ", rows["done"]), rows
    assert re.match(r"broke +failed +- +\d+s +0 +exit 3, \d+s ago ", rows["broke"]), rows

    said = {}
    for name, code in (("done", 0), ("broke", 3)):
        out, err, got = svctl(scan, "show", name)
        assert (err, got) == ("", code), out
        said[name] = out.splitlines()[0]
    assert re.fullmatch(r"done: exited \(last exit 0 after \d\.\ds; kept down by \./finish\)", said["done"])
    assert said["broke"] == "broke: failed"
    assert "  failed           ./finish exited 125, down until svctl start" in svctl(scan, "show", "broke")[0]

    # svweb's board says what svctl says, word for word
    status, _, page = web.get("/")
    assert status == 200
    page = page.decode()
    from svtools import _svinfo
    for name in ("done", "broke"):
        words = _svinfo.verdict(_svinfo.read(str(scan.dir / name)))
        assert words.startswith({"done": "exited (last exit 0", "broke": "failed (./finish"}[name])
        assert ('<span class="badge %s">%s</span>' % (words.split()[0], words)) in page, page
    cells = re.findall(r'data-label="(uptime|last exit)">([^<]*)<', page)
    uptimes = [t for k, t in cells if k == "uptime"]
    exits = [t for k, t in cells if k == "last exit"]
    # rows sorted: broke, done, steady; down ones have an uptime too (the
    # time since they went down), as in svctl's table
    assert len(uptimes) == 3 and all(re.fullmatch(r"\d+s", t) for t in uptimes), cells
    assert re.fullmatch(r"exit 3, \d+s ago", exits[0]) and re.fullmatch(r"exit 0, \d+s ago", exits[1]), cells


def test_add_of_a_one_shot_that_already_exited_is_done(world, tmp_path):
    scan, web = world
    src = tmp_path / "oneshot"
    src.mkdir()
    write_script(src / "run", "exit 0\n")
    write_script(src / "finish", "exit 125\n")
    out, err, code = svctl(scan, "add", str(src))
    # seen while it ran ("up"), or already done: both are success
    assert re.fullmatch(r"oneshot: added: (up \(pid \d+\)|exited \(last exit 0 after \d\.\ds; "
                        r"kept down by \./finish\))\n", out) and (err, code) == ("", 0), (out, err, code)
    wait_for(lambda: svctl(scan, "status", "oneshot")[0].split("\n")[1].split()[1] == "exited", 20,
             what="oneshot shown exited")
    assert svctl(scan, "status", "oneshot")[2] == 0


def test_start_of_a_one_shot_that_exits_0_is_done_and_of_one_that_exits_3_fails(world):
    # svctl start runs the one-shot again: exit 0 is what it was started
    # for (exit 0, "exited"); exit 3 is a failed start (exit 1), whichever
    # the settle or ./finish says first
    scan, web = world
    for _ in range(2):      # a second time: supervise's one-second throttle
        out, err, code = svctl(scan, "start", "done")
        assert re.fullmatch(r"done: exited \(last exit 0 after \d\.\ds; kept down by \./finish\)\n",
                            out) and (err, code) == ("", 0), (out, err, code)
    out, err, code = svctl(scan, "start", "broke")
    assert out.startswith("broke: failed (./finish exited 125; last exit 3 after ") and code == 1, out
