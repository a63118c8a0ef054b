"""_svinfo, the shared reader: crafted service directories (live FIFOs held
open by the test stand in for supervise) and xstatus files made with
_xstatus.pack."""

import json
import os

import pytest

from clientkit import Zoo, status_bytes
from svtools import _status, _svinfo, _xstatus


@pytest.fixture
def zoo(tmp_path):
    z = Zoo(tmp_path)
    yield z
    z.close()


def put(d, name, data):
    with open(os.path.join(os.fsencode(d), os.fsencode(name)), "wb") as f:
        f.write(data)


def test_service_names(tmp_path):
    for name in ("b", "a", ".hidden", "c d", "x\xff"):
        os.mkdir(os.path.join(os.fsencode(str(tmp_path)), os.fsencode(name)))
    put(str(tmp_path), "plainfile", b"")
    os.symlink("/nonexistent/svc", os.path.join(str(tmp_path), "dangling"))
    os.symlink(os.path.join(str(tmp_path), "a"), os.path.join(str(tmp_path), "link"))
    os.symlink(os.path.join(str(tmp_path), "plainfile"), os.path.join(str(tmp_path), "filelink"))
    os.symlink("loop", os.path.join(str(tmp_path), "loop"))
    assert _svinfo.service_names(str(tmp_path)) == [b"a", b"b", b"c d", b"dangling", b"link", b"loop",
                                                    os.fsencode("x\xff")]


def test_service_names_missing_dir(tmp_path):
    with pytest.raises(OSError):
        _svinfo.service_names(str(tmp_path / "nope"))


@pytest.mark.parametrize("age,pid,paused,want,down,state", [
    (50, 1234, 0, _status.WANT_UP, False, "up"),
    (50, 1234, 1, _status.WANT_UP, False, "paused"),
    (50, 1234, 0, _status.WANT_DOWN, False, "stopping"),
    (50, 0, 0, _status.WANT_DOWN, False, "down"),
    (50, 0, 0, _status.WANT_NONE, False, "down"),
    (0, 0, 0, _status.WANT_UP, False, "down"),
    (50, 1234, 0, _status.WANT_NONE, True, "up"),
])
def test_state_from_076_status(zoo, age, pid, paused, want, down, state):
    d = zoo.make("s", status=status_bytes(age=age, pid=pid, paused=paused, want=want), down=down)
    snap = _svinfo.read(d)
    assert snap["error"] is None
    assert snap["supervised"] and snap["source"] == "status"
    assert snap["state"] == state
    assert snap["pid"] == pid
    assert snap["normally"] == ("down" if down else "up")
    assert snap["want"] == {_status.WANT_UP: "up", _status.WANT_DOWN: "down", 0: "once"}[want]
    assert age <= snap["uptime"] < age + 2
    assert snap["restarts"] is None and snap["exit"] is None
    assert snap["log"] is None


def test_unsupervised_and_missing(zoo, tmp_path):
    dead = zoo.make("dead", status=status_bytes(), ok="dead")
    assert _svinfo.read(dead)["state"] == "unsupervised"
    bare = os.path.join(str(tmp_path), "bare")
    os.mkdir(bare)
    snap = _svinfo.read(bare)
    assert (snap["state"], snap["supervised"], snap["error"]) == ("unsupervised", False, None)
    assert _svinfo.wanted(snap) == 4
    snap = _svinfo.read(os.path.join(str(tmp_path), "nothere"))
    assert snap["state"] == "unknown"
    assert snap["error"] == "unable to open %s/nothere: file does not exist" % tmp_path


def test_broken_files_give_one_line(zoo):
    short = _svinfo.read(zoo.make("short", status=b"\0" * 10))
    assert short["error"] == "unable to read supervise/status: bad format"
    assert short["state"] == "unknown" and _svinfo.wanted(short) == 4
    okfile = _svinfo.read(zoo.make("okfile", status=status_bytes(), ok="file"))
    assert okfile["error"] == "supervise/ok is not a fifo"
    nostatus = _svinfo.read(zoo.make("nostatus"))
    assert nostatus["error"] == "unable to read supervise/status: file does not exist"
    d = zoo.make("junkx", status=status_bytes(age=9, pid=77))
    put(os.path.join(d, b"supervise"), "xstatus", b"garbage\n")
    junk = _svinfo.read(d)
    assert junk["error"] == "unable to read supervise/xstatus: not an svtools xstatus file"
    assert junk["state"] == "up" and junk["source"] == "status"


