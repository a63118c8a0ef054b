"""tai64n and tai64nlocal, side by side with daemontools' programs."""

import random
import re
import time

import pytest

from helpers import c_tool, env, prog, run



def BOTH(name):
    return [pytest.param(prog(name), id="ours"),
            pytest.param(c_tool(name), id="c", marks=pytest.mark.interop)]



LINE = re.compile(rb"@([0-9a-f]{16})([0-9a-f]{8}) ")
MARK = b"@4000000037c219bf2ef02e94 mark\n"


@pytest.mark.parametrize("tool", BOTH("tai64n"))
def test_tai64n_stamps_every_line(tool):
    before = time.time()
    p = run([tool], input=b"one\n\nthree\n")
    assert p.returncode == 0 and p.stderr == b""
    lines = p.stdout.split(b"\n")
    assert lines[-1] == b"" and [LINE.sub(b"", x) for x in lines[:-1]] == [b"one", b"", b"three"]
    for x in lines[:-1]:
        m = LINE.match(x)
        secs = int(m.group(1), 16) - 0x400000000000000A
        assert before - 1 <= secs <= time.time() and int(m.group(2), 16) % 1000 == 500


@pytest.mark.parametrize("tool", BOTH("tai64n"))
def test_tai64n_partial_last_line_gets_no_newline(tool):
    p = run([tool], input=b"a\nb")
    assert re.fullmatch(rb"@[0-9a-f]{24} a\n@[0-9a-f]{24} b", p.stdout)
    assert run([tool], input=b"").stdout == b""


@pytest.mark.parametrize("tool", BOTH("tai64n") + BOTH("tai64nlocal"))
def test_write_error_exits_111_silently(tool):
    p = run(["sh", "-c", 'echo x | "$0" >&-', tool])
    assert (p.returncode, p.stdout, p.stderr) == (111, b"", b"")


@pytest.mark.parametrize("tool", BOTH("tai64nlocal"))
def test_tai64nlocal_example(tool):
    p = run([tool], input=MARK + b"plain\n\n@4000000037c219bfffffffff\tx\r\n",
            env=env(TZ="US/Pacific"))
    assert (p.returncode, p.stderr) == (0, b"")
    assert p.stdout == (b"1999-08-23 21:04:05.787492500 mark\nplain\n\n"
                        b"1999-08-23 21:04:05.4294967295\tx\r\n")


@pytest.mark.parametrize("tool", BOTH("tai64nlocal"))
def test_tai64nlocal_utc_and_partial_plain_line(tool):
    p = run([tool], input=MARK + b"tail", env=env(TZ="UTC"))
    assert p.stdout == b"1999-08-24 04:04:05.787492500 mark\ntail"


@pytest.mark.parametrize("line", [b"@4000000037c219bf", b"@xyz", b"@", b"@40000000",
                                  b"@4000000037c219bf2ef02e94abcd", b"@ABCDEF",
                                  b"@4000000037C219BF2EF02E94", b"@0000000000000000000000000",
                                  b"@ffffffffffffffff00000000"])
def test_malformed_stamp_passes_through(line):
    # Departure 5: daemontools 0.76 crashes on these.
    data = line + b" rest\n" + MARK
    p = run([prog("tai64nlocal")], input=data, env=env(TZ="UTC"))
    assert (p.returncode, p.stderr) == (0, b"")
    assert p.stdout == line + b" rest\n1999-08-24 04:04:05.787492500 mark\n"


def test_stamp_cut_by_end_of_input():
    # 0.76 drops an unterminated stamp at EOF; we keep the line, converted
    # when it is well-formed, unchanged otherwise.
    tool = prog("tai64nlocal")
    assert run([tool], input=MARK[:25], env=env(TZ="UTC")).stdout == b"1999-08-24 04:04:05.787492500"
    assert run([tool], input=MARK[:10], env=env(TZ="UTC")).stdout == MARK[:10]


@pytest.mark.interop
@pytest.mark.parametrize("stamper", [prog("tai64n"), c_tool("tai64n")], ids=["ours", "c"])
def test_stamps_read_by_both_tai64nlocal(stamper):
    stamped = run([stamper], input=b"one\ntwo\n").stdout
    ours = run([prog("tai64nlocal")], input=stamped, env=env(TZ="Europe/Paris"))
    c = run([c_tool("tai64nlocal")], input=stamped, env=env(TZ="Europe/Paris"))
    assert ours.stdout == c.stdout
    assert re.fullmatch(rb"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{9} (one|two)\n){2}", ours.stdout)


@pytest.mark.interop
def test_multilog_stamps_read_by_c(tmp_path):
    run([prog("multilog"), "t", "./d"], input=b"hello\n", cwd=str(tmp_path))
    data = (tmp_path / "d" / "current").read_bytes()
    c = run([c_tool("tai64nlocal")], input=data, env=env(TZ="UTC")).stdout
    assert c == run([prog("tai64nlocal")], input=data, env=env(TZ="UTC")).stdout
    assert re.fullmatch(rb"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{9} hello\n", c)


@pytest.mark.interop
def test_random_well_formed_stamps_like_c():
    rng = random.Random(3)
    lines = []
    for _ in range(300):
        label = 0x4000000000000000 + rng.randrange(0, 2 ** 33)
        lines.append(b"@%016x%08x%s" % (label, rng.randrange(0, 2 ** 32),
                                         rng.choice([b" x", b"", b"\tz z", b"\x00\xff"])))
        if rng.random() < 0.3:
            lines.append(bytes(rng.choice(b"ab@ \r") for _ in range(rng.randrange(0, 20))))
    data = b"\n".join(x for x in lines if not x.startswith(b"@") or LINE.match(x + b" ")
                      or len(x) > 25 and x[25:26] not in b"0123456789abcdef") + b"\n"
    ours = run([prog("tai64nlocal")], input=data, env=env(TZ="Asia/Tokyo"))
    c = run([c_tool("tai64nlocal")], input=data, env=env(TZ="Asia/Tokyo"))
    assert (ours.returncode, ours.stdout) == (c.returncode, c.stdout)


def test_random_bytes_never_traceback():
    rng = random.Random(11)
    for _ in range(20):
        data = bytes(rng.choice(b"@0123456789abcdefABC \n\r\x00\xff") for _ in range(rng.randrange(0, 4000)))
        for name in ("tai64nlocal", "tai64n"):
            p = run([prog(name)], input=data)
            assert p.returncode == 0 and p.stderr == b"", (name, p.stderr[-300:])
