"""svweb's Tornado application: routes, access checks, thin handlers.

The handlers only check access, pick the service and hand over: reading and
control go through _svweb_model (which uses the shared _svinfo reader and
the svc control path), rendering through the templates in _svweb_templates.

Access, in the order prepare() applies it:
  1. without authentication (loopback only), the Host header must name the
     loopback, against DNS rebinding;
  2. with authentication, every route but /login and /static needs a login
     cookie or the bearer token: pages redirect to /login, the API and
     /metrics answer 401;
  3. every POST needs the CSRF token (form field _xsrf or header
     X-XSRFToken, checked by Tornado) unless it carries the bearer token;
  4. in read-only mode every POST but /login and /logout is refused (403).
Each refusal is one "refused" line on stdout; each request one line.
"""

import json
import sys
import time

import tornado.httpserver
import tornado.web

from . import _svweb_auth, _svweb_model

BODY_MAX = 64 * 1024
HEADER_MAX = 16 * 1024
ACTIONS = ("start", "stop", "restart", "reload", "once")
_NAME = r"([^/]+)"
_CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self';"
        " connect-src 'self'; form-action 'self'; frame-ancestors 'none';"
        " base-uri 'none'")


def log_line(text):
    """One line on stdout (svweb's multilog), written at once."""
    line = "svweb: %s\n" % text.encode("ascii", "backslashreplace").decode("ascii")
    try:
        sys.stdout.write(line)
        sys.stdout.flush()
    except OSError:
        pass  # no logger to take it (a pipe nobody reads): serve on regardless


def log_request(handler):
    handler.settings["svweb"].metrics.requests.labels(str(handler.get_status())).inc()
    req = handler.request
    log_line("%s %s %s %d %.1fms" % (req.remote_ip, req.method, req.uri,
                                     handler.get_status(), 1000 * req.request_time()))


class Base(tornado.web.RequestHandler):
    api = False

    @property
    def cfg(self):
        return self.settings["svweb"]

    def set_default_headers(self):
        self.clear_header("Server")
        self.set_header("Content-Security-Policy", _CSP)
        self.set_header("X-Frame-Options", "DENY")
        self.set_header("X-Content-Type-Options", "nosniff")
        self.set_header("Referrer-Policy", "no-referrer")
        self.set_header("Cache-Control", "no-store")

    def decode_argument(self, value, name=None):
        # Service names are bytes on disk; keep undecodable ones as os does.
        return value.decode("utf-8", "surrogateescape")

    def refuse(self, code, why, tell=False):
        """Log WHY and answer CODE; the client sees WHY only when TELL."""
        log_line("refused %s %s %s: %s" % (self.request.remote_ip, self.request.method,
                                           self.request.uri, why))
        self.detail = why if tell else None
        self.cfg.metrics.refused.inc()
        raise tornado.web.HTTPError(code) from None

    def bearer(self):
        """True when the request carries a valid bearer token."""
        auth = self.cfg.auth
        header = self.request.headers.get("Authorization", "")
        if auth is None or not header.startswith("Bearer "):
            return False
        return _svweb_auth.check_token(auth, header[7:].strip())

    def get_current_user(self):
        if self.cfg.auth is None:
            return "local"
        if self.bearer():
            return "token"
        user = self.get_signed_cookie("svweb_user", max_age_days=1)
        if not user:
            return None
        user = user.decode("utf-8", "replace")
        # A user taken out of the auth file (and SIGHUP) is out at once.
        return user if user in self.cfg.auth["users"] else None

    def prepare(self):
        if self.cfg.auth is None:
            if not _svweb_auth.loopback_host(self.request.host):
                self.refuse(403, "Host %r is not the loopback" % self.request.host)
        elif self.current_user is None and not getattr(self, "public", False):
            if self.api or self.request.method != "GET":
                self.refuse(401, "not authenticated")
            log_line("refused %s %s %s: not authenticated, sent to /login"
                     % (self.request.remote_ip, self.request.method, self.request.uri))
            self.cfg.metrics.refused.inc()
            self.redirect("/login")
            return
        if self.request.method == "POST" and self.cfg.read_only \
                and not getattr(self, "public", False):
            self.refuse(403, "read-only mode")

    def check_xsrf_cookie(self):
        # Tornado calls this before prepare(): a stranger hears 401, not 403.
        if self.bearer():
            return
        if self.cfg.auth is not None and self.current_user is None \
                and not getattr(self, "public", False):
            self.refuse(401, "not authenticated")
        try:
            super().check_xsrf_cookie()
        except tornado.web.HTTPError:
            self.refuse(403, "missing or wrong CSRF token")

    def service(self, name):
        """The entry NAME of the scan directory, or a refusal (400/404/503)."""
        if not _svweb_auth.plain_name(name):
            self.refuse(400, "bad service name %r" % name)
        try:
            names = self.cfg.board.entries()
        except OSError as e:
            self.refuse(503, "unable to read scan directory: %s"
                        % _svweb_model.errtext(e), tell=True)
        if name not in names:
            self.refuse(404, "no service %r" % name, tell=True)
        return name

    async def info(self, name):
        """The to_json dict of the existing entry NAME, or a refusal (404)."""
        board = self.cfg.board
        info = (await board.snapshot()).find(name)
        if info is None:
            # Newer than the shared snapshot (just linked in): read again.
            board.invalidate()
            info = (await board.snapshot()).find(name)
        if info is None:
            self.refuse(404, "no service %r" % name, tell=True)
        return info

    def write_error(self, status_code, **kwargs):
        # Never a traceback: the code and a fixed text (see log for details).
        reason = getattr(self, "detail", None) or self._reason
        if status_code == 401:
            self.set_header("WWW-Authenticate", 'Bearer realm="svweb"')
        if self.api:
            self.set_header("Content-Type", "application/json")
            self.finish(json.dumps({"error": reason, "status": status_code}))
        else:
            self.set_header("Content-Type", "text/html; charset=UTF-8")
            self.finish(self.render_string("error.html", code=status_code, reason=reason,
                                           title="error %d" % status_code,
                                           auth=self.cfg.auth is not None))

    def render_page(self, template, **kw):
        kw.setdefault("read_only", self.cfg.read_only)
        kw.setdefault("auth", self.cfg.auth is not None)
        self.render(template, **kw)


