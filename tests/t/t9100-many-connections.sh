#!/bin/sh
# t9100-many-connections: 1,000 concurrent connections (half of them in
# TLS) are all greeted and served by one dsmtpd worker; the limit beyond
# max_connections answers 421 4.7.0.
. "${srcdir:-.}/tests/t/lib.sh"

port=$(free_port)
make_config "$TRASH/d.yaml" "$port" '  accepted_domains: [ example.org ]
  max_connections: 1000
  max_connections_per_ip: 1000
  workers: 1
logs: { level: basic }'
start_bg dsmtpd "$DSMTPD" -c "$TRASH/d.yaml"
wait_port 127.0.0.1 "$port" || framework_failure_ "dsmtpd did not start"

test_expect_success "1,000 concurrent sessions (200 in TLS) all get 220, EHLO and QUIT answers" "
	python3 - $port <<'PY'
import resource, selectors, socket, ssl, sys
port = int(sys.argv[1])
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (min(4096, hard), hard))
conns = []
for i in range(1000):
    s = socket.create_connection(('127.0.0.1', port), timeout=30)
    conns.append(s)
files = [s.makefile('rb') for s in conns]
for f in files:
    assert f.readline().startswith(b'220 '), 'greeting'
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
tls = []
for i, s in enumerate(conns):
    s.sendall(b'EHLO many.example\r\n')
for i, (s, f) in enumerate(zip(conns, files)):
    for line in iter(f.readline, b''):
        if line.startswith(b'250 '):
            break
    else:
        raise AssertionError('closed before 250')
    if i % 5 == 0:
        s.sendall(b'STARTTLS\r\n')
        assert f.readline().startswith(b'220 ')
        t = ctx.wrap_socket(s)
        tls.append(t)
        conns[i] = t
        files[i] = t.makefile('rb')
# one more is over the limit
extra = socket.create_connection(('127.0.0.1', port), timeout=30)
line = extra.makefile('rb').readline()
assert line.startswith(b'421 4.7.0'), line
for s, f in zip(conns, files):
    s.sendall(b'QUIT\r\n')
    assert f.readline().startswith(b'221 '), 'quit'
PY"

test_expect_success "afterwards the server serves new clients normally" "
	python3 -c 'import smtplib,sys; s=smtplib.SMTP(\"127.0.0.1\", $port); s.sendmail(\"a@b.org\", [\"x@example.org\"], \"Subject: after\\r\\n\\r\\nok\\r\\n\"); s.quit()'"
finish
