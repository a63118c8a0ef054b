"""multilog's line framing and selection: bytes in, what goes where out.

Pure code, no I/O and no clock: the caller passes each read's bytes and the
stamp for them (b"" without `t`/`T`) and writes what comes back.

A line's first 1000 bytes, stamp included, are "held": the actions see only
them.  The rest of a longer line streams, untested, to the sinks the held
part selected.  A line shorter than the held part that has not ended yet
stays pending until the next read, keeping the stamp of the read that began
it.  Every sink (a log directory or standard output) gets the lines selected
at its place in the script.

Results, for LogDir.put and plan():
  outs   one list of byte strings per sink, in order;
  recs   (selection, units) per line, units as _multilog_policy.plan() wants
         them, offsets relative to the read;
  alerts lines for `e`, 200 bytes then "...";
  status {status index: held line} for `=`.
"""

from . import _multilog_policy as _policy
from ._multilog_policy import PUT, STREAM

LINE = 1000


class Batch:
    """What one read (or end of input) produced."""

    __slots__ = ("outs", "recs", "alerts", "status")

    def __init__(self, nsinks):
        self.outs = [[] for _ in range(nsinks)]
        self.recs = []
        self.alerts = []
        self.status = {}

    def units(self, sink):
        """The plan() units of everything that went to SINK."""
        return [u for sel, us in self.recs if sel[sink] for u in us]


class Framer:
    def __init__(self, script):
        self.actions = script.actions
        self.nsinks = len(script.sinks)
        self.simple = script.simple
        self.all = [True] * self.nsinks
        self.pend = None   # a line begun but shorter than the held part
        self.pst = b""     # its stamp
        self.rem = None    # selection of a long line whose rest is streaming

    @property
    def mid_line(self):
        return self.pend is not None or self.rem is not None

    def select(self, held, batch):
        """The sinks HELD goes to; alerts and status lines into BATCH."""
        flag = True
        sel = [False] * self.nsinks
        for code, arg in self.actions:
            if code == _policy.DIR:
                sel[arg] = flag
            elif code == _policy.DESELECT:
                if flag and _policy.match(arg, held):
                    flag = False
            elif code == _policy.SELECT:
                if not flag and _policy.match(arg, held):
                    flag = True
            elif code == _policy.ALERT:
                if flag:
                    batch.alerts.append(held[:200] + b"...\n" if len(held) > 200 else held + b"\n")
            elif flag:
                batch.status[arg] = held
        return sel

    def fast(self, data, st, room):
        """Every line to every sink, in a few bulk pieces: (pieces, total).

        Only for simple scripts.  Returns None, having changed nothing, when
        TOTAL would not stay under ROOM (bytes left before the nearest cut
        window); lines() then does the exact work.
        """
        pend, pst, rem = self.pend, self.pst, self.rem
        pieces = []
        pos = 0
        if rem is not None:
            nl = data.find(b"\n")
            if nl < 0:
                pieces.append(data)
                pos = len(data)
            else:
                pieces.append(data[:nl + 1])
                pos = nl + 1
                rem = None
        if rem is None:
            k = data.rfind(b"\n", pos)
            if k >= 0:
                if pend is not None:
                    pieces.append(pst + pend)
                    pend = None
                elif st:
                    pieces.append(st)
                if st:
                    pieces.append(data[pos:k].replace(b"\n", b"\n" + st))
                    pieces.append(b"\n")
                else:
                    pieces.append(data[pos:k + 1] if pos or k + 1 < len(data) else data)
                pos = k + 1
            if pos < len(data):
                if pend is None:
                    pend, pst = data[pos:], st
                else:
                    pend += data[pos:]
                if len(pend) >= LINE - len(pst):
                    pieces.append(pst + pend)
                    pend = None
                    rem = self.all
        total = 0
        for p in pieces:
            total += len(p)
        if total >= room:
            return None
        self.pend, self.pst, self.rem = pend, pst, rem
        return pieces, total

    def lines(self, data, st):
        """One read, line by line: a Batch."""
        nd = self.nsinks
        batch = Batch(nd)
        outs, recs = batch.outs, batch.recs
        size = len(data)
        pos = 0
        if self.rem is not None:
            sel = self.rem
            nl = data.find(b"\n")
            end = size if nl < 0 else nl + 1
            piece = data[:end]
            for d in range(nd):
                if sel[d]:
                    outs[d].append(piece)
            recs.append((sel, ((STREAM, end, 0),)))
            if nl < 0:
                return batch
            self.rem = None
            pos = end
        if self.pend is not None:
            buf = self.pend + data[pos:]
            off = pos - len(self.pend)
            lst = self.pst
        else:
            buf = data[pos:] if pos else data
            off = pos
            lst = st
        self.pend = None
        cap = LINE - len(st)
        select = self.select
        allsel = self.all if self.simple else None
        n = len(buf)
        ls = 0
        while ls < n:
            nl = buf.find(b"\n", ls)
            if nl >= 0 and nl - ls < cap:
                held = lst + buf[ls:nl]
                sel = allsel or select(held, batch)
                line = held + b"\n"
                for d in range(nd):
                    if sel[d]:
                        outs[d].append(line)
                t = nl + off
                recs.append((sel, ((PUT, len(held), t), (PUT, 1, t))))
                ls = nl + 1
                lst = st
                continue
            if nl < 0 and n - ls < cap:
                self.pend, self.pst = buf[ls:], lst
                break
            hend = ls + cap
            held = lst + buf[ls:hend]
            sel = allsel or select(held, batch)
            rest = buf[hend:n if nl < 0 else nl + 1]
            for d in range(nd):
                if sel[d]:
                    outs[d].append(held)
                    outs[d].append(rest)
            recs.append((sel, ((PUT, len(held), hend - 1 + off), (STREAM, len(rest), hend + off))))
            if nl < 0:
                self.rem = sel
                break
            ls = nl + 1
            lst = st
        return batch

    def eof(self):
        """End of input: a partial last line is a line, with a newline added."""
        nd = self.nsinks
        batch = Batch(nd)
        if self.pend is not None:
            held = self.pst + self.pend
            sel = self.all if self.simple else self.select(held, batch)
            for d in range(nd):
                if sel[d]:
                    batch.outs[d].append(held + b"\n")
            batch.recs.append((sel, ((PUT, len(held), 0), (PUT, 1, 0))))
        elif self.rem is not None:
            sel = self.rem
            for d in range(nd):
                if sel[d]:
                    batch.outs[d].append(b"\n")
            batch.recs.append((sel, ((PUT, 1, 0),)))
        self.pend = self.rem = None
        return batch
