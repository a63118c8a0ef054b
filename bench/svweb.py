"""svweb under load, beside C svstat reading the same services.

    .venv/bin/python bench/svweb.py [poll|metrics|login ...] [--services N]
                                    [--clients N] [--seconds S]
                                    [--scrapes N] [--before REF]

A real svscan (ours) runs N services (default 200), each `sleep` with a C
multilog logger (Debian's, if present), in a tmp dir; svweb serves them on
127.0.0.1 (a free port).  Only loopback traffic; every loop is bounded.

poll     CLIENTS (50) keep-alive clients each GET /api/services once a
         second for SECONDS (60): latency median/p99/max, errors, svweb's
         peak RSS and CPU (cores used over the run).  Targets: p99 <= 50 ms,
         no error, RSS <= 60 MB, CPU < 1 core.
metrics  GET /metrics, each after the snapshot has expired (a fresh read of
         every service, as for a Prometheus scraping every 15 s): median
         and max.  Target: median <= 30 ms.  Beside
         it: C svstat (and ours) of the same 2N directories, and svweb's
         cached answer.  With --before REF (a git commit), a second svweb
         from that commit's svtools/ serves the same services, and the two
         are asked in turn, five scrapes each, for a before/after in one run.
login    200 wrong logins for a known user and 200 for an unknown one:
         median time of each (the difference should be noise).
Each figure comes from one run; it is printed, never asserted.
"""

import asyncio
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
BIN = os.path.join(os.path.dirname(HERE), ".venv", "bin")
C_MULTILOG = "/usr/bin/multilog" if os.path.exists("/usr/bin/multilog") else "multilog"
PAGE = os.sysconf("SC_PAGE_SIZE")
TICK = os.sysconf("SC_CLK_TCK")


def script(path, body):
    with open(path, "w") as f:
        f.write("#!/bin/sh\n" + body)
    os.chmod(path, 0o755)


def make_services(scandir, n):
    for i in range(n):
        d = os.path.join(scandir, "svc%03d" % i)
        os.makedirs(os.path.join(d, "log"))
        script(os.path.join(d, "run"), "exec 2>&1\necho started\nexec sleep 100000\n")
        script(os.path.join(d, "log", "run"), "exec %s t ./main\n" % C_MULTILOG)


def all_up(scandir, n):
    up = 0
    for name in os.listdir(scandir):
        for sub in ("", "/log"):
            try:
                with open(os.path.join(scandir, name) + sub + "/supervise/status", "rb") as f:
                    data = f.read(18)
            except OSError:
                continue
            if len(data) == 18 and int.from_bytes(data[12:16], "little"):
                up += 1
    return up == 2 * n


def wait(pred, timeout, what):
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise SystemExit("bench: timed out waiting for " + what)
        time.sleep(0.2)


def svweb_cmd(src):
    """The command that runs svweb from the svtools package under SRC."""
    return [os.path.join(BIN, "python"), "-IS", "-c",  # as .venv/bin/svweb runs
            "import sys; sys.path.insert(0, %r); from svtools.svweb import main; "
            "sys.argv[0] = 'svweb'; sys.exit(main())" % src]


