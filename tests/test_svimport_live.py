"""Services made by svimport, running under a real svscan: user, environment,
working directory, umask, logs, stop signal and process group."""

import os
import shutil
import signal
import socket
import struct
import tempfile
import urllib.request

import pytest

import helpers
from helpers import prog, wait_for, write_script

DATA = os.path.join(os.path.dirname(__file__), "data", "svimport")


def status_pid(d):
    try:
        with open(os.path.join(d, "supervise", "status"), "rb") as f:
            data = f.read()
    except OSError:
        return 0
    return struct.unpack("<I", data[12:16])[0] if len(data) >= 18 else 0


class World:
    """A world-readable work directory (nobody must reach it), a scan
    directory and one svscan; teardown stops every service and kills what
    is left by process group."""

    def __init__(self, procs):
        self.procs = procs
        self.root = tempfile.mkdtemp(prefix="svimport-live-", dir="/tmp")
        os.chmod(self.root, 0o755)
        self.sv = os.path.join(self.root, "sv")
        self.scan = os.path.join(self.root, "scan")
        os.mkdir(self.scan)
        self.svscan = None

    def path(self, *parts):
        return os.path.join(self.root, *parts)

    def start(self, env=None):
        for name in sorted(os.listdir(self.sv)):
            os.symlink(os.path.join(self.sv, name), os.path.join(self.scan, name))
        self.err = open(self.path("svscan.err"), "wb")
        self.svscan = self.procs.start([prog("svscan"), self.scan], stdout=self.err, stderr=self.err,
                                       env=env or helpers.env())

    def dirs(self):
        out = []
        for name in os.listdir(self.sv) if os.path.isdir(self.sv) else []:
            out.append(os.path.join(self.sv, name))
            if os.path.isdir(os.path.join(self.sv, name, "log")):
                out.append(os.path.join(self.sv, name, "log"))
        return out

    def close(self):
        pids = [status_pid(d) for d in self.dirs()]
        if self.svscan is not None:
            helpers.run([prog("svc"), "-dx"] + self.dirs())
            self.procs.stop(self.svscan)
            self.err.close()
        for pid in pids:
            if pid:
                for kill in (os.killpg, os.kill):
                    try:
                        kill(pid, signal.SIGKILL)
                    except (ProcessLookupError, PermissionError):
                        pass
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture
def world(procs):
    w = World(procs)
    yield w
    w.close()


def current(path):
    try:
        with open(os.path.join(path, "current"), "rb") as f:
            return f.read().decode()
    except OSError:
        return ""


def svimport(world, conf, **env):
    r = helpers.run([prog("svimport"), "-o", world.sv, conf], env=helpers.env(**env))
    assert r.returncode in (0, 1), r.stdout + r.stderr
    return r.stdout.decode()


FAKE_AIRFLOW = r"""
state=%(state)s
echo "out $1 uid=$(id -u) cwd=$(pwd) home=$AIRFLOW_HOME examples=$AIRFLOW__CORE__LOAD_EXAMPLES name=$SUPERVISOR_PROCESS_NAME umask=$(umask)"
echo "err $1" >&2
# a worker like gunicorn's, which takes QUIT (sh would leave it ignored)
# (each pid is written once its signal disposition is in place: the test
# sends QUIT as soon as both files exist)
python3 -c 'import os, signal, sys, time; signal.signal(signal.SIGQUIT, signal.SIG_DFL); open(sys.argv[1], "w").write(str(os.getpid())); time.sleep(1000)' $state/worker-$1 &
trap 'echo "$1 got QUIT"; exit 0' QUIT
echo $$ > $state/main-$1
wait
"""


