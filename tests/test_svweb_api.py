"""svweb without a browser: JSON API, control, CSRF, names, headers, bad
clients, /metrics checked by promtool.  A real svscan runs two services
with loggers; one svweb (loopback, no auth) serves them for the module."""

import json
import re
import sys
import os
import shutil
import socket
import subprocess

import pytest

import helpers
from helpers import Procs, wait_for
from svtools import _svinfo
from svwebkit import Scan, Web, scrape, service, session, slow_client_closed, wait_state

PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"
with open(os.path.join(os.path.dirname(__file__), "..", "docs",
                       "svctl-status.schema.json")) as _f:
    SCHEMA = json.load(_f)
_TYPES = {"object": dict, "array": list, "string": str, "boolean": bool,
          "integer": int, "number": (int, float), "null": type(None)}


def check_schema(value, schema, root, where="$"):
    """The parts of JSON Schema that docs/svctl-status.schema.json uses."""
    if "$ref" in schema:
        schema = root["$defs"][schema["$ref"].rsplit("/", 1)[1]]
    if "anyOf" in schema:
        errors = []
        for option in schema["anyOf"]:
            try:
                return check_schema(value, option, root, where)
            except AssertionError as e:
                errors.append(str(e))
        raise AssertionError("%s: no anyOf matched: %s" % (where, errors))
    if "enum" in schema:
        assert value in schema["enum"], (where, value)
    if "type" in schema:
        types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        ok = any(isinstance(value, _TYPES[t]) and not (t in ("integer", "number") and
                                                       isinstance(value, bool))
                 for t in types)
        assert ok, (where, value, types)
    if isinstance(value, dict) and "properties" in schema:
        for key in schema.get("required", ()):
            assert key in value, (where, "missing", key)
        if schema.get("additionalProperties") is False:
            assert set(value) <= set(schema["properties"]), (where, set(value) - set(schema["properties"]))
        for key, sub in schema["properties"].items():
            if key in value:
                check_schema(value[key], sub, root, where + "." + key)
    if isinstance(value, list) and "items" in schema:
        for i, item in enumerate(value):
            check_schema(item, schema["items"], root, "%s[%d]" % (where, i))


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("svweb")
    procs = Procs()
    try:
        scan = Scan(procs, tmp)
        service(scan.dir, "alpha")
        service(scan.dir, "beta")
        service(os.fsencode(scan.dir), "odd name\u00e9".encode(), log=False)
        (scan.dir / ".hidden").mkdir()
        (scan.dir / "plainfile").write_text("not a service\n")
        scan.wait_supervised("alpha", "beta")
        web = Web(procs, tmp, scan.dir)
        wait_state(web, "alpha", "up")
        yield scan, web
        web.close()
        scan.close()
    finally:
        procs.cleanup()


@pytest.fixture
def web(world):
    return world[1]


def no_traceback(body):
    assert b"Traceback" not in body and b"File \"" not in body, body[:500]


def test_api_list_is_the_svctl_json_schema(world):
    scan, web = world
    doc = web.json("/api/services")
    check_schema(doc, SCHEMA, SCHEMA)
    assert doc["scandir"] == str(scan.dir) and doc["schema"] == 1
    got = doc["services"]
    assert [s["name"] for s in got] == ["alpha", "beta", "odd\\x20name\u00e9"]
    mine = _svinfo.to_json(_svinfo.read(str(scan.dir / "alpha")))
    assert set(got[0]) == set(mine)
    assert set(got[0]["log"]) == set(mine["log"])
    assert got[0]["schema"] == _svinfo.SCHEMA
    assert got[0]["pid"] == mine["pid"] and got[0]["state"] == mine["state"] == "up"
    assert got[0]["log"]["state"] == "up"


def test_api_list_matches_svctl_status_json(world):
    scan, web = world
    r = helpers.run([helpers.prog("svctl"), "-d", str(scan.dir), "status", "--json"])
    cli = json.loads(r.stdout)
    api = web.json("/api/services")
    assert set(cli) == set(api) and cli["schema"] == api["schema"]
    assert cli["scandir"] == api["scandir"]
    assert [s["name"] for s in cli["services"]] == [s["name"] for s in api["services"]]
    for a, b in zip(cli["services"], api["services"]):
        assert set(a) == set(b) and a["state"] == b["state"] and a["pid"] == b["pid"]


