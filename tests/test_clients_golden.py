"""Golden transcripts of svc, svok and svstat on crafted service directories.

Each case is run through our program and, where marked interop, through
Debian's C program on the very same directory; transcripts are (stdout,
stderr, exit code) with only the seconds normalised.  The literal
transcripts keep the tests meaningful without the C tools.
"""

import os
import shutil
import subprocess
import tempfile

import pytest

import helpers
from clientkit import Zoo, norm, status_bytes, transcript
from svtools import _status

U, D, NONE = _status.WANT_UP, _status.WANT_DOWN, _status.WANT_NONE


@pytest.fixture
def zoo(tmp_path):
    z = Zoo(tmp_path)
    try:
        yield z
    finally:
        z.close()


# name -> (make() keywords, expected svstat text after "NAME: ")
SVSTAT_CASES = {
    "up": (dict(status=status_bytes(5, pid=8433)), "up (pid 8433) N seconds"),
    "up-paused": (dict(status=status_bytes(5, pid=8433, paused=1)),
                  "up (pid 8433) N seconds, paused"),
    "up-normally-down-want-down": (
        dict(status=status_bytes(2, pid=8880, want=D), down=True),
        "up (pid 8880) N seconds, normally down, want down"),
    "up-all-suffixes": (
        dict(status=status_bytes(3, pid=8880, paused=7, want=D), down=True),
        "up (pid 8880) N seconds, normally down, paused, want down"),
    "up-want-up-normally-up": (dict(status=status_bytes(1, pid=1, want=U)),
                               "up (pid 1) N seconds"),
    "up-big-pid": (dict(status=status_bytes(0, pid=0xFFFFFFFF)),
                   "up (pid 4294967295) N seconds"),
    "down-normally-up": (dict(status=status_bytes(9, want=D)),
                         "down N seconds, normally up"),
    "down-want-up": (dict(status=status_bytes(100, want=U)),
                     "down N seconds, normally up, want up"),
    "down-with-down-file": (dict(status=status_bytes(0, want=D), down=True),
                            "down N seconds"),
    "down-down-file-want-up": (dict(status=status_bytes(0, want=U), down=True),
                               "down N seconds, want up"),
    "down-paused-flag-hidden": (dict(status=status_bytes(0, paused=1, want=NONE)),
                                "down N seconds, normally up"),
    "once": (dict(status=status_bytes(4, pid=77, want=NONE)),
             "up (pid 77) N seconds"),
    "future-stamp": (dict(status=status_bytes(-1000, pid=12345, paused=1, want=D)),
                     "up (pid 12345) N seconds, paused, want down"),
    "long-status": (dict(status=status_bytes(3, pid=42) + b"\x01\x02"),
                    "up (pid 42) N seconds"),
    "short-status": (dict(status=status_bytes(3, pid=42)[:17]),
                     "unable to read supervise/status: bad format"),
    "empty-status": (dict(status=b""), "unable to read supervise/status: bad format"),
    "no-status": (dict(), "unable to open supervise/status: file does not exist"),
    "not-running": (dict(status=status_bytes(0), ok="dead"), "supervise not running"),
    "no-ok": (dict(status=status_bytes(0), ok=None),
              "unable to open supervise/ok: file does not exist"),
    "ok-is-dir": (dict(status=status_bytes(0), ok="dir"),
                  "unable to open supervise/ok: is a directory"),
    "with space": (dict(status=status_bytes(1, pid=3)), "up (pid 3) N seconds"),
    b"caf\xe9-latin1": (dict(status=status_bytes(1, pid=4)), "up (pid 4) N seconds"),
}


def _build_svstat_zoo(zoo):
    for name, (kw, _) in SVSTAT_CASES.items():
        zoo.make(name, **kw)
    os.mkdir(zoo.path("new"))
    os.makedirs(zoo.path("supervise-is-file"))
    open(os.path.join(zoo.path("supervise-is-file"), b"supervise"), "wb").close()
    os.makedirs(zoo.path("down-loop"))
    os.symlink("down", os.path.join(zoo.path("down-loop"), b"down"))
    open(zoo.path("plain-file"), "wb").close()
    extra = [
        ("new", "unable to open supervise/ok: file does not exist"),
        ("supervise-is-file", "unable to open supervise/ok: not a directory"),
        ("down-loop", "unable to stat down: symbolic link loop"),
        ("plain-file", "unable to chdir: not a directory"),
        ("nonexistent", "unable to chdir: file does not exist"),
        ("-", "unable to chdir: file does not exist"),
    ]
    names = [os.fsencode(n) for n in SVSTAT_CASES] + [n.encode() for n, _ in extra]
    expected = b"".join(os.fsencode(n) + b": " + t.encode() + b"\n"
                        for n, t in [(n, t) for n, (_, t) in SVSTAT_CASES.items()] + extra)
    return names, expected


