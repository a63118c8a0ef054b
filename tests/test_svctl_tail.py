"""svctl tail and show: real multilog processes writing real log directories
(fed by the test, so it knows every line), merged in time order across
rotations; -f following rotations without losing a line."""

import fcntl
import json
import os
import re
import time

import helpers
from svtools import _tai64, _xstatus

STAMP = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} ")


class Logged:
    """DIR/NAME with log/run naming multilog, and that multilog running in
    DIR/NAME/log, fed through a pipe by the test (no supervise: svctl finds
    the directory from log/run)."""

    def __init__(self, base, procs, name, script="t s4096 n20 ./main"):
        self.dir = os.path.join(str(base), name)
        self.log = os.path.join(self.dir, "log")
        os.makedirs(self.log)
        helpers.write_script(os.path.join(self.dir, "run"), "exec sleep 1000\n")
        helpers.write_script(os.path.join(self.log, "run"), "exec multilog %s\n" % script)
        import subprocess
        self.proc = procs.start([helpers.prog("multilog")] + script.split(), cwd=self.log,
                                stdin=subprocess.PIPE)
        self.main = os.path.join(self.log, "main")
        helpers.wait_for(lambda: os.path.exists(os.path.join(self.main, "current")), timeout=15,
                         what="multilog started")
        self.sent = 0

    def write(self, lines):
        self.proc.stdin.write(b"".join(line + b"\n" for line in lines))
        self.proc.stdin.flush()
        self.sent += len(lines)
        helpers.wait_for(lambda: self.has(lines[-1]), timeout=15, what="lines on disk")

    def has(self, line):
        names = sorted(n for n in os.listdir(self.main) if n.startswith("@"))[-1:] + ["current"]
        for name in names:
            try:
                with open(os.path.join(self.main, name), "rb") as f:
                    if f.read().endswith(b" " + line + b"\n"):
                        return True
            except FileNotFoundError:
                pass   # rotated meanwhile
        return False

    def rotations(self):
        return len([n for n in os.listdir(self.main) if n.startswith("@")])


def svctl(*args, env=None):
    cp = helpers.run([helpers.prog("svctl")] + list(args), env=env or helpers.env(TZ="UTC"))
    return cp.stdout.decode(), cp.stderr.decode(), cp.returncode


def pad(prefix, i):
    return b"%s %04d %s" % (prefix, i, b"x" * 60)


def test_merge_in_time_order_across_rotations(tmp_path, procs):
    a = Logged(tmp_path, procs, "a")
    b = Logged(tmp_path, procs, "bb")
    order = []
    for batch in range(4):
        for svc, name in ((a, b"a"), (b, b"bb")):
            lines = [pad(name, batch * 30 + i) for i in range(30)]
            svc.write(lines)
            order += [(name.decode(), line.decode()) for line in lines]
            time.sleep(0.01)  # distinct stamps for each batch
    assert a.rotations() >= 2 and b.rotations() >= 2
    out, err, code = svctl("-d", str(tmp_path), "tail", "-n", "100", "a", "bb")
    assert (err, code) == ("", 0)
    got = []
    for line in out.splitlines():
        name, _, rest = line.partition(" | ")
        assert STAMP.match(rest), line
        got.append((name.strip(), rest[24:]))
    want = [x for x in order if x[0] == "a"][-100:] + [x for x in order if x[0] == "bb"][-100:]
    want.sort(key=order.index)
    assert got == want
    assert out.splitlines()[0].startswith("a  | ")
    # one service, --no-prefix, --utc: the stamp is the TAI64N label's, in UTC
    out, _, code = svctl("-d", str(tmp_path), "tail", "-n", "1", "--no-prefix", "--utc", "a")
    with open(os.path.join(a.main, "current"), "rb") as f:
        last = f.read().splitlines()[-1]
    secs, nanos = _tai64.unpack(bytes.fromhex(last[1:25].decode()))
    assert out == "%s.%03dZ %s\n" % (time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(secs)),
                                      nanos // 1000000, last[26:].decode())