def test_api_one_service_and_unknown(web):
    one = web.json("/api/services/beta")
    check_schema(one, SCHEMA["$defs"]["service"], SCHEMA)
    assert one["name"] == "beta" and one["state"] == "up" and one["pid"]
    status, headers, body = web.get("/api/services/nosuch")
    assert status == 404 and headers["content-type"] == "application/json"
    assert json.loads(body)["error"] == "no service 'nosuch'"
    no_traceback(body)


@pytest.mark.parametrize("path", [
    "/services/..", "/services/.", "/services/.hidden", "/services/%2e%2e",
    "/services/%2E%2E%2Fetc", "/services/a%2Fb", "/services/alpha%2F..%2F..%2Fetc",
    "/services/%2F", "/services/%00", "/services/alpha%00", "/services/" + "a" * 300,
    "/services/" + "%41" * 4000, "/api/services/..", "/api/services/%2e%2e%2fpasswd",
    "/api/services/.hidden", "/api/services/alpha%2Flog", "/services/plainfile",
    "/api/services/plainfile", "/services/../../etc/passwd", "/static/../svweb.py",
    "/static/%2e%2e/svweb.py", "/api/services/alpha/stop%2F..",
])
def test_names_never_leave_the_scan_directory(web, path):
    status, headers, body = web.get(path)
    assert 400 <= status < 500, (status, body[:200])
    no_traceback(body)
    assert b"root:" not in body and b"import" not in body


def test_names_that_are_not_plain_ascii(web):
    """A name with a space and a non-ASCII letter: listed escaped as svctl
    prints it, linked by its bytes, and controllable."""
    status, _, body = web.get("/")
    assert b'href="/services/odd%20name%C3%A9"' in body
    assert "odd\\x20name\u00e9".encode() in body
    one = web.json("/api/services/odd%20name%C3%A9")
    assert one["name"] == "odd\\x20name\u00e9"
    helpers.wait_for(lambda: web.json("/api/services/odd%20name%C3%A9")["state"] == "up", 20,
                     what="the odd service up")
    cookie, token = session(web)
    status, _, _ = web.request("POST", "/api/services/odd%20name%C3%A9/reload",
                               headers={"Cookie": cookie, "X-XSRFToken": token})
    assert status == 200


def test_control_needs_post_and_csrf(world):
    scan, web = world
    pid = web.json("/api/services/alpha")["pid"]
    status, _, body = web.get("/api/services/alpha/stop")
    assert status == 405
    status, _, body = web.request("POST", "/api/services/alpha/stop")
    assert status == 403 and json.loads(body)["error"] == "Forbidden"
    cookie, token = session(web)
    status, _, _ = web.request("POST", "/api/services/alpha/stop",
                               headers={"Cookie": cookie, "X-XSRFToken": token + "x"})
    assert status == 403
    other_cookie, _ = session(web)
    status, _, _ = web.request("POST", "/api/services/alpha/stop",
                               headers={"Cookie": other_cookie.replace("|", "|0", 1),
                                        "X-XSRFToken": token})
    assert status == 403
    # svweb logs each command it sends before answering: none was sent.
    assert "stop alpha by" not in web.log()
    assert "missing or wrong CSRF token" in web.log()
    now = _svinfo.read(str(scan.dir / "alpha"))
    assert now["pid"] == pid and now["want"] == "up"


def test_stop_and_start_through_the_api(web):
    cookie, token = session(web)
    h = {"Cookie": cookie, "X-XSRFToken": token}
    status, _, body = web.request("POST", "/api/services/beta/stop", headers=h)
    assert status == 200 and json.loads(body) == {"service": "beta", "action": "stop", "sent": True}
    wait_state(web, "beta", "down")
    assert web.json("/api/services/beta")["want"] == "down"
    status, _, _ = web.request("POST", "/api/services/beta/start", headers=h)
    assert status == 200
    wait_state(web, "beta", ("up", "ready"))
    assert "stop beta by local" in web.log() and "start beta by local" in web.log()


def test_html_form_restart_redirects_back(web):
    old = web.json("/api/services/alpha")["pid"]
    cookie, token = session(web, "/services/alpha")
    status, headers, _ = web.request(
        "POST", "/services/alpha/restart", body="_xsrf=" + token,
        headers={"Cookie": cookie, "Content-Type": "application/x-www-form-urlencoded"})
    assert status == 303 and headers["location"] == "/services/alpha"
    wait_for(lambda: web.json("/api/services/alpha")["pid"] not in (None, old), 20,
             what="a new pid after restart")


