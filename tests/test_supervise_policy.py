"""The supervise policy as a table: (state, event) -> (state, effects).

No processes, no clocks: `now` is passed in.
"""

import signal

import pytest

from svtools._knobs import Knobs
from svtools._xstatus import FIELDS
from svtools._supervise_policy import (BACKOFF_RESET, FORK_RETRY, GROUP_KILL, KILL_GRACE,
                                       SIGNALS, THROTTLE, Machine)

TERM, CONT, STOP, KILL = signal.SIGTERM, signal.SIGCONT, signal.SIGSTOP, signal.SIGKILL
X, TOUCH, EXIT = ("xstatus",), ("touch",), ("exit",)
SPAWN = ("spawn", False, None, False, False)
GSPAWN = ("spawn", True, None, False, False)


def ST(pid=0, want="up", paused=False):
    return ("status", pid, paused, want)


def fx(effects):
    """Effects with the xstatus fields dropped (checked on their own)."""
    return [e[:1] if e[0] == "xstatus" else e for e in effects]


def knobs(**kw):
    k = Knobs()
    for key, value in kw.items():
        setattr(k, key, value)
    return k


def machine(want="up", pid=0, paused=False, exiting=False, started_at=None, **kw):
    m = Machine(want_up=(want == "up"), knobs=knobs(**kw))
    m.want = want
    if pid:
        m.due = True
        m._end(started_at or 0.0, [])
        m.started(pid, started_at if started_at is not None else -100.0)
    m.paused = paused
    m.exiting = exiting
    return m


def state(m):
    return (m.want, m.pid, m.paused, m.exiting, m.wake is not None)


def xfields(effects):
    values = [e[1] for e in effects if e[0] == "xstatus"][-1]
    assert len(values) == len(FIELDS)
    return dict(zip(FIELDS, values))


# (initial state kwargs, letter) -> (want, pid, paused, exiting, waiting), effects
# "running" means pid 42, started long ago (no throttle).
TABLE = [
    (dict(want="down"), "u", ("up", 0, False, False, False), [ST(), X, SPAWN]),
    (dict(want="up", pid=42), "u", ("up", 42, False, False, False), [ST(42), X]),
    (dict(want="down"), "o", ("once", 0, False, False, False), [ST(0, "once"), X, SPAWN]),
    (dict(want="up", pid=42), "o", ("once", 42, False, False, False), [ST(42, "once"), X]),
    (dict(want="up", pid=42), "d", ("down", 42, False, False, False),
     [("kill", 42, TERM), ("kill", 42, CONT), ST(42, "down"), X]),
    (dict(want="up", pid=42, paused=True), "d", ("down", 42, False, False, False),
     [("kill", 42, TERM), ("kill", 42, CONT), ST(42, "down"), X]),
    (dict(want="down"), "d", ("down", 0, False, False, False), [ST(0, "down"), X]),
    (dict(want="up", pid=42), "p", ("up", 42, True, False, False), [("kill", 42, STOP), ST(42, "up", True), X]),
    (dict(want="down"), "p", ("down", 0, True, False, False), [ST(0, "down", True), X]),
    (dict(want="up", pid=42, paused=True), "c", ("up", 42, False, False, False), [("kill", 42, CONT), ST(42), X]),
    (dict(want="down", paused=True), "c", ("down", 0, False, False, False), [ST(0, "down"), X]),
    (dict(want="up", pid=42), "x", ("up", 42, False, True, False), [ST(42), X]),
    (dict(want="down"), "x", ("down", 0, False, True, False), [ST(0, "down"), X, EXIT]),
    # with knobs
    (dict(want="up", pid=42, down_signal=signal.SIGQUIT), "d", ("down", 42, False, False, False),
     [("kill", 42, signal.SIGQUIT), ("kill", 42, CONT), ST(42, "down"), X]),
    (dict(want="up", pid=42, timeout_kill=0.5), "d", ("down", 42, False, False, True),
     [("kill", 42, TERM), ("kill", 42, CONT), ST(42, "down"), X]),
    (dict(want="up", pid=42, process_group=True), "d", ("down", 42, False, False, False),
     [("kill", -42, TERM), ("kill", -42, CONT), ST(42, "down"), X]),
    (dict(want="up", pid=42, process_group=True), "p", ("up", 42, True, False, False),
     [("kill", -42, STOP), ST(42, "up", True), X]),
    (dict(want="up", pid=42, process_group=True), "k", ("up", 42, False, False, False), [("kill", -42, KILL)]),
    (dict(want="up", pid=42, process_group=True), "t", ("up", 42, False, False, False), [("kill", 42, TERM)]),
]