def test_airflow_seed_runs_as_its_supervisord_programs(world):
    home, logs, bin_, state = (world.path(p) for p in ("home", "logs", "bin", "state"))
    for d in (home, logs, bin_, state):
        os.mkdir(d)
        os.chmod(d, 0o777 if d == state else 0o755)
    write_script(os.path.join(bin_, "airflow"), FAKE_AIRFLOW % {"state": state})
    text = open(os.path.join(DATA, "airflow.conf")).read()
    text = text.replace("user=airflow", "user=nobody").replace("/opt/airflow/venv/bin", bin_)
    conf = world.path("supervisord.conf")
    with open(conf, "w") as f:
        f.write(text)
    svimport(world, conf, AIRFLOW_HOME=home, AIRFLOW_LOGS=logs)
    assert sorted(os.listdir(world.sv)) == ["airflow-scheduler", "airflow-scheduler.stderr",
                                            "airflow-webserver", "airflow-webserver.stderr"]
    world.start()
    for job in ("webserver", "scheduler"):
        out = wait_for(lambda: current(os.path.join(logs, job + ".log.d")), 20,
                       what="%s stdout log" % job)
        assert ("out %s uid=65534 cwd=%s home=%s examples=%s name=airflow-%s umask=0022"
                % (job, home, home, "False" if job == "webserver" else "", job)) in out
        assert out.startswith("@")
        err = wait_for(lambda: current(os.path.join(logs, job + ".err.d")), 20,
                       what="%s stderr log" % job)
        assert "err %s" % job in err and "out " not in err
        assert "err " not in out
    web = os.path.join(world.sv, "airflow-webserver")
    def pid_in(name):
        try:
            return int(open(os.path.join(state, name)).read())
        except (OSError, ValueError):
            return 0
    worker = wait_for(lambda: pid_in("worker-webserver"), 20)
    main = wait_for(lambda: pid_in("main-webserver"), 20)
    helpers.run([prog("svc"), "-d", web])
    wait_for(lambda: not helpers.pid_alive(main) and not helpers.pid_alive(worker), 20,
             what="QUIT to the whole process group")
    wait_for(lambda: "webserver got QUIT" in current(os.path.join(logs, "webserver.log.d")), 20)


def free_ports(n):
    for base in range(20080, 60000, 97):
        socks = []
        try:
            for port in range(base, base + n):
                s = socket.socket()
                s.bind(("127.0.0.1", port))
                socks.append(s)
            return base
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise AssertionError("no free ports")


def test_tornado_seed_four_processes_answer_on_their_ports(world):
    base = free_ports(4)
    text = open(os.path.join(DATA, "tornado.conf")).read().replace("numprocs_start=8080",
                                                                  "numprocs_start=%d" % base)
    os.mkdir(world.path("logs"))
    shutil.copy(os.path.join(DATA, "app.py"), world.path("app.py"))
    conf = world.path("tornado.conf")
    with open(conf, "w") as f:
        f.write(text)
    svimport(world, conf)
    names = ["tornado-%d" % p for p in range(base, base + 4)]
    assert sorted(os.listdir(world.sv)) == names
    world.start()

    def get(port):
        try:
            with urllib.request.urlopen("http://127.0.0.1:%d/hello" % port, timeout=2) as r:
                return r.read().decode()
        except OSError:
            return None

    for port in range(base, base + 4):
        body = wait_for(lambda: get(port), 20, interval=0.1, what="port %d" % port)
        pid = status_pid(os.path.join(world.sv, "tornado-%d" % port))
        assert body == "port %d pid %d\n" % (port, pid)
        log = world.path("logs", "tornado-%d.log.d" % port)
        wait_for(lambda: "request /hello" in current(log), 20, what="request in the log")
        assert "listening on %d" % port in current(log)


def test_quoting_and_environment_reach_the_program_exactly(world):
    conf = world.path("q.conf")
    with open(conf, "w") as f:
        f.write(r"""[program:q]
command=/bin/sh -c 'printf "[%%s]" "$0" "$@"; printf "{%%s}" "$GREETING" "$DOLLAR" "$QUOTE" "$TRAIL" "$SEMI"; env | grep -c "^EMPTY=$"; sleep 1000' 'x y' "it's" $HOME a;b *
environment=GREETING="hello, world",DOLLAR="$HOME `id` $(id)",QUOTE="it's \"q\"",TRAIL="sp ",SEMI="a;b|c&d",EMPTY=""
directory=%(here)s
stdout_logfile=%(here)s/q.log
""")
    svimport(world, conf)
    world.start()
    log = world.path("q.log.d")
    out = wait_for(lambda: "\n" in current(log) and current(log), 20, what="q output")
    assert out.split("\n")[0].split(" ", 1)[1] == (
        "[x y][it's][$HOME][a;b][*]{hello, world}{$HOME `id` $(id)}{it's \"q\"}{sp }{a;b|c&d}1")