def test_control_refuses_a_control_that_is_not_a_fifo(world, tmp_path):
    scan, web = world
    fake = scan.dir / "fake"
    (fake / "supervise").mkdir(parents=True)
    # svscan starts a supervise on it unless a run is missing; it then
    # cannot lock: what matters is the control file we put there.
    (fake / "supervise" / "control").write_text("")
    try:
        cookie, token = session(web)
        status, _, body = web.request("POST", "/api/services/fake/start",
                                      headers={"Cookie": cookie, "X-XSRFToken": token})
        assert status == 409, body
        assert "not a fifo" in json.loads(body)["error"]
        assert (fake / "supervise" / "control").read_text() == ""
    finally:
        shutil.rmtree(fake)


def test_security_headers_everywhere(web):
    for path in ("/", "/services/alpha", "/api/services", "/metrics", "/nowhere",
                 "/api/services/nosuch"):
        status, h, _ = web.get(path)
        assert "frame-ancestors 'none'" in h["content-security-policy"], path
        assert "default-src 'none'" in h["content-security-policy"]
        assert h["x-frame-options"] == "DENY" and h["x-content-type-options"] == "nosniff"
        assert "server" not in h


def test_foreign_host_header_refused_without_auth(web):
    status, _, body = web.get("/api/services", host="attacker.example:9001")
    assert status == 403
    no_traceback(body)
    assert "refused 127.0.0.1 GET /api/services: Host 'attacker.example:9001'" in web.log()


def test_oversized_body_refused_and_svweb_keeps_serving(web):
    c = web.conn()
    try:
        c.putrequest("POST", "/api/services/alpha/stop", skip_host=True)
        c.putheader("Host", "127.0.0.1")
        c.putheader("Content-Length", str(10 << 20))
        c.endheaders()
        try:
            c.send(b"x" * 65536)
            r = c.getresponse()
            assert 400 <= r.status < 500
            no_traceback(r.read())
        except (ConnectionError, http_errors()):
            pass  # closed without an answer: also a refusal
    finally:
        c.close()
    assert web.get("/api/services")[0] == 200
    assert web.json("/api/services/alpha")["state"] in ("up", "ready")
    wait_for(lambda: "Content-Length too long" in web.log(), 10, what="the refusal logged")


def http_errors():
    import http.client
    return http.client.HTTPException


def test_every_request_is_logged(web):
    web.get("/api/services/beta?probe=logline")
    wait_for(lambda: "127.0.0.1 GET /api/services/beta?probe=logline 200" in web.log(), 10,
             what="the access line")


def test_metrics_pass_promtool(world):
    scan, web = world
    if not os.path.exists(PROMTOOL):
        pytest.skip("promtool missing (Debian package prometheus)")
    body = scrape(web)
    r = subprocess.run([PROMTOOL, "check", "metrics"], input=body, capture_output=True,
                       timeout=30)
    assert r.returncode == 0, r.stdout + r.stderr
    text = body.decode()
    for family in ("up", "ready", "want_up", "normally_up", "failed", "uptime_seconds",
                   "starts_total", "resident_memory_bytes", "cpu_seconds_total"):
        assert "# TYPE svtools_service_" + family.replace("_total", "") in text, family
    assert 'svtools_service_up{service="alpha"} 1.0' in text
    assert 'svtools_service_up{service="alpha/log"} 1.0' in text
    assert 'svtools_service_supervised{service="beta/log"} 1.0' in text
    assert "process_resident_memory_bytes" in text and "svweb_http_requests_total" in text


def test_slow_clients_are_cut_off(tmp_path, procs, world):
    scan, _ = world
    web = Web(procs, tmp_path, scan.dir, "--timeout", "2", tag="slow")
    held = []
    try:
        # A crowd of idle connections does not stop others being served.
        for _ in range(20):
            held.append(socket.create_connection((web.host, web.port), timeout=20))
        assert web.get("/api/services")[0] == 200
        took = slow_client_closed(web, timeout=30)
        assert took is not None and took < 20, took
        for s in held:
            s.settimeout(20)
            assert s.recv(1) == b""  # closed by svweb
        wait_for(lambda: "refused 127.0.0.1: connection closed with an unfinished request"
                 in web.log(), 10, what="the slow client's refusal logged")
    finally:
        for s in held:
            s.close()
        web.close()