def test_tail_follow_across_rotations(tmp_path, procs):
    import subprocess
    a = Logged(tmp_path, procs, "a")
    b = Logged(tmp_path, procs, "b")
    a.write([b"old line"])
    p = procs.start([helpers.prog("svctl"), "-d", str(tmp_path), "tail", "-f", "-n", "1", "a", "b"],
                    stdout=subprocess.PIPE, env=helpers.env(TZ="UTC"))
    fd = p.stdout.fileno()
    fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) | os.O_NONBLOCK)
    seen = []
    buf = [b""]

    def until(text):
        def look():
            try:
                chunk = os.read(fd, 1 << 20)
            except BlockingIOError:
                chunk = b""
            if chunk:
                data = buf[0] + chunk
                lines = data.split(b"\n")
                buf[0] = lines.pop()
                seen.extend(line.decode() for line in lines)
            return any(text in line for line in seen[-50:])
        helpers.wait_for(look, timeout=20, interval=0.01, what=text)

    until("a | ")
    assert seen[0].startswith("a | ") and seen[0].endswith(" old line")
    b.write([b"hello from b"])
    until("hello from b")
    assert STAMP.match(seen[-1][4:]), seen[-1]
    for chunk in range(10):
        a.write([pad(b"a", chunk * 200 + i) for i in range(200)])
        until(pad(b"a", chunk * 200 + 199).decode())
    assert a.rotations() >= 19                 # n20: the archives it keeps
    body = [line[28:] for line in seen if line.startswith("a | ") and " a " in line[4:30]]
    assert body == [pad(b"a", i).decode() for i in range(2000)]
    procs.stop(p)


def test_bad_log_directories(tmp_path, procs):
    good = Logged(tmp_path, procs, "good")
    good.write([b"fine"])
    broken = os.path.join(str(tmp_path), "broken")
    os.makedirs(os.path.join(broken, "log", "main", "current"))   # EISDIR when read
    helpers.write_script(os.path.join(broken, "log", "run"), "exec multilog t ./main\n")
    os.makedirs(os.path.join(str(tmp_path), "nolog"))
    out, err, code = svctl("-d", str(tmp_path), "tail", "broken", "nolog", "good")
    assert code == 1
    assert out.endswith(" fine\n") and out.count("\n") == 1
    assert err.splitlines() == [
        "svctl: warning: nolog: no log directory: %s/nolog/log does not exist" % tmp_path,
        "svctl: warning: broken: unable to read %s/broken/log/main: is a directory" % tmp_path,
    ]


def test_iso_stamps_left_alone_and_unstamped_lines(tmp_path):
    d = os.path.join(str(tmp_path), "iso")
    os.makedirs(os.path.join(d, "log", "main"))
    helpers.write_script(os.path.join(d, "log", "run"), "exec s6-log -b n3 T ./main\n")
    with open(os.path.join(d, "log", "main", "current"), "w") as f:
        f.write("2026-01-01T00:00:01.000000+00:00 iso one\nplain continuation\n")
    out, err, code = svctl("-d", str(tmp_path), "tail", "--no-prefix", "iso")
    assert (out, err, code) == (
        "2026-01-01T00:00:01.000000+00:00 iso one\nplain continuation\n", "", 0)


