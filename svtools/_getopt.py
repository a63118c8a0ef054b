"""A small getopt with daemontools' rules.

Options are seen only before the first operand; letters cluster; an argument
may be attached or be the next word; "--" ends the options and is eaten; a
lone "-" ends them and stays as the first operand.
"""

import posix

from ._strerr import fsencode


class GetoptError(Exception):
    """The message (without newline) has been formed; the caller prints usage."""


def getopt(argv, optstring):
    """Parse ARGV (argv[0] included) against OPTSTRING ("o:" takes a value).

    Returns (opts, operands) where opts is a list of (letter, value-or-None).
    On a bad option, writes "BASENAME: illegal option -- X" (or "option
    requires an argument") to stderr and raises GetoptError.
    """
    prog = (argv[0] if argv else "").rsplit("/", 1)[-1]
    opts = []
    i = 1
    while i < len(argv):
        word = argv[i]
        if word == "--":
            i += 1
            break
        if not word.startswith("-") or word == "-":
            break
        j = 1
        while j < len(word):
            c = word[j]
            k = optstring.find(c)
            if c == ":" or k < 0:
                _complain(prog, "illegal option", c)
            if optstring[k + 1:k + 2] == ":":
                if j + 1 < len(word):
                    opts.append((c, word[j + 1:]))
                elif i + 1 < len(argv):
                    i += 1
                    opts.append((c, argv[i]))
                else:
                    _complain(prog, "option requires an argument", c)
                break
            opts.append((c, None))
            j += 1
        i += 1
    return opts, list(argv[i:])


def _complain(prog, what, c):
    try:
        posix.write(2, fsencode("%s: %s -- %s\n" % (prog, what, c)))
    except OSError:
        pass
    raise GetoptError(what)
