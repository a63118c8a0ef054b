"""multilog's script: the actions on its command line, and pattern matching.

Pure code, no I/O.  Each argument is one action, chosen by its first
character alone; an argument that no action claims is ignored.  `t` counts
only as the first argument.  `s`, `n` and `!` set the size, count and
processor of the directories named after them.
"""

SIZE_DEFAULT = 99999
SIZE_MIN = 4096
SIZE_MAX = 16777215
NUM_DEFAULT = 10
NUM_MIN = 2

# Action codes in Script.actions: (code, argument).
DESELECT = "-"
SELECT = "+"
ALERT = "e"
STATUS = "="
DIR = "d"


class Dir:
    """One log directory of the script, with the settings in force for it."""

    def __init__(self, path, size, num, processor):
        self.path = path
        self.size = size
        self.num = num
        self.processor = processor


class Script:
    def __init__(self):
        self.timestamp = False
        self.actions = []  # per-line actions, in order
        self.dirs = []     # Dir, in order
        self.status = []   # status file paths, in order

    @property
    def simple(self):
        """True when every line goes to every directory and nothing else."""
        return all(code == DIR for code, _ in self.actions)


def _number(text):
    """Leading decimal digits of TEXT as an unsigned 64-bit C value; 0 if none."""
    value = 0
    for ch in text:
        if not "0" <= ch <= "9":
            break
        value = (value * 10 + ord(ch) - 48) & 0xFFFFFFFFFFFFFFFF
    return value


def parse(args):
    """Script for the ACTIONS (argv without the program name)."""
    script = Script()
    size, num, processor = SIZE_DEFAULT, NUM_DEFAULT, None
    for i, arg in enumerate(args):
        c = arg[:1]
        if c == "t":
            if i == 0:
                script.timestamp = True
        elif c == "-" or c == "+":
            script.actions.append((c, os_bytes(arg[1:])))
        elif c == "e":
            script.actions.append((ALERT, None))
        elif c == "=":
            script.actions.append((STATUS, len(script.status)))
            script.status.append(arg[1:])
        elif c == "s":
            size = min(max(_number(arg[1:]), SIZE_MIN), SIZE_MAX)
        elif c == "n":
            num = max(_number(arg[1:]), NUM_MIN)
        elif c == "!":
            processor = arg[1:]
        elif c == "." or c == "/":
            script.actions.append((DIR, len(script.dirs)))
            script.dirs.append(Dir(arg, size, num, processor))
    return script


def os_bytes(text):
    """Command-line text back to the bytes the kernel gave us."""
    return text.encode("utf-8", "surrogateescape")


def match(pattern, line):
    """daemontools' anchored match: `*` runs up to the next pattern byte.

    PATTERN and LINE are bytes.  A star followed by C skips to the first C in
    the line (no backtracking); a final star takes the rest of the line.
    """
    plen = len(pattern)
    llen = len(line)
    i = j = 0
    while i < plen:
        c = pattern[i]
        if c == 42:  # "*"
            i += 1
            if i == plen:
                return True
            j = line.find(pattern[i:i + 1], j)
            if j < 0:
                return False
            continue
        if j >= llen or line[j] != c:
            return False
        i += 1
        j += 1
    return j == llen