def test_autostart_autorestart_exitcodes_behave_as_supervisord(world):
    conf = world.path("r.conf")
    with open(conf, "w") as f:
        f.write("""[program:manual]
command=/bin/sh -c 'echo x >> %(here)s/manual.runs'
autostart=false
stdout_logfile=NONE
[program:expected]
command=/bin/sh -c 'echo x >> %(here)s/expected.runs; exit 2'
exitcodes=0,2
startsecs=0
stdout_logfile=NONE
[program:unexpected]
command=/bin/sh -c 'echo x >> %(here)s/unexpected.runs; exit 3'
exitcodes=0,2
startsecs=0
stdout_logfile=NONE
[program:never]
command=/bin/sh -c 'echo x >> %(here)s/never.runs; exit 3'
autorestart=false
startsecs=0
stdout_logfile=NONE
""")
    svimport(world, conf)
    world.start()

    def runs(name):
        try:
            return len(open(world.path(name + ".runs")).read().split())
        except OSError:
            return 0

    wait_for(lambda: runs("unexpected") >= 3, 20, interval=0.05, what="unexpected exit restarted")
    for name in ("expected", "never"):
        d = os.path.join(world.sv, name)
        wait_for(lambda: runs(name) == 1 and status_pid(d) == 0 and
                 os.path.exists(os.path.join(d, "supervise", "xstatus")), 20)
    assert runs("expected") == 1 and runs("never") == 1 and runs("manual") == 0
    helpers.run([prog("svc"), "-o", os.path.join(world.sv, "manual")])
    wait_for(lambda: runs("manual") == 1, 20, what="svc -o on the autostart=false service")


SHAPES = ("includes", "loop", "numprocs", "quoting", "restarts", "logs", "sections",
          "badprograms", "signals", "groupenv")


def test_every_shape_starts_under_svscan(world):
    """Each service made from the shapes in tests/data starts (or stays down
    when autostart=false) under one svscan; copies, so that logs stay in tmp."""
    shutil.copytree(DATA, world.path("data"))
    for shape in SHAPES:
        svimport(world, world.path("data", shape + ".conf"))
    names = sorted(os.listdir(world.sv))
    assert len(names) == 24, names
    world.start()

    def xstatus(name):
        try:
            with open(os.path.join(world.sv, name, "supervise", "xstatus"), "rb") as f:
                return f.read()
        except OSError:
            return b""

    for name in names:
        if name == "oneshot":
            wait_for(lambda: b"\nstate down\n" in xstatus(name), 20)
            continue
        wait_for(lambda: b"\nstarts 0\n" not in xstatus(name) and xstatus(name), 20,
                 what="%s started" % name)
    assert b"\nstarts 0\n" in xstatus("oneshot")
    # envx's directory does not exist: like supervisord's spawn error, run fails
    # and fail-limit gives up; the rest run or ended as their autorestart says
    wait_for(lambda: b"\nstate failed\n" in xstatus("envx"), 30, what="envx failed")


def environ(pid):
    with open("/proc/%d/environ" % pid, "rb") as f:
        return dict(kv.split(b"=", 1) for kv in f.read().split(b"\0") if kv)


@pytest.mark.parametrize("oldpwd", [None, "/svscan/was/here"])
def test_program_environment_is_supervisords(world, oldpwd):
    conf = world.path("e.conf")
    with open(conf, "w") as f:
        f.write("[supervisord]\nenvironment=G=\"from supervisord\"\n"
                "[program:e]\ncommand=/bin/sleep 1000\ndirectory=/tmp\n"
                "environment=A=\"x y\",B=\"tail \",G=\"own\"\nstdout_logfile=NONE\n")
    svimport(world, conf)
    env = {k: v for k, v in helpers.env().items() if k != "OLDPWD"}
    if oldpwd:
        env["OLDPWD"] = oldpwd
    world.start(env)
    d = os.path.join(world.sv, "e")
    pid = wait_for(lambda: status_pid(d), 20, what="e up")
    got = wait_for(lambda: (lambda e: e if b"SUPERVISOR_ENABLED" in e else None)(environ(pid)), 20)
    # supervisord: its own environment (here svscan's), SUPERVISOR_*, then the
    # configured one; sh sets PWD to the working directory it cds to.
    want = environ(world.svscan.pid)
    want.update({b"SUPERVISOR_ENABLED": b"1", b"SUPERVISOR_PROCESS_NAME": b"e",
                 b"SUPERVISOR_GROUP_NAME": b"e", b"G": b"own", b"A": b"x y", b"B": b"tail ",
                 b"PWD": b"/tmp"})
    assert got == want


