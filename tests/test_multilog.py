"""multilog against real directories, side by side with daemontools' multilog."""

import fcntl
import gzip
import os
import random
import re
import resource
import signal
import subprocess
import termios
import time

import pytest

from helpers import c_tool, prog, run, wait_for

OURS = prog("multilog")
C = c_tool("multilog")
STAMP = re.compile(rb"@4[0-9a-f]{23}")
BOTH = [pytest.param(OURS, id="ours"), pytest.param(C, id="c", marks=pytest.mark.interop)]


def norm(data):
    return STAMP.sub(b"@STAMP", data)


def transcript(tool, args, data, cwd):
    p = run([tool] + args, input=data, cwd=str(cwd))
    return norm(p.stdout), norm(p.stderr), p.returncode


def layout(d):
    """Archives in time order, then the other files: (name, mode, contents)."""
    names = sorted(os.listdir(d))
    out = []
    archives = [n for n in names if n.startswith("@")]
    for i, n in enumerate(archives):
        assert re.fullmatch(r"@4[0-9a-f]{23}\.[su]", n), n
        out.append(("@%d%s" % (i, n[-2:]),) + _file(os.path.join(d, n)))
    for n in names:
        if not n.startswith("@"):
            out.append((n,) + _file(os.path.join(d, n)))
    return out


def _file(path):
    st = os.stat(path)
    with open(path, "rb") as f:
        return oct(st.st_mode & 0o7777), norm(f.read())


def feed_file(tool, args, data, cwd):
    """Run TOOL with stdin from a regular file (deterministic read sizes)."""
    path = os.path.join(str(cwd), ".input")
    with open(path, "wb") as f:
        f.write(data)
    with open(path, "rb") as f:
        p = subprocess.run([tool] + args, stdin=f, capture_output=True, cwd=str(cwd), timeout=60)
    os.unlink(path)
    return p


def both_layouts(tmp_path, args, data, dirs):
    res = []
    for name, tool in (("c", C), ("ours", OURS)):
        wd = tmp_path / name
        wd.mkdir()
        p = feed_file(tool, args, data, wd)
        status = {n: _file(str(wd / n)) for n in os.listdir(wd) if n.startswith("st")}
        res.append((p.returncode, norm(p.stderr), status, [layout(str(wd / d)) for d in dirs]))
    return res


# ---- golden transcripts: the daemontools regression cases ----

L199 = b"0123456789" * 19 + b"012345678"
GOLDEN = [
    ([], b"one\ntwo\n", b""),
    (["e"], b"one\ntwo\n", b"one\ntwo\n"),
    (["e"], b"one\ntwo", b"one\ntwo\n"),
    (["e", "e"], b"one\ntwo\n", b"one\none\ntwo\ntwo\n"),
    (["-*", "e"], b"one\ntwo\n", b""),
    (["-*", "+one", "e"], b"one\ntwo\n", b"one\n"),
    (["e"], L199 + b"\n", L199 + b"\n"),
    (["e"], L199 + b"9\n", L199 + b"9\n"),
    (["e"], L199 + b"90\n", L199 + b"9...\n"),
    (["t", "e"], b"ONE\nTWO\n", b"@STAMP ONE\n@STAMP TWO\n"),
    (["e", "bogus", "main", "xyz", "t"], b"a\n", b"a\n"),
    (["-*x*", "e"], b"a\nbxc\n", b"a\n"),
    (["-a**b", "e"], b"a*b\na**b\nab\naXb\n", b"ab\naXb\n"),
]


@pytest.mark.parametrize("tool", BOTH)
@pytest.mark.parametrize("args,data,err", GOLDEN)
def test_golden(tool, args, data, err, tmp_path):
    assert transcript(tool, args, data, tmp_path) == (b"", err, 0)


@pytest.mark.parametrize("tool", BOTH)
def test_t_format(tool, tmp_path):
    before = time.time()
    p = run([tool, "t", "e"], input=b"ONE\n", cwd=str(tmp_path))
    m = re.fullmatch(rb"@([0-9a-f]{16})([0-9a-f]{8}) ONE\n", p.stderr)
    secs = int(m.group(1), 16) - 0x400000000000000A
    assert before - 1 <= secs <= time.time() and int(m.group(2), 16) % 1000 == 500


@pytest.mark.parametrize("tool", BOTH)
def test_status_file(tool, tmp_path):
    assert transcript(tool, ["=test.status"], b"one\ntwo\n", tmp_path) == (b"", b"", 0)
    data = (tmp_path / "test.status").read_bytes()
    assert data == b"two" + b"\n" * 998 and len(data) == 1001
    assert oct(os.stat(tmp_path / "test.status").st_mode & 0o777) == "0o600"
    (tmp_path / "test.status").write_bytes(b"z" * 1500)
    run([tool, "=test.status", "t"], input=b"x\n", cwd=str(tmp_path))
    assert (tmp_path / "test.status").read_bytes() == b"x" + b"\n" * 1000 + b"z" * 499


