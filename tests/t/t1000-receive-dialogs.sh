#!/bin/sh
# t1000-receive-dialogs: dsmtpd driven byte-exact by tests/dialogs/*.dlg:
# every command and reply, PIPELINING (and RFC 2920's group ends), CHUNKING, STARTTLS command injection,
# SMTP smuggling, over-long lines, NUL bytes, a ClientHello on the plaintext
# port, relay tricks, required TLS; then the effects in the spool.
. "${srcdir:-.}/tests/t/lib.sh"

port=$(free_port)
make_config "$TRASH/d.yaml" "$port" '  accepted_domains: [ example.org ]
  relay: { networks: [] }
  max_message_size: 1048576
  workers: 1'
sed -i 's/^hostname: .*/hostname: mx.test.example/' "$TRASH/d.yaml"
start_bg dsmtpd "$DSMTPD" -c "$TRASH/d.yaml"
dpid=$LAST_PID
wait_port 127.0.0.1 "$port" || { cat "$TRASH/dsmtpd.log"; framework_failure_ "dsmtpd did not start"; }

for d in basic pipelining pipelining-last-data pipelining-last-ehlo pipelining-last-noop \
    starttls-injection smuggling bad-input clienthello bdat; do
	test_expect_success "dialog $d" "
		python3 '$srcdir/tests/t/dialog.py' 127.0.0.1 $port '$srcdir/tests/dialogs/$d.dlg'"
done

test_expect_success "dsmtpd survived every dialog" "kill -0 $dpid"

queue="$TRASH/state-$port/queue"
test_expect_success "the spool holds exactly the 4 accepted messages (basic, 2 pipelined, bdat)" "
	ls '$queue' | grep -c '\\.e\$' >'$TRASH/n' && test \$(cat '$TRASH/n') = 4"
test_expect_success "no injected or smuggled command reached the spool" "
	files_exist '$queue'/*.e && ! grep -l -a 'evil.example' '$queue'/*.e"
test_expect_success "dot-stuffing is undone and the Received header leads" "
	f=\$(grep -l -a '^Subject: basic' '$queue'/*.d) &&
	head -1 \"\$f\" | grep -q '^Received: from client.example' &&
	grep -q -a '^.leading dot' \"\$f\" && ! grep -q -a '^\\.\\.leading' \"\$f\""
test_expect_success "BDAT chunks are joined byte for byte" "
	f=\$(grep -l -a '^Subject: chunk' '$queue'/*.d) && spool_data \"\$f\" | tail -c 9 | od -c | grep -q 'h   u   n   k'"

port2=$(free_port)
make_config "$TRASH/r.yaml" "$port2" '  accepted_domains: [ example.org ]
  tls: required
  workers: 1'
start_bg dsmtpd2 "$DSMTPD" -c "$TRASH/r.yaml"
wait_port 127.0.0.1 "$port2" || framework_failure_ "second dsmtpd did not start"
test_expect_success "dialog tls-required" "
	python3 '$srcdir/tests/t/dialog.py' 127.0.0.1 $port2 '$srcdir/tests/dialogs/tls-required.dlg'"
finish
