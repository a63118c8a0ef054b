"""svctl show lists whether each exit was asked for, when the exit history
says so (supervise/exits version 2); five-word records show as before."""

from svtools import _svctl_format as fmt, _svinfo


def shown(exits):
    snap = _svinfo._blank(b"/srv/x", 1000.0)
    snap.update(supervised=True, source="xstatus", state="up", want="up", pid=7, since=990.0,
                uptime=10.0, restarts=2, starts=3, exits=exits)
    return [line for line in fmt.show("x", snap, 1000.0, None, "none", utc=True).splitlines()
            if "pid 4" in line]


def test_asked_exits_are_marked():
    lines = shown([(900.0, 41, 256, 15, 1.5, True), (950.0, 42, 256, 15, 1.5, False),
                   (960.0, 43, 1, 0, 2.0, None)])
    assert [line.endswith(", asked") for line in lines] == [True, False, False]
    assert "TERM" in lines[0] and "TERM" in lines[1] and "exit 1" in lines[2]


def test_five_word_records_show_as_before():
    five = shown([(900.0, 41, 256, 15, 1.5), (960.0, 43, 1, 0, 2.0)])
    six = shown([(900.0, 41, 256, 15, 1.5, None), (960.0, 43, 1, 0, 2.0, False)])
    assert five == six and len(five) == 2 and not any("asked" in line for line in five)
