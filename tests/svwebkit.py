"""svweb test kit: a real svscan with services, a real svweb, an HTTP client."""

import http.client
import json
import os
import re
import subprocess
import time

import helpers
from helpers import prog, wait_for, write_script

TICKER = """\
exec 2>&1
echo "started $$"
while :; do echo "tick $$"; sleep 0.3; done
"""


def service(scan, name, body=TICKER, log=True):
    """Make service NAME in SCAN (a pathlib.Path, or bytes with a bytes
    NAME), with a multilog logger."""
    if isinstance(scan, bytes):
        d = os.path.join(scan, name)
        os.mkdir(d)
        write_script(os.path.join(d, b"run"), body)
        return d
    d = scan / name
    d.mkdir()
    if log:
        (d / "log").mkdir()
        write_script(d / "log" / "run", "exec multilog t ./main\n")
    write_script(d / "run", body)
    return d


class Scan:
    """svscan on TMP/scan; every process goes through PROCS."""

    def __init__(self, procs, tmp_path):
        self.dir = tmp_path / "scan"
        self.dir.mkdir()
        self.errf = open(tmp_path / "svscan.out", "wb")
        self.proc = procs.start([prog("svscan"), str(self.dir)],
                                stdout=self.errf, stderr=self.errf)

    def svok(self, name):
        return helpers.run([prog("svok"), str(self.dir / name)]).returncode == 0

    def wait_supervised(self, *names):
        for name in names:
            wait_for(lambda: self.svok(name) and self.svok(name + "/log"), 20,
                     what="supervise on " + name)

    def close(self):
        self.errf.close()


class Web:
    """svweb ARGS on a free loopback port, its stdout in TMP/svweb.out."""

    def __init__(self, procs, tmp_path, scandir, *args, tag="svweb"):
        self.out_path = tmp_path / (tag + ".out")
        self.out = open(self.out_path, "wb")
        args = list(args)
        if not any(a.startswith("--listen") for a in args):
            args += ["--listen", "127.0.0.1:0"]
        self.proc = procs.start([prog("svweb"), "-d", str(scandir)] + args,
                                stdout=self.out, stderr=subprocess.STDOUT)
        found = wait_for(self._bound, 20, what="svweb serving")
        self.host, self.port = found.group(1), int(found.group(2))

    def _bound(self):
        if self.proc.poll() is not None:
            raise AssertionError("svweb exited %s: %s" % (self.proc.returncode, self.log()))
        return re.search(r"serving .* on https?://([0-9.]+):(\d+)/", self.log())

    def log(self):
        return self.out_path.read_bytes().decode("utf-8", "replace")

    def conn(self, timeout=20):
        return http.client.HTTPConnection(self.host, self.port, timeout=timeout)

    def request(self, method, path, body=None, headers=None, host=None):
        """(status, headers dict with lower-case keys, body bytes)."""
        c = self.conn()
        try:
            h = {"Host": host or "127.0.0.1:%d" % self.port}
            h.update(headers or {})
            c.request(method, path, body=body, headers=h)
            r = c.getresponse()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
        finally:
            c.close()

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def json(self, path, **kw):
        status, headers, body = self.get(path, **kw)
        assert status == 200, (status, body)
        return json.loads(body)

    def state(self, name):
        return self.json("/api/services/" + name)["state"]

    def close(self):
        self.out.close()


def form_token(body):
    """The CSRF token of an HTML page (its meta tag or first form)."""
    m = re.search(rb'name="(?:_xsrf|svweb-xsrf)" (?:value|content)="([^"]+)"', body)
    assert m, body[:500]
    return m.group(1).decode()


def session(web, path="/"):
    """(cookie header, xsrf token) of a fresh page view."""
    status, headers, body = web.get(path)
    assert status == 200, (status, body[:300])
    cookie = headers["set-cookie"].split(";")[0]
    return cookie, form_token(body)


def wait_state(web, name, states, timeout=20):
    states = (states,) if isinstance(states, str) else states
    return wait_for(lambda: web.state(name) in states and web.state(name), timeout,
                    what="%s in %s" % (name, states))


def scrape(web, **kw):
    status, headers, body = web.get("/metrics", **kw)
    assert status == 200, (status, body)
    return body


def slow_client_closed(web, timeout):
    """Seconds until svweb drops a client that never finishes its headers."""
    import socket
    s = socket.create_connection((web.host, web.port), timeout=timeout)
    start = time.monotonic()
    try:
        s.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        while True:
            try:
                s.sendall(b"X-a: b\r\n")
            except OSError:
                break
            try:
                s.settimeout(0.5)
                if s.recv(1) == b"":
                    break
            except socket.timeout:
                pass
            if time.monotonic() - start > timeout:
                return None
    finally:
        s.close()
    return time.monotonic() - start


def write_auth(path, text, mode=0o600):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.chmod(path, mode)
    return path
