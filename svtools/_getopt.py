"""A small getopt with daemontools' rules.

Options are seen only before the first operand; letters cluster; an argument
may be attached or be the next word; "--" ends the options and is eaten; a
lone "-" ends them and stays as the first operand.
"""

import posix

from ._strerr import fsencode


class GetoptError(Exception):
    """The message (without newline) has been formed; the caller prints usage."""


class Options:
    """Iterate over (letter, value-or-None) as they are parsed.

    Like the C getopt loop, a bad option is reported only when the iteration
    reaches it, so a program can act on the options before it (softlimit
    does).  After the iteration, `operands` holds the rest of ARGV.
    """

    def __init__(self, argv, optstring):
        self.argv = argv
        self.optstring = optstring
        self.prog = (argv[0] if argv else "").rsplit("/", 1)[-1]
        self.operands = None

    def __iter__(self):
        argv, optstring = self.argv, self.optstring
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
                    self._complain("illegal option", c)
                if optstring[k + 1:k + 2] == ":":
                    if j + 1 < len(word):
                        yield c, word[j + 1:]
                    elif i + 1 < len(argv):
                        i += 1
                        yield c, argv[i]
                    else:
                        self._complain("option requires an argument", c)
                    break
                yield c, None
                j += 1
            i += 1
        self.operands = list(argv[i:])

    def _complain(self, what, c):
        try:
            posix.write(2, fsencode("%s: %s -- %s\n" % (self.prog, what, c)))
        except OSError:
            pass
        raise GetoptError(what)


def getopt(argv, optstring):
    """Parse ARGV (argv[0] included) against OPTSTRING ("o:" takes a value).

    Returns (opts, operands) where opts is a list of (letter, value-or-None).
    On a bad option, writes "BASENAME: illegal option -- X" (or "option
    requires an argument") to stderr and raises GetoptError.
    """
    parsed = Options(argv, optstring)
    opts = list(parsed)
    return opts, parsed.operands
