#!/bin/sh
# t2580-send-metrics: send.metrics (issue 19, DESIGN.md 13.5). dsmtpc run
# delivers what dsmtpd A spooled to dsmtpd B: deliveries by level and
# outcome (delivered, deferred by a pin mismatch and by a refused
# connection, bounced by B's 554) move by exactly the recipients sent, the
# pin mismatch is a policy failure, connections count by TLS version, the
# queue gauges show what stays; promtool accepts it; only GET /metrics.
. "${srcdir:-.}/tests/t/lib.sh"
need_ certtool
need_ promtool

sh "$srcdir/tests/certs/mkcerts.sh" "$TRASH/pki" >/dev/null 2>&1 || framework_failure_ "mkcerts.sh failed"
pki="$TRASH/pki"
portA=$(free_port)
portB=$(free_port)
closed=$(free_port)
mport=$(free_port)
M="python3 $srcdir/tests/t/metrics.py"

# B: the final receiver, example.com only, relays for nobody
host_config "$TRASH/b.yaml" mail.example.com "$TRASH/b" "$portB" <<EOF
  accepted_domains: [ example.com ]
  relay: { networks: [] }
  workers: 1
EOF
host_config "$TRASH/a.yaml" edge.example.org "$TRASH/a" "$portA" <<EOF
  accepted_domains: [ example.org ]
  workers: 1
send:
  metrics: "127.0.0.1:$mport"
  retry: { first: 3600, max: 3600, lifetime: 86400 }
  routes:
    - domain: client.example
      next_hop: "maildir:$TRASH/bounces"
    - domain: example.com
      next_hop: "[localhost]:$portB"
      tls: verify
    - domain: refused.example
      next_hop: "[localhost]:$portB"
      tls: mandatory
    - domain: pin.example
      next_hop: "[localhost]:$portB"
      tls: pinned
      pins: [ "sha256/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=" ]
    - domain: down.example
      next_hop: "[127.0.0.1]:$closed"
EOF
start_bg dsmtpd-b "$DSMTPD" -c "$TRASH/b.yaml"
start_bg dsmtpd-a "$DSMTPD" -c "$TRASH/a.yaml"
wait_port 127.0.0.1 "$portB" || framework_failure_ "dsmtpd B did not start"
wait_port 127.0.0.1 "$portA" || framework_failure_ "dsmtpd A did not start"
start_bg dsmtpc "$DSMTPC" -c "$TRASH/a.yaml" run
cpid=$LAST_PID
wait_port 127.0.0.1 "$mport" || framework_failure_ "dsmtpc's metrics server did not start"

# smtp TO...: one message per recipient, each its own transaction, to A
smtp() {
	python3 - "$portA" "$@" <<'PY'
import smtplib, sys
s = smtplib.SMTP('127.0.0.1', int(sys.argv[1]), local_hostname='client.example', timeout=20)
for to in sys.argv[2:]:
    s.sendmail('s@client.example', [to], 'Subject: t2580\r\n\r\nhello\r\n')
s.quit()
PY
}

# the metrics process: a child of dsmtpc or, started as root, of its
# delivering process (the root supervisor's child, DESIGN.md 13.4)
metrics_pid() {
	ps -e -o pid=,ppid=,comm= | awk -v p="$cpid" '{ pp[$1] = $2; c[$1] = $3 }
	    END { for (i in c) if (c[i] == "dsmtpc-metrics" && (pp[i] == p || pp[pp[i]] == p)) print i }'
}

test_expect_success "the metrics process runs under dsmtpc" "
	test -n \"\$(metrics_pid)\""

test_expect_success "deliveries by level and outcome move by the recipients sent" "
	$M get $mport '$TRASH/m0' &&
	smtp r1@example.com r2@example.com r3@example.com x@refused.example y@pin.example z@down.example &&
	$M delta $mport '$TRASH/m0' \
	    'dsmtpc_deliveries_total{level=\"verify\",outcome=\"delivered\"}=3' \
	    'dsmtpc_deliveries_total{level=\"mandatory\",outcome=\"bounced\"}=1' \
	    'dsmtpc_deliveries_total{level=\"pinned\",outcome=\"deferred\"}=1' \
	    'dsmtpc_deliveries_total{level=\"opportunistic\",outcome=\"deferred\"}=1' \
	    'dsmtpc_deliveries_total{level=\"verify\",outcome=\"deferred\"}=0' \
	    'dsmtpc_policy_failures_total{result_type=\"pin-mismatch\"}=1' \
	    'dsmtpc_connections_total{tls=\"none\"}=0'"

# counted when a connection ends: the idle ones after connection_cache_time
conns() { $M value "$mport" "dsmtpc_connections_total{tls=\"$1\"}"; }
test_expect_success "connections count by TLS version (B speaks TLS 1.3)" "
	wait_for 10 'test \$(conns TLSv1.3) -ge 3' && conns TLSv1.3 &&
	test \$(conns none) = 0"

test_expect_success "the queue gauges: the two deferred messages stay, the oldest is young" "
	wait_for 10 'test \$($M value $mport dsmtpc_queue_messages) = 2' &&
	age=\$($M value $mport dsmtpc_queue_oldest_message_age_seconds) && echo \$age &&
	test \"\${age%.*}\" -le 60 &&
	test \$(ls '$TRASH'/a/queue/*.e | wc -l) = 2 &&
	ls '$TRASH'/bounces/new/* >/dev/null"

test_expect_success "promtool accepts the exposition" "
	$M get $mport '$TRASH/m2' && promtool check metrics <'$TRASH/m2' &&
	grep -q '^# TYPE dsmtpc_queue_messages gauge' '$TRASH/m2' &&
	grep -q '^# TYPE dsmtpc_deliveries_total counter' '$TRASH/m2'"

test_expect_success "only GET /metrics" "
	test \$($M status $mport POST /metrics) = 405 &&
	test \$($M status $mport GET /favicon.ico) = 404"

test_expect_success "SIGTERM: dsmtpc and its metrics process end" "
	mpid=\$(metrics_pid) &&
	test -n \"\$mpid\" && kill $cpid &&
	wait_for 20 '! kill -0 $cpid 2>/dev/null && ! kill -0 \$mpid 2>/dev/null' &&
	! grep -E 'AddressSanitizer|runtime error|LeakSanitizer' '$TRASH/dsmtpc.log' '$TRASH/dsmtpd-a.log' '$TRASH/dsmtpd-b.log'"
finish