@pytest.mark.parametrize("init,letter,after,effects", TABLE)
def test_state_letter_table(init, letter, after, effects):
    m = machine(**init)
    assert fx(m.command(letter, 100.0)) == effects
    assert state(m) == after


@pytest.mark.parametrize("letter,sig", sorted(SIGNALS.items()))
def test_signal_letters_signal_only_a_running_child(letter, sig):
    m = machine(want="up", pid=42)
    assert m.command(letter, 100.0) == [("kill", 42, sig)]
    assert state(m) == ("up", 42, False, False, False)
    down = machine(want="down")
    assert down.command(letter, 100.0) == []
    assert state(down) == ("down", 0, False, False, False)


def test_signal_letter_set_is_daemontools_plus_encore():
    assert set(SIGNALS) == set("haitk") | set("q12w")


@pytest.mark.parametrize("byte", [0, 10, 32, ord("U"), ord("z"), ord("s"), ord("!"), 0xFF])
@pytest.mark.parametrize("init", [dict(want="up", pid=42), dict(want="down"), dict(want="once", pid=7, paused=True)])
def test_unknown_bytes_change_nothing(init, byte):
    m = machine(**init)
    before = (state(m), m.wake, m.next_start, m.state())
    assert m.command(chr(byte), 100.0) == []
    assert (state(m), m.wake, m.next_start, m.state()) == before


def test_boot_starts_only_when_wanted_up():
    assert fx(Machine(want_up=True).boot(0.0)) == [ST(), X, SPAWN]
    assert fx(Machine(want_up=False).boot(0.0)) == [ST(0, "down"), X]


def test_spawn_carries_the_knobs_of_the_run():
    m = Machine(knobs=knobs(process_group=True, notification_fd=5, notify_socket=True, log_events=True))
    assert m.boot(0.0)[-1] == ("spawn", True, 5, True, True)
    assert fx(m.started(42, 0.0)) == [TOUCH, ("log", "start", 42, 0, 0, 0.0), ST(42), X]
    assert (m.pgid, m.state()) == (42, "starting")


def test_started_clears_paused_and_touches():
    m = machine(want="up", paused=True)
    m.boot(5.0)
    assert fx(m.started(42, 5.0)) == [TOUCH, ST(42), X]
    assert (m.pid, m.paused, m.starts) == (42, False, 1)


def test_exit_of_long_lived_child_restarts_at_once():
    m = machine(want="up", pid=42, started_at=0.0)
    assert fx(m.child_exited(0, 0, 10.0)) == [TOUCH, ("record", 10.0, 42, 0, 0, 10.0, False, 100), ST(), X, SPAWN]
    assert m.pid == 0 and m.wake is None
    assert m.last_exit == (0, 0, 10.0, 10.0)


def test_exit_within_a_second_of_start_is_throttled():
    m = machine(want="up", pid=42, started_at=10.0)
    effects = m.child_exited(256, 9, 10.2)
    assert fx(effects) == [TOUCH, ("record", 10.2, 42, 256, 9, pytest.approx(0.2), False, 100), ST(), X]
    f = xfields(effects)
    assert (f["state"], f["next_start"], f["exit_code"], f["exit_signal"]) == ("down", 11.0, 256, 9)
    assert m.wake == 10.0 + THROTTLE
    assert m.deadline(10.5) == []  # too early: nothing happens
    assert m.deadline(11.0) == [SPAWN]
    assert m.wake is None