def xfile(d, exits=(), **fields):
    put(os.path.join(d, b"supervise"), "xstatus", _xstatus.pack(fields))
    if exits is not None:
        put(os.path.join(d, b"supervise"), "exits", _xstatus.pack_exits(exits))


def test_xstatus_fields(zoo):
    import time
    now = time.time()
    d = zoo.make("x", status=status_bytes(age=30, pid=4242))
    exits = [(now - 100, 4000, 1, 0, 0.5), (now - 31, 4100, 256, 15, 69.0)]
    xfile(d, exits, state="ready", pid=4242, since=now - 30, ready_since=now - 29,
          starts=3, exit_code=256, exit_signal=15, exit_at=now - 31, exit_ran=69.0,
          note=b"all good\n")
    put(d, "timeout-kill", b"500\n")
    put(d, "down-signal", b"SIGHUP\nignored second line")
    put(d, "finish", b"#!/bin/sh\n")
    snap = _svinfo.read(d)
    assert snap["source"] == "xstatus" and snap["error"] is None
    assert snap["state"] == "ready" and snap["pid"] == 4242
    assert snap["restarts"] == 2
    assert snap["exit"] == {"code": 256, "signal": 15, "at": pytest.approx(now - 31), "ran": 69.0}
    assert len(snap["exits"]) == 2 and snap["exits"][0][1] == 4000
    assert snap["knobs"] == {"timeout-kill": b"500", "down-signal": b"SIGHUP", "finish": b""}
    assert snap["note"] == b"all good\n"
    assert 29 < snap["uptime"] < 32
    assert not snap["crash_loop"]
    assert _svinfo.wanted(snap) == 0


@pytest.mark.parametrize("state,since_ago,waiting,ran,loop", [
    ("down", 0.3, True, (0.1, 0.1, 0.2), True),
    ("up", 0.5, False, (0.1, 0.1, 0.2), True),
    ("starting", 0.5, False, (0.1, 0.1, 0.2), True),
    ("up", 10, False, (0.1, 0.1, 0.2), False),    # it has stayed up since
    ("down", 0.3, True, (0.1, 0.2), False),       # two short runs are not yet a loop
    ("down", 0.3, True, (0.1, 0.1, 30.0), False),
    ("down", 0.3, False, (0.1, 0.1, 0.1), False),  # not waiting to start again
    ("failed", 5, False, (0.1, 0.1, 0.1), False),  # failed is its own state
])
def test_crash_loop_from_exits(zoo, state, since_ago, waiting, ran, loop):
    import time
    now = time.time()
    pid = 0 if state in ("down", "failed") else 99
    d = zoo.make("c", status=status_bytes(pid=pid))
    xfile(d, [(now - 3 + i, i + 1, 1, 0, r) for i, r in enumerate(ran)],
          state=state, pid=pid, since=now - since_ago, starts=5,
          next_start=now + 0.5 if waiting else 0)
    snap = _svinfo.read(d)
    assert snap["crash_loop"] is loop
    assert _svinfo.wanted(snap) == (0 if state == "up" and not loop else 3)


def test_stale_xstatus_is_ignored(zoo):
    d = zoo.make("stale", status=status_bytes(age=5, pid=555))
    xfile(d, state="down", pid=0)  # pid disagrees: C supervise runs it now
    snap = _svinfo.read(d)
    assert (snap["source"], snap["state"], snap["pid"]) == ("status", "up", 555)
    d = zoo.make("old", status=status_bytes(age=5, pid=0, want=_status.WANT_DOWN))
    xfile(d, state="failed", pid=0)
    past = os.stat(os.path.join(d, b"supervise", b"status")).st_mtime - 60
    os.utime(os.path.join(d, b"supervise", b"xstatus"), (past, past))
    assert _svinfo.read(d)["state"] == "down"