def test_scan_directory_disappearing(tmp_path, procs):
    scandir = tmp_path / "gone"
    scandir.mkdir()
    web = Web(procs, tmp_path, scandir, "--ttl", "0")
    try:
        assert web.json("/api/services")["services"] == []
        os.rename(scandir, tmp_path / "elsewhere")
        status, h, body = web.get("/api/services")
        assert status == 503 and "unable to read scan directory" in json.loads(body)["error"]
        status, h, body = web.get("/")
        assert status == 503 and b"unable to read scan directory" in body
        no_traceback(body)
        status, _, body = web.get("/services/anything")
        assert status == 503
        os.rename(tmp_path / "elsewhere", scandir)
        assert web.json("/api/services")["services"] == []
        assert web.proc.poll() is None
    finally:
        web.close()


def test_read_only_mode(world, tmp_path, procs):
    scan, _ = world
    web = Web(procs, tmp_path, scan.dir, "--read-only", tag="ro")
    try:
        status, _, body = web.get("/services/alpha")
        assert status == 200 and b"btn-stop" not in body
        cookie, token = session(web)
        pid = web.json("/api/services/alpha")["pid"]
        status, _, _ = web.request("POST", "/api/services/alpha/stop",
                                   headers={"Cookie": cookie, "X-XSRFToken": token})
        assert status == 403
        assert "read-only mode" in web.log()
        assert web.json("/api/services/alpha")["pid"] == pid
    finally:
        web.close()


def test_non_loopback_listen_refused_without_auth(world):
    scan, _ = world
    for addr in ("0.0.0.0:0", "[::]:0"):
        r = helpers.run([helpers.prog("svweb"), "-d", str(scan.dir), "--listen", addr])
        assert r.returncode == 100
        assert r.stderr.startswith(b"svweb: fatal: refusing to listen on " + addr.encode())
    r = helpers.run([helpers.prog("svweb"), "--listen", "nowhere"])
    assert r.returncode == 100 and r.stderr.startswith(b"svweb: usage: ")


def test_clients_do_not_pay_for_svweb():
    """tornado and prometheus_client load only once svweb serves."""
    r = helpers.run([sys.executable, "-c", "import sys, svtools.svweb; "
                     "print(sorted(m for m in sys.modules if m.split('.')[0] in "
                     "('tornado', 'prometheus_client', 'logging', 'asyncio')))"])
    assert r.stdout == b"[]\n", r.stdout + r.stderr


def test_example_service_runs_under_svscan_and_stops_on_svc_d(procs, tmp_path):
    """service-examples/svweb as shipped, but for a tmp scan directory and a
    free port: supervised, logged by multilog, stopped cleanly by svc -d."""
    scan = Scan(procs, tmp_path)
    example = os.path.join(os.path.dirname(__file__), "..", "service-examples", "svweb")
    target = scan.dir / "svweb"
    shutil.copytree(example, tmp_path / "svweb-src")
    run = (tmp_path / "svweb-src" / "run").read_text()
    assert "exec svweb -d /etc/service --listen 127.0.0.1:9001" in run
    (tmp_path / "svweb-src" / "run").write_text(run.replace(
        "/etc/service", str(scan.dir)).replace("127.0.0.1:9001", "127.0.0.1:0"))
    os.rename(tmp_path / "svweb-src", target)
    try:
        scan.wait_supervised("svweb")
        current = target / "log" / "main" / "current"
        found = wait_for(lambda: current.exists() and re.search(
            rb"serving .* on http://127\.0\.0\.1:(\d+)/", current.read_bytes()), 20,
            what="svweb's first line in its multilog")
        port = int(found.group(1))
        import http.client
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
        c.request("GET", "/api/services/svweb")
        r = c.getresponse()
        assert r.status == 200 and json.loads(r.read())["state"] == "up"
        c.close()
        wait_for(lambda: b"GET /api/services/svweb 200" in current.read_bytes(), 20,
                 what="the request in svweb's log")
        assert helpers.run([helpers.prog("svc"), "-d", str(target)]).returncode == 0
        wait_for(lambda: b"svweb: stopped" in current.read_bytes(), 20, what="a clean stop")
        st = helpers.run([helpers.prog("svstat"), str(target)]).stdout
        wait_for(lambda: b": down " in helpers.run([helpers.prog("svstat"), str(target)]).stdout,
                 20, what="svweb down: %s" % st)
    finally:
        scan.close()