def test_down_during_throttle_cancels_the_pending_start():
    m = machine(want="up", pid=42, started_at=10.0)
    m.child_exited(0, 0, 10.1)
    assert fx(m.command("d", 10.2)) == [ST(0, "down"), X]
    assert m.wake is None
    assert m.deadline(11.5) == []


def test_up_then_down_at_once_stops_without_waiting():
    # svc -ud: departure 1, no deaf second after the start.
    m = machine(want="down")
    assert fx(m.command("u", 5.0)) == [ST(), X, SPAWN]
    m.started(42, 5.0)
    assert fx(m.command("d", 5.001)) == [("kill", 42, TERM), ("kill", 42, CONT), ST(42, "down"), X]
    assert m.state() == "stopping"


def test_once_does_not_restart():
    m = machine(want="down")
    m.command("o", 1.0)
    m.started(42, 1.0)
    assert fx(m.child_exited(0, 0, 5.0)) == [TOUCH, ("record", 5.0, 42, 0, 0, 4.0, False, 100), ST(0, "once"), X]
    assert m.pid == 0 and m.wake is None


def test_want_down_child_exit_does_not_restart():
    m = machine(want="down", pid=42, started_at=0.0)
    assert fx(m.child_exited(0, 0, 5.0))[-2:] == [ST(0, "down"), X]
    assert m.wake is None


def test_up_while_down_pending_restarts_when_child_finally_exits():
    m = machine(want="up", pid=42, started_at=0.0)
    m.command("d", 5.0)
    assert fx(m.command("u", 6.0)) == [ST(42), X]
    assert m.state() == "stopping"
    assert fx(m.child_exited(256, 15, 7.0))[-1] == SPAWN


def test_exit_waits_for_child_then_exits_without_restart():
    m = machine(want="up", pid=42, started_at=0.0)
    assert fx(m.command("x", 5.0)) == [ST(42), X]
    assert fx(m.command("u", 5.5)) == [ST(42), X]  # still obeys commands
    assert fx(m.child_exited(0, 0, 6.0))[-3:] == [ST(), X, EXIT]


def test_once_then_exit():
    m = machine(want="down")
    m.command("o", 1.0)
    m.started(42, 1.0)
    assert fx(m.command("x", 1.0)) == [ST(42, "once"), X]
    assert fx(m.child_exited(0, 0, 3.0))[-1] == EXIT


def test_exit_while_start_pending_exits_now():
    m = machine(want="up", pid=42, started_at=10.0)
    m.child_exited(0, 0, 10.1)
    assert fx(m.command("x", 10.2)) == [ST(), X, EXIT]


def test_fork_failure_retries_after_back_off():
    m = machine(want="down")
    assert fx(m.command("u", 1.0))[-1] == SPAWN
    assert fx(m.fork_failed(1.0)) == [X]
    assert m.wake == 1.0 + FORK_RETRY
    assert m.deadline(30.0) == []
    assert m.deadline(1.0 + FORK_RETRY) == [SPAWN]


def test_fork_failure_retry_dropped_after_down():
    m = machine(want="down")
    m.command("u", 1.0)
    m.fork_failed(1.0)
    m.command("d", 2.0)
    assert m.deadline(1.0 + FORK_RETRY) == []


def test_deadline_without_wake_is_ignored():
    m = machine(want="up", pid=42)
    assert m.deadline(1e9) == []
    assert state(m) == ("up", 42, False, False, False)


# -- timeout-kill, process groups

def test_timeout_kill_sends_sigkill_at_the_deadline():
    m = machine(want="up", pid=42, timeout_kill=0.5)
    m.command("d", 100.0)
    assert m.wake == 100.5
    assert m.deadline(100.4) == []
    assert m.deadline(100.5) == [("kill", 42, KILL)]
    assert m.wake is None
    m.child_exited(256, 9, 100.6)
    assert m.wake is None and m.state() == "down"


