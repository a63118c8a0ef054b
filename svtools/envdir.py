"""envdir: run a program with environment variables taken from a directory.

Synopsis: envdir DIR CHILD...

Every file in DIR whose name does not start with a dot names a variable.
A file of 0 bytes removes the variable; otherwise its value is the file's
first line, without trailing spaces and tabs, with each NUL turned into a
newline (so a file holding only a newline sets the variable empty).  Files
are taken in directory order, and a missing file (a dangling symlink) reads
as whatever 0.76's reused buffer still holds: nothing (the variable is
removed) if it comes first or after an empty file, else the previous value
and its terminating NUL, which the rules above turn into a trailing newline.
CHILD is then found through the PATH envdir itself was given and run in the
same process.

Exit codes: 111 usage (unlike the other tools), an unreadable directory or
file, or a CHILD that cannot be run; otherwise CHILD's own.
"""

import os
import sys

from ._chain import execute
from ._pathexec import initial_environ as environ
from ._pathexec import env_set
from ._strerr import fatal, usage

PROG = "envdir"


def value(data):
    """The value a file's bytes give a variable; None removes it."""
    if not data:
        return None
    return data.split(b"\n", 1)[0].rstrip(b" \t").replace(b"\0", b"\n")


def _slurp(name):
    try:
        fd = os.open(name, os.O_RDONLY | os.O_NONBLOCK)
    except FileNotFoundError:
        return None
    try:
        chunks = []
        while True:
            chunk = os.read(fd, 65536)
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)
    finally:
        os.close(fd)


def main(argv=None) -> int:
    argv = sys.argv if argv is None else argv
    if len(argv) < 3:
        usage(PROG, "envdir dir child", 111)
    dirname = argv[1]
    try:
        here = os.open(".", os.O_RDONLY | os.O_NONBLOCK)
    except OSError as e:
        fatal(PROG, "unable to switch to current directory", e)
    try:
        os.chdir(dirname)
    except OSError as e:
        fatal(PROG, "unable to switch to directory %s" % dirname, e)
    try:
        names = os.listdir(b".")
    except OSError as e:
        fatal(PROG, "unable to read directory %s" % dirname, e)
    env = environ()
    last = b""
    for name in names:
        if name.startswith(b"."):
            continue
        try:
            data = _slurp(name)
        except OSError as e:
            fatal(PROG, "unable to read %s/%s" % (dirname, os.fsdecode(name)), e)
        if data is None:
            data = last  # 0.76 reuses its buffer: see the module docstring
        val = value(data)
        last = b"" if val is None else val + b"\0"
        env_set(env, name, val)
    try:
        os.fchdir(here)
    except OSError as e:
        fatal(PROG, "unable to switch to starting directory", e)
    os.close(here)
    execute(PROG, argv[2:], env)


if __name__ == "__main__":
    sys.exit(main())
