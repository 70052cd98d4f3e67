#!/usr/bin/env python3
"""stshttps.py: an HTTPS server for the MTA-STS tests (t2620).

Usage: stshttps.py PORT DIR CERT KEY [SNI-NAME CERT KEY]...

Serves GET /.well-known/mta-sts.txt for Host mta-sts.DOMAIN from DIR/DOMAIN/:
  body      the response body (missing directory: 404)
  status    the status code (default 200)
  ctype     the Content-Type (default "text/plain")
  location  a Location header (redirect cases)
  delay     seconds to wait before answering (slow cases)
  misbehave "headers": header lines without end after the status line;
            "garbage": bytes that are no HTTP response at all
The files are read on every request, so a test can change a policy while
the server runs. SNI-NAME CERT KEY triples serve another certificate to
that server name (a policy host with a certificate for the wrong name).
Every request goes to stdout ("HOST PATH STATUS") for the test to count.
"""
import http.server
import os
import ssl
import sys
import time

port, root, cert, key = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
extra = sys.argv[5:]


def read(path, default=None):
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError:
        return default


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def setup(self):
        # the TLS handshake here, in this connection's thread: a client
        # that stalls must not hold up the others
        self.request.do_handshake()
        super().setup()

    def do_GET(self):
        host = (self.headers.get("Host") or "").split(":")[0].lower()
        domain = host[len("mta-sts."):] if host.startswith("mta-sts.") else ""
        d = os.path.join(root, domain)
        if not domain or "/" in domain or self.path != "/.well-known/mta-sts.txt" \
                or not os.path.isdir(d):
            status, body, ctype, location = 404, b"not found\n", b"text/plain", None
        else:
            status = int(read(os.path.join(d, "status"), b"200").strip())
            body = read(os.path.join(d, "body"), b"")
            ctype = read(os.path.join(d, "ctype"), b"text/plain").strip()
            location = read(os.path.join(d, "location"))
            delay = float(read(os.path.join(d, "delay"), b"0").strip())
            if delay:
                time.sleep(delay)
            misbehave = read(os.path.join(d, "misbehave"), b"").strip()
            if misbehave:
                print("%s %s %s" % (host, self.path, misbehave.decode()), flush=True)
                self.misbehave(misbehave)
                return
        print("%s %s %d" % (host, self.path, status), flush=True)
        self.send_response(status)
        self.send_header("Content-Type", ctype.decode())
        if location:
            self.send_header("Location", location.decode().strip())
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        try:
            self.wfile.write(body)
        except OSError:
            pass

    def misbehave(self, how):
        # until the client gives up (its limits), at most 64 MB
        self.close_connection = True
        try:
            if how == b"headers":
                self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n")
                line = b"X-Endless: " + b"x" * 1000 + b"\r\n"
            else:
                line = bytes(range(256)) * 4
            for _ in range(64 * 1024):
                self.wfile.write(line)
        except OSError:
            pass


ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)
others = {}
for i in range(0, len(extra), 3):
    c = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    c.load_cert_chain(extra[i + 1], extra[i + 2])
    others[extra[i].lower()] = c


def sni(sock, name, _ctx):
    if name and name.lower() in others:
        sock.context = others[name.lower()]


ctx.sni_callback = sni
srv = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
srv.daemon_threads = True
srv.socket = ctx.wrap_socket(srv.socket, server_side=True, do_handshake_on_connect=False)
srv.serve_forever()