@pytest.mark.parametrize("group", [False, True])
def test_timeout_kill_is_logged_with_log_events(group):
    m = machine(want="up", pid=42, timeout_kill=0.5, log_events=True, process_group=group)
    m.command("d", 100.0)
    target = -42 if group else 42
    assert m.deadline(100.5)[:2] == [("kill", target, KILL), ("log", "kill", target, 0, KILL, 0.0)]


def test_timeout_finish_kill_is_logged_with_log_events():
    m = machine(want="up", pid=42, finish=True, timeout_finish=0.5, log_events=True)
    m.child_exited(1, 0, 100.0)
    m.finish_started(43, 100.0)
    assert m.deadline(100.5) == [("kill", 43, KILL), ("log", "kill-finish", 43, 0, KILL, 0.0)]


def test_timeout_kill_cancelled_by_the_exit():
    m = machine(want="up", pid=42, timeout_kill=0.5)
    m.command("d", 100.0)
    m.child_exited(0, 0, 100.1)
    assert m.wake is None
    assert m.deadline(101.0) == []


def test_group_leader_exit_cleans_up_the_group_before_a_restart():
    m = machine(want="up", pid=42, started_at=0.0, process_group=True)
    effects = m.child_exited(1, 0, 50.0)
    assert fx(effects) == [TOUCH, ("record", 50.0, 42, 1, 0, 50.0, False, 100),
                           ("kill", -42, TERM), ("kill", -42, CONT), ST(), X]
    assert m.state() == "stopping" and m.pgid == 42 and xfields(effects)["pgid"] == 42
    assert m.wake == pytest.approx(50.01)
    assert m.deadline(50.01) == [("probe", 42)]
    # no start while the group lives, whatever the throttle says
    assert m.deadline(50.03) == [("probe", 42)]
    assert fx(m.group_gone(42, 50.05)) == [ST(), X, GSPAWN]
    assert m.pgid == 0


def test_group_that_ignores_the_down_signal_is_killed_after_the_default():
    m = machine(want="up", pid=42, started_at=0.0, process_group=True)
    m.child_exited(1, 0, 50.0)
    t = 50.0
    while m.wake < 50.0 + GROUP_KILL:
        t = m.wake
        assert m.deadline(t) == [("probe", 42)]
    assert ("kill", -42, KILL) in m.deadline(50.0 + GROUP_KILL)
    # members that stay (zombies nobody reaps) are given up KILL_GRACE later
    effects = []
    while m.pgid:
        effects += m.deadline(m.wake)
    assert fx(effects)[-1] == GSPAWN
    assert m.next_start <= 50.0 + GROUP_KILL + KILL_GRACE + 0.2


def test_group_gone_when_the_first_group_signal_finds_nobody():
    m = machine(want="up", pid=42, started_at=0.0, process_group=True)
    m.child_exited(0, 0, 20.0)
    assert fx(m.group_gone(42, 20.0))[-1] == GSPAWN
    assert m.group_gone(42, 20.1) == []  # stale reports change nothing


def test_down_with_group_and_timeout_kill():
    m = machine(want="up", pid=42, process_group=True, timeout_kill=0.5)
    m.command("d", 10.0)
    assert m.deadline(10.5) == [("kill", -42, KILL)]
    m.child_exited(256, 9, 10.51)
    assert m.state() == "stopping"
    assert fx(m.group_gone(42, 10.52)) == [ST(0, "down"), X]
    assert m.state() == "down" and m.wake is None


def test_exit_waits_for_the_group():
    m = machine(want="up", pid=42, process_group=True, timeout_kill=0.5)
    m.command("d", 10.0)
    m.command("x", 10.0)
    assert EXIT not in m.child_exited(0, 0, 10.1)
    assert fx(m.group_gone(42, 10.2))[-1] == EXIT


# -- finish

