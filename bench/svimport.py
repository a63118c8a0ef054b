"""svimport on a 200-program supervisord.conf: wall time (target: under 2 s).

    .venv/bin/python bench/svimport.py [-n TRIALS]

Builds a config of 200 programs (150 plain ones with environment, user,
logs and stop settings, and 10 numprocs=5 ones), then times `svimport -o
TMP` writing all 200 service directories, and `svimport --dry-run`, each
the median of TRIALS (default 5) runs in fresh directories.  There is no C
counterpart (daemontools has no importer); supervisord's own parse of the
same file is not measured (supervisord is not installed).  A measurement,
not a test.
"""

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

VENV_BIN = os.path.dirname(os.path.abspath(sys.executable))

PROGRAM = """
[program:app%(i)03d]
command=/usr/bin/python3 -m http.server %(port)d --bind 127.0.0.1
directory=/srv/app%(i)03d
user=nobody
environment=APP_ENV="production",APP_ID="%(i)d",DATABASE_URL="postgres://u:p@db/app%(i)d"
stopsignal=QUIT
stopwaitsecs=30
stopasgroup=true
autorestart=true
startsecs=5
stdout_logfile=/var/log/app%(i)03d/out.log
stderr_logfile=/var/log/app%(i)03d/err.log
stdout_logfile_maxbytes=10MB
"""

POOL = """
[program:pool%(i)02d]
numprocs=5
process_name=%%(program_name)s-%%(process_num)d
command=/usr/bin/worker --slot %%(process_num)d
redirect_stderr=true
"""


def config(path):
    with open(path, "w") as f:
        f.write("[supervisord]\nenvironment=TZ=\"UTC\"\n")
        for i in range(150):
            f.write(PROGRAM % {"i": i, "port": 9000 + i})
        for i in range(10):
            f.write(POOL % {"i": i})


def once(args):
    t0 = time.perf_counter()
    r = subprocess.run(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    elapsed = time.perf_counter() - t0
    if r.returncode not in (0, 1):
        raise SystemExit("svimport failed: %d" % r.returncode)
    return elapsed


def main(argv=None):
    argv = sys.argv if argv is None else argv
    trials = int(argv[2]) if len(argv) > 2 and argv[1] == "-n" else 5
    svimport = os.path.join(VENV_BIN, "svimport")
    with tempfile.TemporaryDirectory() as tmp:
        conf = os.path.join(tmp, "supervisord.conf")
        config(conf)
        writes, dries = [], []
        for t in range(trials):
            out = os.path.join(tmp, "sv%d" % t)
            writes.append(once([svimport, "-o", out, conf]))
            made = len([n for n in os.listdir(out) if not n.endswith(".stderr")])
            shutil.rmtree(out)
            dries.append(once([svimport, "--dry-run", "-o", out, conf]))
        print("programs converted: %d (plus %d stderr loggers)" % (made, 150))
        print("%-32s %8.3f s (target < 2 s)" % ("svimport, 200 programs, median", statistics.median(writes)))
        print("%-32s %8.3f s" % ("svimport --dry-run, median", statistics.median(dries)))


if __name__ == "__main__":
    main()
