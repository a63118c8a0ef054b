"""Pure tests: multilog's script parsing, pattern matching and cut planning."""

import pytest

from svtools import _multilog_policy as ms
from svtools._multilog_policy import PUT, STREAM


def test_dispatch_on_first_character_only():
    s = ms.parse(["tfoo", "-x", "+y", "eXYZ", "=st", "s5000", "n3", "!gzip", "./a",
                  "bogus", "main", "t", "/b", ""])
    assert s.timestamp
    assert s.actions == [("-", b"x"), ("+", b"y"), ("e", None), ("=", 0), ("d", 0), ("d", 1)]
    assert s.status == ["st"]
    assert [(d.path, d.size, d.num, d.processor) for d in s.dirs] == [
        ("./a", 5000, 3, "gzip"), ("/b", 5000, 3, "gzip")]
    assert not s.simple


def test_t_counts_only_first():
    assert not ms.parse(["./a", "t"]).timestamp
    assert ms.parse(["t", "./a"]).simple


@pytest.mark.parametrize("arg,size", [("s", 4096), ("s4095", 4096), ("s4096", 4096),
                                      ("s12x", 4096), ("s99999", 99999),
                                      ("s16777215", 16777215), ("s16777216", 16777215),
                                      ("s18446744073709551617", 4096)])
def test_size_clamp(arg, size):
    assert ms.parse([arg, "./d"]).dirs[0].size == size


@pytest.mark.parametrize("arg,num", [("n", 2), ("n0", 2), ("n1", 2), ("n2", 2), ("n3", 3), ("n7z", 7)])
def test_num_minimum(arg, num):
    assert ms.parse([arg, "./d"]).dirs[0].num == num


def test_settings_apply_only_to_later_dirs():
    s = ms.parse(["./a", "s5000", "n4", "!", "./b"])
    assert (s.dirs[0].size, s.dirs[0].num, s.dirs[0].processor) == (99999, 10, None)
    assert (s.dirs[1].size, s.dirs[1].num, s.dirs[1].processor) == (5000, 4, "")


# The table of the research note, from the original match routine.
VECTORS = [
    ("one", ["one"], ["", "on", "onf", "one*", "onetwo"]),
    ("", [""], ["x"]),
    ("*", ["", "x", "*", "one"], []),
    ("one*", ["one", "one*", "onetwo"], ["", "x", "on", "onf"]),
    ("* one", [" one", "x one", "* one", "xy one"], ["one", " two", "  one", "xy one "]),
    ("* * one", ["  one", "x  one", " y one", "x y one"], ["one", " one", "   one"]),
    ("*hello", ["hello"], ["hellohello", "helloXhello"]),
    ("named[*]: Cleaned cache *", ["named[135]: Cleaned cache of 3121 RRs"], []),
    ("a**b", ["a*b", "a**b"], ["ab", "aXb"]),
]


@pytest.mark.parametrize("pattern,yes,no", VECTORS)
def test_match_vectors(pattern, yes, no):
    for line in yes:
        assert ms.match(pattern.encode(), line.encode()), (pattern, line)
    for line in no:
        assert not ms.match(pattern.encode(), line.encode()), (pattern, line)


def _lines_units(lines, start=0):
    """OUT and UNITS for short lines read in one go starting at input START."""
    out = b"".join(lines)
    units = []
    pos = start
    for line in lines:
        pos += len(line)
        units += [(PUT, len(line) - 1, pos - 1), (PUT, 1, pos - 1)]
    return out, units


def _sizes(out, units, size):
    """Sizes of the files cut from OUT, and what is left in current."""
    files = []
    cuts, b = ms.plan(out, units, 0, size)
    prev = 0
    for c in cuts:
        files.append(c - prev)
        prev = c
    return files, b


def test_plan_51_byte_lines_cut_like_c():
    # C multilog: 300 lines of 51 bytes, s4096 -> six files of 2550 bytes.
    out, units = _lines_units([b"%050d\n" % i for i in range(300)])
    files, left = _sizes(out, units, 4096)
    assert files == [2550] * 6 and left == 0


def test_plan_hard_cut_without_newline():
    # 10000 bytes without a newline (one newline added at the end): 4096 + 4096 + 1809.
    data = b"x" * 10000 + b"\n"
    units = [(PUT, 1000, 999), (STREAM, 9000, 1000), (PUT, 1, 0)]
    cuts, left = ms.plan(data, units, 0, 4096)
    assert cuts == [4096, 8192] and left == 1809


def test_plan_far_from_window_writes_without_cut():
    out, units = _lines_units([b"abc\n"] * 100)
    assert ms.plan(out, units, 0, 99999) == ([], 400)


def test_plan_rotates_first_when_full():
    assert ms.plan(b"ab\n", [(PUT, 2, 0), (PUT, 1, 0)], 4096, 4096) == ([0], 3)


# ---- letters added since 0.76 ----

@pytest.mark.parametrize("args,tai,iso", [
    (["T", "./a"], False, True), (["t", "T", "./a"], True, True), (["T", "t", "./a"], True, True),
    (["tfoo", "T", "./a"], True, True), (["./a", "t"], False, False), (["T", "./a", "t"], False, True),
])
def test_stamps_lead_the_script(args, tai, iso):
    s = ms.parse(args)
    assert (s.timestamp, s.iso) == (tai, iso)


def test_new_settings_apply_to_later_dirs_and_can_be_turned_off():
    s = ms.parse(["./a", "R3600", "d", "z", "./b", "R0", "d0", "z9", "./c", "z0", "d1", "./d"])
    assert [(d.age, d.daily, d.gzip) for d in s.dirs] == [
        (0, False, 0), (3600, True, 6), (0, False, 9), (0, True, 0)]


def test_stdout_is_a_sink_among_the_dirs():
    s = ms.parse(["./a", "-*", "1", "+*", "1", "./b"])
    assert s.sinks[1] is ms.STDOUT and s.sinks[2] is ms.STDOUT
    assert [d.path for d in s.dirs] == ["./a", "./b"]
    assert s.actions[1:] == [("-", b"*"), ("d", 1), ("+", b"*"), ("d", 2), ("d", 3)]
    assert ms.parse(["1", "./a"]).simple


@pytest.mark.parametrize("args", [
    ["Tx"], ["T", "T"], ["./a", "T"], ["e", "T"], ["t", "e", "T"], ["1x"], ["12"],
    ["R"], ["Rx"], ["R-1"], ["R1.5"], ["R 5"], ["R2147483648"], ["R\u0665"],
    ["d2"], ["dx"], ["daily"], ["z10"], ["zq"], ["z-1"], ["z "],
])
def test_junk_in_new_letters_is_a_script_error(args):
    with pytest.raises(ms.ScriptError):
        ms.parse(args + ["./d"])


def test_0_76_scripts_parse_as_before():
    # Arguments no 0.76 action claims are still ignored, unless they start
    # with a letter added since (T 1 R d z).
    s = ms.parse(["t", "bogus", "main", "xyz", "s5000", "n3", "./a", "e"])
    assert s.timestamp and not s.iso and [d.path for d in s.dirs] == ["./a"]
    assert (s.dirs[0].age, s.dirs[0].daily, s.dirs[0].gzip) == (0, False, 0)