def test_finish_runs_after_each_exit_and_holds_the_restart():
    m = machine(want="up", pid=42, started_at=0.0, finish=True)
    effects = m.child_exited(3, 0, 20.0)
    assert fx(effects)[-1] == ("finish", 3, 0)
    assert xfields(effects)["state"] == "finishing"
    assert m.state() == "finishing" and m.wake is None
    assert m.finish_started(77, 20.0) == []
    assert m.wake == 25.0
    assert m.deadline(25.0) == [("kill", 77, KILL)]
    assert fx(m.finish_exited(256, 25.1)) == [ST(), X, SPAWN]


def test_finish_125_fails_the_service():
    m = machine(want="up", pid=42, started_at=0.0, finish=True)
    m.child_exited(1, 0, 20.0)
    m.finish_started(77, 20.0)
    effects = m.finish_exited(125, 20.5)
    assert fx(effects) == [ST(0, "down"), X]
    assert xfields(effects)["state"] == "failed"
    assert fx(m.command("u", 30.0)) == [ST(), X, SPAWN]
    assert not m.failed


# ./finish exiting 125: (how ./run ended, letters before finish ends) -> state, want
FINISH_125 = [
    ("exited", "", "failed", "down"),        # would be restarted: permanent failure
    ("exited", "d", "down", "down"),         # stopped while finishing: asked for
    ("exited", "o", "failed", "down"),       # o owes a start: refused, as s6's -O
    ("stopped", "", "down", "down"),         # svc -d: a requested stop
    ("stopped", "u", "failed", "down"),      # d then u: a start is owed again
    ("once", "", "down", "once"),            # an o run ended: no start owed
]


@pytest.mark.parametrize("how, letters, after, want", FINISH_125)
def test_finish_125_fails_only_a_service_that_would_restart(how, letters, after, want):
    m = machine(want="up", pid=42, started_at=0.0, finish=True)
    if how == "stopped":
        m.command("d", 19.0)
        m.child_exited(256, TERM, 20.0)
    elif how == "once":
        m.command("o", 19.0)
        m.child_exited(0, 0, 20.0)
    else:
        m.child_exited(1, 0, 20.0)
    m.finish_started(77, 20.0)
    for letter in letters:
        m.command(letter, 20.2)
    effects = m.finish_exited(125, 20.5)
    assert xfields(effects)["state"] == after and m.failed == (after == "failed")
    assert (m.want, xfields(effects)["want"]) == (want, want)
    assert fx(effects)[0] == ST(0, want)
    assert SPAWN not in fx(effects) and m.wake is None


def test_finish_125_while_exiting_just_exits():
    m = machine(want="up", pid=42, started_at=0.0, finish=True)
    m.command("x", 19.0)
    m.child_exited(1, 0, 20.0)
    m.finish_started(77, 20.0)
    effects = m.finish_exited(125, 20.5)
    assert not m.failed and fx(effects)[-1] == EXIT


def test_finish_without_timeout_and_fork_failure():
    m = machine(want="up", pid=42, started_at=0.0, finish=True, timeout_finish=0.0)
    m.child_exited(1, 0, 20.0)
    m.finish_started(77, 20.0)
    assert m.wake is None
    m = machine(want="up", pid=42, started_at=0.0, finish=True)
    m.child_exited(1, 0, 20.0)
    assert fx(m.finish_exited(111, 20.0))[-1] == SPAWN


def test_down_and_exit_while_finishing():
    m = machine(want="up", pid=42, started_at=0.0, finish=True)
    m.child_exited(1, 0, 20.0)
    m.finish_started(77, 20.0)
    assert fx(m.command("d", 20.1)) == [ST(0, "down"), X]  # finish is not signalled
    assert fx(m.command("x", 20.2)) == [ST(0, "down"), X]
    assert fx(m.finish_exited(0, 20.3))[-1] == EXIT


# -- restart-backoff and fail-limit

