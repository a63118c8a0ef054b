"""svctl: see and control every service.

    svctl [-d DIR] [status] [--json] [NAME...]
    svctl [-d DIR] start|restart [--settle SECS] [--wait SECS|--no-wait] NAME...
    svctl [-d DIR] stop|reload|once|pause|cont|kill [--wait SECS|--no-wait] NAME...
    svctl [-d DIR] signal SIG [--wait SECS|--no-wait] NAME...
    svctl [-d DIR] tail [-f] [-n N] [--no-prefix] [--utc] NAME...
    svctl [-d DIR] add [--settle SECS] [--wait SECS] SRCDIR [NAME]
    svctl [-d DIR] remove [--wait SECS] NAME...
    svctl [-d DIR] show [--json] NAME

Services live in DIR: -d, else $SVDIR, else /etc/service if it exists,
else /service.  NAME is a service in DIR (as status prints it, escapes
included), a path, or "all".  status prints one row per service and its
logger; the control verbs write svc letters and wait (7 s by default, for
stop and restart at least timeout-kill + 2 s; start, restart and add: plus
the settle) until each service is where it was sent, judged only from
status supervise wrote after the letters, printing one line per service;
a start is done when the run is ready (a readiness knob) or has stayed up
for the settle (--settle, 1 s: supervisord's startsecs), and failed when
it exits before; tail
merges the log directories of the services in time order; add links a
directory into DIR and waits until it runs; remove unlinks it and stops
the service, then its logger, until both supervise processes are gone.
Everything is read through _svinfo: status files, control FIFOs, logs.

Exit codes: status and show: 0 every service in its wanted state, 3 one is
not, 4 one is unknown or unsupervised (LSB's status codes); the others: 0
done, 1 not done for at least one service; 100 usage (daemontools' code
where LSB has 2); 111 a system error (LSB 1).
"""

import posix  # not os: see _strerr
import sys
import time

from . import _strerr, _svinfo
from . import _svctl_format as fmt
from ._svctl_format import Usage

PROG = "svctl"
USAGE = ("svctl [-d DIR] [status|start|stop|restart|reload|once|pause|cont|kill"
         "|signal SIG|tail|add|remove|show] [options] [NAME...]")
CONTROL = ("start", "stop", "restart", "reload", "once", "pause", "cont", "kill", "signal")
VERBS = ("status", "tail", "add", "remove", "show") + CONTROL
# verb -> options it takes (long names; "n" and "wait" take a value)
OPTIONS = {"status": ("json",), "show": ("json", "utc"), "tail": ("f", "n", "no-prefix", "utc"),
           "add": ("wait", "settle"), "remove": ("wait",),
           "start": ("wait", "no-wait", "settle"), "restart": ("wait", "no-wait", "settle")}
SHORT = {"d": "dir", "f": "f", "n": "n", "w": "wait", "j": "json", "h": "help"}
VALUED = ("dir", "n", "wait", "settle")
KNOWN = ("dir", "help", "json", "utc", "f", "n", "no-prefix", "wait", "no-wait", "settle")
WAIT = 7.0
HELP = """usage: svctl [-d DIR] [VERB] [options] [NAME...|all]

  status [--json] [NAME...]       the table (the default); exit 0/3/4 as LSB
  start|stop|restart|reload|once|pause|cont|kill [--wait SECS|--no-wait] NAME...
  signal SIG [--wait SECS|--no-wait] NAME...
                                  send, then wait until done (7 s; stop and
                                  restart: longer if timeout-kill needs it)
  start|restart --settle SECS     started once up that long (1 s; 0: once
                                  up), or ready with a readiness knob
  tail [-f] [-n N] [--no-prefix] [--utc] [NAME...]
  add [--wait SECS] [--settle SECS] SRCDIR [NAME]
                                  link into DIR, wait until started
  remove [--wait SECS] NAME...    unlink, stop the service, then its logger
  show [--json] [--utc] NAME      everything known about one service

DIR: -d, $SVDIR, /etc/service or /service.  See svctl(8).
"""


