"""svscan's bookkeeping as plain calls: no processes, no clocks, no sleeps."""

import signal

import pytest

from svtools._svscan_policy import (FAILED, GRACE, KILL_GRACE, PROBE, IN_CREATE, IN_DELETE, IN_DELETE_SELF,
                                    IN_IGNORED, IN_ISDIR, IN_MOVE_SELF, IN_MOVED_FROM,
                                    IN_MOVED_TO, IN_Q_OVERFLOW, MAXSERVICES, POLL, RETRY,
                                    SETTLE, THROTTLE, Table)

KEY = (8, 1234)


def running(haslog=False, at=10.0, name=b"svc", key=KEY):
    """A table with one service whose supervise (pid 100, log 101) started AT."""
    t = Table()
    e = t.add(key, name, haslog, 3 if haslog else -1, 4 if haslog else -1)
    t.seen(e, name, at)
    for (e, i) in t.take_starts():
        t.started(e, i, 100 + i, at)
    return t, e


def state(t):
    """Everything the table holds, as plain values."""
    entries = sorted((k, e.name, e.haslog, e.r, e.w, e.active, list(e.pid),
                      list(e.notbefore), list(e.orphan)) for k, e in t.entries.items())
    return (entries, sorted((p, e.key) for p, e in t.children.items()),
            sorted((p, o.e.key, o.i, o.pgid, o.leader, o.kill_at, o.probe_at, o.giveup_at)
                   for p, o in t.orphans.items()), list(t.signals),
            sorted(e.key for e in t.pending), [(e.key, i) for e, i in t.starts],
            dict(t.warned), set(t.retry), t.retry_at, dict(t.settle), t.poll_at)


def test_a_new_directory_is_started_at_once():
    t = Table()
    e = t.add(KEY, b"svc", False)
    t.seen(e, b"svc", 0.0)
    assert t.take_starts() == [(e, 0)]
    assert e.pid == [-1, 0]
    t.started(e, 0, 100, 0.0)
    assert t.children == {100: e} and e.notbefore[0] == THROTTLE
    assert t.take_starts() == []


def test_has_log_gets_two_slots_each_with_its_own_supervise():
    t = Table()
    e = t.add(KEY, b"svc", True, 3, 4)
    t.seen(e, b"svc", 0.0)
    assert t.take_starts() == [(e, 0), (e, 1)]
    t.started(e, 0, 100, 0.0)
    t.started(e, 1, 101, 0.0)
    assert (e.label(0), e.label(1)) == (b"svc", b"svc/log")
    assert t.supervise_of(100) == (e, 0) and t.supervise_of(101) == (e, 1)
    # the log's supervise dies: only slot 1 comes back
    assert t.reaped(101, 0, 0, 5.0) == []
    assert t.due(5.0) == [e]
    t.want(e, 5.0)
    assert t.take_starts() == [(e, 1)]


def test_restart_within_a_second_of_the_start_is_held_back():
    t, e = running(at=10.0)
    assert t.reaped(100, 0, 0, 10.3) == []
    assert t.due(10.3) == [] and t.take_starts() == []
    assert t.next_deadline() == 10.0 + THROTTLE
    assert t.due(10.9) == []
    assert t.due(11.0) == [e]          # released at its deadline
    t.want(e, 11.0)
    assert t.take_starts() == [(e, 0)]
    assert e not in t.pending


def test_a_held_start_is_not_released_early_even_if_asked():
    t, e = running(at=10.0)
    t.reaped(100, 0, 0, 10.3)
    t.want(e, 10.5)                    # a scan sees it again too soon
    assert t.take_starts() == [] and e in t.pending
    assert t.next_deadline() == 11.0


def test_restart_long_after_the_start_is_immediate():
    t, e = running(at=10.0)
    assert t.reaped(100, 0, 0, 50.0) == []
    assert t.due(50.0) == [e]
    t.want(e, 50.0)
    assert t.take_starts() == [(e, 0)]


@pytest.mark.parametrize("code", [100, 111])
def test_supervise_exit_100_or_111_holds_back_five_seconds(code):
    t, e = running(at=10.0)
    t.reaped(100, code, 0, 30.0)
    assert t.next_deadline() == 30.0 + FAILED
    assert t.due(34.9) == []
    assert t.due(35.0) == [e]


@pytest.mark.parametrize("code", [0, 1, 2, 110, None])
def test_other_exits_and_signals_hold_back_only_the_throttle(code):
    t, e = running(at=10.0)
    t.reaped(100, code, 0, 10.5)
    assert t.next_deadline() == 10.0 + THROTTLE