def test_backoff_doubles_to_the_maximum_and_resets_after_a_long_run():
    m = machine(want="up", restart_backoff=5.0)
    t = 0.0
    waits = []
    m.boot(t)
    for _ in range(6):
        m.started(42, t)
        t += 0.5
        m.child_exited(1, 0, t)
        waits.append(m.wake - t)
        t = m.wake
        assert m.deadline(t)[-1][0] == "spawn"
    assert waits == [1.0, 2.0, 4.0, 5.0, 5.0, 5.0]
    m.started(42, t)
    assert fx(m.child_exited(1, 0, t + BACKOFF_RESET))[-1][0] == "spawn"
    m.started(42, t + BACKOFF_RESET)
    m.child_exited(1, 0, t + BACKOFF_RESET + 0.1)
    assert m.wake == pytest.approx(t + BACKOFF_RESET + 0.1 + 1.0)


def test_fail_limit_fails_the_service_until_up():
    m = machine(want="up", fail_limit=(3, 10.0))
    m.boot(0.0)
    t = 0.0
    for i in range(2):
        m.started(40 + i, t)
        effects = m.child_exited(1, 0, t + 0.1)
        assert xfields(effects)["fails"] == i + 1
        t = m.wake
        m.deadline(t)
    m.started(50, t)
    effects = m.child_exited(1, 0, t + 0.1)
    f = xfields(effects)
    assert (f["state"], f["want"], f["fails"], f["fail_limit"], f["fail_secs"]) == ("failed", "down", 3, 3, 10)
    assert fx(effects)[-2:] == [ST(0, "down"), X]
    assert m.wake is None
    assert fx(m.command("o", t + 5))[-1] == SPAWN
    assert m.state() == "down" and m.fail_times == ()


def test_failed_by_is_published_once_the_state_is_failed():
    # fail-limit trips while ./finish still runs: finishing, then failed
    m = machine(want="up", fail_limit=(1, 10.0), finish=True)
    m.boot(0.0)
    m.started(40, 0.0)
    assert xfields(m.child_exited(3, 0, 0.5))["failed_by"] == "-"
    m.finish_started(41, 0.5)
    f = xfields(m.finish_exited(0, 0.6))
    assert (f["state"], f["failed_by"]) == ("failed", "fail-limit")
    assert xfields(m.command("u", 5.0))["failed_by"] == "-"


def test_giving_up_is_logged_after_the_exit_record():
    m = machine(want="up", fail_limit=(1, 10.0), log_events=True)
    assert fx(m.boot(0.0))[-1][0] == "spawn"
    m.started(40, 0.0)
    logs = [e for e in m.child_exited(3, 0, 0.5) if e[0] == "log"]
    assert logs == [("log", "exit", 40, 3, 0, 0.5), ("log", "fail-limit", 40, 3, 0, 0.5)]
    m = machine(want="up", finish=True, log_events=True)
    m.boot(0.0)
    m.started(41, 0.0)
    m.child_exited(1, 0, 0.5)
    m.finish_started(42, 0.5)
    assert [e for e in m.finish_exited(125, 0.6) if e[0] == "log"] == [("log", "finish", 41, 125, 0, 0.0)]
    assert m.state() == "failed"


def crash_loop(m, t, n):
    """N short runs from T, each started when the machine allows; the time
    of the last exit."""
    for i in range(n):
        m.started(40 + i, t)
        t += 0.5
        m.child_exited(1, 0, t)
        if i < n - 1:
            t = m.wake
            assert fx(m.deadline(t))[-1][0] == "spawn"
    return t


@pytest.mark.parametrize("letter", ["u", "o"])
def test_up_or_once_resets_the_backoff(letter):
    m = machine(want="up", restart_backoff=60.0)
    m.boot(0.0)
    t = crash_loop(m, 0.0, 4)
    assert m.wake == t + 8.0 and m.delay == 16.0
    assert xfields(m.command("p", t + 1.0))["next_start"] == t + 8.0
    effects = m.command(letter, t + 2.0)   # the throttle has passed: start now
    assert fx(effects)[-1] == SPAWN and m.delay == 1.0
    m.started(50, t + 2.0)
    m.child_exited(1, 0, t + 2.5)
    if letter == "u":
        assert m.wake == t + 3.5          # 1 s, not 16 s
        m.deadline(t + 3.5)
        m.started(51, t + 3.5)
        m.child_exited(1, 0, t + 4.0)
        assert m.wake == t + 6.0          # then 2 s
    else:
        assert m.wake is None             # once: no restart


