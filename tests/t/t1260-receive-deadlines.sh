#!/bin/sh
# t1260-receive-deadlines: slow and non-reading clients (issue 14, findings
# 2 and 3). A command line, the TLS handshake and DATA (a minimum rate) run
# against deadlines that a trickle of one byte a second does not move: each
# is cut off at its deadline, with 421 4.4.2 where a reply can be read.
# A client that pipelines HELP and never reads the replies is throttled
# (back-pressure): the worker's memory stays flat, and the session is
# closed after the command timeout. Clients at normal speed are not hurt.
. "${srcdir:-.}/tests/t/lib.sh"

port=$(free_port)
make_config "$TRASH/d.yaml" "$port" '  accepted_domains: [ example.org ]
  tls: opportunistic
  timeouts: { command: 3, data: 4, tls_handshake: 3 }
  workers: 1'
start_bg dsmtpd "$DSMTPD" -c "$TRASH/d.yaml"
dpid=$LAST_PID
wait_port 127.0.0.1 "$port" || { cat "$TRASH/dsmtpd.log"; framework_failure_ "dsmtpd did not start"; }

# trickle.py MODE PORT: one byte a second until the server answers or
# closes; prints what came and when, asserts the deadline
cat >"$TRASH/trickle.py" <<'PY'
import select, socket, ssl, sys, time
mode, port = sys.argv[1], int(sys.argv[2])
s = socket.create_connection(('127.0.0.1', port))
s.settimeout(10)
f = s.makefile('rb')

def cmd(line, want):
    s.sendall(line + b'\r\n')
    while True:
        r = f.readline()
        assert r.startswith(want[:3]), (line, r)
        if r[3:4] == b' ':
            return r

assert f.readline().startswith(b'220 ')
if mode == 'command':
    payload = b'EHLO trickle.example.org\r\n'
elif mode == 'data':
    cmd(b'EHLO trickle.example.org', b'250')
    cmd(b'MAIL FROM:<a@b.org>', b'250')
    cmd(b'RCPT TO:<x@example.org>', b'250')
    cmd(b'DATA', b'354')
    payload = b'Subject: one byte a second\r\n\r\n' + b'x' * 40 + b'\r\n.\r\n'
else:
    cmd(b'EHLO trickle.example.org', b'250')
    cmd(b'STARTTLS', b'220')
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = ctx.wrap_bio(inc, out)
    try:
        tls.do_handshake()
    except ssl.SSLWantReadError:
        pass
    payload = out.read()	# the ClientHello
t0 = time.time()
got = b''
for i in range(len(payload)):
    if time.time() - t0 > 12:
        break
    try:
        s.send(payload[i:i + 1])
    except OSError as e:
        got = repr(e).encode()
        break
    r, _, _ = select.select([s], [], [], 1.0)
    if r:
        try:
            got = s.recv(1000) or b'<EOF>'
        except OSError as e:
            got = repr(e).encode()
        break
t = time.time() - t0
print(mode, 'after %.1f s:' % t, got)
if mode == 'tls':
    assert got == b'<EOF>' or b'Reset' in got or b'Broken' in got, got
    assert 2.5 < t < 5, t
else:
    deadline = 3 if mode == 'command' else 4
    assert got.startswith(b'421 4.4.2 '), got
    assert deadline - 0.5 < t < deadline + 2, t
PY

test_expect_success "a command line trickled at 1 byte/s: 421 4.4.2 at timeouts.command (3 s)" "
	python3 '$TRASH/trickle.py' command $port"
test_expect_success "DATA trickled at 1 byte/s (under min_data_rate): 421 4.4.2 at ~timeouts.data (4 s)" "
	python3 '$TRASH/trickle.py' data $port"
test_expect_success "a ClientHello trickled at 1 byte/s: closed at timeouts.tls_handshake (3 s)" "
	python3 '$TRASH/trickle.py' tls $port"

test_expect_success "normal clients are not hurt: a NOOP a second for 6 s, then a 2 MB message at full speed" "
	python3 - $port <<'PY'
import smtplib, sys, time
s = smtplib.SMTP('127.0.0.1', int(sys.argv[1]), timeout=10)
s.ehlo('ok.example.org')
for i in range(6):
    assert s.noop()[0] == 250
    time.sleep(1)
body = 'Subject: big\r\n\r\n' + ('y' * 998 + '\r\n') * 2000
s.sendmail('a@b.org', ['x@example.org'], body)
s.quit()
PY"

test_expect_success "HELP pipelined, replies never read: worker RSS grows < 4 MB, session closed after the timeout" "
	python3 - $port $dpid <<'PY'
import socket, sys, time
port, pid = int(sys.argv[1]), int(sys.argv[2])
def rss():
    for l in open('/proc/%d/status' % pid):
        if l.startswith('VmRSS:'):
            return int(l.split()[1])
s = socket.create_connection(('127.0.0.1', port))
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
time.sleep(0.2)
before = rss()
chunk = b'HELP\r\n' * 2000
sent, t0, peak = 0, time.time(), before
s.settimeout(0.2)
# at most 4 MB of commands (about 64 MB of replies) in 8 s, reading nothing
while time.time() - t0 < 8 and sent < 4 * 1024 * 1024:
    try:
        sent += s.send(chunk)
    except socket.timeout:
        pass
    except OSError:
        break
    peak = max(peak, rss())
time.sleep(0.5)
peak = max(peak, rss())
print('sent %d octets of HELP; worker VmRSS %d kB -> peak %d kB (+%d kB)' % (sent, before, peak, peak - before))
assert peak - before < 4 * 1024, peak - before
# the session ends: 3 s after its last command, plus at most 5 s for the 421
s.settimeout(1)
end = time.time() + 15
closed = False
while time.time() < end and not closed:
    try:
        if not s.recv(65536):
            closed = True
    except socket.timeout:
        pass
    except OSError:
        closed = True
print('closed after %.1f s' % (time.time() - t0))
assert closed
PY"

test_expect_success "dsmtpd is alive, and the sanitizers saw nothing" "
	kill -0 $dpid &&
	! grep -E 'AddressSanitizer|runtime error' '$TRASH/dsmtpd.log'"
finish
