"""svscanboot: start svscan at boot, with its errors shown in ps.

    svscanboot [ DIR ]

svscanboot sets PATH to the directory holding svscanboot followed by the
daemontools list (/command:/usr/local/bin:...), points its standard input,
output and error at /dev/null, and runs `svc -dx DIR/* DIR/*/log` to stop
any supervise left over from an earlier start.  It then starts
`svscan DIR` with an environment of PATH alone, its output and error
piped into `readproctitle service errors: ` followed by 400 dots, which
svscanboot itself becomes (exec).  DIR defaults to /etc/service, as in
Debian's daemontools.  When svscan dies, readproctitle reads end of file
and exits, and init (or systemd) may start svscanboot again.

Exit codes: those of readproctitle; 111 if svscan or readproctitle cannot
be run.
"""

import os
import sys

from . import _pathexec, _strerr

PROG = "svscanboot"
PATH = b"/command:/usr/local/bin:/usr/local/sbin:/bin:/sbin:/usr/bin:/usr/sbin:/usr/X11R6/bin"
DOTS = 400


def _glob(scandir):
    """DIR/* DIR/*/log as sh would expand them (pattern kept if no match)."""
    try:
        names = sorted(n for n in os.listdir(scandir) if not n.startswith(b"."))
    except OSError:
        names = []
    services = [scandir + b"/" + n for n in names] or [scandir + b"/*"]
    logs = [s + b"/log" for s in services if os.path.lexists(s + b"/log")]
    return services + (logs or [scandir + b"/*/log"])


def _run(argv, env):
    """Fork, exec ARGV from PATH, wait for it."""
    try:
        pid = os.fork()
    except OSError as e:
        _strerr.warn(PROG, "unable to fork", e)
        return
    if pid == 0:
        err = _pathexec.pathexec(argv, env)
        _strerr.warn(PROG, "unable to run %s" % os.fsdecode(argv[0]), err)
        os._exit(111)
    os.waitpid(pid, 0)


def main(argv=None) -> int:
    argv = sys.argv if argv is None else argv
    scandir = os.fsencode(argv[1]) if len(argv) > 1 else b"/etc/service"
    here = os.path.dirname(os.fsencode(sys.argv[0]))
    path = (os.path.abspath(here) + b":" + PATH) if here else PATH
    env = {b"PATH": path}
    os.environb[b"PATH"] = path
    try:
        null = os.open("/dev/null", os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(null, fd)
        if null > 2:
            os.close(null)
    except OSError as e:
        _strerr.fatal(PROG, "unable to open /dev/null", e)
    _run([b"svc", b"-dx"] + _glob(scandir), os.environb)
    try:
        r, w = os.pipe()
        pid = os.fork()
    except OSError as e:
        _strerr.fatal(PROG, "unable to start svscan", e)
    if pid == 0:
        os.dup2(w, 1)
        os.dup2(w, 2)
        os.close(r)
        os.close(w)
        err = _pathexec.pathexec([b"svscan", scandir], env)
        _strerr.warn(PROG, "unable to run svscan", err)
        os._exit(111)
    os.dup2(r, 0)
    os.close(r)
    os.close(w)
    err = _pathexec.pathexec([b"readproctitle", b"service", b"errors:", b"." * DOTS], env)
    _strerr.fatal(PROG, "unable to run readproctitle", err)
    return 111


if __name__ == "__main__":
    sys.exit(main())
