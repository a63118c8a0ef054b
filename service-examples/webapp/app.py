"""A small web app to run under supervise: it stays in the foreground,
logs one line per request to stderr (run sends that to the logger), and
says which environment envdir gave it.  PORT defaults to 8090."""

import os
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer


class Hello(BaseHTTPRequestHandler):
    def do_GET(self):
        body = ("hello from webapp (APP_ENV=%s, pid %d)\n"
                % (os.environ.get("APP_ENV", "unset"), os.getpid())).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def main():
    port = int(os.environ.get("PORT", "8090"))
    server = HTTPServer(("127.0.0.1", port), Hello)
    print("webapp: listening on 127.0.0.1:%d" % port, file=sys.stderr, flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