def test_svstat_every_wording(zoo):
    names, expected = _build_svstat_zoo(zoo)
    out, err, rc = transcript([b"svstat"] + names, zoo.base)
    assert (norm(out), err, rc) == (expected, b"", 0)


@pytest.mark.interop
def test_svstat_every_wording_same_as_c(zoo):
    names, _ = _build_svstat_zoo(zoo)
    ours = transcript([b"svstat"] + names, zoo.base)
    theirs = transcript([b"svstat"] + names, zoo.base, impl="c")
    assert (norm(ours[0]),) + ours[1:] == (norm(theirs[0]),) + theirs[1:]


def test_svstat_status_is_a_directory(zoo):
    d = zoo.make("s")
    os.mkdir(os.path.join(d, b"supervise", b"status"))
    assert transcript(["svstat", "s"], zoo.base) == (
        b"s: unable to read supervise/status: is a directory\n", b"", 0)


@pytest.mark.interop
def test_svstat_status_is_a_directory_c_prints_absurd_seconds(zoo):
    """Departure 6: the C svstat misses the read error."""
    d = zoo.make("s")
    os.mkdir(os.path.join(d, b"supervise", b"status"))
    out, err, rc = transcript(["svstat", "s"], zoo.base, impl="c")
    assert out.startswith(b"s: down 46116860") and rc == 0


def test_svstat_no_arguments(tmp_path):
    assert transcript(["svstat"], tmp_path) == (b"", b"", 0)


def test_svstat_crafted_seconds_exact(zoo):
    zoo.make("old", status=status_bytes(100, want=U))
    out = transcript(["svstat", "old"], zoo.base)[0]
    assert out in (b"old: down 100 seconds, normally up, want up\n",
                   b"old: down 101 seconds, normally up, want up\n")


@pytest.mark.interop
def test_svstat_label_zero_same_as_c(zoo):
    """A label of 0: the difference goes through a double in both."""
    zoo.make("zero", status=b"\0" * 12 + bytes([7, 0, 0, 0, 0, ord("u")]))
    ours = transcript(["svstat", "zero"], zoo.base)
    theirs = transcript(["svstat", "zero"], zoo.base, impl="c")
    assert ours[0].startswith(b"zero: up (pid 7) 46116860")
    # The two runs may straddle a second: allow the last digits to move.
    assert ours[0][:30] == theirs[0][:30] and ours[1:] == theirs[1:]
    assert ours[0].endswith(b" seconds\n") and len(ours[0]) == len(theirs[0])


# ---- svc ----------------------------------------------------------------

def _build_svc_zoo(zoo):
    zoo.make("live")
    zoo.make("dead", control="dead")
    zoo.make("no-control", control=None)
    zoo.make("control-dir", control="dir")
    os.makedirs(zoo.path("supervise-is-file"))
    open(os.path.join(zoo.path("supervise-is-file"), b"supervise"), "wb").close()
    os.mkdir(zoo.path("new"))
    zoo.make("with space", control="dead")
    zoo.make(b"bad\xff", control="dead")


SVC_DIRS = ["live", "dead", "no-control", "control-dir", "supervise-is-file",
            "new", "nonexistent", "with space", b"bad\xff", "-", "live"]
SVC_STDERR = (
    b"svc: warning: unable to control dead: supervise not running\n"
    b"svc: warning: unable to control no-control: file does not exist\n"
    b"svc: warning: unable to control control-dir: is a directory\n"
    b"svc: warning: unable to control supervise-is-file: not a directory\n"
    b"svc: warning: unable to control new: file does not exist\n"
    b"svc: warning: unable to chdir to nonexistent: file does not exist\n"
    b"svc: warning: unable to control with space: supervise not running\n"
    b"svc: warning: unable to control bad\xff: supervise not running\n"
    b"svc: warning: unable to chdir to -: file does not exist\n"
)


