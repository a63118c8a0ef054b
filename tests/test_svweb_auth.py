"""svweb with authentication: the auth file, bearer token, login, refusals."""

import http.client
import json
import re
import signal
import ssl
import os
import threading
import urllib.parse

import pytest

import helpers
from helpers import Procs, prog
from svtools import _svweb_auth
from svwebkit import Scan, Web, form_token, service, write_auth

TOKEN = "0123456789abcdef0123456789abcdef-token"


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("svweb-auth")
    procs = Procs()
    try:
        scan = Scan(procs, tmp)
        service(scan.dir, "alpha")
        scan.wait_supervised("alpha")
        r = helpers.run([prog("svweb"), "--hash-password", "alice"], input=b"wonderland\n")
        assert r.returncode == 0, r.stderr
        auth = write_auth(tmp / "auth", "# svweb users\ntoken %s\n%s"
                          % (TOKEN, r.stdout.decode()))
        web = Web(procs, tmp, scan.dir, "--auth", str(auth))
        yield scan, web, auth
        web.close()
        scan.close()
    finally:
        procs.cleanup()


@pytest.fixture
def web(world):
    return world[1]


BEARER = {"Authorization": "Bearer " + TOKEN}


def test_hash_password_line_verifies(world):
    auth = _svweb_auth.load(str(world[2]))
    assert _svweb_auth.check_password(auth, "alice", "wonderland")
    assert not _svweb_auth.check_password(auth, "alice", "Wonderland")


def test_api_and_metrics_need_the_token(web):
    for path in ("/api/services", "/api/services/alpha", "/metrics"):
        status, h, body = web.get(path)
        assert status == 401 and h["www-authenticate"].startswith("Bearer"), path
        assert json.loads(body)["status"] == 401
        status, _, _ = web.get(path, headers={"Authorization": "Bearer " + TOKEN[:-1] + "X"})
        assert status == 401
        status, _, _ = web.get(path, headers={"Authorization": "Basic " + TOKEN})
        assert status == 401
        status, _, body = web.get(path, headers=BEARER)
        assert status == 200, path
    assert "refused 127.0.0.1 GET /metrics: not authenticated" in web.log()


def test_bearer_token_controls_without_csrf(web):
    status, _, body = web.request("POST", "/api/services/alpha/stop", headers=BEARER)
    assert status == 200, body
    wait_for_state(web, "down")
    status, _, _ = web.request("POST", "/api/services/alpha/start", headers=BEARER)
    assert status == 200
    wait_for_state(web, ("up", "ready"))
    status, _, _ = web.request("POST", "/api/services/alpha/stop")
    assert status == 401


def wait_for_state(web, states):
    states = (states,) if isinstance(states, str) else states
    helpers.wait_for(lambda: json.loads(web.get("/api/services/alpha", headers=BEARER)[2])
                     ["state"] in states, 20, what="alpha in %s" % (states,))


def test_pages_send_strangers_to_login(web):
    for path in ("/", "/services/alpha", "/nowhere"):
        status, h, _ = web.get(path)
        assert status == 302 and h["location"] == "/login", path
    status, _, body = web.get("/login")
    assert status == 200 and b'type="password"' in body and b'for="user"' in body


def login(web, user, password):
    status, h, body = web.get("/login")
    cookie = h["set-cookie"].split(";")[0]
    form = urllib.parse.urlencode({"_xsrf": form_token(body), "user": user,
                                   "password": password})
    return web.request("POST", "/login", body=form, headers={
        "Cookie": cookie, "Content-Type": "application/x-www-form-urlencoded"}), cookie


def test_login_logout(web):
    (status, h, body), xsrf_cookie = login(web, "alice", "wonderland")
    assert status == 303 and h["location"] == "/"
    user_cookie = [c for c in h["set-cookie"].split(", ") if c.startswith("svweb_user=")]
    assert user_cookie and "HttpOnly" in user_cookie[0] and "SameSite=Strict" in user_cookie[0]
    cookies = xsrf_cookie + "; " + user_cookie[0].split(";")[0]
    status, _, body = web.get("/services/alpha", headers={"Cookie": cookies})
    assert status == 200 and b"btn-stop" in body and b"log out alice" in body
    # A logged-in browser still needs the CSRF token to change anything.
    status, _, _ = web.request("POST", "/api/services/alpha/reload", headers={"Cookie": cookies})
    assert status == 403
    status, _, _ = web.request("POST", "/api/services/alpha/reload", headers={
        "Cookie": cookies, "X-XSRFToken": form_token(body)})
    assert status == 200
    # A forged user cookie is worthless.
    status, _, _ = web.get("/", headers={"Cookie": "svweb_user=alice"})
    assert status == 302