def test_failed_fork_is_retried_after_five_seconds():
    t = Table()
    e = t.add(KEY, b"svc", False)
    t.seen(e, b"svc", 3.0)
    [(e, i)] = t.take_starts()
    t.fork_failed(e, i, 3.0)
    assert e.pid == [0, 0] and t.children == {}
    assert t.next_deadline() == 3.0 + FAILED
    assert t.due(7.0) == []
    assert t.due(8.0) == [e]


def test_forked_records_each_pid_and_each_failure():
    t = Table()
    e = t.add(KEY, b"svc", True, 3, 4)
    t.seen(e, b"svc", 3.0)
    starts = t.take_starts()
    t.forked(starts, [100, 0], 3.0)    # the log's fork failed
    assert e.pid == [100, 0] and t.children == {100: e}
    assert e.notbefore == [3.0 + THROTTLE, 3.0 + FAILED]
    assert t.next_deadline() == 3.0 + FAILED
    assert t.due(3.0 + FAILED) == [e]
    t.want(e, 3.0 + FAILED)
    assert t.take_starts() == [(e, 1)]


TERM, CONT, KILL, QUIT = signal.SIGTERM, signal.SIGCONT, signal.SIGKILL, signal.SIGQUIT


def test_orphan_holds_the_slot_and_gets_sigkill_after_the_grace():
    t, e = running(at=0.0)
    assert t.reaped(100, None, 777, 50.0) == []
    assert e.orphan == [777, 0] and t.known(777)
    assert t.due(50.0) == [] and t.take_starts() == []   # not while 777 runs
    assert t.next_deadline() == 50.0 + GRACE
    assert t.expired(50.0) == [("kill", 777, TERM), ("kill", 777, CONT)]
    assert t.expired(59.9) == []
    assert t.expired(60.0) == [("kill", 777, KILL)]
    assert t.expired(70.0) == []       # named once
    assert t.next_deadline() is None
    assert t.reaped(777, None, 0, 61.0) == []
    assert e.orphan == [0, 0] and not t.known(777)
    assert t.due(61.0) == [e]


# (pgid, down-signal, timeout-kill) -> what the orphan 777 gets at once, and
# when and where its SIGKILL goes: as supervise's "d" would stop it
ORPHAN_STOPS = [
    ((0, None, None), [("kill", 777, TERM), ("kill", 777, CONT)], GRACE, 777),
    ((0, QUIT, None), [("kill", 777, QUIT), ("kill", 777, CONT)], GRACE, 777),
    ((0, QUIT, 2.5), [("kill", 777, QUIT), ("kill", 777, CONT)], 2.5, 777),
    ((0, None, 0.0), [("kill", 777, TERM), ("kill", 777, CONT)], GRACE, 777),  # 0: never
    ((777, None, None), [("kill", -777, TERM), ("kill", -777, CONT)], GRACE, -777),
    ((777, QUIT, 1.0), [("kill", -777, QUIT), ("kill", -777, CONT)], 1.0, -777),
]


@pytest.mark.parametrize("knobs,first,after,target", ORPHAN_STOPS,
                         ids=["%s" % (x[0],) for x in ORPHAN_STOPS])
def test_orphan_stopped_with_its_down_signal_group_and_timeout_kill(knobs, first, after, target):
    t, e = running(at=0.0)
    assert t.reaped(100, None, 777, 50.0, *knobs) == []
    assert t.expired(50.0) == first
    assert t.next_deadline() == 50.0 + after
    assert t.expired(50.0 + after - 0.01) == []
    assert t.expired(50.0 + after) == [("kill", target, KILL)]


def test_orphan_group_holds_the_slot_until_the_group_is_gone():
    t, e = running(at=0.0)
    t.reaped(100, None, 777, 50.0, 777, QUIT, 3.0)
    t.expired(50.0)
    assert t.group_gone(777, 50.5) == []       # its leader runs: ignored
    assert e.orphan == [777, 0]
    assert t.reaped(777, None, 0, 51.0) == []  # the leader is gone...
    assert e.orphan == [777, 0] and t.due(51.0) == [] and t.take_starts() == []
    assert t.next_deadline() == 51.0           # ... its group is looked at
    assert t.expired(51.0) == [("probe", 777, 777)]
    assert t.next_deadline() == 51.0 + PROBE
    assert t.expired(51.0 + PROBE) == [("probe", 777, 777)]
    assert t.group_gone(777, 51.1) == []       # now the slot is free
    assert e.orphan == [0, 0] and t.orphans == {} and t.due(51.1) == [e]
    assert t.group_gone(777, 51.2) == []       # named once


