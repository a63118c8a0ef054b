"""finish, down-signal, timeout-kill and process-group on real processes."""

import os
import signal

from helpers import pid_alive, wait_for, write_script
from supervisekit import service  # noqa: F401 (fixture)

# A run that ignores TERM and forks two workers that ignore it too.
STUBBORN = """\
trap '' TERM
sh -c 'trap "" TERM; echo $$ >> workers; while :; do sleep 1; done' &
sh -c 'trap "" TERM; echo $$ >> workers; while :; do sleep 1; done' &
echo $$ > pid
while :; do sleep 1; done
"""


def workers(s, n=2):
    wait_for(lambda: s.read("workers").count(b"\n") >= n, what="the workers")
    return [int(x) for x in s.read("workers").split()]


def track(procs, pids):
    for pid in pids:
        procs.track(pid)


def test_down_signal_is_sent_instead_of_term(service):
    s = service("trap 'echo TERM >> got' TERM\n"
                "trap 'echo HUP >> got; exit 0' HUP\n"
                "echo $$ > pid; while :; do sleep 1 & wait $!; done\n")
    os.makedirs(s.path, exist_ok=True)
    s.knob("down-signal", "SIGHUP\n")
    s.start()
    s.wait_up()
    wait_for(lambda: s.read("pid"), what="the traps")
    s.send(b"d")
    s.wait_state("down", want="down")
    assert s.read("got") == b"HUP\n"


def test_timeout_kill_with_process_group_kills_run_and_workers(service, procs):
    s = service(STUBBORN)
    os.makedirs(s.path, exist_ok=True)
    s.knob("timeout-kill", "300\n")
    s.knob("process-group", "")
    s.start()
    pid = s.wait_up()
    pids = workers(s)
    track(procs, pids)
    x = s.wait_state("up", pid=pid)
    assert x["pgid"] == pid and os.getpgid(pids[0]) == pid and os.getsid(pid) == pid
    s.send(b"d")
    s.wait_state("down", want="down", pgid=0)
    assert not any(pid_alive(p) for p in [pid] + pids)
    assert s.exits()[-1][1:4] == (pid, 256, signal.SIGKILL)


def test_without_process_group_workers_survive_as_in_076(service, procs):
    s = service(STUBBORN)
    os.makedirs(s.path, exist_ok=True)
    s.knob("timeout-kill", "200\n")
    s.start()
    pid = s.wait_up()
    pids = workers(s)
    track(procs, pids)
    s.send(b"d")
    s.wait_state("down", want="down")
    assert not pid_alive(pid)
    assert all(pid_alive(p) for p in pids)


def test_group_left_behind_by_the_leader_is_stopped_before_a_restart(service, procs):
    # The first leader exits; its worker ignores TERM: SIGKILL after
    # timeout-kill, and only then a new ./run.
    s = service("echo $$ >> runs\n"
                "test $(wc -l < runs) -ge 2 && exec sleep 1000\n"
                "sh -c 'trap \"\" TERM; echo $$ >> workers; while :; do sleep 1; done' &\n"
                "while ! test -s workers; do sleep 0.01; done\n"
                "exit 7\n")
    os.makedirs(s.path, exist_ok=True)
    s.knob("process-group", "")
    s.knob("timeout-kill", "300")
    s.start()
    [worker] = workers(s, 1)
    track(procs, [worker])
    wait_for(lambda: s.read("runs").count(b"\n") >= 2, timeout=15, what="the second run")
    assert not pid_alive(worker)
    run1, run2 = [int(x) for x in s.read("runs").split()]
    assert s.exits()[0][1:4] == (run1, 7, 0)
    s.wait_state("up", pid=run2, pgid=run2)
    s.send(b"d")


def test_x_while_stopping_waits_for_the_group(service, procs):
    s = service(STUBBORN)
    os.makedirs(s.path, exist_ok=True)
    s.knob("timeout-kill", "300\n")
    s.knob("process-group", "")
    s.start()
    pid = s.wait_up()
    pids = workers(s)
    track(procs, pids)
    s.send(b"dx")
    assert s.proc.wait(timeout=15) == 0
    assert not any(pid_alive(p) for p in [pid] + pids)


def test_kill_letter_goes_to_the_group(service, procs):
    s = service(STUBBORN)
    os.makedirs(s.path, exist_ok=True)
    s.knob("process-group", "")
    s.start()
    pid = s.wait_up()
    pids = workers(s)
    track(procs, pids)
    s.send(b"k")
    wait_for(lambda: not any(pid_alive(p) for p in [pid] + pids), what="the group to die")
    s.send(b"d")


