"""svweb: the services of a scan directory in a browser, a JSON API and /metrics.

    svweb [-d SCANDIR] [--listen ADDR:PORT] [--auth FILE] [--read-only]
          [--cert FILE --key FILE] [--tail N] [--ttl SECS] [--timeout SECS]
          [--max-connections N]
    svweb --hash-password USER

Serves a status page of every service and its logger, a page per service
with its live log tail and buttons (start, stop, restart, reload, once),
GET /api/services[/NAME] and POST /api/services/NAME/ACTION in the schema
of `svctl status --json`, and /metrics in the Prometheus text format.  It
reads what supervise publishes through _svinfo and controls services by
writing letters into supervise/control, as svc does.

SCANDIR is -d, else $SVDIR, else /etc/service if it exists, else /service.
ADDR:PORT defaults to 127.0.0.1:9001.  An address that is not the loopback
is refused unless --auth names an auth file (see _svweb_auth: a bearer token
and/or users with scrypt hashes, mode 0600).  --read-only refuses every
control request.  --cert and --key serve HTTPS.  SIGHUP (svc -h) reads the
auth file again.  Each request and each refusal is one line on stdout.

--hash-password USER reads a password from stdin and prints the auth file
line for USER.

Exit codes: 0 after SIGTERM or SIGINT; 100 for bad usage, a refused listen
address or an unusable auth file; 111 when the auth file, certificate or
key cannot be read or the address cannot be bound.
"""

import argparse
import os
import signal
import sys

from . import __version__, _siteimport, _strerr, _svweb_auth

PROG = "svweb"
DEFAULT_LISTEN = "127.0.0.1:9001"
_HERE = os.path.dirname(os.path.abspath(__file__))


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        _strerr.usage(PROG, "svweb [-d scandir] [--listen addr:port] [--auth file]"
                      " [options] (svweb --help): %s" % message)


def parse_args(argv):
    p = _Parser(prog=PROG, add_help=True)
    p.add_argument("-d", dest="scandir", metavar="SCANDIR")
    p.add_argument("--listen", default=DEFAULT_LISTEN, metavar="ADDR:PORT")
    p.add_argument("--auth", metavar="FILE")
    p.add_argument("--read-only", action="store_true")
    p.add_argument("--cert", metavar="FILE")
    p.add_argument("--key", metavar="FILE")
    p.add_argument("--tail", type=int, default=50, metavar="N")
    p.add_argument("--ttl", type=float, default=0.5, metavar="SECS")
    p.add_argument("--timeout", type=float, default=10.0, metavar="SECS")
    p.add_argument("--max-connections", type=int, default=256, metavar="N")
    p.add_argument("--hash-password", metavar="USER")
    p.add_argument("--version", action="version", version="svweb " + __version__)
    args = p.parse_args(argv)
    if args.tail < 1 or args.ttl < 0 or args.timeout <= 0 or args.max_connections < 1:
        p.error("--tail, --timeout and --max-connections must be positive")
    if bool(args.cert) != bool(args.key):
        p.error("--cert and --key go together")
    return args


def default_scandir(env=os.environ):
    if env.get("SVDIR"):
        return env["SVDIR"]
    return "/etc/service" if os.path.isdir("/etc/service") else "/service"


def hash_password(user):
    if not user or any(c.isspace() or c == "#" for c in user):
        _strerr.usage(PROG, "--hash-password USER: USER must be one word")
    password = sys.stdin.readline().rstrip("\r\n")
    if not password:
        _strerr.fatal(PROG, "empty password on stdin", code=100)
    sys.stdout.write("user %s %s\n" % (user, _svweb_auth.hash_password(password)))
    return 0


class Config:
    """What the handlers share (the application's "svweb" setting)."""

    def __init__(self, board, metrics, auth, read_only, tail_lines, tls=False):
        self.tls = tls
        self.board = board
        self.metrics = metrics
        self.auth = auth
        self.read_only = read_only
        self.tail_lines = tail_lines
        self.cookie_secret = os.urandom(32).hex()
        import concurrent.futures
        # One scrypt at a time, off the event loop: a flood of logins costs
        # at most one core and never stalls the pages.
        self._hasher = concurrent.futures.ThreadPoolExecutor(max_workers=1)

    async def check_password(self, user, password):
        import asyncio
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._hasher, _svweb_auth.check_password,
                                          self.auth, user, password)