def test_force_on_a_running_service_says_the_order_that_works(world):
    """supervisord's reread/update of one program: svctl remove, svimport
    --force, svctl add, as the message says; svc -dx alone is undone by
    svscan."""
    conf = world.path("f.conf")
    with open(conf, "w") as f:
        f.write("[program:f]\ncommand=/bin/sleep 1000\nstdout_logfile=NONE\n")
    svimport(world, conf)
    world.start()
    d = os.path.join(world.sv, "f")
    wait_for(lambda: status_pid(d), 20, what="f up")
    with open(conf, "w") as f:
        f.write("[program:f]\ncommand=/bin/sleep 2000\nstdout_logfile=NONE\n")
    r = helpers.run([prog("svimport"), "--force", "-o", world.sv, conf])
    assert r.returncode == 1
    assert ("not written: %s is supervised (up): svctl remove f (unlinks it, stops it and its "
            "logger), then svimport --force again, then svctl add %s" % (d, d)) in r.stdout.decode()
    assert b"1000" in open(os.path.join(d, "run"), "rb").read()
    svctl = [prog("svctl"), "-d", world.scan]
    r = helpers.run(svctl + ["remove", "f"])
    assert r.returncode == 0, r.stdout + r.stderr
    r = helpers.run([prog("svimport"), "--force", "-o", world.sv, conf])
    assert r.returncode == 0 and not os.path.exists(os.path.join(d, "supervise"))
    r = helpers.run(svctl + ["add", d])
    assert r.returncode == 0, r.stdout + r.stderr
    pid = wait_for(lambda: status_pid(d), 20, what="f up again")
    with open("/proc/%d/cmdline" % pid, "rb") as f:
        assert f.read() == b"/bin/sleep\x002000\x00"


def test_stopwaitsecs_ends_with_kill(world):
    conf = world.path("k.conf")
    with open(conf, "w") as f:
        f.write("[program:stubborn]\n"
                "command=/bin/sh -c 'trap \"echo ignored TERM\" TERM; echo $$ > %(here)s/pid; "
                "while :; do sleep 0.2; done'\n"
                "stopwaitsecs=1\nstdout_logfile=%(here)s/k.log\n")
    svimport(world, conf)
    world.start()
    d = os.path.join(world.sv, "stubborn")
    pid = wait_for(lambda: os.path.exists(world.path("pid")) and
                   int(open(world.path("pid")).read() or 0), 20, what="stubborn started")
    helpers.run([prog("svc"), "-d", d])
    wait_for(lambda: not helpers.pid_alive(pid), 20, what="SIGKILL after timeout-kill")
    wait_for(lambda: "ignored TERM" in current(world.path("k.log.d")), 20)
    def last_exit():
        with open(os.path.join(d, "supervise", "exits"), "rb") as f:
            lines = f.read().split(b"\n")
        return lines[-2].split() if len(lines) > 2 else None
    last = wait_for(last_exit, 20, what="the exit recorded")
    assert last[1] == b"%d" % pid and last[2:4] == [b"256", b"9"]


def test_docs_say_what_svstat_prints_for_a_scheduled_job(procs, tmp_path):
    """docs/coming-from-supervisord.md's svstat lines for a job with
    `schedule` and `down` are what svstat prints (0.76: "normally down"
    only while it runs)."""
    import re
    doc = open(os.path.join(os.path.dirname(__file__), "..", "docs",
                            "coming-from-supervisord.md")).read()
    cron = doc[doc.index("## ... and from cron"):]
    said_up = re.search(r"a running job\s+shows `(up \(pid \d+\) \d+ seconds, normally down)`", cron)
    said_down = re.search(r"between runs plain\s+`(down \d+ seconds)`", cron)
    assert said_up and said_down

    def shape(text):
        return re.sub(r"\d+", "N", text)

    d = str(tmp_path / "job")
    os.mkdir(d)
    write_script(os.path.join(d, "run"), "exec sleep 1000\n")
    for name, text in (("schedule", "0 0 1 1 *\n"), ("down", "")):
        with open(os.path.join(d, name), "w") as f:
            f.write(text)
    p = procs.start([prog("supervise"), d])
    try:
        wait_for(lambda: os.path.exists(os.path.join(d, "supervise", "status")), 20)
        out = helpers.run([prog("svstat"), d]).stdout.decode()
        assert shape(out) == shape("%s: %s\n" % (d, said_down.group(1)))
        helpers.run([prog("svc"), "-o", d])
        pid = wait_for(lambda: status_pid(d), 20, what="the job runs")
        procs.track(pid)
        out = helpers.run([prog("svstat"), d]).stdout.decode()
        assert shape(out) == shape("%s: %s\n" % (d, said_up.group(1)))
    finally:
        helpers.run([prog("svc"), "-dx", d])
        procs.stop(p)
