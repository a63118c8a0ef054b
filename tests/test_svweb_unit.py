"""svweb's pure parts: the auth file, password hashes, listen and Host rules, names."""

import hashlib
import os

import pytest

from svtools import _svweb_auth as A
from svtools import _svweb_model as M

HASH = A.hash_password("s3cret pass", params=(1 << 10, 8, 1))
TOKEN = "t" * 40


def test_hash_round_trip_and_wrong_password():
    auth = A.parse("user alice %s\n" % HASH)
    assert A.check_password(auth, "alice", "s3cret pass")
    assert not A.check_password(auth, "alice", "s3cret pas")
    assert not A.check_password(auth, "alice", "")
    assert not A.check_password(auth, "bob", "s3cret pass")


def test_hash_is_salted():
    assert A.hash_password("x", params=(4, 1, 1)) != A.hash_password("x", params=(4, 1, 1))


def test_unknown_user_costs_the_same_scrypt(monkeypatch):
    """No user-name oracle: a missing user runs scrypt with the real
    parameters (the timing itself is measured in bench/svweb.py)."""
    calls = []
    real = hashlib.scrypt

    def spy(password, **kw):
        calls.append((kw["n"], kw["r"], kw["p"]))
        return real(password, **kw)

    auth = A.parse("user alice %s\n" % HASH)
    monkeypatch.setattr(A.hashlib, "scrypt", spy)
    A.check_password(auth, "alice", "nope")
    A.check_password(auth, "mallory", "nope")
    assert calls == [(1 << 10, 8, 1)] * 2


def test_tokens_compare_whole():
    auth = A.parse("token %s\n# comment\n\n" % TOKEN)
    assert A.check_token(auth, TOKEN)
    assert not A.check_token(auth, TOKEN[:-1])
    assert not A.check_token(auth, TOKEN + "t")
    assert not A.check_token(auth, "")


@pytest.mark.parametrize("text,why", [
    ("", "no token and no user"),
    ("token short\n", "line 1: token shorter"),
    ("user bob plain\n", "line 1: not an scrypt"),
    ("user bob scrypt$3$8$1$AA==$AA==\n", "out of range"),
    ("token %s\nwhat is this\n" % TOKEN, "line 2: expected"),
    ("user bob scrypt$16384$8$1$AA==$AAAA\n", "line 1: hash is not 32 bytes"),
])
def test_auth_file_junk_is_refused(text, why):
    with pytest.raises(A.AuthError) as e:
        A.parse(text)
    assert why in str(e.value)


def test_auth_file_mode_must_be_0600(tmp_path):
    path = tmp_path / "auth"
    path.write_text("token %s\n" % TOKEN)
    for mode in (0o644, 0o640, 0o604, 0o660):
        os.chmod(path, mode)
        with pytest.raises(A.AuthError, match="must be 0600"):
            A.load(str(path))
    os.chmod(path, 0o600)
    assert A.load(str(path))["tokens"] == [TOKEN]
    os.chmod(path, 0o400)
    assert A.load(str(path))["tokens"] == [TOKEN]


def test_auth_file_symlink_and_directory_refused(tmp_path):
    real = tmp_path / "real"
    real.write_text("token %s\n" % TOKEN)
    os.chmod(real, 0o600)
    os.symlink(real, tmp_path / "link")
    with pytest.raises(OSError):
        A.load(str(tmp_path / "link"))
    (tmp_path / "dir").mkdir(mode=0o700)
    with pytest.raises(A.AuthError, match="not a regular file"):
        A.load(str(tmp_path / "dir"))


@pytest.mark.parametrize("text,addr,port,loop", [
    ("127.0.0.1:9001", "127.0.0.1", 9001, True),
    ("127.3.4.5:80", "127.3.4.5", 80, True),
    ("localhost:9001", "127.0.0.1", 9001, True),
    ("[::1]:9001", "::1", 9001, True),
    ("0.0.0.0:9001", "0.0.0.0", 9001, False),
    ("[::]:9001", "::", 9001, False),
    ("192.0.2.7:9001", "192.0.2.7", 9001, False),
])
def test_listen_addresses(text, addr, port, loop):
    assert A.parse_listen(text) == (addr, port)
    assert A.is_loopback(addr) is loop


@pytest.mark.parametrize("text", ["9001", "127.0.0.1", "127.0.0.1:0x10", "127.0.0.1:70000",
                                  "example.com:80", ":80", "[::1:80"])
def test_listen_junk(text):
    with pytest.raises(ValueError):
        A.parse_listen(text)


@pytest.mark.parametrize("host,ok", [
    ("localhost", True), ("localhost:9001", True), ("127.0.0.1:9001", True),
    ("127.8.0.1", True), ("[::1]:9001", True), ("LOCALHOST:1", True),
    ("evil.example", False), ("evil.example:9001", False), ("10.0.0.1:9001", False),
    ("localhost.evil.example", False), ("", False), ("[::1", False),
    ("127.0.0.1.evil.example:9001", False),
])
def test_host_header_must_name_loopback(host, ok):
    assert A.loopback_host(host) is ok