def parse(argv):
    """argv (without argv[0]) -> (verb, opts dict, operands); Usage on error."""
    opts, words = {}, []
    args = list(argv)
    while args:
        word = args.pop(0)
        if word == "--":
            words += args
            break
        if word.startswith("--"):
            name, eq, value = word[2:].partition("=")
            if name in VALUED and not eq:
                if not args:
                    raise Usage("option --%s needs a value" % name)
                value = args.pop(0)
            elif name not in VALUED and eq:
                raise Usage("option --%s takes no value" % name)
            opts[name] = value if name in VALUED else True
        elif word.startswith("-") and word != "-" and not _signal_word(word, words):
            i = 1
            while i < len(word):
                name = SHORT.get(word[i])
                if name is None:
                    raise Usage("unknown option -%s" % word[i])
                if name in VALUED:
                    value = word[i + 1:] or (args.pop(0) if args else None)
                    if value is None:
                        raise Usage("option -%s needs a value" % word[i])
                    opts[name] = value
                    break
                opts[name] = True
                i += 1
        else:
            words.append(word)
    verb = words.pop(0) if words else "status"
    if verb not in VERBS:
        raise Usage("unknown verb %s" % _svinfo.display(verb))
    allowed = OPTIONS.get(verb, ("wait", "no-wait"))
    for name in opts:
        if name not in KNOWN:
            raise Usage("unknown option --%s" % name)
        if name not in ("dir", "help") and name not in allowed:
            raise Usage("%s takes no option --%s" % (verb, name))
    for name in ("wait", "settle"):
        if name in opts:
            try:
                opts[name] = float(opts[name])
            except ValueError:
                raise Usage("--%s wants seconds, not %s" % (name, opts[name])) from None
            if not opts[name] >= 0:
                raise Usage("--%s wants seconds" % name)
    if "n" in opts:
        if not opts["n"].isdigit():
            raise Usage("-n wants a number of lines")
        opts["n"] = int(opts["n"])
    return verb, opts, words


def _signal_word(word, words):
    """A word like -HUP right after "signal" is the signal, not an option."""
    return words == ["signal"] and word[1:].isalnum()


def scandir(opts, environ):
    """The directory services live in, as bytes."""
    if "dir" in opts:
        return _strerr.fsencode(opts["dir"])
    if environ.get(b"SVDIR"):
        return environ[b"SVDIR"]
    try:
        posix.stat(b"/etc/service")
        return b"/etc/service"
    except OSError:
        return b"/service"


def targets(base, names):
    """[(label, path)] for NAMES; "all" and no NAME mean every service.

    A name is looked for in BASE as typed, then unescaped, then as a path.
    OSError when BASE must be listed and cannot be.
    """
    if not names or "all" in names:
        return [(_svinfo.display(n), base + b"/" + n) for n in _svinfo.service_names(base)]
    out = []
    for name in names:
        raw = _strerr.fsencode(name)
        tries = [raw]
        try:
            tries.append(_svinfo.argument(name))
        except ValueError:
            pass
        path = None
        for t in tries:
            for candidate in ([] if t.startswith(b"/") else [base + b"/" + t]) + [t]:
                if _exists(candidate):
                    path = candidate
                    break
            if path:
                break
        label = _svinfo.display(tries[-1] if len(tries) > 1 else raw)
        out.append((label, path or base + b"/" + tries[-1]))
    return out


def need_base(base, verb, names):
    """Exit 111 when BASE cannot be read and a NAME (or all) needs it: a
    NAME given as an existing path with a slash does not."""
    names = names[1:] if verb == "signal" else names
    paths = [_strerr.fsencode(n) for n in names if n != "all"]
    if verb == "remove" and len(paths) != len(names):
        return  # a usage error, said later
    if names and len(paths) == len(names) and all(b"/" in p and _exists(p) for p in paths):
        return
    try:
        posix.listdir(base)
    except OSError as e:
        _strerr.fatal(PROG, "unable to read %s" % _svinfo.display(base), e)


def _exists(path):
    try:
        posix.stat(path)
        return True
    except OSError:
        return False


def colour_on(fd, environ):
    return posix.isatty(fd) and not environ.get(b"NO_COLOR") and environ.get(b"TERM") != b"dumb"