def test_reader_between_status_and_xstatus_reads_again(zoo, monkeypatch):
    # A command that changes neither pid nor want (a second svc -d while a
    # process group outlives its leader): supervise has rewritten status,
    # not yet xstatus, which is seconds old.  Not a leftover: read again.
    import time
    d = zoo.make("between", status=status_bytes(age=5, pid=0, want=_status.WANT_DOWN))
    xfile(d, state="stopping", pid=0, pgid=4242, want="down")
    xpath = os.path.join(d, b"supervise", b"xstatus")
    past = os.stat(os.path.join(d, b"supervise", b"status")).st_mtime - 5
    os.utime(xpath, (past, past))
    waits = []

    def supervise_writes_xstatus(secs):
        waits.append(secs)
        os.utime(xpath, None)

    monkeypatch.setattr(time, "sleep", supervise_writes_xstatus)
    snap = _svinfo.read(d)
    assert (snap["source"], snap["state"], snap["pgid"]) == ("xstatus", "stopping", 4242)
    assert len(waits) == 1


def test_crash_loop_with_prev_076(zoo):
    d = zoo.make("loop", status=status_bytes(age=0, pid=100))
    first = _svinfo.read(d)
    assert first["ambiguous"] and not first["crash_loop"]
    put(os.path.join(d, b"supervise"), "status", status_bytes(age=0, pid=101))
    again = _svinfo.read(d, prev=first)
    assert again["crash_loop"] and not again["ambiguous"]
    assert _svinfo.wanted(again) == 3
    # A fresh start that stays: same pid, same stamp.
    d2 = zoo.make("fresh", status=status_bytes(age=0, pid=200))
    first = _svinfo.read(d2)
    assert not _svinfo.read(d2, prev=first)["crash_loop"]


def test_log_snapshot(zoo):
    d = zoo.make("svc", status=status_bytes(age=3, pid=1))
    zoo.make("svc/log", status=status_bytes(age=3, pid=0, want=_status.WANT_UP), ok="dead")
    snap = _svinfo.read(d)
    assert snap["log"]["state"] == "unsupervised"
    assert snap["log"]["name"] == b"log"
    assert _svinfo.wanted(snap) == 4


def test_wanted_codes(zoo):
    up = _svinfo.read(zoo.make("up", status=status_bytes(age=9, pid=5)))
    down = _svinfo.read(zoo.make("dn", status=status_bytes(age=9, pid=0, want=_status.WANT_DOWN)))
    stopping = _svinfo.read(zoo.make("st", status=status_bytes(age=9, pid=5, want=_status.WANT_DOWN)))
    once = _svinfo.read(zoo.make("on", status=status_bytes(age=9, pid=0, want=0)))
    assert [_svinfo.wanted(s) for s in (up, down, stopping, once)] == [0, 0, 3, 0]


@pytest.mark.parametrize("name", [b"plain", b"with space", b"new\nline", b"caf\xc3\xa9",
                                  b"bad\xff\xfe", b"back\\slash", b"tab\there", b"\x1b[31m"])
def test_display_roundtrip(name):
    shown = _svinfo.display(name)
    assert isinstance(shown, str)
    assert shown.isprintable() and " " not in shown and "\n" not in shown
    assert _svinfo.argument(shown) == name
    shown.encode("utf-8")  # always encodable


def test_display_forms():
    assert _svinfo.display(b"with space") == "with\\x20space"
    assert _svinfo.display(b"caf\xc3\xa9") == "caf\u00e9"
    assert _svinfo.display(b"x\xff") == "x\\xff"
    with pytest.raises(ValueError):
        _svinfo.argument("bad\\xzz")
    with pytest.raises(ValueError):
        _svinfo.argument("bad\\q")


def test_control(zoo, tmp_path):
    d = zoo.make("live")
    assert _svinfo.control(d, "du") is None
    assert zoo.received("live") == b"du"
    dead = zoo.make("dead", control="dead")
    assert _svinfo.control(dead, "u") == "unable to control %s: supervise not running" % dead.decode()
    f = zoo.make("file", control="file")
    assert _svinfo.control(f, "u") == "unable to control %s: control is not a fifo" % f.decode()
    assert os.path.getsize(os.path.join(f, b"supervise", b"control")) == 0
    ln = zoo.make("ln", control=None)
    os.symlink(os.path.join(d, b"supervise", b"control"), os.path.join(ln, b"supervise", b"control"))
    assert _svinfo.control(ln, "x") == "unable to control %s: control is a symlink" % ln.decode()
    assert zoo.received("live") == b""
    none = zoo.make("none", control=None)
    assert _svinfo.control(none, "u").endswith(": file does not exist")


