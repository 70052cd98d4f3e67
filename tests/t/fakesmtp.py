#!/usr/bin/env python3
"""fakesmtp.py: a deliberately misbehaving SMTP server for dsmtpc's tests:
the things no real server does on purpose.

Usage: fakesmtp.py MODE PORT LOGFILE [CERT KEY]

Every command line received is appended to LOGFILE (one per line, prefixed
with the connection number), and "-- conn N tls" when TLS starts.
Modes:
  striptls   EHLO offers no STARTTLS (a man in the middle deleted it)
  inject     the 220 to STARTTLS is followed, in the same write, by a
             forged "250" reply (response injection, the 2021 study)
  badtls     the first connection answers 220 to STARTTLS and then sends
             garbage instead of a handshake; later connections offer no
             STARTTLS and accept the message in plaintext
  slow       waits 30 s before the banner
  drop       closes the connection right after the first RCPT
  tempfail   answers 451 4.3.0 to every RCPT
  pipecheck  accepts everything, and logs "-- one write" when MAIL, RCPT
             and DATA arrived in one read (PIPELINING used)
  longline   a 600-octet banner line (RFC 5321 allows 512)
  manylines  a 150-line EHLO reply (more than any server needs)
  oldserver  RFC 821 only: EHLO is 502, HELO works, no PIPELINING; logs
             "-- one write" if MAIL, RCPT and DATA still arrive together
  ok         a well-behaved server with STARTTLS (needs CERT KEY)
  hold       as ok, but asks for a client certificate (required, checked
             against the file $FAKESMTP_CA), logs "-- client cert SUBJECT"
             after the handshake, and answers MAIL only once LOGFILE.go
             exists (120 s at most): the client is caught mid-session
"""
import os
import socket
import ssl
import sys
import threading
import time

mode, port, logfile = sys.argv[1], int(sys.argv[2]), sys.argv[3]
cert = sys.argv[4] if len(sys.argv) > 4 else None
key = sys.argv[5] if len(sys.argv) > 5 else None
lock = threading.Lock()
nconn = 0
ehlo_conns = []     # connections that sent EHLO, in order (wait_port's probe sends none)


def log(n, text):
    with lock:
        with open(logfile, "a") as f:
            f.write("%d %s\n" % (n, text))


class Conn:
    def __init__(self, sock, n):
        self.sock, self.n, self.buf = sock, n, b""

    def send(self, s):
        self.sock.sendall(s.encode() if isinstance(s, str) else s)

    def fill(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise EOFError
        self.buf += chunk
        return chunk

    def line(self):
        while b"\n" not in self.buf:
            self.fill()
        line, self.buf = self.buf.split(b"\n", 1)
        return line.rstrip(b"\r").decode("utf-8", "replace")


def serve(sock, n):
    c = Conn(sock, n)
    tls = False
    try:
        if mode == "slow":
            time.sleep(30)
        if mode == "longline":
            c.send("220 " + "x" * 600 + "\r\n")
        else:
            c.send("220 fake.example.com ESMTP fake\r\n")
        while True:
            if mode in ("pipecheck", "oldserver") and not c.buf:
                chunk = c.fill()
                if chunk.count(b"\r\n") >= 3 and chunk.startswith(b"MAIL"):
                    log(n, "-- one write")
            line = c.line()
            log(n, line)
            verb = line.split(" ")[0].upper()
            if verb == "EHLO" and mode == "oldserver":
                c.send("502 5.5.2 Error: command not recognized\r\n")
            elif verb == "EHLO":
                with lock:
                    if n not in ehlo_conns:
                        ehlo_conns.append(n)
                    first = ehlo_conns[0] == n
                ext = ["PIPELINING", "SIZE 10485760", "8BITMIME"]
                offer = mode in ("inject", "ok", "hold") or (mode == "badtls" and first)
                if offer and not tls:
                    ext.append("STARTTLS")
                lines = ["fake.example.com"] + ext
                if mode == "manylines":
                    lines = ["fake.example.com"] + ["X-FILLER-%d" % i for i in range(150)]
                c.send("".join("250%s%s\r\n" % ("-" if i < len(lines) - 1 else " ", l)
                               for i, l in enumerate(lines)))
            elif verb == "HELO":
                c.send("250 fake.example.com\r\n")
            elif verb == "STARTTLS":
                if mode == "inject":
                    # the forged reply rides in the same segment as the 220
                    c.send("220 2.0.0 go ahead\r\n250-injected.example.com\r\n250 INJECTED\r\n")
                elif mode == "badtls":
                    c.send("220 2.0.0 go ahead\r\n")
                    time.sleep(0.2)
                    c.send(b"this is not a TLS handshake\r\n" * 4)
                    time.sleep(0.5)
                    return
                else:
                    c.send("220 2.0.0 go ahead\r\n")
                ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
                ctx.load_cert_chain(cert, key)
                if mode == "hold":
                    ctx.verify_mode = ssl.CERT_REQUIRED
                    ctx.load_verify_locations(cafile=os.environ["FAKESMTP_CA"])
                c.buf = b""
                c.sock = ctx.wrap_socket(c.sock, server_side=True)
                tls = True
                log(n, "-- conn %d tls" % n)
                if mode == "hold":
                    subj = dict(x[0] for x in c.sock.getpeercert().get("subject", ()))
                    log(n, "-- client cert CN=%s %s" % (subj.get("commonName", "?"),
                                                       c.sock.version()))
            elif verb == "MAIL":
                if mode == "hold":
                    for _ in range(1200):
                        if os.path.exists(logfile + ".go"):
                            break
                        time.sleep(0.1)
                c.send("250 2.1.0 Ok\r\n")
            elif verb == "RCPT":
                if mode == "drop":
                    return
                if mode == "tempfail":
                    c.send("451 4.3.0 try again later\r\n")
                else:
                    c.send("250 2.1.5 Ok\r\n")
            elif verb == "DATA":
                c.send("354 End data with <CR><LF>.<CR><LF>\r\n")
                size = 0
                while True:
                    l = c.line()
                    if l == ".":
                        break
                    size += len(l) + 2
                log(n, "-- message %d octets" % size)
                c.send("250 2.0.0 Ok: queued as FAKE%d\r\n" % n)
            elif verb == "RSET" or verb == "NOOP":
                c.send("250 2.0.0 Ok\r\n")
            elif verb == "QUIT":
                c.send("221 2.0.0 Bye\r\n")
                return
            else:
                c.send("502 5.5.2 Error: command not recognized\r\n")
    except (EOFError, OSError, ssl.SSLError) as e:
        log(n, "-- closed: %s" % e.__class__.__name__)
    finally:
        try:
            sock.close()
        except OSError:
            pass


def main():
    global nconn
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", port))
    srv.listen(16)
    # bounded: a test server never outlives its test by much
    srv.settimeout(120)
    while True:
        try:
            s, _ = srv.accept()
        except socket.timeout:
            return
        nconn += 1
        threading.Thread(target=serve, args=(s, nconn), daemon=True).start()


main()
