"""Bytes we do not control (names, stderr data) never stop a program.

daemontools treats names and output as bytes; the process-title API takes
only UTF-8 without NUL.  These tests feed both what the title API cannot
show and check that the bytes still reach files and pipes unchanged.
"""

import os
import random
import subprocess
import sys
import time

import pytest

from helpers import pid_alive, prog, run, wait_for, write_script
from svtools import _siteimport

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

NAMES = [b"bad\377", b"new\nline", b"with space", b"lone\x80byte", b"caf\xc3\xa9"]


def cmdline(pid):
    with open("/proc/%d/cmdline" % pid, "rb") as f:
        words = f.read().rstrip(b"\0").replace(b"\0", b" ").split(b" ", 1)
    return b" ".join([os.path.basename(words[0])] + words[1:])


def readproctitle_of(boot):
    """The command line of the readproctitle svscanboot BOOT started."""
    for task in os.listdir("/proc"):
        if task.isdigit():
            try:
                with open("/proc/%s/stat" % task, "rb") as f:
                    stat = f.read()
                line = cmdline(int(task))
            except OSError:
                continue
            if int(stat[stat.rindex(b")") + 2:].split()[1]) == boot and line.startswith(b"readproctitle "):
                return line
    return b""


def expected_title(raw):
    """What the title API can show of RAW: each byte that is not part of
    valid UTF-8 (Python's own decoder decides) becomes '?'."""
    text = raw.decode("utf-8", "surrogateescape")
    return "".join("?" if 0xDC80 <= ord(c) <= 0xDCFF else c for c in text).encode()


@pytest.mark.parametrize("name", NAMES, ids=repr)
def test_standalone_supervise_on_an_odd_name(procs, tmp_path, name):
    base = os.fsencode(str(tmp_path))
    d = base + b"/" + name
    os.mkdir(d)
    write_script(d + b"/run", "echo $$ >> started\nexec sleep 1000\n")
    p = procs.start([prog("supervise"), d], stderr=subprocess.PIPE)
    wait_for(lambda: os.path.exists(d + b"/started"), 10, what="./run started")
    r = run([prog("svok"), d])
    assert r.returncode == 0
    r = run([prog("svstat"), d])
    assert r.stdout.startswith(d + b": up (pid ")
    # a second supervise names the directory with the same bytes as 0.76
    second = run([prog("supervise"), name], cwd=base)
    assert (second.returncode, second.stderr) == (
        111, b"supervise: fatal: unable to acquire " + name + b"/supervise/lock: temporary failure\n")
    run([prog("svc"), "-dx", d])
    assert p.wait(timeout=10) == 0
    assert p.stderr.read() == b""
    with open(d + b"/started", "rb") as f:
        assert len(f.read().split()) == 1


@pytest.mark.parametrize("data", [b"bad\377", b"a\0b", "x\udcffy", "caf\xe9", b"\x80\xbf\xc3"],
                         ids=repr)
def test_showable_never_raises_and_keeps_the_byte_length(data):
    raw = data if isinstance(data, bytes) else os.fsencode(data)
    shown = _siteimport.showable(data)
    assert len(shown.encode("utf-8")) == len(raw)
    assert "\0" not in shown


def test_showable_over_random_bytes():
    for seed in range(2000):
        rnd = random.Random(seed)
        raw = bytes(rnd.randrange(256) for _ in range(rnd.randrange(1, 40)))
        shown = _siteimport.showable(raw).encode("utf-8")
        assert shown == expected_title(raw).replace(b"\0", b"?"), seed


def start_readproctitle(procs, dots):
    return procs.start([prog("readproctitle"), "service", "errors:", "." * dots],
                       stdin=subprocess.PIPE)


def test_readproctitle_random_bytes_over_many_seeds(procs):
    dots = 30
    head = b"readproctitle service errors: "
    for seed in range(100):
        rnd = random.Random(seed)
        p = start_readproctitle(procs, dots)
        fed = b""
        for _ in range(rnd.randrange(1, 6)):
            chunk = bytes(rnd.randrange(256) for _ in range(rnd.randrange(1, 50)))
            p.stdin.write(chunk)
            p.stdin.flush()
            fed += chunk
        tail = fed.replace(b"\0", b"")[-(dots - 3):]
        area = b"..." + (b"." * (dots - 3) + tail)[-(dots - 3):]
        want = expected_title(head + area)
        wait_for(lambda: cmdline(p.pid) == want, 10,
                 what="title for seed %d: %r" % (seed, want))
        p.stdin.close()
        assert p.wait(timeout=10) == 0, seed