def load_auth(path):
    try:
        return _svweb_auth.load(path)
    except OSError as e:
        _strerr.fatal(PROG, "unable to read auth file %s" % path, e)
    except _svweb_auth.AuthError as e:
        _strerr.fatal(PROG, "unable to use auth file %s: %s" % (path, e), code=100)


def tls_context(cert, key):
    import ssl
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        ctx.load_cert_chain(cert, key)
    except ssl.SSLError as e:  # an OSError too: first
        _strerr.fatal(PROG, "unable to use certificate %s and key %s: %s"
                      % (cert, key, e.reason or e), code=100)
    except OSError as e:
        _strerr.fatal(PROG, "unable to read certificate %s or key %s" % (cert, key), e)
    return ctx


def main(argv=None) -> int:
    if argv is None:
        argv = sys.argv
    args = parse_args(argv[1:])
    if args.hash_password is not None:
        return hash_password(args.hash_password)
    try:
        address, port = _svweb_auth.parse_listen(args.listen)
    except ValueError as e:
        _strerr.usage(PROG, "--listen %s: %s" % (args.listen, e))
    auth = load_auth(args.auth) if args.auth else None
    if auth is None and not _svweb_auth.is_loopback(address):
        _strerr.fatal(PROG, "refusing to listen on %s without --auth: only a loopback"
                      " address is served without authentication" % args.listen, code=100)
    tls = tls_context(args.cert, args.key) if args.cert else None
    scandir = os.path.abspath(args.scandir or default_scandir())
    if not os.path.isdir(scandir):
        _strerr.warn(PROG, "scan directory %s does not exist (yet)" % scandir)
    return serve(args, scandir, address, port, auth, tls)


def reload_auth(cfg, path, log):
    """SIGHUP: the auth file again; on trouble keep the one in force."""
    try:
        cfg.auth = _svweb_auth.load(path)
    except OSError as e:
        log("warning: unable to read auth file %s: %s; keeping the old one"
            % (path, _strerr.errtext(e)))
    except _svweb_auth.AuthError as e:
        log("warning: unable to use auth file %s: %s; keeping the old one" % (path, e))
    else:
        log("reloaded auth file %s: %d tokens, %d users"
            % (path, len(cfg.auth["tokens"]), len(cfg.auth["users"])))


def serve(args, scandir, address, port, auth, tls):
    # The heavy imports: only here, once the command line is known good.
    # Our launchers run python -I -S: site-packages (tornado) comes first.
    _siteimport.site_path()
    import logging
    import tornado.ioloop
    import tornado.netutil
    from . import _svweb_app, _svweb_metrics, _svweb_model

    logging.basicConfig(stream=sys.stdout, format="svweb: %(levelname)s: %(message)s")
    # Tornado tells of malformed, oversized and too slow requests at INFO.
    logging.getLogger("tornado.general").setLevel(logging.INFO)
    board = _svweb_model.Board(scandir, ttl=args.ttl, stale=2 * args.ttl)
    metrics = _svweb_metrics.Metrics(board)
    cfg = Config(board, metrics, auth, args.read_only, args.tail, tls=tls is not None)
    app = _svweb_app.make_app(cfg, os.path.join(_HERE, "_svweb_templates"),
                              os.path.join(_HERE, "_svweb_static"))
    server = _svweb_app.Server(app, max_connections=args.max_connections,
                               timeout=args.timeout, ssl_options=tls)
    try:
        sockets = tornado.netutil.bind_sockets(port, address=address)
    except OSError as e:
        _strerr.fatal(PROG, "unable to bind %s" % args.listen, e)
    server.add_sockets(sockets)
    bound = sockets[0].getsockname()
    where = ("[%s]:%d" if ":" in bound[0] else "%s:%d") % bound[:2]
    loop = tornado.ioloop.IOLoop.current()
    aio = loop.asyncio_loop
    aio.add_signal_handler(signal.SIGTERM, loop.stop)
    aio.add_signal_handler(signal.SIGINT, loop.stop)
    if args.auth:
        aio.add_signal_handler(signal.SIGHUP, reload_auth, cfg, args.auth,
                               _svweb_app.log_line)
    _svweb_app.log_line("serving %s on %s://%s/ (%s%s)" % (
        scandir, "https" if tls else "http", where, "authentication on" if auth else "loopback, no authentication",
        ", read-only" if args.read_only else ""))
    loop.start()
    server.stop()
    _svweb_app.log_line("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
