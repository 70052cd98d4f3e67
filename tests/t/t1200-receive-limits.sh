#!/bin/sh
# t1200-receive-limits: connection limits answered 421 4.7.0, the command
# timeout, SIGTERM between and inside transactions, SIGHUP reload.
. "${srcdir:-.}/tests/t/lib.sh"

port=$(free_port)
make_config "$TRASH/d.yaml" "$port" '  accepted_domains: [ example.org ]
  max_connections_per_ip: 2
  timeouts: { command: 2, data: 5, tls_handshake: 5 }
  workers: 1'
start_bg dsmtpd "$DSMTPD" -c "$TRASH/d.yaml"
dpid=$LAST_PID
wait_port 127.0.0.1 "$port" || framework_failure_ "dsmtpd did not start"

test_expect_success "a third connection from one address gets 421 4.7.0 and a clean close" "
	python3 - $port <<'PY'
import socket, sys
socket.setdefaulttimeout(10)
port = int(sys.argv[1])
a = [socket.create_connection(('127.0.0.1', port)) for _ in range(2)]
for s in a:
    assert s.recv(100).startswith(b'220 '), 'first two greeted'
c = socket.create_connection(('127.0.0.1', port))
data = b''
while True:
    chunk = c.recv(1000)
    if not chunk:
        break
    data += chunk
assert data.startswith(b'421 4.7.0 ') and b'too many connections' in data, data
PY"

test_expect_success "an idle client hits the command timeout: 421 4.4.2 and close" "
	python3 - $port <<'PY'
import socket, sys, time
s = socket.create_connection(('127.0.0.1', int(sys.argv[1])))
s.settimeout(10)
assert s.recv(100).startswith(b'220 ')
t0 = time.time()
data = s.recv(1000)
assert data.startswith(b'421 4.4.2 ') and b'timeout' in data, data
assert 1.5 < time.time() - t0 < 5, time.time() - t0
assert s.recv(100) == b''
PY"

test_expect_success "a slow DATA sender (slowloris) is cut off by the data timeout" "
	python3 - $port <<'PY'
import socket, sys, time
s = socket.create_connection(('127.0.0.1', int(sys.argv[1])))
s.settimeout(15)
f = s.makefile('rb')
f.readline()
s.sendall(b'EHLO x\r\n')	# RFC 2920: EHLO ends a pipelined group
for line in iter(f.readline, b''):
    if line.startswith(b'250 '):
        break
else:
    raise AssertionError('closed before 250')
s.sendall(b'MAIL FROM:<a@b.org>\r\nRCPT TO:<x@example.org>\r\nDATA\r\n')
for line in iter(f.readline, b''):
    if line.startswith(b'354'):
        break
else:
    raise AssertionError('closed before 354')
t0 = time.time()
s.sendall(b'Subject: slow\r\n')
line = f.readline()
assert line.startswith(b'421 4.4.2'), line
assert 4 < time.time() - t0 < 10, time.time() - t0
PY"

test_expect_success "SIGHUP reloads and the server keeps serving" "
	kill -HUP $dpid &&
	wait_for 20 \"grep -q 'SIGHUP: certificates and trust reloaded' '$TRASH/dsmtpd.log'\" &&
	kill -0 $dpid &&
	swaks --server 127.0.0.1:$port --from a@b.org --to x@example.org --tls >/dev/null 2>&1"

port2=$(free_port)
make_config "$TRASH/t.yaml" "$port2" '  accepted_domains: [ example.org ]
  workers: 1'
test_expect_success "SIGTERM: an idle session gets 421 4.3.2, a transaction in DATA finishes, exit 0" "
	'$DSMTPD' -c '$TRASH/t.yaml' 2>'$TRASH/term.log' & tpid=\$!; echo \$tpid >'$TRASH/term.pid';
	wait_port 127.0.0.1 $port2 &&
	python3 - $port2 \$tpid <<'PY' &&
import os, signal, socket, sys, time
port, pid = int(sys.argv[1]), int(sys.argv[2])
idle = socket.create_connection(('127.0.0.1', port)); idle.settimeout(10)
busy = socket.create_connection(('127.0.0.1', port)); busy.settimeout(10)
fi, fb = idle.makefile('rb'), busy.makefile('rb')
fi.readline(); fb.readline()
busy.sendall(b'EHLO x\\r\\n')
for line in iter(fb.readline, b''):
    if line.startswith(b'250 '):
        break
else:
    raise AssertionError('closed before 250')
busy.sendall(b'MAIL FROM:<a@b.org>\\r\\nRCPT TO:<x@example.org>\\r\\nDATA\\r\\n')
for line in iter(fb.readline, b''):
    if line.startswith(b'354'):
        break
else:
    raise AssertionError('closed before 354')
busy.sendall(b'Subject: in flight\\r\\n\\r\\n')
os.kill(pid, signal.SIGTERM)
line = fi.readline()
assert line.startswith(b'421 4.3.2'), line
busy.sendall(b'body\\r\\n.\\r\\n')
line = fb.readline()
assert line.startswith(b'250 2.0.0 Ok: queued as'), line
line = fb.readline()
assert line.startswith(b'421 4.3.2'), line
PY
	wait \$tpid; rc=\$?; cat '$TRASH/term.log'; test \$rc = 0 &&
	grep -l -a 'Subject: in flight' '$TRASH/state-$port2/queue'/*.d >/dev/null"
finish
