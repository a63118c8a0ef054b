"""svctl's verbs that change the scan directory (add, remove) and tail.

add links a service directory into the scan directory and waits until
svscan has started it (and its logger).  remove takes it out first (unlink
for a symlink; rename to .NAME, which svscan ignores, for a directory), so
that svscan cannot start it again, then stops the service and makes its
supervise exit ('dx'), and only then does the same for the logger, so
that the logger reads what the service wrote last.
"""

import os
import time

from . import _strerr, _svinfo
from . import _svctl_control as ctl
from ._svctl_start import Starter
from ._svctl_format import Usage

PROG = "svctl"
WAIT = 7.0


def _say(text):
    data = _strerr.fsencode(text)
    while data:
        data = data[os.write(1, data):]


def add(base, opts, names, environ):
    if len(names) not in (1, 2):
        raise Usage("add wants SRCDIR [NAME]")
    src = os.path.abspath(_strerr.fsencode(names[0]))
    try:
        name = _svinfo.argument(names[1]) if len(names) == 2 else os.path.basename(src.rstrip(b"/"))
    except ValueError:
        raise Usage("bad escape in %s" % names[1]) from None
    label = _svinfo.display(name)
    if not name or b"/" in name or name.startswith(b".") or name == b"all":
        raise Usage("bad service name %s" % label)
    if not os.path.isdir(src):
        _strerr.fatal(PROG, "unable to add %s: not a directory" % _svinfo.display(src))
    if not os.access(src + b"/run", os.X_OK):
        _strerr.fatal(PROG, "unable to add %s: no executable run in it" % _svinfo.display(src))
    if not os.path.isdir(base):
        _strerr.fatal(PROG, "unable to add %s: no scan directory %s" % (label, _svinfo.display(base)))
    link = base + b"/" + name
    linked = time.time()
    try:
        os.symlink(src, link)
    except FileExistsError:
        _say("%s: already in %s\n" % (label, _svinfo.display(base)))
        return 1
    except OSError as e:
        _strerr.fatal(PROG, "unable to link %s to %s" % (_svinfo.display(link), _svinfo.display(src)), e)
    settle = opts.get("settle", ctl.SETTLE)
    wait = opts.get("wait", WAIT + settle)
    want_up = not os.path.exists(src + b"/down")
    # Judged as start judges: only what came after the link, the service
    # (when not down) and its logger each started once up SETTLE seconds.
    blank = _svinfo.read(link, usage=False)
    starters = [Starter(blank, settle) if want_up else None,
                Starter(blank["log"] or blank, settle)]
    deadline = time.monotonic() + wait
    while True:
        snap = _svinfo.read(link, usage=False)
        got = [_started(starter, s, linked) for starter, s in zip(starters, (snap, snap["log"]))]
        bad = [(s, r[1]) for s, r in zip((snap, snap["log"]), got) if r and not r[0]]
        ok = all(r and r[0] for r in got)
        if ok or bad or time.monotonic() >= deadline:
            break
        time.sleep(ctl.POLL * 5)
    text = ctl.describe(snap) + (", log " + ctl.describe(snap["log"]) if snap["log"] else "")
    if ok:
        _say("%s: added: %s\n" % (label, text))
        return 0
    if bad:
        s, why = bad[0]
        if s["state"] == "failed":   # final: supervise starts it no more until told to
            why = text
        elif s["crash_loop"]:
            why = "it is in a crash loop: " + text
        elif s is not snap:
            why = "log " + why
        _say("%s: added, but %s (see svctl show %s)\n" % (label, why, label))
        return 1
    hint = "" if snap["supervised"] else " (is svscan running on %s?)" % _svinfo.display(base)
    note = "".join(st.note for st in starters if st)
    _say("%s: added, but not up within %gs: %s%s%s\n" % (label, wait, text, note, hint))
    return 1


