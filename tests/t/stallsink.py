#!/usr/bin/env python3
"""stallsink.py: an SMTP sink that deliberately stalls in DATA, for the
streamed-delivery test (tests/t/t2030-send-stream.sh). No real server
stalls on purpose: this is the one fake there.

Usage: stallsink.py DIR NSTALL TIMEOUT STALL_BYTES PORT...

Listens on 127.0.0.1:PORT for each PORT (one destination each for the
client), with a small receive buffer (256 KiB) so the kernel holds little
of what the client sent until the release. Answers EHLO with PIPELINING, 8BITMIME and SIZE,
MAIL and RCPT with 250, DATA with 354, then reads about the first
STALL_BYTES octets of the body and stops reading: the session is
"stalled". When NSTALL sessions are stalled at once it writes
"stalled NSTALL" to DIR/status; if TIMEOUT seconds pass after the first
stall without that, it writes "timeout: stalled K of NSTALL" there (the
test fails on it). Every stalled session waits for the file DIR/release,
then reads the rest of its body, undoes the dot-stuffing (RFC 5321
4.5.2), answers 250 and appends "SHA256 LENGTH MAIL-LINE" to DIR/bodies.
Sessions after the release do not stall. Every received MAIL command is
also appended to DIR/mail.
"""
import hashlib
import os
import socket
import sys
import threading
import time

outdir, nstall, timeout, stall_bytes = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), \
    int(sys.argv[4])
ports = [int(p) for p in sys.argv[5:]]
lock = threading.Lock()
stalled = 0
first_stall = None
released = threading.Event()
status_written = False
TERM = b"\r\n.\r\n"


def append(name, line):
    with lock:
        with open(os.path.join(outdir, name), "a") as f:
            f.write(line + "\n")


def write_status(text):
    global status_written
    # under lock by the callers
    if status_written:
        return
    status_written = True
    with open(os.path.join(outdir, "status.tmp"), "w") as f:
        f.write(text + "\n")
    os.rename(os.path.join(outdir, "status.tmp"), os.path.join(outdir, "status"))


def stall():
    """one more session stalled in DATA: wait for the release"""
    global stalled, first_stall
    if released.is_set():
        return
    with lock:
        stalled += 1
        if first_stall is None:
            first_stall = time.time()
        if stalled == nstall:
            write_status("stalled %d" % stalled)
    released.wait()


def watcher():
    while True:
        if os.path.exists(os.path.join(outdir, "release")):
            released.set()
            return
        with lock:
            if first_stall is not None and time.time() - first_stall > timeout:
                write_status("timeout: stalled %d of %d" % (stalled, nstall))
        time.sleep(0.05)


class Conn:
    def __init__(self, sock):
        self.sock, self.buf, self.rsize = sock, b"", 1 << 18

    def send(self, s):
        self.sock.sendall(s.encode())

    def recv(self):
        chunk = self.sock.recv(self.rsize)
        if not chunk:
            raise EOFError
        return chunk

    def line(self):
        while b"\n" not in self.buf:
            if len(self.buf) > 4096:
                raise EOFError
            self.buf += self.recv()
        line, self.buf = self.buf.split(b"\n", 1)
        return line.rstrip(b"\r").decode("utf-8", "replace")

    def body(self):
        """the dot-stuffed body up to CRLF.CRLF: (sha256, length) of the
        message it carries. A CRLF is put before the stream so that its
        first line is like the others (and an empty message is CRLF.CRLF
        too); it is not part of the message."""
        h = hashlib.sha256()
        length, seen, skip, stopped = 0, 0, 2, False
        pending = b"\r\n" + self.buf
        self.buf = b""
        while True:
            i = pending.find(TERM)
            if i >= 0:
                piece, self.buf, done = pending[:i + 2], pending[i + 5:], True
            else:
                # keep the last 4 octets (a terminator may begin there),
                # and never cut a CRLF "." in two: back over CR and LF
                cut = max(len(pending) - 4, 0)
                while cut > 0 and pending[cut - 1] in (10, 13):
                    cut -= 1
                piece, pending, done = pending[:cut], pending[cut:], False
            out = piece.replace(b"\r\n.", b"\r\n")
            if skip:
                out = out[skip:]
                skip = 0 if piece else skip
            h.update(out)
            length += len(out)
            if done:
                if not stopped:
                    stall()
                return h.hexdigest(), length
            if not stopped and seen >= stall_bytes:
                stopped = True
                stall()
                # released: read the rest as fast as we can
                self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
                self.rsize = 1 << 20
            chunk = self.recv()
            seen += len(chunk)
            pending += chunk


def serve(sock):
    c = Conn(sock)
    mail = ""
    try:
        c.send("220 stall.test ESMTP sink\r\n")
        while True:
            line = c.line()
            verb = line[:4].upper()
            if verb in ("EHLO", "HELO"):
                c.send("250-stall.test\r\n250-PIPELINING\r\n250-8BITMIME\r\n"
                       "250 SIZE 2000000000\r\n")
            elif verb == "MAIL":
                mail = line
                append("mail", line)
                c.send("250 2.1.0 ok\r\n")
            elif verb == "RCPT":
                c.send("250 2.1.5 ok\r\n")
            elif verb == "DATA":
                c.send("354 go ahead\r\n")
                digest, length = c.body()
                append("bodies", "%s %d %s" % (digest, length, mail))
                c.send("250 2.0.0 accepted\r\n")
            elif verb in ("RSET", "NOOP"):
                c.send("250 2.0.0 ok\r\n")
            elif verb == "QUIT":
                c.send("221 2.0.0 bye\r\n")
                return
            else:
                c.send("502 5.5.2 unknown command\r\n")
    except (EOFError, OSError):
        pass
    finally:
        sock.close()


def listen(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # accepted sockets inherit it: little buffered in the kernel
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 18)
    s.bind(("127.0.0.1", port))
    s.listen(128)
    while True:
        a, _ = s.accept()
        threading.Thread(target=serve, args=(a,), daemon=True).start()


threading.Thread(target=watcher, daemon=True).start()
for p in ports[1:]:
    threading.Thread(target=listen, args=(p,), daemon=True).start()
listen(ports[0])
