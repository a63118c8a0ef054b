"""The last step of every chain-loading tool: become the rest of the command.

The next program gets SIGPIPE, SIGXFSZ, SIGINT and SIGQUIT at their defaults
and an empty signal mask, whatever CPython or our caller did with them, and
the environment our caller gave us (not CPython's locale-coerced copy): see
_pathexec.
"""

from . import _pathexec
from ._strerr import fatal


def execute(prog, argv, env=None):
    """Exec ARGV through PATH in this process; on failure die as PROG.

    ENV (a dict of bytes) defaults to the environment we were started with.
    """
    _pathexec.reset_signals()
    if env is None:
        env = _pathexec.initial_environ()
    err = _pathexec.run(argv, env)
    fatal(prog, "unable to run %s" % argv[0], err)