def test_finish_gets_code_and_signal_and_runs_like_run(service):
    s = service("echo $$ > pid; test -e killme && exec sleep 1000; exit 3\n", down=True)
    write_script(s.file("finish"), "echo \"$@\" \"$(pwd)\" \"$FOO\" >> finished\n"
                 "grep -E '^SigIgn' /proc/self/status >> finished\n")
    s.start(env=dict(os.environ, FOO="bar"))
    s.send(b"o")
    wait_for(lambda: s.read("finished").count(b"\n") == 2, what="finish")
    line, sigs = s.read("finished").decode().splitlines()
    assert line == "3 0 %s bar" % os.path.realpath(s.path)
    assert int(sigs.split()[1], 16) == 0
    open(s.file("killme"), "w").close()
    s.send(b"o")
    pid = s.wait_up()
    s.send(b"d")
    wait_for(lambda: s.read("finished").count(b"\n") == 4, what="finish again")
    assert s.read("finished").decode().splitlines()[2].startswith("256 15 ")
    s.wait_state("down", want="down")
    assert not pid_alive(pid)


def test_run_waits_for_finish_and_supervise_answers_meanwhile(service):
    s = service("echo run >> log; exit 1\n")
    write_script(s.file("finish"), "echo finish >> log; while ! test -e go; do sleep 0.01; done\n")
    s.start()
    x = s.wait_state("finishing")
    assert x["pid"] == 0 and s.pid() == 0
    s.send(b"p")
    s.wait_state("finishing")
    wait_for(lambda: s.read("log") == b"run\nfinish\n", what="finish to write its line")
    open(s.file("go"), "w").close()
    wait_for(lambda: s.read("log").count(b"run") >= 2, timeout=15, what="the next run")
    assert s.read("log").startswith(b"run\nfinish\nrun\n")
    s.send(b"d")


def test_finish_125_keeps_the_service_down_until_up(service):
    s = service("echo run >> log; exit 1\n")
    write_script(s.file("finish"), "test -e ok || exit 125\n")
    s.start()
    x = s.wait_state("failed")
    assert x["want"] == "down" and s.status()[2:] == (0, 0, ord("d"))
    assert s.read("log") == b"run\n"
    open(s.file("ok"), "w").close()
    s.send(b"u")
    wait_for(lambda: s.read("log").count(b"run") >= 2, timeout=15, what="a start after u")
    s.send(b"d")


def test_hanging_finish_is_killed_after_timeout_finish(service):
    s = service("echo run >> log; exit 0\n")
    write_script(s.file("finish"), "echo $$ > finish.pid; exec sleep 1000\n")
    s.knob("timeout-finish", "200")
    s.start()
    wait_for(lambda: s.read("log").count(b"run") >= 2, timeout=15, what="the second run")
    s.send(b"d")
    s.wait_state("down", "finishing", want="down")


def test_finish_with_a_background_child_never_doubles_run(service, procs):
    s = service("echo $$ >> runs; exec sleep 1000\n")
    write_script(s.file("finish"), "sleep 1000 & echo $! >> bg\n")
    s.start()
    pid = s.wait_up()
    wait_for(lambda: s.read("runs"), what="the first run's pid")
    os.kill(pid, signal.SIGKILL)
    second = s.wait_up(other_than=pid)
    wait_for(lambda: s.read("bg"), what="finish's child")
    track(procs, [int(x) for x in s.read("bg").split()])
    wait_for(lambda: str(second).encode() in s.read("runs").split(), what="the second run's pid")
    runs = [int(x) for x in s.read("runs").split()]
    assert [p for p in runs if pid_alive(p)] == [second]
    s.send(b"d")


def test_missing_or_broken_finish(service):
    s = service("echo run >> log; exit 0\n")
    write_script(s.file("finish"), "exit 0\n", mode=0o644)
    s.start()
    wait_for(lambda: s.read("log").count(b"run") >= 2, timeout=15, what="restarts")
    os.unlink(s.file("finish"))
    wait_for(lambda: s.read("log").count(b"run") >= 3, timeout=15, what="restarts")
    assert s.stderr() == b"supervise: warning: %s/finish: not an executable file\n" % s.path.encode()
    s.send(b"d")