@pytest.mark.interop
@pytest.mark.parametrize("args,data", [
    (["e"], b"x" * 1503 + b"\n"),
    (["-*END", "./d"], b"x" * 1500 + b"END\n" + b"y\n"),
    (["t", "=st", "e"], b"y" * 2000 + b"\nshort\n" + b"z" * 980),
    (["+*", "-* *", "e", "=st2"], b"a b\nab\n\n\0\xff\n"),
])
def test_long_lines_and_status_like_c(args, data, tmp_path):
    c, ours = both_layouts(tmp_path, args, data, ["d"] if "./d" in args else [])
    assert c == ours


# ---- the log directory ----

def test_layout_and_modes(tmp_path):
    p = run([OURS, "t", "./main"], input=b"hello\n", cwd=str(tmp_path))
    assert p.returncode == 0 and p.stderr == b""
    d = tmp_path / "main"
    assert oct(os.stat(d).st_mode & 0o777) == "0o700"
    assert layout(str(d)) == [("current", "0o744", b"@STAMP hello\n"),
                              ("lock", "0o600", b""), ("state", "0o644", b"")]


def _lines(n, width=51, start=0):
    return b"".join(b"%0*d\n" % (width - 1, i) for i in range(start, start + n))


# With `t` a pattern sees the stamp, whose hex differs from run to run: the
# patterns below skip it with "* " so that both programs select alike.
@pytest.mark.interop
@pytest.mark.parametrize("args,data", [
    (["s4096", "./d"], _lines(300)),
    (["t", "s4095", "n3", "./d"], _lines(400, 60)),
    (["s4096", "./d"], b"x" * 10000),
    (["n1", "s4096", "./d"], _lines(200)),
    (["n2", "s4096", "./d"], _lines(200, 70)),
    (["t", "s5000", "n4", "./d", "-* 7*", "s9000", "./e", "+* *0", "e", "./f"],
     b"".join(b"%d %s\n" % (i, b"q" * (i * 37 % 1500)) for i in range(300))),
])
def test_same_files_as_c(args, data, tmp_path):
    dirs = [a for a in args if a.startswith("./")]
    c, ours = both_layouts(tmp_path, args, data, dirs)
    assert c == ours
    assert c[3][0]  # something was written


def test_literal_rotation_sizes(tmp_path):
    run([OURS, "s4096", "./d"], input=_lines(300), cwd=str(tmp_path))
    sizes = [os.path.getsize(tmp_path / "d" / n) for n in sorted(os.listdir(tmp_path / "d"))
             if n.startswith("@")]
    assert sizes == [2550] * 6  # the last line fills the sixth: current is empty
    assert (tmp_path / "d" / "current").read_bytes() == b""
    run([OURS, "s4096", "./e"], input=b"x" * 10000, cwd=str(tmp_path))
    lay = layout(str(tmp_path / "e"))
    assert [len(x[2]) for x in lay if x[0].startswith("@")] == [4096, 4096]
    assert lay[2] == ("current", "0o744", b"x" * 1808 + b"\n")


@pytest.mark.interop
def test_size_clamp_top_like_c(tmp_path):
    data = _lines(340000, 50)  # 17 MB: one cut near 16777215
    c, ours = both_layouts(tmp_path, ["s16777216", "n2", "./d"], data, ["d"])
    assert c == ours
    assert 16777215 - 2000 <= len(ours[3][0][0][2]) <= 16777215


