"""supervise's knob files: one small pure parser per file, and load().

Each knob is a file in the service directory holding one value (s6's name
and meaning where s6 has one).  A parser takes the file's bytes and returns
(value, None), or (None, problem) with a short text for the warning
"supervise: warning: DIR/NAME: PROBLEM"; the knob is then ignored and the
0.76 behaviour used.  Times are returned in seconds.

  finish           executable, run after every exit of ./run
  timeout-finish   milliseconds before finish is killed (5000; 0: never)
  down-signal      signal name for 'd', instead of TERM
  timeout-kill     milliseconds after the down signal before SIGKILL (0: never)
  process-group    (any content) ./run leads a new session; signal the group
  notification-fd  N >= 3: ./run writes a newline to fd N when ready
  notify-socket    (any content) systemd's sd_notify datagram socket
  restart-backoff  SECS: the longest wait before a restart after a short run
  fail-limit       "N SECS": N exits within SECS seconds -> failed
  max-death-tally  how many exits supervise/exits keeps (100; at most 4096)
  log-events       (any content) start/ready/exit records on supervise's stdout
  schedule         a cron line: start ./run once at each firing (_schedule_policy)
"""

import os
# The C core of the signal module: no enum wrappers (see supervise).
import _signal as signal

MAX_MS = 2 ** 31 - 1
MAX_TALLY = 4096
_READ = 256

SIGNAL_NAMES = {
    b"TERM": signal.SIGTERM, b"QUIT": signal.SIGQUIT, b"INT": signal.SIGINT,
    b"HUP": signal.SIGHUP, b"USR1": signal.SIGUSR1, b"USR2": signal.SIGUSR2,
    b"WINCH": signal.SIGWINCH, b"KILL": signal.SIGKILL, b"ALRM": signal.SIGALRM,
}


class Knobs:
    """The values in force; the class holds the 0.76 defaults, an instance
    only what its files say."""

    finish = False
    timeout_finish = 5.0
    down_signal = signal.SIGTERM
    timeout_kill = 0.0
    process_group = False
    notification_fd = None
    notify_socket = False
    restart_backoff = None
    fail_limit = None
    max_death_tally = 100
    log_events = False
    schedule = None
    # A schedule file exists, even a junk one: the job is normally down.
    scheduled = False


DEFAULT = Knobs()


def _word(data):
    """The file's content without surrounding ASCII white space."""
    return data.strip(b" \t\r\n\v\f")


def _uint(data, low, high):
    text = _word(data)
    if not text:
        return None, "empty"
    if text[:1] == b"-" and text[1:].isdigit():
        return None, "negative"
    if not (text.isascii() and text.isdigit()):
        return None, "not a number"
    n = int(text)
    if not low <= n <= high:
        return None, "out of range"
    return n, None


def parse_ms(data):
    """Milliseconds, 0..2^31-1 -> seconds."""
    n, problem = _uint(data, 0, MAX_MS)
    return (None, problem) if problem else (n / 1000.0, None)


def parse_signal(data):
    """TERM, SIGTERM, ... (the names of SIGNAL_NAMES) -> signal number."""
    text = _word(data)
    if not text:
        return None, "empty"
    if text.startswith(b"SIG"):
        text = text[3:]
    sig = SIGNAL_NAMES.get(text)
    return (sig, None) if sig else (None, "unknown signal")


def parse_fd(data):
    """A descriptor number, 3..1023 (0, 1 and 2 are ./run's stdio)."""
    return _uint(data, 3, 1023)


def parse_backoff(data):
    """Seconds, 1..2^31-1."""
    n, problem = _uint(data, 1, MAX_MS)
    return (None, problem) if problem else (float(n), None)


def parse_fail_limit(data):
    """"N SECS", both 1..2^31-1 -> (N, SECS)."""
    words = _word(data).split()
    if not words:
        return None, "empty"
    if len(words) != 2:
        return None, "not N SECS"
    n, problem = _uint(words[0], 1, MAX_MS)
    if problem is None:
        secs, problem = _uint(words[1], 1, MAX_MS)
    return (None, problem) if problem else ((n, float(secs)), None)


def parse_tally(data):
    return _uint(data, 0, MAX_TALLY)


def parse_flag(data):
    return True, None


def parse_schedule(data):
    """A cron line -> (zone, expr, wildcard): _schedule_policy.parse."""
    from ._schedule_policy import parse
    return parse(data)


# file name -> (attribute, parser)
PARSERS = {
    "timeout-finish": ("timeout_finish", parse_ms),
    "down-signal": ("down_signal", parse_signal),
    "timeout-kill": ("timeout_kill", parse_ms),
    "process-group": ("process_group", parse_flag),
    "notification-fd": ("notification_fd", parse_fd),
    "notify-socket": ("notify_socket", parse_flag),
    "restart-backoff": ("restart_backoff", parse_backoff),
    "fail-limit": ("fail_limit", parse_fail_limit),
    "max-death-tally": ("max_death_tally", parse_tally),
    "log-events": ("log_events", parse_flag),
    "schedule": ("schedule", parse_schedule),
}
NAMES = frozenset(PARSERS) | {"finish"}


def load(problems, warn, base=""):
    """The Knobs of the directory BASE ("" for the current one, else a path
    ending in "/"; DEFAULT when it has no knob file: then one listdir, and
    nothing allocated, is all this costs).

    PROBLEMS is the caller's dict of knob name -> (problem, errno) already
    reported; WARN(name, problem, errno) is called for a new one (unless
    WARN is None: svscan's read for a supervise it forks, which warns what
    PROBLEMS then holds), with problem None when the file could not be
    read.  A problem is reported again only after it went away or changed.
    """
    try:
        names = os.listdir(base or ".")
    except OSError:
        names = ()
    present = None
    for name in names:
        if name in NAMES:
            if present is None:
                present = []
            present.append(name)
    if problems:
        for name in list(problems):
            if present is None or name not in present:
                del problems[name]
    if present is None:
        return DEFAULT
    knobs = Knobs()
    if "schedule" in present:
        knobs.scheduled = True
    for name in present:
        value, problem, err = _finish(base) if name == "finish" else read(base, name)
        if problem is None and err is None:
            problems.pop(name, None)
            if value is not None:
                setattr(knobs, "finish" if name == "finish" else PARSERS[name][0], value)
        elif problems.get(name) != (problem, err):
            problems[name] = (problem, err)
            if warn is not None:
                warn(name, problem, err)
    return knobs


def read(base, name):
    """(value, problem, errno) of the knob file NAME in the directory BASE
    (see load()); all None when it is missing."""
    try:
        fd = os.open(base + name, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        try:
            data = os.read(fd, _READ)
        finally:
            os.close(fd)
    except FileNotFoundError:
        return None, None, None
    except OSError as e:
        return None, None, e.errno
    value, problem = PARSERS[name][1](data)
    return value, problem, None


def _finish(base):
    path = base + "finish"
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None, None, None
    except OSError as e:
        return None, None, e.errno
    # st[0], not st.st_mode: see _supervise_setup.open_fifo
    if (st[0] & 0o170000) != 0o100000 or not os.access(path, os.X_OK):
        return None, "not an executable file", None
    return True, None, None