def test_orphan_group_gets_sigkill_then_is_given_up():
    t, e = running(at=0.0)
    t.reaped(100, None, 777, 50.0, 777, None, None)
    t.expired(50.0)
    assert t.expired(50.0 + GRACE) == [("kill", -777, KILL)]
    t.reaped(777, None, 0, 60.5)
    assert t.expired(60.5) == [("probe", 777, 777)]
    # a member that stays (a zombie nobody reaps) is given up KILL_GRACE after the SIGKILL
    assert t.expired(60.0 + KILL_GRACE) == [("gone", 777, 777)]
    assert t.group_gone(777, 61.0) == [] and e.orphan == [0, 0]


def test_orphan_without_group_frees_the_slot_when_reaped():
    t, e = running(at=0.0)
    t.reaped(100, None, 777, 50.0, 0, QUIT, 1.0)
    t.expired(50.0)
    assert t.reaped(777, None, 0, 50.2) == [] and e.orphan == [0, 0]
    assert t.expired(60.0) == [] and t.due(50.2) == [e]


def test_prune_only_when_unseen_and_both_slots_down():
    t, e = running(haslog=True, at=0.0)
    t.begin_scan()
    assert t.end_scan() == []          # unseen, but both supervise run
    assert not e.active and KEY in t.entries
    assert t.reaped(100, 0, 0, 5.0) == []
    assert KEY in t.entries            # the log's supervise still runs
    assert t.reaped(101, 0, 0, 6.0) == [e]    # now its pipe and dirfd must close
    assert t.entries == {} and t.pending == set()


def test_prune_waits_for_the_orphan():
    t, e = running(at=0.0)
    t.begin_scan()
    t.end_scan()
    assert t.reaped(100, 0, 555, 5.0) == []
    assert KEY in t.entries
    assert t.reaped(555, None, 0, 6.0) == [e]  # gone: its descriptors close
    assert t.entries == {}


def test_an_active_entry_with_both_slots_down_is_kept():
    t, e = running(haslog=True, at=0.0)
    t.reaped(100, 0, 0, 5.0)
    t.reaped(101, 0, 0, 5.0)
    assert t.end_scan() == [] and KEY in t.entries
    assert t.prune(e) == []


def test_a_scan_that_sees_the_entry_keeps_it():
    t = Table()
    e = t.add(KEY, b"svc", True, 3, 4)
    t.begin_scan()
    t.seen(e, b"svc", 0.0)
    t.take_starts()
    e.pid = [0, 0]
    assert t.end_scan() == [] and e.active


def test_unreadable_directory_proves_no_entry_gone():
    t = Table()
    e = t.add(KEY, b"svc", True, 3, 4)
    e.active = False
    t.scan_failed()
    assert e.active
    assert t.end_scan() == []


def test_name_follows_a_rename_only_while_the_service_is_down():
    t, e = running(at=0.0)
    t.seen(e, b"other", 5.0)
    assert e.name == b"svc"            # supervise runs in svc/
    t.reaped(100, 0, 0, 6.0)
    t.seen(e, b"other", 6.0)
    assert e.name == b"other"


def test_nothing_pending_means_no_deadline():
    assert Table().next_deadline() is None
    t, e = running(haslog=True, at=0.0)
    assert t.next_deadline() is None   # no periodic wake-ups
    assert t.due(1e9) == [] and t.expired(1e9) == []


def test_poll_deadline_rearms():
    t = Table()
    t.start_polling(0.0)
    assert t.next_deadline() == POLL
    assert not t.poll_due(POLL - 0.1)
    assert t.poll_due(POLL)
    assert t.next_deadline() == 2 * POLL


def test_trouble_is_news_once_and_retried_every_five_seconds():
    t = Table()
    assert t.trouble(b"bad", 13)
    assert not t.trouble(b"bad", 13)
    assert t.trouble(b"bad", ("log", 13))      # a different trouble is news
    t.arm_retry(2.0)
    assert t.next_deadline() == 2.0 + RETRY
    assert t.retry_due(6.9) == []
    assert t.retry_due(7.0) == [b"bad"]
    assert t.retry_at is None
    t.looking(b"bad")
    t.arm_retry(7.0)
    assert t.retry_at is None and t.next_deadline() is None


def test_a_scan_forgets_warnings_about_names_that_are_fine_now():
    t = Table()
    t.trouble(b"bad", 13)
    t.trouble(b"gone", 2)
    t.begin_scan()
    t.trouble(b"bad", 13)              # the scan saw it again, still bad
    t.end_scan()
    assert t.warned == {b"bad": 13}
    assert not t.trouble(b"bad", 13)
    assert t.trouble(b"gone", 2)


def test_table_full():
    t = Table()
    for n in range(MAXSERVICES - 1):
        t.add((0, n), b"s%d" % n, False)
    assert not t.full()
    t.add((0, MAXSERVICES), b"last", False)
    assert t.full()


