#!/usr/bin/env python3
"""dialog.py: drive one raw SMTP dialog against a server, byte-exact.

Usage: dialog.py HOST PORT SCRIPT

Script lines (chasquid's .cmy style):
  c -> TEXT        send TEXT + CRLF
  c ~> 'PYSTR'     send raw bytes (a Python string expression, e.g. 'a\\n.\\n' or 'a' * 1000)
  c <- TEXT        the next reply line must equal TEXT
  c <~ PREFIX      the next reply line must start with PREFIX
  c <* PREFIX      skip reply lines until one starts with PREFIX (EHLO lists)
  c tls            start TLS now (after the 220 to STARTTLS)
  c silent SECS    nothing may arrive for SECS seconds
  c closed         the server must close the connection (EOF)
  c sleep SECS     wait
  # comment
Exit 0 when every expectation held, 1 with the failing line otherwise.
"""
import socket
import ssl
import sys
import time


class Dialog:
    def __init__(self, host, port):
        self.sock = socket.create_connection((host, port), timeout=10)
        self.buf = b""

    def send(self, data):
        self.sock.sendall(data)

    def line(self):
        while b"\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError("connection closed while waiting for a reply")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        if not line.endswith(b"\r"):
            raise ValueError("reply line without CRLF: %r" % line)
        return line[:-1].decode("utf-8", "replace")

    def starttls(self):
        if self.buf:
            raise ValueError("bytes after the 220 to STARTTLS: %r" % self.buf)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        self.sock = ctx.wrap_socket(self.sock)

    def silent(self, secs):
        self.sock.settimeout(secs)
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            data = None
        except ssl.SSLError:
            data = None
        finally:
            self.sock.settimeout(10)
        if data:
            raise ValueError("unexpected bytes: %r" % data)
        if data == b"":
            raise EOFError("connection closed while it should stay silent")

    def closed(self):
        self.sock.settimeout(10)
        try:
            data = self.sock.recv(65536)
        except (ConnectionResetError, ssl.SSLError):
            return
        if data:
            raise ValueError("expected a close, got %r" % data)


def main():
    host, port, script = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    d = Dialog(host, port)
    with open(script, encoding="utf-8") as f:
        lines = f.read().splitlines()
    for n, raw in enumerate(lines, 1):
        s = raw.strip()
        if not s or s.startswith("#"):
            continue
        if not s.startswith("c "):
            print("%s:%d: bad script line" % (script, n))
            return 1
        op, _, arg = s[2:].partition(" ")
        try:
            if op == "->":
                d.send(arg.encode("utf-8") + b"\r\n")
            elif op == "~>":
                d.send(eval(arg, {"__builtins__": {}}).encode("latin-1"))  # noqa: S307 - our own scripts
            elif op == "<-":
                got = d.line()
                if got != arg:
                    raise ValueError("got %r, want %r" % (got, arg))
            elif op == "<~":
                got = d.line()
                if not got.startswith(arg):
                    raise ValueError("got %r, want prefix %r" % (got, arg))
            elif op == "<*":
                while True:
                    got = d.line()
                    if got.startswith(arg):
                        break
            elif op == "tls":
                d.starttls()
            elif op == "silent":
                d.silent(float(arg))
            elif op == "closed":
                d.closed()
            elif op == "sleep":
                time.sleep(float(arg))
            else:
                raise ValueError("unknown op %r" % op)
        except Exception as e:  # noqa: BLE001 - report any failure with its line
            print("%s:%d: %s: %s" % (script, n, s, e))
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
