"""The last step of every chain-loading tool: become the rest of the command.

The C tools pass on the signal state they inherited.  CPython changed three
dispositions at start-up (SIGPIPE and SIGXFSZ ignored, SIGINT caught unless it
was already ignored), so exactly those are put back; a SIGINT or SIGQUIT that
our parent ignored (a background job of sh) stays ignored, and the mask is
left alone, as 0.76 leaves it.

The same goes for the environment: when the locale is C, CPython puts
LC_CTYPE=C.UTF-8 into its own (PEP 538), and a C tool would not.  The child
gets the environment our caller gave us, read back from /proc/self/environ,
which CPython does not rewrite.
"""

import os
import signal

from . import _pathexec
from ._strerr import fatal


def restore_signals():
    """Undo CPython's start-up changes to the signal dispositions."""
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    signal.signal(signal.SIGXFSZ, signal.SIG_DFL)
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        signal.signal(signal.SIGINT, signal.SIG_DFL)


def environ():
    """The environment we were started with: a dict of bytes, in order."""
    try:
        with open("/proc/self/environ", "rb") as f:
            data = f.read()
    except OSError:
        return dict(os.environb)
    env = {}
    for entry in data.split(b"\0"):
        name, eq, value = entry.partition(b"=")
        if eq and name not in env:
            env[name] = value
    return env


def execute(prog, argv, env=None):
    """Exec ARGV through PATH in this process; on failure die as PROG.

    ENV (a dict of bytes) defaults to environ().
    """
    restore_signals()
    if env is None:
        env = environ()
    err = _pathexec.run(argv, env)
    fatal(prog, "unable to run %s" % argv[0], err)
