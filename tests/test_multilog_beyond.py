"""multilog beyond 0.76: T, 1, R, d, z on real directories and processes."""

import os
import re
import signal
import subprocess
import time

import pytest

from helpers import c_tool, env, prog, run, wait_for, write_script
from svtools import _multilog_policy, multilog
from test_multilog import small_fs  # noqa: F401  (a fixture: a 64 kB tmpfs)

OURS = prog("multilog")
CLOCK = rb"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}"
ISO = CLOCK + rb"[+-]\d\d:\d\d "
TAI = rb"@4[0-9a-f]{23} "


def archives(d):
    return sorted(n for n in os.listdir(d) if n.startswith("@"))


# ---- T ----

@pytest.mark.parametrize("args,shape", [
    (["T"], CLOCK), (["t", "T"], TAI + CLOCK), (["T", "t"], TAI + CLOCK)])
def test_T_stamps(args, shape, tmp_path):
    p = run([OURS] + args + ["e", "./d"], input=b"one\ntwo\n", cwd=str(tmp_path),
            env=env(TZ="Asia/Tokyo"))
    assert p.returncode == 0 and p.stdout == b""
    assert re.fullmatch(rb"(%s\+09:00 one\n)(%s\+09:00 two\n)" % (shape, shape), p.stderr), p.stderr
    assert (tmp_path / "d" / "current").read_bytes() == p.stderr


@pytest.mark.parametrize("tool", [prog("tai64nlocal"), pytest.param(c_tool("tai64nlocal"), marks=pytest.mark.interop)])
def test_tai64nlocal_leaves_T_stamps_alone(tool, tmp_path):
    p = run([OURS, "T", "e"], input=b"x\n", cwd=str(tmp_path))
    assert run([tool], input=p.stderr).stdout == p.stderr
    p = run([OURS, "t", "T", "e"], input=b"x\n", cwd=str(tmp_path))
    out = run([tool], input=p.stderr).stdout
    assert re.fullmatch(rb"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{9} " + ISO + rb"x\n", out), out


@pytest.mark.parametrize("args", [["Tx"], ["e", "T"], ["T", "T"], ["R"], ["R1x"], ["d7"], ["z10"], ["1x"]])
def test_junk_in_new_actions_is_a_usage_error(args, tmp_path):
    p = run([OURS] + args + ["./d"], input=b"x\n", cwd=str(tmp_path))
    assert (p.returncode, p.stdout, p.stderr) == (100, b"", b"multilog: usage: multilog script\n")
    assert not (tmp_path / "d").exists()


# ---- 1 ----

def test_1_copies_selected_lines_after_stamping(tmp_path):
    p = run([OURS, "t", "./all", "-*", "+*keep*", "1", "./kept"], input=b"a keep\nb\nc keep\n" + b"k" * 1500,
            cwd=str(tmp_path))
    assert p.returncode == 0 and p.stderr == b""
    assert p.stdout == (tmp_path / "kept" / "current").read_bytes()
    assert re.fullmatch(rb"(%sa keep\n)(%sc keep\n)" % (TAI, TAI), p.stdout)
    p = run([OURS, "1"], input=b"x" * 3000 + b"\ny", cwd=str(tmp_path))
    assert p.stdout == b"x" * 3000 + b"\ny\n"


def test_1_on_a_closed_stdout_warns_once_and_keeps_logging(tmp_path):
    r, w = os.pipe()
    os.close(r)
    with open(tmp_path / "in", "wb") as f:
        f.write(b"line\n" * 50000)
    with open(tmp_path / "in", "rb") as f:
        p = subprocess.run([OURS, "1", "./d"], stdin=f, stdout=w, stderr=subprocess.PIPE,
                           cwd=str(tmp_path), timeout=60, env=env())
    os.close(w)
    assert p.returncode == 0
    assert p.stderr == b"multilog: warning: unable to write to standard output, no longer copying: broken pipe\n"
    assert b"".join(contents(str(tmp_path / "d"))) == b"line\n" * 50000


# ---- rotation by time, with the clocks in the test's hands ----

class FakeClock:
    def __init__(self, wall):
        self.mono = 1000.0
        self.ns = int(wall * 10 ** 9)

    def monotonic(self):
        return self.mono

    def time_ns(self):
        return self.ns

    def advance(self, secs, wall=None):
        self.mono += secs
        self.ns += int((secs if wall is None else wall) * 10 ** 9)


@pytest.fixture
def utc():
    old = os.environ.get("TZ")
    os.environ["TZ"] = "UTC"
    time.tzset()
    yield
    if old is None:
        del os.environ["TZ"]
    else:
        os.environ["TZ"] = old
    time.tzset()


def logger(tmp_path, args, clock):
    """A Multilog in this process on real directories; no signals touched."""
    ml = multilog.Multilog(_multilog_policy.parse(args), clock)
    ml.open()
    return ml