class NotFound(Base):
    def prepare(self):
        super().prepare()
        self.refuse(404, "no such page")


class Index(Base):
    async def get(self):
        snap = await self.cfg.board.snapshot()
        rows = _svweb_model.rows(snap)
        if snap.error is not None:
            self.set_status(503)
        if self.get_query_argument("part", "") == "rows":
            self.render("rows.html", rows=rows, error=snap.error)
        else:
            self.render_page("index.html", rows=rows, error=snap.error,
                             title="services")


class Service(Base):
    async def get(self, name):
        name = self.service(name)
        info = await self.info(name)
        lines, problem = self.cfg.board.tail(name, self.cfg.tail_lines)
        kw = dict(name=name, rows=_svweb_model.rows_of(name, info), lines=lines,
                  problem=problem, actions=ACTIONS)
        if self.get_query_argument("part", "") == "live":
            self.render("live.html", **kw)
        else:
            self.render_page("service.html", title=name, **kw)


class Control(Base):
    def control(self, name, action):
        """Send ACTION to service NAME (checked as self.service does) and log
        it; a refused control is answered 409.  Returns the service name."""
        name = self.service(name)
        problem = self.cfg.board.control(name, action)
        if problem is not None:
            log_line("%s %s: %s" % (action, name, problem))
            self.refuse(409, problem, tell=True)
        log_line("%s %s by %s" % (action, name, self.current_user))
        return name


class Action(Control):
    def post(self, name, action):
        name = self.control(name, action)
        self.redirect("/services/%s" % tornado.escape.url_escape(name, plus=False), status=303)


class ApiList(Base):
    api = True

    async def get(self):
        snap = await self.cfg.board.snapshot()
        if snap.error is not None:
            self.refuse(503, snap.error, tell=True)
        self.set_header("Content-Type", "application/json")
        self.write(snap.body)


class ApiService(Base):
    api = True

    async def get(self, name):
        info = await self.info(self.service(name))
        self.set_header("Content-Type", "application/json")
        self.write(json.dumps(info))


