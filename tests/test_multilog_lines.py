"""Pure tests: multilog's line framing and selection (no I/O)."""

import random

import pytest

from svtools import _multilog_policy as mp
from svtools._multilog_lines import LINE, Framer

ST = b"@400000006b0cc1ce32758c94 "


def outputs(args, reads, st=b"", end=True):
    """Per-sink bytes, alerts and the last status lines for READS through lines()."""
    fr = Framer(mp.parse(args))
    sinks = [b""] * fr.nsinks
    alerts, status = [], {}
    batches = [fr.lines(r, st) for r in reads] + ([fr.eof()] if end else [])
    for b in batches:
        for i, out in enumerate(b.outs):
            sinks[i] += b"".join(out)
        alerts += b.alerts
        status.update(b.status)
    return sinks, b"".join(alerts), status, fr


def test_lines_go_to_the_sinks_selected_at_their_place():
    sinks, alerts, status, _ = outputs(["./a", "-*b*", "./b", "+*bx*", "1", "e", "=st"],
                                       [b"one\nbee\nbx\n"])
    assert sinks == [b"one\nbee\nbx\n", b"one\n", b"one\nbx\n"]
    assert alerts == b"one\nbx\n" and status == {0: b"bx"}


def test_a_line_split_across_reads_keeps_the_stamp_of_its_first_read():
    fr = Framer(mp.parse(["t", "./a"]))
    assert fr.lines(b"par", ST).outs == [[]] and fr.mid_line
    b = fr.lines(b"tial\nnext\n", b"@X ")
    assert b"".join(b.outs[0]) == ST + b"partial\n@X next\n"
    assert not fr.mid_line


def test_long_line_rest_streams_to_the_sinks_the_held_part_chose():
    long = b"y" * 2500
    sinks, alerts, _, _ = outputs(["-*", "+y*", "./a", "-*", "./b", "e"], [long[:1500], long[1500:] + b"\nz\n"])
    assert sinks == [long + b"\n", b""]
    assert alerts == b""
    sinks, alerts, _, _ = outputs(["e", "./a"], [long + b"\n"], st=ST)
    assert sinks == [ST + long + b"\n"]
    assert alerts == ST + long[:200 - len(ST)] + b"...\n"


def test_held_part_counts_the_stamp():
    fr = Framer(mp.parse(["t", "=s", "./a"]))
    b = fr.lines(b"x" * 1500 + b"\n", ST)
    assert len(b.status[0]) == LINE and b.status[0].startswith(ST)


def test_eof_ends_a_partial_line_and_a_streaming_rest():
    sinks, _, _, fr = outputs(["./a"], [b"no newline"])
    assert sinks == [b"no newline\n"] and not fr.mid_line
    sinks, _, _, _ = outputs(["./a"], [b"z" * 1200])
    assert sinks == [b"z" * 1200 + b"\n"]


def test_units_describe_what_each_sink_got():
    fr = Framer(mp.parse(["./a", "-*", "./b"]))
    b = fr.lines(b"ab\ncd\n", b"")
    assert b.units(0) == [(mp.PUT, 2, 2), (mp.PUT, 1, 2), (mp.PUT, 2, 5), (mp.PUT, 1, 5)]
    assert b.units(1) == []


@pytest.mark.parametrize("seed", range(6))
def test_fast_path_writes_what_the_line_path_writes(seed):
    rng = random.Random(seed)
    data = bytes(rng.choice(b"ab\n" if seed % 2 else b"abcdefgh" * 40 + b"\n") for _ in range(20000))
    cuts = sorted(rng.sample(range(1, len(data)), 12))
    reads = [data[i:j] for i, j in zip([0] + cuts, cuts + [len(data)])]
    st = ST if seed % 3 else b""
    slow, _, _, _ = outputs(["./a", "1"], reads, st=st)
    fr = Framer(mp.parse(["./a", "1"]))
    fast = b""
    for r in reads:
        pieces, total = fr.fast(r, st, 1 << 40)
        got = b"".join(pieces)
        assert len(got) == total
        fast += got
    fast += b"".join(fr.eof().outs[0])
    assert fast == slow[0] == slow[1]


def test_fast_path_refuses_without_changing_state_when_a_cut_may_fall():
    fr = Framer(mp.parse(["./a"]))
    fr.lines(b"pend", b"")
    assert fr.fast(b"ing\nmore\n", b"", 5) is None
    assert fr.pend == b"pend"
    assert fr.fast(b"ing\nmore\n", b"", 100) == ([b"pend", b"ing\nmore\n"], 13)