def _started(starter, snap, linked):
    """The Starter's answer for SNAP (the service or its logger); (True,
    ...) when there is no logger, for a service with DIR/down once it is
    supervised, and for a one-shot kept down after a clean exit
    (_svinfo.exited) however short its run."""
    if snap is None:
        return True, ""
    if starter is None:
        return (True, "") if snap["supervised"] else None
    if not snap["supervised"]:
        return None
    if _svinfo.exited(snap):
        return True, ""   # a one-shot that ran, exited 0 and is kept down: done
    return starter.check(snap, linked)   # (which waits for ./finish to end)


def remove(base, opts, names, environ):
    if not names:
        raise Usage("remove wants NAME...")
    if "all" in names:
        raise Usage("remove takes names, not all")
    code = 0
    for name in names:
        code = max(code, _remove1(base, name, opts.get("wait")))
    return code


def _remove1(base, name, wait):
    raw = _strerr.fsencode(name)
    if not os.path.lexists(base + b"/" + raw):
        try:
            raw = _svinfo.argument(name)
        except ValueError:
            pass
    label = _svinfo.display(raw)
    entry = base + b"/" + raw
    if b"/" in raw or raw.startswith(b".") or not os.path.lexists(entry):
        _say("%s: no such service in %s\n" % (label, _svinfo.display(base)))
        return 1
    try:
        if os.path.islink(entry):
            target = os.path.realpath(entry)
            os.unlink(entry)
            how = "unlinked"
        else:
            target = base + b"/." + raw
            os.rename(entry, target)
            how = "renamed to .%s" % label
    except OSError as e:
        _say("%s: unable to remove from %s: %s\n" % (label, _svinfo.display(base), _strerr.errtext(e)))
        return 1
    done = []
    notes = ""
    for path, what in ((target, "service"), (target + b"/log", "logger")):
        snap = _svinfo.read(path, usage=False)
        if not snap["supervised"]:
            continue
        job = ctl.exit_job(label, snap)
        ctl.run([job], ctl.stop_wait(snap) if wait is None else wait)
        if not job.result[0]:
            left = "" if what == "logger" else "; its logger is left running: svc -dx %s/log" % _svinfo.display(target)
            _say("%s: %s, but the %s: %s%s\n" % (label, how, what, job.result[1], left))
            return 1
        done.append(what)
        notes += job.result[1][len("gone"):]
    stopped = " and ".join(done) + " stopped" if done else "nothing was running"
    _say("%s: removed (%s; %s%s)\n" % (label, how, stopped, notes))
    return 0


def tail(base, opts, names, environ):
    from . import _logtail
    from .svctl import colour_on, targets
    try:
        todo = targets(base, names)
    except OSError as e:
        _strerr.fatal(PROG, "unable to read %s" % _svinfo.display(base), e)
    entries = []
    code = 0
    every = not names or "all" in names
    for label, path in todo:
        if not os.path.lexists(path):
            _strerr.warn(PROG, "%s: no such service in %s" % (label, _svinfo.display(base)))
            code = 1
            continue
        parent = os.path.dirname(path.rstrip(b"/"))
        if os.path.basename(path.rstrip(b"/")) == b"log" and os.path.exists(parent + b"/run"):
            path = parent  # NAME/log, the logger: its log directory is NAME's
        where, how = _svinfo.logdir(path)
        if where is None:
            if every and not os.path.isdir(path + b"/log"):
                continue  # all services: those without a logger have no log to show
            _strerr.warn(PROG, "%s: %s" % (label, how))
            code = 1
        else:
            entries.append((label, where))
    follow = bool(opts.get("f"))
    if follow:
        import signal
        # ^C and a closed pipe end it, as they end tail -f.
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    if not entries:
        if every and not code:
            _strerr.warn(PROG, "no service in %s has a log directory" % _svinfo.display(base))
        return 1
    return max(code, _logtail.tail(
        entries, opts.get("n", 10), follow, prefix=not opts.get("no-prefix"),
        utc=bool(opts.get("utc")), colour=colour_on(1, environ), out=_write,
        warn=lambda text: _strerr.warn(PROG, text)))


def _write(data):
    while data:
        data = data[os.write(1, data):]