def test_svc_every_warning(zoo):
    _build_svc_zoo(zoo)
    args = ["svc", "-xdu", "-d", "-hhh", "-oa"] + SVC_DIRS
    assert transcript(args, zoo.base) == (b"", SVC_STDERR, 0)
    # Written once for each time "live" was named, each letter once.
    assert zoo.received("live") == b"xduhoa" * 2


@pytest.mark.interop
def test_svc_every_warning_same_as_c(zoo):
    _build_svc_zoo(zoo)
    args = ["svc", "-xdu", "-d", "-hhh", "-oa", "-pctik"] + SVC_DIRS
    assert transcript(args, zoo.base) == transcript(args, zoo.base, impl="c")
    assert zoo.received("live") == b"xduhoapctik" * 4


def test_svc_encore_letters(zoo):
    zoo.make("live")
    assert transcript(["svc", "-q12w", "-1", "-uq", "live"], zoo.base) == (b"", b"", 0)
    assert zoo.received("live") == b"q12wu"


def test_svc_no_options_opens_but_writes_nothing(zoo):
    zoo.make("live")
    zoo.make("dead", control="dead")
    assert transcript(["svc", "live", "dead"], zoo.base) == (
        b"", b"svc: warning: unable to control dead: supervise not running\n", 0)
    assert zoo.received("live") == b""


def test_svc_no_arguments(tmp_path):
    assert transcript(["svc"], tmp_path) == (b"", b"", 0)
    assert transcript(["svc", "-u"], tmp_path) == (b"", b"", 0)


SVC_USAGE = (b"svc options: u up, d down, o once, x exit, p pause, c continue,"
             b" h hup, a alarm, i interrupt, t term, k kill,"
             b" q quit, 1 usr1, 2 usr2, w winch\n")


@pytest.mark.parametrize("args,first", [
    (["-z", "x"], b"svc: illegal option -- z\n"),
    (["-uz", "x"], b"svc: illegal option -- z\n"),
    (["-u", "-:", "x"], b"svc: illegal option -- :\n"),
])
def test_svc_bad_option(zoo, args, first):
    zoo.make("x")
    assert transcript(["svc"] + args, zoo.base) == (b"", first + SVC_USAGE, 100)
    assert zoo.received("x") == b""


@pytest.mark.interop
def test_svc_bad_option_same_first_line_as_c(tmp_path):
    ours = transcript(["svc", "-uy", "x"], tmp_path)
    theirs = transcript(["svc", "-uy", "x"], tmp_path, impl="c")
    assert ours[2] == theirs[2] == 100
    assert ours[1].split(b"\n")[0] == theirs[1].split(b"\n")[0]
    # Ours lists the encore letters after 0.76's list.
    assert ours[1].split(b"\n")[1].startswith(theirs[1].split(b"\n")[1] + b", ")


def test_svc_options_stop_at_first_operand(zoo):
    zoo.make("live")
    assert transcript(["svc", "-u", "--", "live", "-d"], zoo.base) == (
        b"", b"svc: warning: unable to chdir to -d: file does not exist\n", 0)
    assert zoo.received("live") == b"u"


def test_svc_refuses_regular_file_control(zoo):
    """Departure 7: no write into anything but a FIFO, and no hang."""
    d = zoo.make("reg", control="file")
    target = os.path.join(zoo.path("target"))
    with open(target, "wb") as f:
        f.write(b"keep")
    e = zoo.make("link", control=None)
    os.symlink(target, os.path.join(e, b"supervise", b"control"))
    assert transcript(["svc", "-dx", "reg", "link"], zoo.base, timeout=10) == (
        b"",
        b"svc: warning: unable to control reg: control is not a fifo\n"
        b"svc: warning: unable to control link: control is not a fifo\n",
        0)
    assert open(os.path.join(d, b"supervise", b"control"), "rb").read() == b""
    assert open(target, "rb").read() == b"keep"