def test_up_during_a_backoff_wait_keeps_the_throttle():
    m = machine(want="up", restart_backoff=60.0)
    m.boot(0.0)
    t = crash_loop(m, 0.0, 3)            # the last run started at t - 0.5
    assert m.wake == t + 4.0
    effects = m.command("u", t + 0.1)
    assert SPAWN not in fx(effects)
    assert m.wake == t + 0.5 and xfields(effects)["next_start"] == t + 0.5
    assert fx(m.deadline(t + 0.5))[-1] == SPAWN


def test_up_on_a_failed_service_resets_backoff_and_tally():
    m = machine(want="up", restart_backoff=60.0, fail_limit=(3, 100.0))
    m.boot(0.0)
    t = crash_loop(m, 0.0, 3)
    assert m.failed and m.delay == 4.0
    effects = m.command("u", t + 1.0)
    f = xfields(effects)
    assert (f["state"], f["want"], f["fails"], f["since"]) == ("down", "up", 0, t + 1.0)
    assert fx(effects) == [ST(), X, SPAWN]
    m.started(60, t + 1.0)
    m.child_exited(1, 0, t + 1.5)
    assert m.wake == t + 2.5 and not m.failed and len(m.fail_times) == 1


def test_fork_retry_survives_up():
    m = machine(want="up")
    m.boot(0.0)
    m.fork_failed(0.0)
    assert SPAWN not in fx(m.command("u", 1.0)) and m.wake == FORK_RETRY


def test_fail_limit_window_slides():
    m = machine(want="up", fail_limit=(2, 5.0))
    m.boot(0.0)
    m.started(40, 0.0)
    m.child_exited(1, 0, 1.0)
    m.deadline(m.wake)
    m.started(41, 2.0)
    m.child_exited(1, 0, 7.0)   # the first exit is out of the window
    assert not m.failed and m.wake is None or m.wake <= 7.0 + THROTTLE


def test_asked_stops_do_not_count_as_failures():
    m = machine(want="up", pid=42, fail_limit=(1, 60.0))
    m.command("d", 1.0)
    m.command("u", 1.1)
    m.child_exited(256, 15, 1.2)
    assert not m.failed


# (letters sent to the running pid 42, then its exit) -> asked in the record
ASKED = [
    ("", (1, 0), False),
    ("d", (256, 15), True),
    ("du", (256, 15), True),      # asked although up again: the exit follows the stop
    ("t", (256, 15), True),       # svc -t: the restart was asked for
    ("k", (256, 9), True),
    ("t", (0, 0), True),          # a run that traps TERM and exits 0
    ("h", (256, 1), False),       # HUP, ALRM, INT, QUIT, USR1/2, WINCH: not a stop
    ("aiq12w", (256, 3), False),
    ("x", (0, 0), False),         # x never signals: the run ended on its own
    ("p", (256, 9), False),       # pause, killed by someone else
]


@pytest.mark.parametrize("letters,how,asked", ASKED)
def test_exit_record_says_whether_the_exit_was_asked_for(letters, how, asked):
    m = machine(want="up", pid=42, started_at=0.0, fail_limit=(1, 60.0))
    for letter in letters:
        m.command(letter, 1.0)
    wanted_up = m.want == "up" and not m.exiting
    record = [e for e in m.child_exited(how[0], how[1], 2.0) if e[0] == "record"]
    assert record == [("record", 2.0, 42, how[0], how[1], 2.0, asked, 100)]
    # fail-limit 1 fails the service on an exit nobody asked for, wanted up
    assert m.failed == (not asked and wanted_up)