def step(ml, data):
    """What run() does around one read."""
    ml._rotate_due()
    ml.feed(data)


def contents(d):
    return [open(os.path.join(d, n), "rb").read() for n in archives(d)] + \
        [open(os.path.join(d, "current"), "rb").read()]


def test_R_rotates_by_age_never_empty(tmp_path, utc):
    clock = FakeClock(1796083200)
    d = str(tmp_path / "d")
    ml = logger(tmp_path, ["R600", d], clock)
    clock.advance(5000)
    step(ml, b"")  # nothing written yet: nothing to age, no empty archive
    assert archives(d) == [] and ml._timeout() is None
    step(ml, b"a\n")
    clock.advance(599, wall=-86400)   # the wall clock jumping back changes no age
    step(ml, b"b\n")
    assert archives(d) == [] and 0 < ml._timeout() <= 1001
    clock.advance(1, wall=3 * 86400)
    step(ml, b"c\n")
    assert contents(d) == [b"a\nb\n", b"c\n"]
    clock.advance(10 ** 5)
    ml._rotate_due()
    ml._rotate_due()
    assert contents(d) == [b"a\nb\n", b"c\n", b""]


def test_d_rotates_at_midnight_and_across_clock_jumps(tmp_path, utc):
    clock = FakeClock(1796083200 - 60)  # 2026-11-30 23:59 UTC
    d = str(tmp_path / "d")
    ml = logger(tmp_path, ["d", "n20", d], clock)
    step(ml, b"day 1\n")
    assert 0 < ml._timeout() <= 60001
    clock.advance(30)
    step(ml, b"day 1 again\n")
    clock.advance(30)                      # 00:00: a quiet day still ends
    ml._rotate_due()
    assert contents(d) == [b"day 1\nday 1 again\n", b""]
    step(ml, b"day 2\n")
    clock.advance(10, wall=-86400)         # set back a day: one rotation
    step(ml, b"back\n")
    clock.advance(10)
    step(ml, b"still back\n")
    clock.advance(10, wall=2 * 86400)      # forward two days: one more
    step(ml, b"ahead\n")
    assert contents(d) == [b"day 1\nday 1 again\n", b"day 2\n", b"back\nstill back\n", b"ahead\n"]
    names = archives(d)
    assert names == sorted(names) and len(set(n[:25] for n in names)) == 3
    # the archive made after the jump back is named after the newest, not before it
    assert names[2] > names[1]


def test_archive_names_stay_ordered_when_the_clock_goes_back(tmp_path, utc):
    clock = FakeClock(1796083200)
    d = str(tmp_path / "d")
    ml = logger(tmp_path, [d], clock)
    for i in range(4):
        step(ml, b"%d\n" % i)
        ml.dirs[0].rotate()
        clock.advance(1, wall=-3600 * i)
    names = archives(d)
    assert names == sorted(names) and len(names) == 4
    assert contents(d) == [b"0\n", b"1\n", b"2\n", b"3\n", b""]


def test_R_process_rotates_a_quiet_current(tmp_path, procs):
    p = procs.start([OURS, "R1", "./d"], stdin=subprocess.PIPE, cwd=str(tmp_path))
    d = tmp_path / "d"
    p.stdin.write(b"first\n")
    p.stdin.flush()
    wait_for(lambda: d.exists() and archives(d), timeout=15, what="archive by age")
    p.stdin.write(b"second\n")
    p.stdin.flush()
    wait_for(lambda: len(archives(d)) == 2, timeout=15, what="second archive")
    p.stdin.close()
    assert p.wait(timeout=15) == 0
    assert contents(str(d)) == [b"first\n", b"second\n", b""]


# ---- z ----

def _lines(n, tag=b""):
    return b"".join(b"%s%050d\n" % (tag, i) for i in range(n))


def _gunzipped(d):
    import gzip
    out = []
    for n in archives(d):
        data = open(os.path.join(d, n), "rb").read()
        out.append((n[25:], gzip.decompress(data) if n.endswith(".gz") else data))
    return out


def test_z_compresses_archives_counted_by_n(tmp_path):
    data = _lines(600)  # 51-byte lines, s4096: 2550-byte files
    p = run([OURS, "s4096", "n4", "z", "./d"], input=data, cwd=str(tmp_path))
    assert (p.returncode, p.stderr) == (0, b"")
    d = str(tmp_path / "d")
    got = _gunzipped(d)
    assert [s for s, _ in got] == [".s.gz"] * 3
    kept = b"".join(c for _, c in got) + (tmp_path / "d" / "current").read_bytes()
    assert data.endswith(kept) and len(kept) > 3 * 2000
    assert all(os.stat(os.path.join(d, n)).st_mode & 0o777 == 0o744 for n in archives(d))
    assert not os.path.exists(os.path.join(d, "gzip.new"))