def test_connections_beyond_the_limit_are_closed(world, tmp_path, procs):
    scan, _ = world
    web = Web(procs, tmp_path, scan.dir, "--max-connections", "3", "--timeout", "30",
              tag="max")
    held = []
    try:
        for _ in range(3):
            s = socket.create_connection((web.host, web.port), timeout=20)
            s.sendall(b"GET /api/services HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            assert s.recv(12) == b"HTTP/1.1 200"  # served, then held open
            held.append(s)
        extra = socket.create_connection((web.host, web.port), timeout=20)
        try:
            extra.sendall(b"GET /api/services HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            assert extra.recv(12) == b""
        except ConnectionResetError:
            pass  # closed before or while we wrote: refused as well
        extra.close()
        assert "more than 3 connections" in web.log()
        held.pop().close()

        def served():
            try:
                return web.get("/api/services")[0] == 200
            except OSError:
                return False  # svweb had not yet seen the close: refused again
        wait_for(served, 20, what="a connection served once one is free")
    finally:
        for s in held:
            s.close()
        web.close()


RELOADER = """\
exec 2>&1
trap 'echo usr1 >> got' USR1
trap 'echo hup >> got' HUP
touch trapped
echo started
while :; do sleep 0.2; done
"""


def test_reload_sends_the_reload_signal_file_like_svctl(world):
    scan, web = world
    d = service(scan.dir, "reloader", RELOADER, log=False)
    (d / "reload-signal").write_text("USR1\n")
    wait_for(lambda: scan.svok("reloader"), 20, what="supervise on reloader")
    wait_state(web, "reloader", ("up", "ready"))
    # The signal must find the traps set, or it kills the shell.
    wait_for(lambda: (d / "trapped").exists(), 20, what="the traps set")
    cookie, token = session(web)
    h = {"Cookie": cookie, "X-XSRFToken": token}
    assert web.request("POST", "/api/services/reloader/reload", headers=h)[0] == 200
    wait_for(lambda: (d / "got").exists() and (d / "got").read_text() == "usr1\n", 20,
             what="USR1 from reload")
    (d / "reload-signal").unlink()
    assert web.request("POST", "/api/services/reloader/reload", headers=h)[0] == 200
    wait_for(lambda: (d / "got").read_text() == "usr1\nhup\n", 20, what="HUP by default")


def test_service_page_shows_the_log_tail_in_local_time(web):
    status, _, body = web.get("/services/alpha")
    assert status == 200
    lines = re.findall(rb"<li><time>([^<]*)</time> ([^<]*)</li>", body)
    assert lines, body[-800:]
    assert all(re.match(rb"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}$", t) for t, _ in lines)
    assert any(text.startswith(b"tick ") or text.startswith(b"started ") for _, text in lines)
    assert len(lines) <= 50


def test_service_page_shows_multilog_T_stamps_whole(world):
    scan, web = world
    d = service(scan.dir, "isotick", log=False)
    (d / "log").mkdir()
    # A zone east of UTC with minutes, so the offset cannot be mistaken.
    helpers.write_script(d / "log" / "run", "TZ=XYZ-9:30; export TZ\nexec multilog T ./main\n")
    scan.wait_supervised("isotick")
    current = d / "log" / "main" / "current"
    wait_for(lambda: current.exists() and current.read_bytes().count(b" tick ") >= 2, 20,
             what="multilog T lines")
    status, _, body = web.get("/services/isotick")
    assert status == 200
    lines = re.findall(rb"<li><time>([^<]*)</time> ([^<]*)</li>", body)
    assert lines, body[-800:]
    written = set(current.read_bytes().split(b"\n"))
    for stamp, text in lines:
        assert re.fullmatch(rb"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+09:30", stamp), stamp
        assert re.fullmatch(rb"(tick|started) \d+", text), text
        assert stamp + b" " + text in written
    helpers.run([helpers.prog("svc"), "-dx", str(d), str(d / "log")])


def test_without_auth_the_api_takes_cookie_and_csrf_not_a_bearer_token(web):
    status = web.request("POST", "/api/services/alpha/start",
                         headers={"Authorization": "Bearer " + "x" * 40})[0]
    assert status == 403
    cookie, token = session(web)
    assert web.request("POST", "/api/services/alpha/start",
                       headers={"Cookie": cookie, "X-XSRFToken": token})[0] == 200