class ApiAction(Control):
    api = True

    def post(self, name, action):
        name = self.control(name, action)
        self.set_header("Content-Type", "application/json")
        self.write(json.dumps({"service": name, "action": action, "sent": True}))


class Metrics(Base):
    api = True

    async def get(self):
        data, ctype = self.cfg.metrics.render(await self.cfg.board.snapshot())
        self.set_header("Content-Type", ctype)
        self.write(data)


class Login(Base):
    public = True

    def get(self):
        if self.cfg.auth is None:
            self.redirect("/")
            return
        self.render_page("login.html", title="log in", failed=False)

    async def post(self):
        if self.cfg.auth is None:
            self.refuse(404, "no authentication configured")
        user = self.get_body_argument("user", "")
        password = self.get_body_argument("password", "")
        ok = await self.cfg.check_password(user, password)
        if not ok:
            log_line("refused %s login of %r: wrong user or password"
                     % (self.request.remote_ip, user))
            self.set_status(403)
            self.render_page("login.html", title="log in", failed=True)
            return
        log_line("login %r from %s" % (user, self.request.remote_ip))
        self.set_signed_cookie("svweb_user", user, expires_days=None,
                               httponly=True, samesite="Strict", secure=self.cfg.tls)
        self.redirect("/", status=303)


class Favicon(Base):
    public = True

    def get(self):
        self.set_status(204)


class Logout(Base):
    public = True

    def post(self):
        self.clear_cookie("svweb_user")
        self.redirect("/login" if self.cfg.auth else "/", status=303)


def make_app(cfg, template_path, static_path):
    """The Tornado Application for CFG (an svweb.Config)."""
    acts = "(%s)" % "|".join(ACTIONS)
    routes = [
        (r"/", Index),
        (r"/services/%s" % _NAME, Service),
        (r"/services/%s/%s" % (_NAME, acts), Action),
        (r"/api/services", ApiList),
        (r"/api/services/%s" % _NAME, ApiService),
        (r"/api/services/%s/%s" % (_NAME, acts), ApiAction),
        (r"/metrics", Metrics),
        (r"/login", Login),
        (r"/logout", Logout),
        (r"/favicon.ico", Favicon),
    ]
    return tornado.web.Application(
        routes,
        svweb=cfg,
        template_path=template_path,
        static_path=static_path,
        static_handler_class=Static,
        default_handler_class=NotFound,
        xsrf_cookies=True,
        xsrf_cookie_kwargs={"httponly": True, "samesite": "Strict", "secure": cfg.tls},
        cookie_secret=cfg.cookie_secret,
        autoescape="xhtml_escape",
        compiled_template_cache=True,
        serve_traceback=False,
        debug=False,
        log_function=log_request,
        started=time.time(),
    )


class Static(tornado.web.StaticFileHandler, Base):
    public = True

    def set_default_headers(self):
        Base.set_default_headers(self)


class Server(tornado.httpserver.HTTPServer):
    """Tornado's HTTPServer with svweb's limits: headers and bodies each
    within TIMEOUT seconds and HEADER_MAX / BODY_MAX bytes (slow or huge
    clients are cut off), and connections beyond MAX_CONNECTIONS closed at
    once."""

    def initialize(self, app, max_connections=256, timeout=10.0, ssl_options=None):
        self.max_connections = max_connections
        super().initialize(app, idle_connection_timeout=timeout, body_timeout=timeout,
                           max_body_size=BODY_MAX, max_header_size=HEADER_MAX,
                           ssl_options=ssl_options)

    def handle_stream(self, stream, address):
        if len(self._connections) >= self.max_connections:
            log_line("refused %s: more than %d connections" % (address[0], self.max_connections))
            stream.close()
            return
        super().handle_stream(stream, address)

    def on_close(self, server_conn):
        # Bytes left unread: a request cut off unfinished, by the client or
        # by a limit (too slow, too big).  An idle keep-alive leaves none.
        stream = getattr(server_conn, "stream", None)
        left = getattr(stream, "_read_buffer_size", 0)
        if left:
            peer = getattr(server_conn, "context", None)
            log_line("refused %s: connection closed with an unfinished request (%d bytes)"
                     % (getattr(peer, "remote_ip", "?"), left))
        super().on_close(server_conn)