def test_z_with_the_0_76_gzip_processor_still_works(tmp_path):
    data = _lines(200)
    p = run([OURS, "s4096", "!gzip", "z1", "./d"], input=data, cwd=str(tmp_path))
    assert (p.returncode, p.stderr) == (0, b"")
    import gzip
    got = _gunzipped(str(tmp_path / "d"))
    assert len(got) >= 3 and all(s == ".s.gz" for s, _ in got)
    assert b"".join(gzip.decompress(c) for _, c in got) + (tmp_path / "d" / "current").read_bytes() == data


def fake_gzip(tmp_path, body):
    bindir = tmp_path / "bin"
    bindir.mkdir()
    write_script(str(bindir / "gzip"), body)
    return env(PATH=str(bindir))


@pytest.mark.parametrize("case,body,warning", [
    ("missing", None, b"multilog: warning: unable to run gzip: file does not exist\n"
                      b"multilog: warning: gzip failed compressing ./d/@A.s, keeping it\n"),
    ("failing", "echo nope >&2; exit 1\n",
     b"nope\nmultilog: warning: gzip failed compressing ./d/@A.s, keeping it\n"),
    ("crashing", "kill -9 $$\n", b"multilog: warning: gzip crashed compressing ./d/@A.s, keeping it\n"),
])
def test_z_failure_keeps_the_archive(case, body, warning, tmp_path):
    e = fake_gzip(tmp_path, body) if body else env(PATH=str(tmp_path / "nowhere"))
    data = _lines(60)
    p = run([OURS, "s4096", "z", "./d"], input=data, cwd=str(tmp_path), env=e)
    assert p.returncode == 0
    assert re.sub(rb"@[0-9a-f]{24}", b"@A", p.stderr) == warning
    assert _gunzipped(str(tmp_path / "d")) == [(".s", data[:2550])]
    assert (tmp_path / "d" / "current").read_bytes() == data[2550:]
    assert not (tmp_path / "d" / "gzip.new").exists()


def test_z_intake_goes_on_while_gzip_hangs_and_is_killed(tmp_path, procs):
    e = fake_gzip(tmp_path, "echo $$ > %s/gzpid\nexec /bin/sleep 1000\n" % tmp_path)
    err = open(tmp_path / "err", "wb")
    p = procs.start([OURS, "s4096", "z", "./d"], stdin=subprocess.PIPE, stderr=err,
                    cwd=str(tmp_path), env=e)
    d = tmp_path / "d"
    p.stdin.write(_lines(60))
    p.stdin.flush()
    wait_for(lambda: (tmp_path / "gzpid").exists() and (tmp_path / "gzpid").read_text().strip(),
             timeout=15, what="gzip started")
    gz = int((tmp_path / "gzpid").read_text())
    procs.track(gz)
    more = _lines(10, b"more")
    p.stdin.write(more)
    p.stdin.flush()
    wait_for(lambda: (d / "current").read_bytes().endswith(more), timeout=15, what="intake while compressing")
    os.kill(gz, signal.SIGKILL)
    wait_for(lambda: (tmp_path / "err").read_bytes(), timeout=15, what="warning")
    p.stdin.close()
    assert p.wait(timeout=15) == 0
    err.close()
    assert re.fullmatch(rb"multilog: warning: gzip crashed compressing \./d/@[0-9a-f]{24}\.s, keeping it\n",
                        (tmp_path / "err").read_bytes())
    assert [s for s, _ in _gunzipped(str(d))] == [".s"]


def test_z_disk_full_keeps_the_archive_and_compresses_it_once_space_returns(small_fs, tmp_path, procs):
    d = small_fs / "d"
    d.mkdir()
    blob = os.urandom(36000) + b"\n"  # gzip cannot shrink it: no room for both
    (d / "@400000006b00000000000000.s").write_bytes(blob)
    err = open(tmp_path / "err", "wb")
    p = procs.start([OURS, "z", "./d"], stdin=subprocess.PIPE, stderr=err, cwd=str(small_fs))
    wait_for(lambda: b"keeping it" in (tmp_path / "err").read_bytes(), timeout=15, what="warning")
    assert (d / "@400000006b00000000000000.s").read_bytes() == blob
    subprocess.run(["mount", "-o", "remount,size=4m", str(small_fs)], check=True)
    p.stdin.write(b"after\n")
    p.stdin.flush()
    wait_for(lambda: (d / "current").read_bytes() == b"after\n", timeout=15, what="line")
    p.send_signal(signal.SIGALRM)   # a new archive, compressed; then the old one again
    wait_for(lambda: [n[25:] for n in archives(str(d))] == [".s.gz", ".s.gz"], timeout=15,
             what="both compressed")
    p.stdin.close()
    assert p.wait(timeout=15) == 0
    assert [c for _, c in _gunzipped(str(d))] == [blob, b"after\n"]