@pytest.mark.parametrize("name,ok", [
    ("web", True), ("two words", True), ("caf\u00e9", True), ("a" * 255, True),
    ("", False), (".", False), ("..", False), (".hidden", False), ("a/b", False),
    ("/", False), ("a\0b", False), ("a" * 256, False), ("\ud800", False),
    ("x\udcff", True),
])
def test_plain_names(name, ok):
    assert A.plain_name(name) is ok


def test_durations_sizes_and_exits_in_svctl_words():
    from svtools import _svctl_format as F
    assert [M._duration(s) for s in (None, 0, 59.9, 61, 3600, 90061)] == \
        ["", "0s", "59s", "1m01s", "1h00m", "1d01h"]
    assert [M._duration(s) for s in (0, 59.9, 61, 3600, 90061)] == \
        [F.duration(s) for s in (0, 59.9, 61, 3600, 90061)]
    three = {"code": 3, "signal": 0, "at": 100.0, "ran": 1.0}
    assert M._exit(three, 130.0) == F.exit_text(three, 130.0) == "exit 3, 30s ago"
    assert M._exit({"code": 256, "signal": 15, "at": 0, "ran": 1.0}, 130.0) == "SIGTERM"
    assert M._exit(None, 130.0) == ""


def _stopped(code, sig=0, failed_by="finish", **more):
    """A snapshot of a service supervise keeps down after one run."""
    from svtools import _svinfo
    snap = _svinfo._blank(b"/scan/one", 1000.0)
    snap.update(supervised=True, source="xstatus", state="failed", want="down",
                failed_by=failed_by, since=995.0, uptime=5.0, restarts=0, starts=1,
                exit={"code": code, "signal": sig, "at": 995.0, "ran": 3.25}, **more)
    return snap


@pytest.mark.parametrize("snap,word,text,last,wanted", [
    (_stopped(0), "exited", "exited (last exit 0 after 3.2s; kept down by ./finish)",
     "exit 0, 5s ago", 0),
    (_stopped(3), "failed", "failed (./finish exited 125; last exit 3 after 3.2s)",
     "exit 3, 5s ago", 3),
    (_stopped(256, 9), "failed", "failed (./finish exited 125; last SIGKILL after 3.2s)",
     "SIGKILL, 5s ago", 3),
    (_stopped(0, failed_by="fail-limit", fails=1, fail_limit=1, fail_secs=60), "failed",
     "failed (fail-limit reached: 1 exit within 60s; last exit 0 after 3.2s)", "exit 0, 5s ago", 3),
])
def test_svweb_and_svctl_say_the_same_of_a_stopped_run(snap, word, text, last, wanted):
    """svctl's table, show and control lines and svweb's row agree: a clean
    exit kept down by ./finish is "exited", the rest "failed"; the uptime
    cell is the time since it went down in both."""
    from svtools import _svctl_control as C, _svctl_format as F, _svinfo
    js = _svinfo.to_json(snap)
    assert js["exited_clean"] is (word == "exited")
    row = M.rows_of("one", js, 1000.0)[0]
    assert (row["state"], row["state_text"]) == (word, text)
    assert C.describe(snap) == text
    cells = F.row("one", snap, 1000.0)
    assert cells[1] == word and cells[3] == row["uptime"] == "5s"
    assert cells[5] == row["last_exit"] == last
    assert F.show("one", snap, 1000.0, None, "no log").startswith(
        "one: %s\n" % (text if word == "exited" else "failed"))
    assert _svinfo.wanted(snap) == wanted


def test_board_shares_snapshots_and_refreshes_behind(tmp_path):
    """TTL: the same snapshot; up to STALE past it: the old one at once while
    a new one is read; invalidate(): a scan that sees what changed."""
    import asyncio
    (tmp_path / "a").mkdir()
    now = [100.0]
    board = M.Board(str(tmp_path), ttl=0.5, stale=1.0, clock=lambda: now[0])

    async def run():
        first = await board.snapshot()
        assert [s["name"] for s in first.services] == ["a"] and board.scans == 1
        now[0] += 0.4
        assert await board.snapshot() is first
        (tmp_path / "b").mkdir()
        now[0] += 0.5                       # stale: answered at once, refreshed behind
        assert await board.snapshot() is first
        await board._pending[1]
        assert board.scans == 2
        second = await board.snapshot()
        assert second is not first and [s["name"] for s in second.services] == ["a", "b"]
        (tmp_path / "c").mkdir()
        board.invalidate()                  # after a control: wait for a new read
        third = await board.snapshot()
        assert [s["name"] for s in third.services] == ["a", "b", "c"]
        now[0] += 5                         # too old to serve: wait
        assert (await board.snapshot()) is not third
        assert board.scans == 4

    asyncio.run(run())