def test_to_json_schema(zoo):
    import time
    d = zoo.make("j\udcff", status=status_bytes(age=3, pid=42))
    zoo.make("j\udcff/log", status=status_bytes(age=3, pid=43))
    xfile(d, [(time.time() - 5, 41, 2, 0, 1.5)], state="up", pid=42, since=time.time() - 3,
          starts=2, exit_code=2, exit_at=time.time() - 5, exit_ran=1.5, note=b"n\xff")
    put(d, "timeout-kill", b"7\xff")
    out = _svinfo.to_json(_svinfo.read(d))
    text = json.dumps(out)
    back = json.loads(text)
    with open(os.path.join(os.path.dirname(__file__), "..", "docs", "svctl-status.schema.json")) as f:
        schema = json.load(f)
    check_schema(back, schema["$defs"]["service"], schema)
    assert back["name"] == "j\\xff" and back["knobs"] == {"timeout-kill": "7\\xff"}
    assert back["exits"] == [{"at": pytest.approx(time.time() - 5, abs=2), "pid": 41, "code": 2,
                              "signal": 0, "ran": 1.5,
                              "asked": None}]
    assert back["log"]["pid"] == 43 and back["log"]["log"] is None


def check_schema(value, schema, root):
    """The subset of JSON Schema that docs/svctl-status.schema.json uses."""
    if "$ref" in schema:
        schema = root["$defs"][schema["$ref"].rsplit("/", 1)[-1]]
    types = schema.get("type")
    if types is not None:
        types = types if isinstance(types, list) else [types]
        kinds = {"null": type(None), "boolean": bool, "string": str, "object": dict, "array": list}
        ok = False
        for t in types:
            if t == "integer":
                ok |= isinstance(value, int) and not isinstance(value, bool)
            elif t == "number":
                ok |= isinstance(value, (int, float)) and not isinstance(value, bool)
            else:
                ok |= isinstance(value, kinds[t])
        assert ok, (value, types)
    if "enum" in schema:
        assert value in schema["enum"], (value, schema["enum"])
    if isinstance(value, dict) and "properties" in schema:
        for key in schema.get("required", []):
            assert key in value, key
        if schema.get("additionalProperties") is False:
            assert set(value) <= set(schema["properties"]), set(value) - set(schema["properties"])
        for key, sub in schema["properties"].items():
            if key in value:
                check_schema(value[key], sub, root)
    if isinstance(value, dict) and isinstance(schema.get("additionalProperties"), dict):
        for v in value.values():
            check_schema(v, schema["additionalProperties"], root)
    if isinstance(value, list) and "items" in schema:
        for v in value:
            check_schema(v, schema["items"], root)
    for sub in schema.get("anyOf", []):
        try:
            check_schema(value, sub, root)
            break
        except AssertionError:
            continue
    else:
        if "anyOf" in schema:
            raise AssertionError("no anyOf branch matches %r" % (value,))


def test_json_none_is_null(zoo):
    """xstatus writes 0 for "none"; the JSON says null, as documented."""
    import time
    d = zoo.make("n", status=status_bytes(age=3, pid=42))
    xfile(d, state="up", pid=42, since=time.time() - 3, starts=1)
    back = _svinfo.to_json(_svinfo.read(d))
    assert (back["ready_since"], back["next_start"], back["next_fire"]) == (None, None, None)
    xfile(d, state="ready", pid=42, since=time.time() - 3, ready_since=time.time() - 2, starts=1)
    assert _svinfo.to_json(_svinfo.read(d))["ready_since"] > 0


@pytest.mark.parametrize("sigs,knob,loop", [
    ((0, 0, 0), None, True),
    ((15, 15, 15), None, False),     # three stops by the operator (d: TERM)
    ((0, 9, 0), None, False),        # one of them a kill (k, timeout-kill)
    ((1, 1, 1), b"HUP\n", False),    # the service's down-signal
    ((1, 1, 1), None, True),         # HUP it got from nobody we know of
    ((11, 11, 11), b"SIGHUP", True),  # segfaults are crashes
])
def test_operator_exits_are_no_crash_loop(zoo, sigs, knob, loop):
    import time
    now = time.time()
    d = zoo.make("o", status=status_bytes(pid=99))
    xfile(d, [(now - 3 + i, i + 1, 256 if s else 1, s, 0.2) for i, s in enumerate(sigs)],
          state="up", pid=99, since=now - 0.5, starts=4)
    if knob:
        put(d, "down-signal", knob)
    assert _svinfo.read(d)["crash_loop"] is loop
