"""Chain-loading tools: start-up cost, svtools side by side with daemontools.

    .venv/bin/python bench/chain.py [-n TRIALS]

For each tool, the wall time of `TOOL ... /bin/true` (spawn to reaped), C
and ours alternating, median of TRIALS (default 30), and the ratio ours / C.
The last row is a whole run-script chain.  A measurement, not a test: no
target is enforced.
"""

import os
import statistics
import subprocess
import sys
import tempfile
import time

VENV_BIN = os.path.dirname(os.path.abspath(sys.executable))
C_BIN = "/usr/bin"


def cases(tmp):
    env = os.path.join(tmp, "env")
    os.makedirs(env, exist_ok=True)
    for i in range(5):
        with open(os.path.join(env, "VAR%d" % i), "w") as f:
            f.write("value %d\n" % i)
    lock = os.path.join(tmp, "lock")
    return [
        ("setuidgid root", [["setuidgid", "root"]]),
        ("envuidgid root", [["envuidgid", "root"]]),
        ("envdir (5 files)", [["envdir", env]]),
        ("softlimit -m -o", [["softlimit", "-m", "100000000", "-o", "1000"]]),
        ("setlock", [["setlock", lock]]),
        ("pgrphack", [["pgrphack"]]),
        ("fghack", [["fghack"]]),
        ("chain of 4", [["setuidgid", "root"], ["envdir", env],
                        ["softlimit", "-m", "100000000"], ["setlock", lock]]),
    ]


def argv(bindir, steps):
    words = []
    for step in steps:
        words += [os.path.join(bindir, step[0])] + step[1:]
    return words + ["/bin/true"]


def once(args):
    t0 = time.perf_counter()
    subprocess.run(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, check=True)
    return time.perf_counter() - t0


def main(argv_=None):
    argv_ = sys.argv if argv_ is None else argv_
    trials = int(argv_[2]) if len(argv_) > 2 and argv_[1] == "-n" else 30
    with tempfile.TemporaryDirectory() as tmp:
        print("%-20s %10s %10s %8s" % ("tool", "C ms", "ours ms", "ratio"))
        for name, steps in cases(tmp):
            c_args, our_args = argv(C_BIN, steps), argv(VENV_BIN, steps)
            c_t, our_t = [], []
            for i in range(trials):
                order = [(c_args, c_t), (our_args, our_t)]
                for args, acc in (order if i % 2 else order[::-1]):
                    acc.append(once(args))
            c_ms, our_ms = statistics.median(c_t) * 1e3, statistics.median(our_t) * 1e3
            print("%-20s %10.2f %10.2f %7.1fx" % (name, c_ms, our_ms, our_ms / c_ms))
    return 0


if __name__ == "__main__":
    sys.exit(main())