def test_readproctitle_utf8_cut_at_every_offset(procs):
    # One byte at a time, so the left edge of the area cuts every character
    # of the text (2-, 3- and 4-byte ones) at every offset.
    dots = 12
    head = b"readproctitle service errors: "
    text = "café € 𝄞 ü naïve 中文 ".encode() * 2
    p = start_readproctitle(procs, dots)
    fed = b""
    for byte in text:
        p.stdin.write(bytes([byte]))
        p.stdin.flush()
        fed += bytes([byte])
        area = b"..." + (b"." * (dots - 3) + fed)[-(dots - 3):]
        want = expected_title(head + area)
        wait_for(lambda: cmdline(p.pid) == want, 10, what="title %r" % want)
    assert pid_alive(p.pid)
    p.stdin.close()
    assert p.wait(timeout=10) == 0


def test_readproctitle_titles_through_the_public_package(procs, tmp_path):
    # setproctitle's private layout changed: the extension is not where
    # _siteimport looks, but the public package still works.
    import setproctitle as real
    pkg = tmp_path / "setproctitle"
    (pkg / "_impl").mkdir(parents=True)
    ext = [n for n in os.listdir(os.path.dirname(real.__file__)) if n.startswith("_setproctitle.")]
    assert ext, "setproctitle's C extension not found"
    with open(os.path.join(os.path.dirname(real.__file__), ext[0]), "rb") as f:
        (pkg / "_impl" / ext[0]).write_bytes(f.read())
    (pkg / "_impl" / "__init__.py").write_text("")
    (pkg / "__init__.py").write_text(
        "from ._impl._setproctitle import setproctitle, getproctitle\n")
    code = ("import sys; sys.path[:0] = [%r, %r]; from svtools.readproctitle import main; "
            "sys.exit(main())" % (str(tmp_path), ROOT))
    p = procs.start([sys.executable, "-I", "-S", "-c", code, "e:", "." * 10],
                    stdin=subprocess.PIPE)
    p.stdin.write(b"x\377y")
    p.stdin.flush()
    wait_for(lambda: cmdline(p.pid) == b"readproctitle e: .......x?y", 10, what="title")
    p.stdin.close()
    assert p.wait(timeout=10) == 0


def test_readproctitle_without_setproctitle_still_reads_to_the_end(procs, tmp_path):
    (tmp_path / "setproctitle.py").write_text("raise ImportError('not installed')\n")
    code = ("import sys; sys.path[:0] = [%r, %r]; import svtools._siteimport as s; "
            "s.site_path = lambda: None; from svtools.readproctitle import main; "
            "sys.exit(main())" % (str(tmp_path), ROOT))
    r = subprocess.run([sys.executable, "-I", "-S", "-c", code, "e:", "." * 10],
                       input=b"\377" * 10000, capture_output=True, timeout=20)
    assert (r.returncode, r.stdout, r.stderr) == (0, b"", b"")


def test_svscanboot_survives_a_service_writing_invalid_utf8(procs, tmp_path):
    sv = tmp_path / "service"
    (sv / "noisy").mkdir(parents=True)
    (sv / "quiet").mkdir()
    # 5 s of invalid UTF-8 (and a cut two-byte character) on stderr, which
    # svscanboot sends to readproctitle; then a stamp that says it is done.
    write_script(sv / "noisy" / "run",
                 "echo $$ >> started\n"
                 "i=0\n"
                 "while [ $i -lt 100 ]; do printf 'caf\\303\\251 \\377\\303' >&2; "
                 "sleep 0.05; i=$((i+1)); done\n"
                 "echo done >> started\n"
                 "exec sleep 1000\n")
    write_script(sv / "quiet" / "run", "echo $$ >> started\nexec sleep 1000\n")
    p = procs.start([prog("svscanboot"), str(sv)], stdin=subprocess.DEVNULL)
    started = sv / "noisy" / "started"
    wait_for(lambda: started.exists() and b"done" in started.read_bytes(), 30,
             what="the noisy service to finish its 5 s")
    assert len(started.read_bytes().split()) == 2      # one pid, then "done"
    assert len((sv / "quiet" / "started").read_bytes().split()) == 1
    assert pid_alive(p.pid)
    title = readproctitle_of(p.pid)            # svscanboot's child (issue 13)
    assert title.startswith(b"readproctitle service errors: ...")
    assert b"caf\xc3\xa9 ?" in title
    for name in ("noisy", "quiet"):
        assert run([prog("svok"), str(sv / name)]).returncode == 0
        run([prog("svc"), "-dx", str(sv / name)])
