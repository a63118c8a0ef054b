"""The supervise policy as a table: (state, event) -> (state, effects).

No processes, no clocks: `now` is passed in.
"""

import signal

import pytest

from svtools._machine import FORK_RETRY, SIGNALS, THROTTLE, Machine

TERM, CONT, STOP = ("kill", signal.SIGTERM), ("kill", signal.SIGCONT), ("kill", signal.SIGSTOP)
ST, SPAWN, TOUCH, EXIT = ("status",), ("spawn",), ("touch",), ("exit",)


def machine(want="up", pid=0, paused=False, exiting=False, started_at=None):
    m = Machine(want_up=(want == "up"))
    m.want = want
    if started_at is not None:
        m.started(pid, started_at)
    m.pid = pid
    m.paused = paused
    m.exiting = exiting
    return m


def state(m):
    return (m.want, m.pid, m.paused, m.exiting, m.pending)


# (initial state kwargs, letter) -> (want, pid, paused, exiting, pending), effects
# "running" means pid 42, started long ago (no throttle).
TABLE = [
    (dict(want="down"), "u", ("up", 0, False, False, False), [ST, SPAWN]),
    (dict(want="up", pid=42), "u", ("up", 42, False, False, False), [ST]),
    (dict(want="down"), "o", ("once", 0, False, False, False), [ST, SPAWN]),
    (dict(want="up", pid=42), "o", ("once", 42, False, False, False), [ST]),
    (dict(want="up", pid=42), "d", ("down", 42, False, False, False), [TERM, CONT, ST]),
    (dict(want="up", pid=42, paused=True), "d", ("down", 42, False, False, False), [TERM, CONT, ST]),
    (dict(want="down"), "d", ("down", 0, False, False, False), [ST]),
    (dict(want="up", pid=42), "p", ("up", 42, True, False, False), [STOP, ST]),
    (dict(want="down"), "p", ("down", 0, True, False, False), [ST]),
    (dict(want="up", pid=42, paused=True), "c", ("up", 42, False, False, False), [CONT, ST]),
    (dict(want="down", paused=True), "c", ("down", 0, False, False, False), [ST]),
    (dict(want="up", pid=42), "x", ("up", 42, False, True, False), [ST]),
    (dict(want="down"), "x", ("down", 0, False, True, False), [ST, EXIT]),
]


@pytest.mark.parametrize("init,letter,after,effects", TABLE)
def test_state_letter_table(init, letter, after, effects):
    m = machine(**init)
    assert m.command(letter, 100.0) == effects
    assert state(m) == after


@pytest.mark.parametrize("letter,sig", sorted(SIGNALS.items()))
def test_signal_letters_signal_only_a_running_child(letter, sig):
    m = machine(want="up", pid=42)
    assert m.command(letter, 100.0) == [("kill", sig)]
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
    before = (state(m), m.wake, m.next_start)
    assert m.command(chr(byte), 100.0) == []
    assert (state(m), m.wake, m.next_start) == before


def test_boot_starts_only_when_wanted_up():
    assert Machine(want_up=True).boot(0.0) == [SPAWN]
    assert Machine(want_up=False).boot(0.0) == []


def test_started_clears_paused_and_touches():
    m = machine(want="up", paused=True)
    assert m.started(42, 5.0) == [TOUCH, ST]
    assert (m.pid, m.paused) == (42, False)


def test_exit_of_long_lived_child_restarts_at_once():
    m = machine(want="up", pid=42, started_at=0.0)
    assert m.child_exited(10.0) == [TOUCH, ST, SPAWN]
    assert m.pid == 0 and m.wake is None


def test_exit_within_a_second_of_start_is_throttled():
    m = machine(want="up", pid=42, started_at=10.0)
    assert m.child_exited(10.2) == [TOUCH, ST]
    assert m.pending and m.wake == 10.0 + THROTTLE
    assert m.deadline(10.5) == []  # too early: nothing happens
    assert m.pending
    assert m.deadline(11.0) == [SPAWN]
    assert not m.pending and m.wake is None


def test_down_during_throttle_cancels_the_pending_start():
    m = machine(want="up", pid=42, started_at=10.0)
    m.child_exited(10.1)
    assert m.command("d", 10.2) == [ST]
    assert not m.pending and m.wake is None
    assert m.deadline(11.5) == []


def test_up_then_down_at_once_stops_without_waiting():
    # svc -ud: departure 1, no deaf second after the start.
    m = machine(want="down")
    assert m.command("u", 5.0) == [ST, SPAWN]
    m.started(42, 5.0)
    assert m.command("d", 5.001) == [TERM, CONT, ST]


def test_once_does_not_restart():
    m = machine(want="down")
    m.command("o", 1.0)
    m.started(42, 1.0)
    assert m.child_exited(5.0) == [TOUCH, ST]
    assert m.pid == 0 and not m.pending


def test_want_down_child_exit_does_not_restart():
    m = machine(want="down", pid=42, started_at=0.0)
    assert m.child_exited(5.0) == [TOUCH, ST]


def test_up_while_down_pending_restarts_when_child_finally_exits():
    m = machine(want="up", pid=42, started_at=0.0)
    m.command("d", 5.0)
    assert m.command("u", 6.0) == [ST]
    assert m.child_exited(7.0) == [TOUCH, ST, SPAWN]


def test_exit_waits_for_child_then_exits_without_restart():
    m = machine(want="up", pid=42, started_at=0.0)
    assert m.command("x", 5.0) == [ST]
    assert m.command("u", 5.5) == [ST]  # still obeys commands
    assert m.child_exited(6.0) == [TOUCH, ST, EXIT]


def test_once_then_exit():
    # svc -ox: run once, then exit.
    m = machine(want="down")
    m.command("o", 1.0)
    m.started(42, 1.0)
    assert m.command("x", 1.0) == [ST]
    assert m.child_exited(3.0) == [TOUCH, ST, EXIT]


def test_exit_while_start_pending_exits_now():
    m = machine(want="up", pid=42, started_at=10.0)
    m.child_exited(10.1)
    assert m.command("x", 10.2) == [ST, EXIT]


def test_fork_failure_retries_after_back_off():
    m = machine(want="down")
    assert m.command("u", 1.0) == [ST, SPAWN]
    assert m.fork_failed(1.0) == []
    assert m.pending and m.wake == 1.0 + FORK_RETRY
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
