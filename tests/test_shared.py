"""Pure tests of the shared codecs: status record, TAI64N, errno texts, getopt."""

import errno

import pytest

from svtools import _getopt, _pathexec, _status, _strerr, _tai64


def test_status_example_from_daemontools():
    raw = bytes.fromhex("400000006b027c3d098bf264f12000000075")
    secs, nanos, pid, paused, want = _status.unpack(raw)
    assert pid == 8433 and paused == 0 and want == ord("u")
    assert _status.pack(secs, nanos, pid, paused, want) == raw


def test_status_paused_only_shown_with_pid():
    assert _status.pack(1, 500, 0, 1, _status.WANT_DOWN)[16] == 0
    assert _status.pack(1, 500, 7, 1, _status.WANT_DOWN)[16] == 1


def test_status_short_record_is_bad_format():
    with pytest.raises(ValueError):
        _status.unpack(b"\0" * 17)


def test_status_write_is_atomic_rename(tmp_path):
    path = str(tmp_path / "status")
    data = _status.pack(5, 500, 1, 0, _status.WANT_UP)
    assert _status.write(data, path) is None
    assert open(path, "rb").read() == data
    assert not (tmp_path / "status.new").exists()
    assert _status.read(path) == _status.unpack(data)


def test_status_write_reports_open_failure(tmp_path):
    assert _status.write(b"x" * 18, str(tmp_path / "no" / "status"))[0] == "open"


def test_tai64n_nanos_end_in_500():
    secs, nanos = _tai64.now()
    assert nanos % 1000 == 500
    label = _tai64.pack(secs, nanos)
    assert _tai64.unpack(label) == (secs, nanos)
    assert _tai64.stamp(0x37c219bf - 10 + 0, 0x2ef02e94) == "@4000000037c219bf2ef02e94"


def test_errno_table_daemontools_texts():
    assert _strerr.errtext(errno.EAGAIN) == "temporary failure"
    assert _strerr.errtext(errno.ENOENT) == "file does not exist"
    assert _strerr.errtext(errno.EACCES) == "access denied"
    assert _strerr.errtext(errno.ENXIO) == "device not configured"
    assert _strerr.errtext(123456) == "unknown error"


@pytest.mark.parametrize("argv,opts,rest", [
    (["svc", "-xdu", "-d", "-hhh", "-oa", "d"], list("xdudhhhoa"), ["d"]),
    (["svc", "d", "-u"], [], ["d", "-u"]),
    (["svc", "--", "-u"], [], ["-u"]),
    (["svc", "-u", "-", "x"], ["u"], ["-", "x"]),
])
def test_getopt_daemontools_rules(argv, opts, rest):
    got, operands = _getopt.getopt(argv, "udopchaitkx")
    assert [c for c, _ in got] == opts
    assert operands == rest


def test_getopt_values_attached_or_next(capfd):
    got, rest = _getopt.getopt(["softlimit", "-o5", "-m", "100", "x"], "o:m:")
    assert got == [("o", "5"), ("m", "100")] and rest == ["x"]
    with pytest.raises(_getopt.GetoptError):
        _getopt.getopt(["/usr/bin/softlimit", "-m"], "m:")
    assert capfd.readouterr().err == "softlimit: option requires an argument -- m\n"
    with pytest.raises(_getopt.GetoptError):
        _getopt.getopt(["svc", "-z"], "u")
    assert capfd.readouterr().err == "svc: illegal option -- z\n"


def test_env_set_queue_semantics():
    env = {b"A": b"1", b"F": b"old"}
    _pathexec.env_set(env, "A", None)
    _pathexec.env_set(env, "F=G", b"val")
    _pathexec.env_set(env, "B", b"")
    assert env == {b"F": b"G=val", b"B": b""}
