"""The last step of every chain-loading tool: become the rest of the command.

The next program gets SIGPIPE, SIGXFSZ, SIGINT and SIGQUIT at their defaults
and an empty signal mask, whatever CPython or our caller did with them, and
the environment our caller gave us (not CPython's locale-coerced copy): see
_pathexec.
"""

from . import _pathexec
from ._strerr import fatal, usage


def account(prog, argv):
    """The passwd entry named by ARGV[1] for `PROG account child`: usage
    when there is no child, fatal when there is no such account."""
    if len(argv) < 3:
        usage(prog, "%s account child" % prog)
    import pwd
    try:
        return pwd.getpwnam(argv[1])
    except KeyError:
        fatal(prog, "unknown account %s" % argv[1])


def execute(prog, argv, env=None):
    """Exec ARGV through PATH in this process; on failure die as PROG.

    ENV (a dict of bytes) defaults to the environment we were started with.
    """
    _pathexec.reset_signals()
    if env is None:
        env = _pathexec.initial_environ()
    err = _pathexec.run(argv, env)
    fatal(prog, "unable to run %s" % argv[0], err)
