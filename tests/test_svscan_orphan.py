"""A service whose supervise is killed is stopped by svscan as supervise's
"d" would stop it: its down-signal, its process group, its timeout-kill."""

import os
import signal

import helpers
from svtools import _status
from helpers import wait_for, write_script
from test_svscan import scan, service, supervise_pid, up  # noqa: F401 (fixture)


def pids(path):
    try:
        return [int(x) for x in path.read_text().split()]
    except FileNotFoundError:
        return []


def test_orphan_group_gets_down_signal_and_sigkill_before_a_new_run(scan, procs):
    d = service(scan.dir / "grp",
                # a member of the group that ignores TERM and QUIT: only
                # timeout-kill's SIGKILL, sent to the group, ends it
                "sh -c 'trap \"\" TERM QUIT; echo $$ >> child; "
                "while :; do sleep 0.1; done' &\n"
                "exec sleep 1000\n")
    (d / "process-group").write_text("")
    (d / "down-signal").write_text("QUIT\n")
    (d / "timeout-kill").write_text("1000\n")
    wait_for(lambda: up(d) and pids(d / "started") and pids(d / "child"), 15, what="up")
    [run], [child] = pids(d / "started"), pids(d / "child")
    procs.track(run)                   # its own session: teardown kills the group
    sup = supervise_pid(scan, "supervise grp")
    os.kill(sup, signal.SIGKILL)
    wait_for(lambda: len(pids(d / "started")) == 2, 20, what="a new run")
    procs.track(pids(d / "started")[1])
    # the new run starts only once the old run and its whole group are gone
    assert not helpers.pid_alive(run) and not helpers.pid_alive(child)
    wait_for(lambda: up(d), 15, what="the new run up")
    new = supervise_pid(scan, "supervise grp")
    assert new and new != sup


def test_orphan_gets_its_down_signal(scan):
    d = scan.dir / "sig"
    d.mkdir()
    (d / "down-signal").write_text("USR1\n")
    # "started" once the traps are set: killed before, the shell would just die
    write_script(d / "run", "trap 'echo USR1 >> got; exit 0' USR1\n"
                 "trap 'echo TERM >> got; exit 0' TERM\n"
                 "echo $$ >> started\n"
                 "while :; do sleep 0.1; done\n")
    wait_for(lambda: up(d) and pids(d / "started"), 15, what="up")
    [run] = pids(d / "started")
    os.kill(supervise_pid(scan, "supervise sig"), signal.SIGKILL)
    wait_for(lambda: not helpers.pid_alive(run), 15, what="the orphan stopped")
    assert (d / "got").read_text() == "USR1\n"
    wait_for(lambda: len(pids(d / "started")) == 2 and up(d), 15, what="a new run")


def test_orphan_the_status_does_not_name_is_stopped_too(scan):
    """supervise writes the pid of ./run to its status only after starting
    it, and never names ./finish: a supervise killed before, or while
    ./finish runs, leaves a child the status does not name."""
    d = service(scan.dir / "fin", "exit 0\n")
    write_script(d / "finish", "echo $$ >> finishing\nexec sleep 1000\n")
    wait_for(lambda: pids(d / "finishing"), 15, what="./finish running")
    [finish] = pids(d / "finishing")
    assert _status.read(str(d / "supervise" / "status"))[2] == 0
    os.kill(supervise_pid(scan, "supervise fin"), signal.SIGKILL)
    wait_for(lambda: not helpers.pid_alive(finish), 15, what="the orphaned ./finish stopped")
    wait_for(lambda: len(pids(d / "finishing")) >= 2, 15, what="a new supervise, a new run")
    assert len(pids(d / "started")) >= 2