def status(base, opts, names, environ):
    problem = None
    try:
        todo = targets(base, names)
    except OSError as e:
        # Still the header (and a JSON document): scripts parse the output.
        problem = "unable to read %s: %s" % (_svinfo.display(base), _strerr.errtext(e))
        _strerr.warn(PROG, "unable to read %s" % _svinfo.display(base), e)
        todo = []
    first = time.monotonic()
    snaps = [(label, _svinfo.read(path)) for label, path in todo]
    if any(_ambiguous(s) for _, s in snaps):
        # 0.76 supervise: a second look tells a crash loop from a fresh start.
        time.sleep(max(0, first + 1.1 - time.monotonic()))
        snaps = [(label, _svinfo.read(s["path"], prev=s) if _ambiguous(s) else s)
                 for label, s in snaps]
    code = max([_svinfo.wanted(s) for _, s in snaps] or [4 if problem else 0])
    now = time.time()
    if opts.get("json"):
        import json
        doc = {"schema": _svinfo.SCHEMA, "scandir": _svinfo.display(base), "time": now,
               "error": problem, "services": [_svinfo.to_json(s) for _, s in snaps]}
        _out(json.dumps(doc, indent=1) + "\n")
    else:
        _out(fmt.table(snaps, now, colour_on(1, environ)))
    return code


def _ambiguous(s):
    return s["ambiguous"] or (s["log"] is not None and s["log"]["ambiguous"])


def show(base, opts, names):
    if len(names) != 1:
        raise Usage("show wants one NAME")
    label, path = targets(base, names)[0]
    snap = _svinfo.read(path)
    if snap["ambiguous"]:
        time.sleep(1.1)
        snap = _svinfo.read(path, prev=snap)
    where, how = _svinfo.logdir(path)
    if opts.get("json"):
        import json
        doc = _svinfo.to_json(snap)
        doc["logdir"] = None if where is None else _svinfo.display(where)
        doc["logdir_how"] = how
        _out(json.dumps(doc, indent=1) + "\n")
    else:
        _out(fmt.show(label, snap, time.time(), where, how, opts.get("utc", False)))
        if where:
            from . import _logtail
            _logtail.tail([(label, where)], 5, False, prefix=False, utc=opts.get("utc", False),
                          out=_out, warn=lambda text: _strerr.warn(PROG, text))
    return _svinfo.wanted(snap)


def control(base, verb, opts, names):
    from . import _svctl_control as ctl
    letter = None
    if verb == "signal":
        if not names:
            raise Usage("signal wants SIG and NAME...")
        sig = names.pop(0)
        letter = ctl.signal_letter(sig.lstrip("-"))
        if letter is None:
            raise Usage("unknown signal %s (HUP ALRM INT TERM KILL QUIT USR1 USR2 WINCH STOP CONT)" % sig)
    if not names:
        raise Usage("%s wants NAME... (or all)" % verb)
    todo = targets(base, names)
    snaps = [_svinfo.read(path, usage=False) for _, path in todo]
    settle = opts.get("settle", ctl.SETTLE) if verb in ("start", "restart") else 0.0
    jobs = [ctl.plan(verb, label, snap, letter, settle) for (label, _), snap in zip(todo, snaps)]
    wait = opts.get("wait", WAIT)
    if "wait" not in opts and verb in ("stop", "restart"):
        wait = max([wait] + [ctl.stop_wait(s) for s in snaps])
    if "wait" not in opts:
        wait += settle
    ctl.run(jobs, None if opts.get("no-wait") else wait)
    _out("".join("%s: %s\n" % (j.label, j.result[1]) for j in jobs))
    return 0 if all(j.result[0] for j in jobs) else 1


def main(argv=None, environ=None) -> int:
    argv = sys.argv if argv is None else argv
    environ = posix.environ if environ is None else environ
    try:
        verb, opts, names = parse(argv[1:])
        if opts.get("help"):
            _out(HELP)
            return 0
        base = scandir(opts, environ)
        if verb not in ("status", "show", "add"):
            need_base(base, verb, names)
        if verb == "status":
            return status(base, opts, names, environ)
        if verb == "show":
            return show(base, opts, names)
        if verb in CONTROL:
            return control(base, verb, opts, names)
        from . import _svctl_ops
        return getattr(_svctl_ops, verb)(base, opts, names, environ)
    except Usage as e:
        _strerr.say("%s: usage: %s\n%s: %s\n" % (PROG, USAGE, PROG, e))
        return 100
    except BrokenPipeError:
        return 0


def _out(text):
    data = _strerr.fsencode(text)
    try:
        while data:
            data = data[posix.write(1, data):]
    except BrokenPipeError:
        raise
    except OSError as e:
        _strerr.fatal(PROG, "unable to write output", e)


if __name__ == "__main__":
    sys.exit(main())