@pytest.mark.interop
def test_svc_c_writes_into_regular_file_control(zoo):
    """What departure 7 departs from: the C svc writes into a plain file."""
    d = zoo.make("reg", control="file")
    assert transcript(["svc", "-dx", "reg"], zoo.base, impl="c") == (b"", b"", 0)
    assert open(os.path.join(d, b"supervise", b"control"), "rb").read() == b"dx"


# ---- svok ---------------------------------------------------------------

SVOK_CASES = [
    (["svok"], (b"", b"svok: usage: svok dir\n", 100)),
    (["svok", "live"], (b"", b"", 0)),
    (["svok", "live", "nonexistent"], (b"", b"", 0)),
    (["svok", "dead"], (b"", b"", 100)),
    (["svok", "new"], (b"", b"", 100)),
    (["svok", "no-ok"], (b"", b"", 100)),
    (["svok", "nonexistent"],
     (b"", b"svok: fatal: unable to chdir to nonexistent: file does not exist\n", 111)),
    (["svok", "supervise-is-file"],
     (b"", b"svok: fatal: unable to open supervise-is-file/supervise/ok: not a directory\n", 111)),
    (["svok", "ok-is-dir"],
     (b"", b"svok: fatal: unable to open ok-is-dir/supervise/ok: is a directory\n", 111)),
    (["svok", b"sp ace\xfe"], (b"", b"", 0)),
    (["svok", "-"], (b"", b"svok: fatal: unable to chdir to -: file does not exist\n", 111)),
]


def _build_svok_zoo(zoo):
    zoo.make("live")
    zoo.make(b"sp ace\xfe")
    zoo.make("dead", ok="dead")
    zoo.make("no-ok", ok=None)
    zoo.make("ok-is-dir", ok="dir")
    os.mkdir(zoo.path("new"))
    os.makedirs(zoo.path("supervise-is-file"))
    open(os.path.join(zoo.path("supervise-is-file"), b"supervise"), "wb").close()


@pytest.mark.parametrize("args,expected", SVOK_CASES, ids=lambda x: repr(x)[:40])
def test_svok(zoo, args, expected):
    _build_svok_zoo(zoo)
    assert transcript(args, zoo.base) == expected


@pytest.mark.interop
@pytest.mark.parametrize("args", [a for a, _ in SVOK_CASES], ids=lambda x: repr(x)[:40])
def test_svok_same_as_c(zoo, args):
    _build_svok_zoo(zoo)
    assert transcript(args, zoo.base) == transcript(args, zoo.base, impl="c")


# ---- fatal: the starting directory cannot be opened ---------------------

@pytest.fixture
def unreadable_cwd():
    """A directory that user nobody may enter but not read."""
    d = tempfile.mkdtemp(prefix="svtools-cwd-")
    os.chmod(d, 0o311)
    try:
        yield d
    finally:
        os.rmdir(d)


# setpriv rather than Popen(user=): the latter fails to exec our console
# scripts on this machine although setpriv and a shell both can.
NOBODY = dict(prefix=["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"])


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("setpriv"),
                    reason="needs root and setpriv to run as nobody")
@pytest.mark.parametrize("prog", ["svc", "svstat"])
def test_unable_to_open_current_directory(unreadable_cwd, prog):
    assert transcript([prog, "-", "x"], unreadable_cwd, **NOBODY) == (
        b"", prog.encode() + b": fatal: unable to open current directory: access denied\n",
        111)


@pytest.mark.interop
@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("setpriv"),
                    reason="needs root and setpriv to run as nobody")
@pytest.mark.parametrize("prog", ["svc", "svstat"])
def test_unable_to_open_current_directory_same_as_c(unreadable_cwd, prog):
    ours = transcript([prog, "x"], unreadable_cwd, **NOBODY)
    assert ours == transcript([prog, "x"], unreadable_cwd, impl="c", **NOBODY)


def test_svstat_stdout_closed_is_not_a_traceback(zoo):
    """A reader that went away: the write fails with EPIPE, quietly."""
    zoo.make("up", status=status_bytes(1, pid=5))
    r, w = os.pipe()
    os.close(r)
    try:
        cp = subprocess.run([helpers.prog("svstat"), "up"], cwd=zoo.base, stdout=w,
                            stderr=subprocess.PIPE, timeout=20)
    finally:
        os.close(w)
    assert (cp.stderr, cp.returncode) == (b"", 0)