@pytest.mark.interop
def test_random_inputs_like_c(tmp_path):
    rng = random.Random(20240607)
    for case in range(8):
        chunks = []
        for _ in range(rng.randrange(50, 600)):
            n = rng.choice([rng.randrange(0, 120), rng.randrange(900, 1100), rng.randrange(1000, 6000)])
            chunks.append(bytes(rng.choice(b"ab c*\0\xfe") for _ in range(n % 97)) * (n // 97 + 1))
            chunks.append(b"\n" if rng.random() < 0.95 else b"")
        data = b"".join(chunks)
        args = (["t"] if case % 2 else []) + ["s%d" % rng.choice([4096, 7000, 30000]), "n3", "./d",
                                             rng.choice(["-* *a*", "+b*", "e", "=st"]), "./e"]
        (tmp_path / str(case)).mkdir()
        c, ours = both_layouts(tmp_path / str(case), args, data, ["d", "e"])
        assert c == ours, (case, args)


# ---- start-up, recovery, locking ----

@pytest.mark.parametrize("tool", BOTH)
@pytest.mark.parametrize("args,message", [
    (["./afile"], b"multilog: fatal: unable to open directory ./afile: not a directory\n"),
    (["./no/such"], b"multilog: fatal: unable to open directory ./no/such: file does not exist\n"),
    (["=no/such"], b"multilog: fatal: unable to create no/such: file does not exist\n"),
])
def test_startup_errors(tool, args, message, tmp_path):
    (tmp_path / "afile").write_bytes(b"")
    assert transcript(tool, args, b"x\n", tmp_path) == (b"", message, 111)


@pytest.mark.parametrize("first,second", [
    pytest.param(OURS, OURS, id="ours-ours"),
    pytest.param(OURS, C, id="ours-c", marks=pytest.mark.interop),
    pytest.param(C, OURS, id="c-ours", marks=pytest.mark.interop),
])
def test_second_logger_is_refused(first, second, tmp_path, procs):
    p = procs.start([first, "./d"], stdin=subprocess.PIPE, cwd=str(tmp_path))
    wait_for(lambda: (tmp_path / "d" / "current").exists(), what="current")
    wait_for(lambda: _locked(tmp_path / "d" / "lock"), what="lock held")
    assert transcript(second, ["./d"], b"x\n", tmp_path) == (
        b"", b"multilog: fatal: unable to lock directory ./d: temporary failure\n", 111)
    p.stdin.close()
    assert p.wait(timeout=10) == 0


def _locked(path):
    fd = os.open(str(path), os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return False
    except BlockingIOError:
        return True
    finally:
        os.close(fd)


def _crashed_dir(d, processed_mode):
    d.mkdir(mode=0o700)
    for name, data, mode in (("current", b"cur\n", 0o644), ("previous", b"prev\n", 0o744),
                             ("processed", b"proc\n", processed_mode), ("state", b"st", 0o644),
                             ("newstate", b"ns", 0o644), ("lock", b"", 0o600)):
        (d / name).write_bytes(data)
        os.chmod(d / name, mode)


@pytest.mark.parametrize("tool", BOTH)
@pytest.mark.parametrize("mode,expect", [
    (0o744, [("@0.s", "0o744", b"proc\n"), ("@1.u", "0o644", b"cur\n")]),
    (0o644, [("@0.u", "0o744", b"prev\n"), ("@1.u", "0o644", b"cur\n")]),
])
def test_recovery_branches(tool, mode, expect, tmp_path):
    _crashed_dir(tmp_path / "d", mode)
    assert transcript(tool, ["./d"], b"new\n", tmp_path) == (b"", b"", 0)
    assert layout(str(tmp_path / "d")) == expect + [
        ("current", "0o744", b"new\n"), ("lock", "0o600", b""), ("state", "0o644", b"")]


def test_clean_current_is_continued(tmp_path):
    run([OURS, "./d"], input=b"one\n", cwd=str(tmp_path))
    run([OURS, "./d"], input=b"two\n", cwd=str(tmp_path))
    assert layout(str(tmp_path / "d"))[0] == ("current", "0o744", b"one\ntwo\n")


def test_kill9_then_restart_loses_nothing(tmp_path, procs):
    p = procs.start([OURS, "t", "./d"], stdin=subprocess.PIPE, cwd=str(tmp_path))
    cur = tmp_path / "d" / "current"
    p.stdin.write(_lines(200))
    p.stdin.flush()
    wait_for(lambda: cur.exists() and cur.stat().st_size == 200 * 77, what="lines written")
    p.kill()
    p.wait()
    assert oct(cur.stat().st_mode & 0o777) == "0o644"
    before = cur.read_bytes()
    assert run([OURS, "t", "./d"], input=b"after\n", cwd=str(tmp_path)).returncode == 0
    lay = layout(str(tmp_path / "d"))
    assert lay[0] == ("@0.u", "0o644", norm(before))
    assert norm(before) == b"".join(b"@STAMP " + line + b"\n" for line in _lines(200).split(b"\n")[:-1])
    assert lay[1] == ("current", "0o744", b"@STAMP after\n")


# ---- processors ----

PROCESSOR = """
grep SigIgn /proc/$$/status > ../sigign
pwd > ../cwd
n=$(cat <&4)
cat
echo "state:$n"
echo $((n + 1)) >&5
"""


def test_processor_protocol(tmp_path):
    script = tmp_path / "proc.sh"
    script.write_text(PROCESSOR)
    data = _lines(120, 51)  # 6120 bytes: two rotations at s4096
    p = run([OURS, "s4096", "!sh %s" % script, "./d"], input=data, cwd=str(tmp_path))
    assert (p.returncode, p.stderr) == (0, b"")
    lay = layout(str(tmp_path / "d"))
    assert [x[0] for x in lay] == ["@0.s", "@1.s", "current", "lock", "state"]
    assert lay[0][1:] == ("0o744", data[:2550] + b"state:\n")
    assert lay[1][1:] == ("0o744", data[2550:5100] + b"state:1\n")
    assert lay[2][1:] == ("0o744", data[5100:])
    assert lay[4][1:] == ("0o644", b"2\n")
    assert (tmp_path / "cwd").read_text().strip() == str(tmp_path / "d")
    ign = int((tmp_path / "sigign").read_text().split()[1], 16)
    assert not ign & (1 << (signal.SIGPIPE - 1)) and not ign & (1 << (signal.SIGXFSZ - 1))
    assert not ign & (1 << (signal.SIGTERM - 1))


def test_gzip_processor(tmp_path):
    data = _lines(100)
    assert run([OURS, "s4096", "!gzip", "./d"], input=data, cwd=str(tmp_path)).returncode == 0
    arch = [n for n in sorted(os.listdir(tmp_path / "d")) if n.startswith("@")]
    assert [gzip.decompress((tmp_path / "d" / n).read_bytes()) for n in arch] == [
        data[:2550], data[2550:]]


@pytest.mark.parametrize("tool", BOTH)
def test_failing_processor_is_retried(tool, tmp_path):
    script = tmp_path / "proc.sh"
    script.write_text("if [ -e ../failed ]; then cat; else touch ../failed; exit 3; fi\n")
    data = _lines(60)
    p = run([tool, "s4096", "!sh %s" % script, "./d"], input=data, cwd=str(tmp_path))
    assert (p.returncode, p.stderr) == (0, b"multilog: warning: processor failed in ./d, pausing\n")
    lay = layout(str(tmp_path / "d"))
    assert lay[0] == ("@0.s", "0o744", data[:2550])
    assert lay[1] == ("current", "0o744", data[2550:])


# ---- signals ----

def _start(procs, tmp_path, args):
    r, w = os.pipe()
    p = procs.start(args, stdin=r, stdout=subprocess.DEVNULL, cwd=str(tmp_path))
    wait_for(lambda: (tmp_path / "d" / "current").exists(), what="current")
    wait_for(lambda: _sleeping(p.pid), what="waiting for input")
    return p, r, w


def _sleeping(pid):
    """PID is blocked (in its read, for the C program, which only takes
    signals there: one sent a moment earlier would wait for the next line)."""
    with open("/proc/%d/stat" % pid, "rb") as f:
        data = f.read()
    return data[data.rindex(b")") + 2:data.rindex(b")") + 3] == b"S"


def _taken(pid, sig):
    """SIG is no longer pending for PID: its handler has run.  Input written
    before that could be read together with the line the signal cuts short."""
    with open("/proc/%d/status" % pid) as f:
        fields = dict(line.split(":", 1) for line in f if ":" in line)
    bit = 1 << (sig - 1)
    return not (int(fields["SigPnd"], 16) | int(fields["ShdPnd"], 16)) & bit


def _pipe_empty(fd):
    buf = bytearray(4)
    fcntl.ioctl(fd, termios.FIONREAD, buf)
    return int.from_bytes(buf, "little") == 0


def _send_line(p, w, path, data, expect):
    os.write(w, data)
    wait_for(lambda: path.read_bytes() == expect, what="line written")
    wait_for(lambda: _sleeping(p.pid), what="waiting for input")


@pytest.mark.parametrize("tool", BOTH)
def test_term_while_idle(tool, tmp_path, procs):
    p, r, w = _start(procs, tmp_path, [tool, "./d"])
    _send_line(p, w, tmp_path / "d" / "current", b"line\n", b"line\n")
    p.send_signal(signal.SIGTERM)
    assert p.wait(timeout=10) == 0
    assert layout(str(tmp_path / "d"))[0] == ("current", "0o744", b"line\n")
    os.close(r)
    os.close(w)


@pytest.mark.parametrize("tool", BOTH)
def test_term_mid_line_leaves_rest_in_pipe(tool, tmp_path, procs):
    p, r, w = _start(procs, tmp_path, [tool, "./d"])
    os.write(w, b"partial")
    wait_for(lambda: _pipe_empty(w) and _sleeping(p.pid), what="partial read")
    p.send_signal(signal.SIGTERM)
    wait_for(lambda: _taken(p.pid, signal.SIGTERM) and _sleeping(p.pid), what="TERM taken")
    os.write(w, b" rest\nnext\n")
    assert p.wait(timeout=10) == 0
    assert (tmp_path / "d" / "current").read_bytes() == b"partial rest\n"
    os.close(w)
    assert os.read(r, 100) == b"next\n"
    os.close(r)


@pytest.mark.parametrize("tool", BOTH)
def test_alrm_rotates_nonempty_current(tool, tmp_path, procs):
    p, r, w = _start(procs, tmp_path, [tool, "./d"])
    d = tmp_path / "d"
    _send_line(p, w, d / "current", b"x\n", b"x\n")
    p.send_signal(signal.SIGALRM)
    wait_for(lambda: any(n.startswith("@") for n in os.listdir(d)), what="archive")
    os.close(w)
    assert p.wait(timeout=10) == 0
    assert layout(str(d)) == [("@0.s", "0o744", b"x\n"), ("current", "0o744", b""),
                              ("lock", "0o600", b""), ("state", "0o644", b"")]
    os.close(r)


@pytest.mark.parametrize("tool", BOTH)
def test_alrm_leaves_empty_current(tool, tmp_path, procs):
    # ALRM is acted on at the read point where TERM then ends the program.
    p, r, w = _start(procs, tmp_path, [tool, "./d"])
    p.send_signal(signal.SIGALRM)
    p.send_signal(signal.SIGTERM)
    assert p.wait(timeout=10) == 0
    assert layout(str(tmp_path / "d")) == [("current", "0o744", b""), ("lock", "0o600", b""),
                                           ("state", "0o644", b"")]
    os.close(r)
    os.close(w)


# ---- disk trouble ----

def test_file_too_big_pauses_and_loses_nothing(tmp_path, procs):
    def limit():
        resource.setrlimit(resource.RLIMIT_FSIZE, (3000, resource.RLIM_INFINITY))
    err = open(tmp_path / "err", "wb")
    p = procs.start([OURS, "./d"], stdin=subprocess.PIPE, stderr=err, cwd=str(tmp_path),
                    preexec_fn=limit)
    data = _lines(100)
    p.stdin.write(data)
    p.stdin.close()
    warning = b"multilog: warning: unable to write to ./d/current, pausing: file too big\n"
    wait_for(lambda: (tmp_path / "err").read_bytes() == warning, timeout=10, what="warning")
    resource.prlimit(p.pid, resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
    assert p.wait(timeout=15) == 0
    err.close()
    assert (tmp_path / "d" / "current").read_bytes() == data
    assert (tmp_path / "err").read_bytes() == warning


@pytest.fixture
def small_fs(tmp_path):
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mnt)],
                                          capture_output=True).returncode != 0:
        pytest.skip("cannot mount a small tmpfs here")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def test_disk_full_pauses_and_loses_nothing(small_fs, tmp_path, procs):
    err = open(tmp_path / "err", "wb")
    p = procs.start([OURS, "s99999", "./d"], stdin=subprocess.PIPE, stderr=err, cwd=str(small_fs))
    data = _lines(2000, 50)  # 100 kB into 64 kB
    p.stdin.write(data)
    p.stdin.close()
    warning = b"multilog: warning: unable to write to ./d/current, pausing: out of disk space\n"
    wait_for(lambda: (tmp_path / "err").read_bytes().startswith(warning), timeout=10, what="warning")
    subprocess.run(["mount", "-o", "remount,size=4m", str(small_fs)], check=True)
    assert p.wait(timeout=15) == 0
    err.close()
    got = b"".join((small_fs / "d" / n).read_bytes() for n in sorted(os.listdir(small_fs / "d"))
                   if n.startswith("@") or n == "current")
    assert got == data


# ---- no traceback, whatever the input ----

def test_fuzz_never_tracebacks(tmp_path):
    rng = random.Random(7)
    pool = ["t", "e", "-*", "+*a*", "-\xff*", "=st", "s", "s1", "n0", "!", "./d", "/dev/null/x",
            "./d2", "x", "", "+", "-", "=x", "-**", "*", "n99999999999999999999999"]
    for i in range(25):
        args = [rng.choice(pool) for _ in range(rng.randrange(0, 7))]
        args = [a for a in args if a != "/dev/null/x"] + ["./d%d" % i]
        data = bytes(rng.getrandbits(8) for _ in range(rng.randrange(0, 5000)))
        data += rng.choice([b"", b"\n", b"x" * 3000])
        p = run([OURS] + args, input=data, cwd=str(tmp_path))
        assert b"Traceback" not in p.stderr and p.returncode == 0, (args, p.stderr[-500:])
