"""Pure parts of the chain-loading tools: no processes."""

import errno
import os
import resource

import pytest

from svtools import _pathexec, envdir, softlimit

INF = resource.RLIM_INFINITY


@pytest.mark.parametrize("data,want", [
    (b"", None),                            # empty file: remove
    (b"\n", b""),                           # just a newline: set empty
    (b"value", b"value"),
    (b"value\nsecond line\n", b"value"),    # first line only
    (b"a b \t \t\n", b"a b"),               # trailing blanks trimmed
    (b" \tlead", b" \tlead"),               # leading ones kept
    (b"  \n", b""),
    (b"x\0y\0\n", b"x\ny\n"),               # NUL -> newline after trimming
    (b"x\0 \n", b"x\n"),
    (b"a\r\n", b"a\r"),                     # only space and tab are blanks
    (b"\0", b"\n"),
])
def test_envdir_value_rules(data, want):
    assert envdir.value(data) == want


@pytest.mark.parametrize("text,want", [
    ("=", None),
    ("", 0),
    ("0", 0),
    ("007", 7),
    ("100000000", 100000000),
    ("18446744073709551615", 2**64 - 1),
    ("18446744073709551617", 1),            # unsigned long wraps, as in 0.76
])
def test_softlimit_parse(text, want):
    assert softlimit.parse(text) == want


@pytest.mark.parametrize("text", ["x", "+5", "-5", " 5", "5 ", "5x", "1_000", "\u0663", "=="])
def test_softlimit_parse_rejects(text):
    with pytest.raises(ValueError):
        softlimit.parse(text)


@pytest.mark.parametrize("wanted,hard,want", [
    (None, 100, 100),       # "=" means the hard limit
    (None, INF, INF),
    (5, 100, 5),
    (500, 100, 100),        # clamped to the hard limit
    (5, INF, 5),
    (2**64 - 1, INF, INF),  # the largest value is "unlimited"
    (2**64 - 1, 100, 100),
    (0, 0, 0),
])
def test_softlimit_soft(wanted, hard, want):
    assert softlimit.soft(wanted, hard) == want


def test_softlimit_m_sets_four_resources_in_order():
    r = resource
    assert softlimit.RESOURCES["m"] == (r.RLIMIT_DATA, r.RLIMIT_STACK, r.RLIMIT_MEMLOCK, r.RLIMIT_AS)
    assert softlimit.RESOURCES["a"] == (r.RLIMIT_AS,)
    assert sorted(softlimit.RESOURCES) == list("acdflmoprst")


def test_env_set_fills_the_slot_with_the_last_entry():
    # What 0.76 gives for env -i X=1 A=q Y=2 B=3 Z=4 and files D (missing),
    # B (empty), A and C, in that directory order.
    env = {b"X": b"1", b"A": b"q", b"Y": b"2", b"B": b"3", b"Z": b"4"}
    for name, value in [("D", None), ("B", None), ("A", "a"), ("C", "x")]:
        _pathexec.env_set(env, name, value)
    assert list(env.items()) == [(b"X", b"1"), (b"Z", b"4"), (b"Y", b"2"), (b"A", b"a"), (b"C", b"x")]


def test_env_set_removing_a_name_with_equals_sets_it():
    env = {b"F": b"1", b"H": b"2"}
    _pathexec.env_set(env, "F=G", None)
    _pathexec.env_set(env, "H=I", b"val")
    assert list(env.items()) == [(b"F", b"G"), (b"H", b"I=val")]


def test_env_set_last_entry_removed_in_place():
    env = {b"A": b"1", b"B": b"2"}
    _pathexec.env_set(env, b"B", None)
    _pathexec.env_set(env, b"C", None)
    assert list(env.items()) == [(b"A", b"1")]


def test_run_empty_name_reports_errno(monkeypatch):
    # Nothing can be executed, so this returns instead of replacing pytest.
    monkeypatch.setitem(os.environb, b"PATH", b"/nonexistent-dir:/")
    assert _pathexec.run([""]) == errno.EACCES
    monkeypatch.setitem(os.environb, b"PATH", b"/nonexistent-dir")
    assert _pathexec.run([""]) == errno.ENOENT


def test_run_searches_our_path_not_the_childs(monkeypatch, tmp_path):
    # Only the child's PATH holds "prog", and not executable, so nothing can
    # run: EACCES would mean the child's PATH was searched.
    (tmp_path / "theirs").mkdir()
    (tmp_path / "ours").mkdir()
    (tmp_path / "theirs" / "prog").write_text("")
    monkeypatch.setitem(os.environb, b"PATH", os.fsencode(tmp_path / "ours"))
    assert _pathexec.run(["prog"], {b"PATH": os.fsencode(tmp_path / "theirs")}) == errno.ENOENT
