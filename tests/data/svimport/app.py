"""Stand-in for the Tornado app of tornado.conf: serves its port and pid over HTTP."""
import http.server
import os
import sys

port = int(sys.argv[1].split("=", 1)[1])


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = ("port %d pid %d\n" % (port, os.getpid())).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, fmt, *args):
        sys.stdout.write("request %s\n" % self.path)
        sys.stdout.flush()


print("listening on %d" % port, flush=True)
http.server.HTTPServer(("127.0.0.1", port), Handler).serve_forever()