class Web:
    """svweb from the source tree SRC serving SCANDIR on a free port."""

    def __init__(self, src, scandir, tmp, tag, extra=(), env=None):
        self.out = open(os.path.join(tmp, "svweb-%s.out" % tag), "wb")
        self.proc = subprocess.Popen(svweb_cmd(src) + ["-d", scandir, "--listen", "127.0.0.1:0"]
                                     + list(extra), env=env, stdout=self.out,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        self.pid = self.proc.pid
        wait(self._bound, 30, "svweb (%s)" % tag)

    def _bound(self):
        with open(self.out.name) as f:
            m = re.search(r"on http://127\.0\.0\.1:(\d+)/", f.read())
        if m:
            self.port = int(m.group(1))
        return m

    def close(self):
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait()
        self.out.close()


class World:
    def __init__(self, n, extra=(), before=None):
        self.tmp = tempfile.mkdtemp(prefix="svweb-bench-")
        self.scandir = os.path.join(self.tmp, "scan")
        os.mkdir(self.scandir)
        make_services(self.scandir, n)
        env = dict(os.environ, PATH=BIN + ":/usr/bin:/bin")
        self.svscan = subprocess.Popen([os.path.join(BIN, "svscan"), self.scandir], env=env,
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                       start_new_session=True)
        self.webs = []
        try:
            wait(lambda: all_up(self.scandir, n), 120, "%d services and loggers up" % n)
            self.webs.append(Web(os.path.dirname(HERE), self.scandir, self.tmp, "now", extra, env))
            self.web, self.port = self.webs[0], self.webs[0].port
            if before:
                src = os.path.join(self.tmp, "before")
                os.mkdir(src)
                archive = subprocess.run(["git", "-C", os.path.dirname(HERE), "archive", before,
                                          "svtools"], stdout=subprocess.PIPE, check=True).stdout
                subprocess.run(["tar", "-x", "-C", src], input=archive, check=True)
                self.webs.append(Web(src, self.scandir, self.tmp, "before", extra, env))
        except BaseException:
            self.close()
            raise

    def close(self):
        for web in self.webs:
            web.close()
        try:
            os.killpg(self.svscan.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.svscan.wait()
        shutil.rmtree(self.tmp, ignore_errors=True)


def proc_usage(pid):
    """(cpu seconds, rss bytes, peak rss bytes) of PID."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / TICK
    hwm = 0
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmHWM:"):
                hwm = int(line.split()[1]) * 1024
    return cpu, int(fields[21]) * PAGE, hwm


async def fetch(reader, writer, path, port, extra=b"", body=b""):
    """One request on a keep-alive connection: (status, body bytes)."""
    method = b"POST" if body else b"GET"
    writer.write(b"%s %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n%sContent-Length: %d\r\n\r\n%s"
                 % (method, path.encode(), port, extra, len(body), body))
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = int(re.search(rb"(?i)content-length: *(\d+)", head).group(1))
    return status, head, await reader.readexactly(length)


async def poller(port, seconds, start_delay, lat, errors):
    await asyncio.sleep(start_delay)
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    end = time.monotonic() + seconds
    nxt = time.monotonic()
    while nxt < end:
        t0 = time.perf_counter()
        try:
            status, _, body = await asyncio.wait_for(
                fetch(reader, writer, "/api/services", port), 10)
            if status != 200 or not body.startswith(b'{"schema"'):
                errors.append(status)
        except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError) as e:
            errors.append(repr(e))
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
        lat.append(time.perf_counter() - t0)
        nxt += 1.0
        await asyncio.sleep(max(0.0, nxt - time.monotonic()))
    writer.close()


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100.0 * (len(values) - 1))))]


def poll(args):
    w = World(args.services)
    try:
        lat, errors = [], []
        cpu0, _, _ = proc_usage(w.web.pid)
        t0 = time.monotonic()
        rss_max = [0]

        async def sample():
            while time.monotonic() - t0 < args.seconds + 1:
                rss_max[0] = max(rss_max[0], proc_usage(w.web.pid)[1])
                await asyncio.sleep(1)

        async def run():
            tasks = [poller(w.port, args.seconds, i / args.clients, lat, errors)
                     for i in range(args.clients)]
            await asyncio.gather(sample(), *tasks)

        asyncio.run(run())
        wall = time.monotonic() - t0
        cpu1, rss, hwm = proc_usage(w.web.pid)
        ms = [x * 1000 for x in lat]
        print("poll: %d services (+%d loggers), %d clients x 1/s for %ds: %d requests, %d errors"
              % (args.services, args.services, args.clients, args.seconds, len(ms), len(errors)))
        print("  latency ms: median %.1f  p90 %.1f  p99 %.1f  max %.1f   (target p99 <= 50)"
              % (statistics.median(ms), pct(ms, 90), pct(ms, 99), max(ms)))
        print("  svweb RSS: %.1f MB now, %.1f MB peak (target <= 60)   CPU: %.2f cores"
              " (target < 1)" % (rss / 1e6, max(hwm, rss_max[0]) / 1e6, (cpu1 - cpu0) / wall))
        if errors:
            print("  first errors:", errors[:5])
    finally:
        w.close()


def timed_get(port, path, n, spacing):
    async def run():
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        out = []
        for _ in range(n):
            await asyncio.sleep(spacing)
            t0 = time.perf_counter()
            status, _, _ = await fetch(reader, writer, path, port)
            out.append((time.perf_counter() - t0) * 1000)
            assert status == 200, status
        writer.close()
        return out
    return asyncio.run(run())


def svstat_ms(impl, dirs, n=10):
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        subprocess.run([impl] + dirs, stdout=subprocess.DEVNULL, check=True)
        out.append((time.perf_counter() - t0) * 1000)
    return statistics.median(out)


def metrics(args):
    w = World(args.services, before=args.before)
    try:
        # 1.6 s apart: past TTL (0.5 s) and the stale window (1 s), so that
        # each request waits for a read of every service, as a lone scraper does.
        # With --before, blocks of 5 scrapes of one svweb, then 5 of the
        # other, the order alternating: a scrape right after the other
        # svweb's finds caches and CPU clocks warmed by it (much faster
        # than a lone scrape every 15 s would be), so it never does.
        fresh = {web: [] for web in w.webs}
        for i in range(0, args.scrapes, 5):
            for web in (w.webs if i % 10 == 0 else w.webs[::-1]):
                fresh[web] += timed_get(web.port, "/metrics", min(5, args.scrapes - i), 1.6)
        cached = timed_get(w.port, "/metrics", 30, 0.0)
        names = sorted(os.listdir(w.scandir))
        dirs = [os.path.join(w.scandir, x) + s for x in names for s in ("", "/log")]
        print("metrics: %d services (+%d loggers), %d scrapes each"
              % (args.services, args.services, args.scrapes))
        now = fresh[w.web]
        print("  /metrics, fresh read: median %.1f ms  max %.1f ms   (target median <= 30)"
              % (statistics.median(now), max(now)))
        if args.before:
            old = fresh[w.webs[1]]
            print("  /metrics, fresh read, svtools of %s: median %.1f ms  max %.1f ms;"
                  " now / before = %.2f" % (args.before, statistics.median(old), max(old),
                                            statistics.median(now) / statistics.median(old)))
        print("  /metrics, cached snapshot: median %.1f ms" % statistics.median(cached))
        line = "  svstat of the same %d dirs: " % len(dirs)
        if os.path.exists("/usr/bin/svstat"):
            c = svstat_ms("/usr/bin/svstat", dirs)
            line += "C %.1f ms, " % c
        ours = svstat_ms(os.path.join(BIN, "svstat"), dirs)
        line += "ours %.1f ms" % ours
        if os.path.exists("/usr/bin/svstat"):
            line += "; /metrics (fresh) / C svstat = %.1fx" % (statistics.median(now) / c)
        print(line)
    finally:
        w.close()


def login(args):
    import svtools._svweb_auth as A
    tmp = tempfile.mkdtemp(prefix="svweb-bench-auth-")
    path = os.path.join(tmp, "auth")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    os.write(fd, ("user alice %s\n" % A.hash_password("right")).encode())
    os.close(fd)
    w = World(2, ["--auth", path])
    try:
        async def attempt(user):
            reader, writer = await asyncio.open_connection("127.0.0.1", w.port)
            status, head, body = await fetch(reader, writer, "/login", w.port)
            cookie = re.search(rb"(?i)set-cookie: *(_xsrf=[^;]+)", head).group(1)
            token = re.search(rb'name="_xsrf" value="([^"]+)"', body).group(1).decode()
            form = urllib.parse.urlencode({"_xsrf": token, "user": user,
                                           "password": "wrong"}).encode()
            t0 = time.perf_counter()
            status, _, _ = await fetch(reader, writer, "/login", w.port, body=form, extra=(
                b"Cookie: " + cookie + b"\r\nContent-Type: application/x-www-form-urlencoded\r\n"))
            took = (time.perf_counter() - t0) * 1000
            writer.close()
            assert status == 403, status
            return took

        async def run():
            known, unknown = [], []
            for i in range(200):
                # Interleaved, so drifts in machine load hit both alike.
                known.append(await attempt("alice"))
                unknown.append(await attempt("nobody%d" % i))
            return known, unknown

        known, unknown = asyncio.run(run())
        print("login: 200 wrong passwords each, interleaved")
        print("  known user: median %.2f ms   unknown user: median %.2f ms   difference %.2f ms"
              % (statistics.median(known), statistics.median(unknown),
                 statistics.median(known) - statistics.median(unknown)))
    finally:
        w.close()
        shutil.rmtree(tmp, ignore_errors=True)


def main():
    import argparse
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("what", nargs="*", default=["poll", "metrics", "login"])
    p.add_argument("--services", type=int, default=200)
    p.add_argument("--clients", type=int, default=50)
    p.add_argument("--seconds", type=int, default=60)
    p.add_argument("--scrapes", type=int, default=20, help="fresh /metrics requests (metrics)")
    p.add_argument("--before", metavar="REF", help="also run svweb from this git commit (metrics)")
    args = p.parse_args()
    sys.path.insert(0, os.path.dirname(HERE))
    for what in args.what:
        {"poll": poll, "metrics": metrics, "login": login}[what](args)


if __name__ == "__main__":
    main()