def test_show(tmp_path, procs):
    svc = Logged(tmp_path, procs, "web")
    svc.write([b"line %d" % i for i in range(8)])
    os.makedirs(os.path.join(svc.dir, "supervise"))
    for name in ("timeout-kill", "down-signal"):
        with open(os.path.join(svc.dir, name), "w") as f:
            f.write({"timeout-kill": "500\n", "down-signal": "SIGHUP\n"}[name])
    helpers.write_script(os.path.join(svc.dir, "finish"), "exit 0\n")
    out, err, code = svctl("-d", str(tmp_path), "show", "web")
    lines = out.splitlines()
    assert lines[0] == "web: supervise not running"
    assert "  down-signal      SIGHUP" in lines and "  timeout-kill     500" in lines
    assert "  finish           (present)" in lines
    assert lines[-6] == "log directory: %s (from log/run (multilog))" % svc.main
    assert [STAMP.sub("", line) for line in lines[-5:]] == ["line %d" % i for i in range(3, 8)]
    assert code == 4
    doc = json.loads(svctl("-d", str(tmp_path), "show", "--json", "web")[0])
    assert doc["knobs"] == {"timeout-kill": "500", "down-signal": "SIGHUP", "finish": ""}
    assert doc["logdir"] == svc.main and doc["logdir_how"] == "from log/run (multilog)"
    assert svctl("-d", str(tmp_path), "show", "web", "other")[2] == 100


def test_show_exits_from_xstatus(tmp_path):
    from clientkit import Zoo, status_bytes
    z = Zoo(tmp_path)
    try:
        d = z.make("svc", status=status_bytes(5, pid=40010))
        now = time.time()
        with open(os.path.join(d, b"supervise", b"xstatus"), "wb") as f:
            f.write(_xstatus.pack(dict(state="up", pid=40010, since=now - 5, starts=3,
                                       exit_code=256, exit_signal=9, exit_at=now - 5, exit_ran=2.0)))
        with open(os.path.join(d, b"supervise", b"exits"), "wb") as f:
            f.write(_xstatus.pack_exits([(now - 60, 40008, 1, 0, 30.0), (now - 5, 40009, 256, 9, 2.0)]))
        out, _, code = svctl("-d", str(tmp_path), "show", "svc")
    finally:
        z.close()
    text = re.sub(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}", "T", out)
    assert "  restarts         2" in text
    assert "    T  pid 40008   exit 1   after 30s" in text
    assert "    T  pid 40009   SIGKILL  after 2.0s" in text  # as "last SIGKILL after 2.0s"
    assert "  source           supervise/xstatus (svtools supervise)" in text
    assert code == 0


def test_follower_sees_every_line_whatever_it_missed(tmp_path):
    """Rotations done by hand the way multilog does them (current ->
    previous, new current, previous -> @label.s), several between two looks,
    some while `previous` is not linked yet, with pruning: every line once."""
    from svtools import _logtail
    d = str(tmp_path)
    n = [0, 0]   # lines written, archives made
    archived = []

    def write(count):
        with open(os.path.join(d, "current"), "ab") as f:
            for _ in range(count):
                f.write(b"line %d\n" % n[0])
                n[0] += 1

    def rotate(link=True):
        os.rename(os.path.join(d, "current"), os.path.join(d, "previous"))
        open(os.path.join(d, "current"), "wb").close()
        if link:
            finish()

    def finish():
        n[1] += 1
        name = _tai64.stamp(1764460800 + n[1], 0) + ".s"
        os.link(os.path.join(d, "previous"), os.path.join(d, name))
        os.unlink(os.path.join(d, "previous"))
        archived.append(name)
        while len(archived) > 5:
            os.unlink(os.path.join(d, archived.pop(0)))

    write(3)
    f = _logtail.Follower(os.fsencode(d))
    got = []
    script = [1, "r", 2, "r", 2, "look", "r-half", 1, "look", "finish", 3, "r", "r", 1, "look",
              4, "r", "look", "r", "look", 2, "r", 1, "r", 1, "r", 1, "look", 1, "look"]
    for step in script:
        if step == "look":
            got += [line for _, line in f.fresh()]
        elif step == "r":
            rotate()
        elif step == "r-half":
            rotate(link=False)
        elif step == "finish":
            finish()
        else:
            write(step)
    assert got == [b"line %d" % i for i in range(3, n[0])]