CHANGES = [
    ([(IN_MOVED_TO, b"new")], False, [b"new"], {}),
    ([(IN_CREATE, b"file")], False, [b"file"], {}),
    ([(IN_CREATE | IN_ISDIR, b"dir")], False, [], {b"dir": 1.0 + SETTLE}),
    ([(IN_MOVED_TO | IN_ISDIR, b"dir")], False, [b"dir"], {}),
    ([(IN_DELETE, b"old")], True, [], {}),
    ([(IN_MOVED_FROM | IN_ISDIR, b"old")], True, [], {}),
    ([(IN_DELETE, b".hidden"), (IN_MOVED_TO, b".x")], False, [], {}),
    ([(IN_Q_OVERFLOW, b"")], True, [], {}),
    ([(IN_DELETE_SELF, b"")], True, [], {}),
    ([(IN_MOVE_SELF, b"")], True, [], {}),
    ([(IN_IGNORED, b"")], True, [], {}),
    ([(IN_MOVED_TO, b"a"), (IN_CREATE | IN_ISDIR, b"b"), (IN_DELETE, b"c")],
     True, [b"a"], {b"b": 1.0 + SETTLE}),
]


@pytest.mark.parametrize("events,full,names,settle", CHANGES)
def test_inotify_changes(events, full, names, settle):
    t = Table()
    assert t.changed(events, 1.0) == (full, names)
    assert t.settle == settle


def test_a_directory_made_in_place_settles_first():
    t = Table()
    t.changed([(IN_CREATE | IN_ISDIR, b"dir")], 1.0)
    assert t.next_deadline() == 1.0 + SETTLE
    assert t.settled(1.4) == []
    assert t.settled(1.5) == [b"dir"]
    t.looking(b"dir")
    assert t.settle == {} and t.next_deadline() is None


IRRELEVANT = [
    ("reaped", lambda t: t.reaped(4242, 0, 0, 12.0), []),
    ("reaped orphan unknown", lambda t: t.reaped(4242, None, 9, 12.0), []),
    ("supervise_of", lambda t: t.supervise_of(4242), None),
    ("due too early", lambda t: t.due(10.5), []),
    ("expired", lambda t: t.expired(1e9), []),
    ("group_gone unknown", lambda t: t.group_gone(4242, 12.0), []),
    ("settled", lambda t: t.settled(1e9), []),
    ("retry_due", lambda t: t.retry_due(1e9), []),
    ("poll_due", lambda t: t.poll_due(1e9), False),
    ("take_starts", lambda t: t.take_starts(), []),
    ("prune active", lambda t: t.prune(t.entries[KEY]), []),
    ("end_scan", lambda t: t.end_scan(), []),
]


@pytest.mark.parametrize("what,call,result", IRRELEVANT, ids=[x[0] for x in IRRELEVANT])
def test_irrelevant_events_change_nothing(what, call, result):
    t, e = running(haslog=True, at=10.0)
    t.reaped(101, 0, 0, 10.2)          # the log's restart is held until 11.0
    before = state(t)
    assert call(t) == result
    assert state(t) == before


def test_want_with_both_slots_running_changes_nothing():
    t, e = running(haslog=True, at=0.0)
    before = state(t)
    t.want(e, 50.0)
    assert state(t) == before


def test_stop_cancels_queued_starts_and_every_deadline_but_the_orphans():
    t, e = running(at=0.0)
    other = t.add((8, 99), b"new", False)
    t.seen(other, b"new", 1.0)                 # queued, not forked
    t.trouble(b"dangling", 2)                  # a retry owed
    t.arm_retry(1.0)
    t.start_polling(1.0)
    t.reaped(100, None, 555, 2.0)              # an orphan with its SIGKILL deadline
    t.stop()
    assert other.pid == [0, 0] and t.take_starts() == []
    assert t.next_deadline() == 2.0 + GRACE
    assert t.reaped(555, None, 0, 3.0) == []   # no restart, no prune while stopping
    t.want(e, 50.0)
    assert t.take_starts() == [] and t.next_deadline() is None


def test_an_adopted_supervise_counts_as_started():
    t = Table()
    e = t.add(KEY, b"svc", False)
    t.seen(e, b"svc", 0.0)
    [(e, i)] = t.take_starts()
    t.adopted(e, i, 4242, 0.0)
    assert t.supervise_of(4242) == (e, 0) and e.pid == [4242, 0]
    assert t.reaped(4242, None, 0, 5.0) == []  # dies like a child: started again
    assert t.due(5.0) == [e]


def test_a_lock_held_by_an_unknown_process_is_looked_at_again_later():
    t = Table()
    e = t.add(KEY, b"svc", False)
    t.seen(e, b"svc", 0.0)
    [(e, i)] = t.take_starts()
    t.held(e, i, 0.0)
    assert e.pid == [0, 0] and t.next_deadline() == FAILED
    assert t.due(FAILED) == [e]
