#!/bin/sh
# t1250-receive-reload-storm: SIGHUP every 20 ms while 16 clients do
# STARTTLS handshakes in a loop (issue 14, finding 1). A reload builds new
# credentials and trust; handshakes in flight keep the old ones (reference
# counted) until they end. Before, load_tls freed them at once and the
# sanitizer build died with a heap-use-after-free in tls_conn_facts.
. "${srcdir:-.}/tests/t/lib.sh"
need_ certtool

# the test PKI: a one-certificate trust store keeps each reload cheap (the
# system store takes ~100 ms to load under the sanitizers)
sh "$srcdir/tests/certs/mkcerts.sh" "$TRASH/pki" >/dev/null 2>&1 || framework_failure_ "mkcerts.sh failed"
pki="$TRASH/pki"
port=$(free_port)
host_config "$TRASH/d.yaml" mail.example.com "$TRASH/state" "$port" <<EOF
  accepted_domains: [ example.org ]
  tls: opportunistic
  request_client_cert: true
  workers: 1
EOF
start_bg dsmtpd "$DSMTPD" -c "$TRASH/d.yaml"
dpid=$LAST_PID
wait_port 127.0.0.1 "$port" || { cat "$TRASH/dsmtpd.log"; framework_failure_ "dsmtpd did not start"; }

test_expect_success "16 STARTTLS clients for 6 s under a SIGHUP every 20 ms: all handshakes complete" "
	python3 - $port $dpid '$pki' <<'PY'
import os, signal, smtplib, ssl, sys, threading, time
port, pid, pki = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
# half the clients present a certificate: its chain is verified against
# the trust of the credentials the handshake started with
plain = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
plain.check_hostname = False
plain.verify_mode = ssl.CERT_NONE
mutual = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
mutual.check_hostname = False
mutual.verify_mode = ssl.CERT_NONE
mutual.load_cert_chain(pki + '/client.pem', pki + '/client.key')
stop = time.time() + 6
done, errors, lock = [0], [], threading.Lock()

def client(ctx):
    while time.time() < stop:
        try:
            s = smtplib.SMTP('127.0.0.1', port, timeout=10)
            s.ehlo('storm.example')
            s.starttls(context=ctx)
            s.ehlo('storm.example')
            s.quit()
            with lock:
                done[0] += 1
        except Exception as e:
            with lock:
                errors.append(repr(e))
            time.sleep(0.05)

threads = [threading.Thread(target=client, args=(mutual if i % 2 else plain,)) for i in range(16)]
for t in threads:
    t.start()
hups = 0
while time.time() < stop:
    os.kill(pid, signal.SIGHUP)
    hups += 1
    time.sleep(0.02)
for t in threads:
    t.join()
print('handshakes', done[0], 'sighups', hups, 'errors', len(errors), errors[:3])
assert done[0] >= 32, done[0]
assert not errors, errors[:5]
PY"

test_expect_success "dsmtpd is alive, reloaded many times, and the sanitizers saw nothing" "
	kill -0 $dpid &&
	test \$(grep -c 'SIGHUP: certificates and trust reloaded' '$TRASH/dsmtpd.log') -ge 50 &&
	! grep -E 'AddressSanitizer|runtime error|LeakSanitizer' '$TRASH/dsmtpd.log'"

test_expect_success "SIGTERM after the storm: a clean stop, no leak reported (each set freed once)" "
	kill -TERM $dpid &&
	for i in \$(seq 1 100); do grep -q 'dsmtpd: stopped' '$TRASH/dsmtpd.log' && break; sleep 0.1; done &&
	sleep 0.5 && grep -q 'dsmtpd: stopped' '$TRASH/dsmtpd.log' &&
	! grep -E 'AddressSanitizer|runtime error|LeakSanitizer' '$TRASH/dsmtpd.log'"
finish
