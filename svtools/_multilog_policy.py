"""multilog's script, pattern matching, and where files are cut.

Pure code, no I/O.  Each argument is one action, chosen by its first
character alone; an argument that no 0.76 action claims is ignored, unless
it starts with one of the letters added since (`T`, `1`, `R`, `d`, `z`),
whose values are checked strictly: junk raises ScriptError (usage, exit 100).
`t` counts only as the first argument (or the second, after `T`); `T` only
as the first (or the second, after `t`).  `s`, `n`, `!`, `R`, `d` and `z`
set the size, count, processor, age limit, daily rotation and compression
of the directories named after them.

Where `current` is cut depends on how daemontools' multilog hands its bytes
to write(2): a 512-byte buffer per directory, emptied whenever a put does not
fit and before each 1024-byte read of stdin.  plan() replays that buffering
on a whole read at once, so that we can write in big pieces and still cut
every file where the C program would.
"""

SIZE_DEFAULT = 99999
SIZE_MIN = 4096
SIZE_MAX = 16777215
NUM_DEFAULT = 10
NUM_MIN = 2

BUFSIZE = 512    # the C program's buffer per directory
OUTSIZE = 8192   # its largest direct write
CREAD = 1024     # its read size
WINDOW = 2000    # cut at a line end once this close to the size

PUT = 0     # unit: one put of SIZE bytes, after reading input byte TRIG
STREAM = 1  # unit: SIZE bytes put one by one, byte i after input byte TRIG+i

# Action codes in Script.actions: (code, argument).
DESELECT = "-"
SELECT = "+"
ALERT = "e"
STATUS = "="
DIR = "d"      # (DIR, sink): the line goes to sink number SINK
STDOUT = "1"   # marks a sink in Script.sinks that is standard output

AGE_MAX = 2 ** 31 - 1   # R: at most 68 years, in seconds


class Dir:
    """One log directory of the script, with the settings in force for it."""

    def __init__(self, path, size, num, processor, age=0, daily=False, gzip=0):
        self.path = path
        self.size = size
        self.num = num
        self.processor = processor
        self.age = age        # R: rotate once current is this many seconds old; 0: never
        self.daily = daily    # d: rotate when the local date changes
        self.gzip = gzip      # z: gzip level 1..9 for the archives; 0: none


class ScriptError(ValueError):
    """An argument starting with a post-0.76 letter whose value is junk."""


class Script:
    def __init__(self):
        self.timestamp = False   # t: TAI64N stamp
        self.iso = False         # T: ISO 8601 local stamp, after the TAI64N one
        self.actions = []  # per-line actions, in order
        self.sinks = []    # Dir or STDOUT, in the order of their actions
        self.status = []   # status file paths, in order

    @property
    def dirs(self):
        return [s for s in self.sinks if s is not STDOUT]

    @property
    def simple(self):
        """True when every line goes to every sink and nothing else."""
        return all(code == DIR for code, _ in self.actions)


def _number(text):
    """Leading decimal digits of TEXT as an unsigned 64-bit C value; 0 if none."""
    value = 0
    for ch in text:
        if not "0" <= ch <= "9":
            break
        value = (value * 10 + ord(ch) - 48) & 0xFFFFFFFFFFFFFFFF
    return value


def _digits(text, low, high):
    """TEXT as a plain decimal number in [LOW, HIGH], or ScriptError."""
    if not text.isdigit() or not text.isascii() or not low <= int(text) <= high:
        raise ScriptError(text)
    return int(text)


def parse(args):
    """Script for the ACTIONS (argv without the program name).

    Raises ScriptError for junk in an argument starting with `T`, `1`, `R`,
    `d` or `z`, and for a `T` anywhere but first (or second after `t`).
    """
    script = Script()
    size, num, processor = SIZE_DEFAULT, NUM_DEFAULT, None
    age, daily, gz = 0, False, 0
    lead = 0  # leading stamp arguments
    for i, arg in enumerate(args):
        c = arg[:1]
        if c == "t" and i == lead and not script.timestamp:
            script.timestamp = True
            lead += 1
        elif c == "T":
            if arg != "T" or i != lead or script.iso:
                raise ScriptError(arg)
            script.iso = True
            lead += 1
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
        elif c == "R":
            age = _digits(arg[1:], 0, AGE_MAX)
        elif c == "d":
            daily = _digits(arg[1:] or "1", 0, 1) == 1
        elif c == "z":
            gz = _digits(arg[1:] or "6", 0, 9)
        elif c == "1":
            if arg != "1":
                raise ScriptError(arg)
            script.actions.append((DIR, len(script.sinks)))
            script.sinks.append(STDOUT)
        elif c == "." or c == "/":
            script.actions.append((DIR, len(script.sinks)))
            script.sinks.append(Dir(arg, size, num, processor, age, daily, gz))
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


def plan(out, units, nbytes, size):
    """Where C multilog would rotate while writing OUT, one read's output.

    UNITS describe how OUT was put, with the input offsets that triggered
    each put; a flush happens before the put of anything read at or after
    each multiple of CREAD.  NBYTES is the size of `current` before.
    Returns (cuts, nbytes): offsets in OUT after which `current` is rotated,
    in order, and the size of `current` at the end.
    """
    cuts = []
    b = nbytes
    low = size - WINDOW

    def write(start, n):
        nonlocal b
        while n > 0:
            if b >= size:
                cuts.append(start)
                b = 0
            w = min(n, size - b)
            if b + w >= low:
                k = out.rfind(b"\n", start, start + w)
                if k >= 0:
                    w = k + 1 - start
            b += w
            start += w
            n -= w
            if b >= low and out[start - 1] == 10:
                cuts.append(start)
                b = 0

    p = 0          # bytes in the buffer
    o = 0          # offset in OUT just past the buffered bytes
    nextq = CREAD  # next read boundary
    for kind, n, trig in units:
        if kind == PUT:
            if trig >= nextq:
                if p:
                    write(o - p, p)
                    p = 0
                nextq = (trig // CREAD + 1) * CREAD
            if n > BUFSIZE - p:
                if p:
                    write(o - p, p)
                start = o
                while n > BUFSIZE:
                    w = min(OUTSIZE, n)
                    write(start, w)
                    start += w
                    n -= w
                o = start
                p = 0
            p += n
            o += n
            continue
        i = 0
        while i < n:
            t = trig + i
            if t >= nextq:
                if p:
                    write(o - p, p)
                    p = 0
                nextq = (t // CREAD + 1) * CREAD
            seg = min(n - i, nextq - t)
            i += seg
            while seg:
                if p == BUFSIZE:
                    write(o - p, p)
                    p = 0
                take = min(seg, BUFSIZE - p)
                p += take
                o += take
                seg -= take
    if p:
        write(o - p, p)
    return cuts, b