def test_asked_is_forgotten_by_the_next_run():
    m = machine(want="up", pid=42, started_at=0.0)
    m.command("t", 1.0)
    m.child_exited(256, 15, 2.0)
    m.deadline(m.wake)
    m.started(43, 3.0)
    assert ("record", 20.0, 43, 1, 0, 17.0, False, 100) in m.child_exited(1, 0, 20.0)
    m.command("k", 21.0)   # to nobody: no run
    m.deadline(m.wake)
    m.started(44, 22.0)
    assert ("record", 40.0, 44, 1, 0, 18.0, False, 100) in m.child_exited(1, 0, 40.0)


# -- readiness, notes, states

def test_readiness_states():
    m = Machine(knobs=knobs(notification_fd=3))
    m.boot(0.0)
    m.started(42, 0.0)
    assert m.state() == "starting"
    assert m.ready(99, 0.1) == []  # not our run
    effects = m.ready(42, 0.2)
    assert fx(effects) == [X] and xfields(effects)["state"] == "ready"
    assert xfields(effects)["ready_since"] == 0.2 and xfields(effects)["since"] == 0.2
    assert m.ready(42, 0.3) == []
    m.command("p", 1.0)
    assert m.state() == "paused"
    m.child_exited(0, 0, 2.0)
    assert m.ready_at == 0.0


def test_without_readiness_a_run_is_up():
    m = machine(want="up", pid=42)
    assert m.state() == "up"
    assert m.ready(42, 1.0) == []
    assert m.state() == "up"


def test_notice_stopping_and_note():
    m = Machine(knobs=knobs(notify_socket=True))
    m.boot(0.0)
    m.started(42, 0.0)
    effects = m.notice(42, False, b"warming up", 0.5)
    assert xfields(effects)["note"] == b"warming up"
    assert xfields(m.notice(42, True, None, 0.6))["state"] == "stopping"
    assert m.notice(43, True, b"x", 0.7) == []
    m.child_exited(0, 0, 1.0)
    m.deadline(m.wake)
    m.started(44, 1.5)
    assert m.note == b"" and m.state() == "starting"


def test_log_events_records():
    m = machine(want="up", pid=42, started_at=0.0, log_events=True)
    assert ("log", "exit", 42, 256, 15, 3.0) in m.child_exited(256, 15, 3.0)


# (knobs, events after a start at 1.0) -> the "log" effects of the last event
READY_LOG = [
    (dict(log_events=True, notification_fd=5), [("ready", 42, 1.25)],
     [("log", "ready", 42, 0, 0, 0.25)]),
    (dict(log_events=True, notify_socket=True), [("ready", 42, 3.0)],
     [("log", "ready", 42, 0, 0, 2.0)]),
    # once per run, and only for this run
    (dict(log_events=True, notification_fd=5), [("ready", 42, 1.5), ("ready", 42, 2.0)], []),
    (dict(log_events=True, notification_fd=5), [("ready", 43, 1.5)], []),
    # no readiness knob: no ready state, no record
    (dict(log_events=True), [("ready", 42, 1.5)], []),
    # readiness without log-events: the state changes, nothing is logged
    (dict(notification_fd=5), [("ready", 42, 1.5)], []),
]


@pytest.mark.parametrize("kw,events,logs", READY_LOG)
def test_ready_record(kw, events, logs):
    m = Machine(knobs=knobs(**kw))
    m.boot(0.0)
    m.deadline(1.0)
    started = [e for e in m.started(42, 1.0) if e[0] == "log"]
    assert started == [("log", "start", 42, 0, 0, 0.0)] * bool(kw.get("log_events"))
    for name, pid, now in events:
        effects = getattr(m, name)(pid, now)
    assert [e for e in effects if e[0] == "log"] == logs
    readiness = "notification_fd" in kw or "notify_socket" in kw
    assert m.state() == ("ready" if readiness and events[-1][1] == 42 else "up" if not readiness else "starting")
    if logs:
        # the record comes before the state it announces is published
        assert fx(effects) == logs + [X]


def test_max_death_tally_travels_with_the_record():
    m = machine(want="up", pid=42, started_at=0.0, max_death_tally=7)
    assert ("record", 1.0, 42, 0, 0, 1.0, False, 7) in m.child_exited(0, 0, 1.0)
