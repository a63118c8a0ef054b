"""supervisord's value types, for svimport: each parser takes the text of
one key (and the key, for the message) and returns the value, or raises
ValueError saying why.  The source of every rule is supervisor/datatypes.py
(booleans, integers, byte sizes with KB/MB/GB, signal names or numbers,
exit-code lists, log file paths with NONE/OFF/AUTO/syslog, the KEY=value
environment lexer).  check_name() says whether a program name is safe as
a service directory name.
"""

import os
import shlex
import signal

_TRUE = ("yes", "true", "on", "1")
_FALSE = ("no", "false", "off", "0")


def env_pairs(text):
    """supervisord's KEY=val,KEY2="v a l" -> dict; ValueError when malformed.

    The same lexer supervisord uses: shlex in POSIX mode whose word
    characters also include / . + - ( ) :, so quotes are needed around a
    value with spaces, commas or other punctuation.
    """
    lexer = shlex.shlex(text, posix=True)
    lexer.wordchars += "/.+-():"
    tokens = list(lexer)
    out = {}
    i = 0
    while i < len(tokens):
        k = tokens[i:i + 3]
        if len(k) != 3 or k[1] != "=":
            raise ValueError("environment: malformed KEY=value list %r" % text)
        out[k[0]] = k[2]
        i += 4
    return out


def boolean(text, key):
    t = str(text).lower()
    if t in _TRUE:
        return True
    if t in _FALSE:
        return False
    raise ValueError("%s: not a boolean: %r" % (key, text))


def integer(text, key):
    try:
        return int(text)
    except ValueError:
        raise ValueError("%s: not an integer: %r" % (key, text))


def byte_size(text, key):
    t = text.lower()
    for suffix, mult in (("kb", 1024), ("mb", 1024 ** 2), ("gb", 1024 ** 3)):
        if t.endswith(suffix):
            return integer(t[:-2], key) * mult
    return integer(t, key)


def signal_name(text, key):
    """A signal name or number -> its name without SIG (supervisord takes both)."""
    t = text.strip()
    try:
        if t.lstrip("-").isdigit():
            return signal.Signals(int(t)).name[3:]
        name = t.upper()
        return signal.Signals[name if name.startswith("SIG") else "SIG" + name].name[3:]
    except (ValueError, KeyError):
        raise ValueError("%s: not a signal: %r" % (key, text))


def exitcodes(text, key):
    try:
        codes = [int(x) for x in text.split(",")] if text else []
    except ValueError:
        raise ValueError("%s: not a list of exit codes: %r" % (key, text))
    if any(c < 0 or c > 255 for c in codes):
        raise ValueError("%s: exit codes are 0..255: %r" % (key, text))
    return codes


def logfile(text):
    """None for NONE/OFF, "AUTO", or the path (~ expanded)."""
    t = text.lower()
    if t in ("none", "off"):
        return None
    if t == "auto":
        return "AUTO"
    if t == "syslog":
        return "syslog"
    return os.path.expanduser(text)


PARSE = {
    "numprocs": integer, "numprocs_start": integer, "priority": integer,
    "autostart": boolean, "startsecs": integer, "startretries": integer,
    "stopwaitsecs": integer, "stopasgroup": boolean, "killasgroup": boolean,
    "redirect_stderr": boolean, "stopsignal": signal_name, "exitcodes": exitcodes,
    "stdout_logfile_maxbytes": byte_size, "stderr_logfile_maxbytes": byte_size,
    "stdout_logfile_backups": integer, "stderr_logfile_backups": integer,
    "stdout_capture_maxbytes": byte_size, "stderr_capture_maxbytes": byte_size,
    "stdout_events_enabled": boolean, "stderr_events_enabled": boolean,
    "stdout_syslog": boolean, "stderr_syslog": boolean,
}


def check_name(name):
    """None if NAME is safe as a service directory name, else why not."""
    if not name:
        return "empty name"
    if name in (".", "..") or name.startswith("."):
        return "name %r starts with a dot (svscan ignores it)" % name
    for ch in name:
        if ch in "/:" or ch.isspace() or not ch.isprintable():
            return "name %r holds %r, unsafe in a directory name" % (name, ch)
    if name.startswith("-"):
        return "name %r starts with '-' (taken for an option)" % name
    return None


def autorestart(text):
    t = text.lower()
    if t in _TRUE:
        return "true"
    if t in _FALSE:
        return "false"
    if t == "unexpected":
        return "unexpected"
    raise ValueError("autorestart: not true, false or unexpected: %r" % text)