@pytest.mark.parametrize("user,password", [
    ("alice", "wrong"), ("alice", ""), ("mallory", "wonderland"), ("", ""),
    ("alice", "wonderland" * 1000),
])
def test_wrong_logins_refused(web, user, password):
    (status, h, body), _ = login(web, user, password)
    assert status == 403 and b"Wrong user or password" in body
    assert "svweb_user=" not in h.get("set-cookie", "")
    assert "login of %r: wrong user or password" % user in web.log()


def test_many_wrong_passwords_do_not_stop_the_service(web):
    results = []

    def attack():
        for i in range(5):
            results.append(login(web, "alice", "guess%d" % i)[0][0])

    threads = [threading.Thread(target=attack) for _ in range(6)]
    for t in threads:
        t.start()
    served = [web.get("/api/services", headers=BEARER)[0] for _ in range(5)]
    for t in threads:
        t.join(60)
    assert results == [403] * 30
    assert served == [200] * 5


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o602])
def test_auth_file_readable_by_others_refused(world, tmp_path, mode):
    scan, _, good = world
    bad = write_auth(tmp_path / "auth", good.read_text(), mode)
    r = helpers.run([prog("svweb"), "-d", str(scan.dir), "--auth", str(bad),
                     "--listen", "127.0.0.1:0"])
    assert r.returncode == 100
    assert r.stderr == ("svweb: fatal: unable to use auth file %s: mode %04o: must be 0600"
                        " (no access for group or others)\n" % (bad, mode)).encode()


def test_auth_file_missing_or_junk(world, tmp_path):
    scan = world[0]
    r = helpers.run([prog("svweb"), "-d", str(scan.dir), "--auth", str(tmp_path / "none")])
    assert r.returncode == 111
    assert r.stderr.endswith(b": file does not exist\n")
    junk = write_auth(tmp_path / "junk", "token short\n")
    r = helpers.run([prog("svweb"), "-d", str(scan.dir), "--auth", str(junk)])
    assert r.returncode == 100 and b"line 1: token shorter than 32" in r.stderr


def test_sighup_reads_the_auth_file_again(world, tmp_path, procs):
    scan = world[0]
    old, new = "o" * 40, "n" * 40
    path = write_auth(tmp_path / "auth", "token %s\n" % old)
    web = Web(procs, tmp_path, scan.dir, "--auth", str(path), tag="hup")
    try:
        def status(token):
            return web.get("/api/services", headers={"Authorization": "Bearer " + token})[0]

        assert (status(old), status(new)) == (200, 401)
        write_auth(path, "token %s\n" % new)
        web.proc.send_signal(signal.SIGHUP)
        helpers.wait_for(lambda: "reloaded auth file" in web.log(), 20, what="the reload")
        assert (status(old), status(new)) == (401, 200)
        os.chmod(path, 0o644)
        web.proc.send_signal(signal.SIGHUP)
        helpers.wait_for(lambda: "must be 0600" in web.log(), 20, what="the refused reload")
        assert "keeping the old one" in web.log()
        assert status(new) == 200 and web.proc.poll() is None
    finally:
        web.close()


def test_https_with_cert_and_key(world, tmp_path, procs):
    scan = world[0]
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    r = helpers.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                     "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1", "-subj",
                     "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                     "-keyout", str(key), "-out", str(cert)])
    if r.returncode != 0:
        pytest.skip("openssl cannot make a test certificate: %r" % r.stderr[-200:])
    web = Web(procs, tmp_path, scan.dir, "--cert", str(cert), "--key", str(key), tag="tls")
    try:
        assert re.search(r"on https://127\.0\.0\.1:\d+/", web.log())
        ctx = ssl.create_default_context(cafile=str(cert))
        c = http.client.HTTPSConnection("127.0.0.1", web.port, timeout=20, context=ctx)
        c.request("GET", "/services/alpha")
        resp = c.getresponse()
        assert resp.status == 200
        assert "Secure" in resp.getheader("Set-Cookie") and b"btn-stop" in resp.read()
        c.close()
        plain = http.client.HTTPConnection("127.0.0.1", web.port, timeout=20)
        with pytest.raises((OSError, http.client.HTTPException)):
            plain.request("GET", "/api/services")
            plain.getresponse()
        plain.close()
    finally:
        web.close()
    r = helpers.run([prog("svweb"), "-d", str(scan.dir), "--cert", str(cert)])
    assert r.returncode == 100 and b"--cert and --key go together" in r.stderr
    r = helpers.run([prog("svweb"), "-d", str(scan.dir), "--cert", str(key), "--key", str(cert)])
    assert r.returncode == 100 and r.stderr.startswith(b"svweb: fatal: unable to use certificate")
