"""The extended status and exit-history codec (pure)."""

import pytest

from svtools import _xstatus


def test_roundtrip_defaults():
    data = _xstatus.pack({})
    assert data.startswith(b"svtools-xstatus 1\n")
    assert _xstatus.unpack(data) == _xstatus.DEFAULTS


def test_roundtrip_values():
    fields = dict(_xstatus.DEFAULTS, state="ready", pid=4121, pgid=4121,
                  since=1764460800.123456, ready_since=1764460801.5,
                  starts=12, exit_code=256, exit_signal=15,
                  exit_at=1764460790.25, exit_ran=12.408,
                  note=b"caf\xc3\xa9 \xff\\ done\n")
    assert _xstatus.unpack(_xstatus.pack(fields)) == fields


def test_every_line_is_printable_ascii():
    data = _xstatus.pack({"note": bytes(range(256))})
    for line in data.split(b"\n")[:-1]:
        key, value = line.split(b" ")
        assert all(0x21 <= b <= 0x7e for b in value)


def test_unknown_keys_ignored():
    data = _xstatus.pack({"pid": 7}) + b"future_field something\n"
    assert _xstatus.unpack(data)["pid"] == 7


@pytest.mark.parametrize("data", [
    b"", b"garbage\n", b"svtools-xstatus 2\nstate up\n",
    b"svtools-xstatus 1\npid notanumber\n", b"svtools-xstatus 1\nnote \\x4\n",
])
def test_bad_input_raises_valueerror(data):
    with pytest.raises(ValueError):
        _xstatus.unpack(data)


def test_exits_roundtrip():
    exits = [(1764460790.25, 4121, 3, 0, 12.408, False), (1764460800.5, 4130, 256, 9, 0.002, True),
             (1764460801.5, 4131, 256, 15, 1.0, None)]
    data = _xstatus.pack_exits(exits)
    assert data.split(b"\n")[:4] == [b"svtools-exits 2", b"1764460790.250000 4121 3 0 12.408 0",
                                      b"1764460800.500000 4130 256 9 0.002 1",
                                      b"1764460801.500000 4131 256 15 1.000 -"]
    assert _xstatus.unpack_exit_records(data) == exits
    assert _xstatus.unpack_exits(data) == [e[:5] for e in exits]
    # a 5-tuple (a writer that does not know) is written as unknown
    assert _xstatus.pack_exits([e[:5] for e in exits]).split(b"\n")[1].endswith(b" 12.408 -")


def test_exits_version_1_is_still_read():
    data = b"svtools-exits 1\n1764460790.250000 4121 3 0 12.408\n"
    assert _xstatus.unpack_exits(data) == [(1764460790.25, 4121, 3, 0, 12.408)]
    assert _xstatus.unpack_exit_records(data) == [(1764460790.25, 4121, 3, 0, 12.408, None)]


def test_exits_words_after_the_sixth_are_ignored():
    data = b"svtools-exits 2\n1764460790.250000 4121 3 0 12.408 1 later words\n"
    assert _xstatus.unpack_exit_records(data) == [(1764460790.25, 4121, 3, 0, 12.408, True)]


def test_exits_bad():
    with pytest.raises(ValueError):
        _xstatus.unpack_exits(b"svtools-xstatus 1\n")
    with pytest.raises(ValueError):
        _xstatus.unpack_exits(b"svtools-exits 1\n1 2 3\n")
    for bad in (b"svtools-exits 2\n1 2 3 4 5\n", b"svtools-exits 2\n1 2 3 4 5 yes\n",
                b"svtools-exits 1\n1 2 3 4 5 1\n", b"svtools-exits 3\n1 2 3 4 5 1\n"):
        with pytest.raises(ValueError):
            _xstatus.unpack_exit_records(bad)


def test_pack_values_is_pack_in_field_order():
    fields = dict(_xstatus.DEFAULTS, state="up", pid=7, since=12.5, note=b"a b")
    values = tuple(fields[key] for key in _xstatus.FIELDS)
    assert _xstatus.pack_values(values) == _xstatus.pack(fields)
    assert _xstatus.unpack(_xstatus.pack_values(values)) == fields
