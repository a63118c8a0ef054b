"""What starting ./run costs a supervise-sized Python process, path by path.

    .venv/bin/python bench/spawn.py [-n TRIALS]

Imports svscan and supervise (the heap every forked supervise shares), then
starts a dash ./run TRIALS times (default 200) through each path of
svtools._spawn, alternating, and prints medians of: the call returning in
the parent, and ./run executing (its first command writes into a FIFO).
"fork + check" is what supervise does on the fork path: the child first
asks _multilog_inchild whether ./run is a plain `exec multilog`.
posix_spawn is measured even where spawn() does not use it (see _spawn);
"fork_exec (C)" is _posixsubprocess.fork_exec (vfork), where VERIFIED.
"""

import os
import select
import shutil
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from svtools import _multilog_inchild, _pathexec, _spawn, svscan  # noqa: E402,F401


def main():
    trials = int(sys.argv[2]) if len(sys.argv) > 2 and sys.argv[1] == "-n" else 200
    tmp = tempfile.mkdtemp(prefix="svtools-bench-spawn-")
    here = os.getcwd()
    try:
        os.chdir(tmp)
        with open("run", "w") as f:
            f.write("#!/bin/sh\necho x > notify\n")
        os.chmod("run", 0o755)
        os.mkfifo("notify")
        fd = os.open("notify", os.O_RDWR | os.O_NONBLOCK)
        env = _pathexec.initial_environ()
        p = select.poll()
        p.register(fd, select.POLLIN)
        inchild = lambda: _multilog_inchild.maybe_run(env)  # noqa: E731
        paths = {"posix_spawn": _spawn.posix_spawn_exec, "fork_exec (C)": _spawn.vfork_exec,
                 "fork + execve": _spawn.fork_exec,
                 "fork + check": lambda argv, env: _spawn.fork_exec(argv, env, in_child=inchild)}
        got = {k: ([], []) for k in paths}
        for i in range(trials):
            for name in (list(paths) if i % 2 else list(paths)[::-1]):
                t0 = time.perf_counter()
                pid = paths[name](["./run"], env)
                t1 = time.perf_counter()
                p.poll(10000)
                t2 = time.perf_counter()
                os.read(fd, 100)
                os.waitpid(pid, 0)
                got[name][0].append(t1 - t0)
                got[name][1].append(t2 - t0)
        uses = ("posix_spawn" if _spawn.CLEAN else "fork_exec (C)" if _spawn.VFORK
                else "fork + execve")
        print("spawn ./run from a supervise-sized process, median of %d (spawn() uses %s here)"
              % (trials, uses))
        for name, (ret, run) in got.items():
            print("  %-14s call returns %6.3f ms   ./run executing %6.3f ms"
                  % (name, statistics.median(ret) * 1000, statistics.median(run) * 1000))
    finally:
        os.chdir(here)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
