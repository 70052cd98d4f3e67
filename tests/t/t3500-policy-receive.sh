#!/bin/sh
# t3500-policy-receive: dsmtpd's side of domain security and direct trust:
# domain_secure.receive (no TLS, no client certificate, wrong names, a
# certificate without clientAuth, the right partner certificate), relay by pinned client certificate, and the
# refusal to start when our certificate does not cover our namespaces.
. "${srcdir:-.}/tests/t/lib.sh"
need_ swaks
need_ openssl
need_ certtool

sh "$srcdir/tests/certs/mkcerts.sh" "$TRASH/pki" >/dev/null 2>&1 || framework_failure_ "mkcerts.sh failed"
pki="$TRASH/pki"
spki() { openssl x509 -in "$1" -pubkey -noout | openssl pkey -pubin -outform der | openssl dgst -sha256 -binary | base64; }
client_pin="sha256/$(spki "$pki/client.pem")"
port=$(free_port)
make_config "$TRASH/d.yaml" "$port" "  accepted_domains: [ example.com ]
  relay:
    networks: []
    pins: [ partner ]
  workers: 1
certificates:
  - cert: $pki/server-chain.pem
    key: $pki/server.key
trust:
  ca_file: $pki/ca-bundle.pem
  pins:
    partner: [ \"$client_pin\" ]
domain_secure:
  receive: [ partner.example.net ]"
start_bg dsmtpd "$DSMTPD" -c "$TRASH/d.yaml"
wait_port 127.0.0.1 "$port" || { cat "$TRASH/dsmtpd.log"; framework_failure_ "dsmtpd did not start"; }
queue="$TRASH/state-$port/queue"
sw() { swaks --server 127.0.0.1:$port --from "$1" --to "$2" "$@"; }

test_expect_success "a domain-secure sender without TLS is refused with 4.7.1 naming TLS" "
	swaks --server 127.0.0.1:$port --from a@partner.example.net --to x@example.com >'$TRASH/o1' 2>&1;
	grep -E '451 4\\.7\\.1 .*(TLS|tls)' '$TRASH/o1' || { cat '$TRASH/o1'; false; }"

test_expect_success "over TLS but without a client certificate: refused, naming the certificate" "
	swaks --server 127.0.0.1:$port --from a@partner.example.net --to x@example.com --tls >'$TRASH/o2' 2>&1;
	grep -E '451 4\\.7\\.1 .*certificate' '$TRASH/o2' || { cat '$TRASH/o2'; false; }"

test_expect_success "a client certificate for another name: refused, naming the names" "
	swaks --server 127.0.0.1:$port --from a@partner.example.net --to x@example.com --tls \
	    --tls-cert '$pki/server.pem' --tls-key '$pki/server.key' >'$TRASH/o3' 2>&1;
	grep -E '451 4\\.7\\.1 .*(name|SAN|san)' '$TRASH/o3' || { cat '$TRASH/o3'; false; }"

test_expect_success "the partner's certificate: accepted, domain-secured in Received and the spool" "
	swaks --server 127.0.0.1:$port --from a@partner.example.net --to x@example.com --tls \
	    --tls-cert '$pki/client.pem' --tls-key '$pki/client.key' --header 'Subject: t-ds' >'$TRASH/o4' 2>&1 &&
	grep -q '250 2.0.0 Ok: queued as' '$TRASH/o4' &&
	f=\$(grep -l -a '^Subject: t-ds' '$queue'/*.d) &&
	grep -q -a 'domain-secured for partner.example.net' \"\$f\" &&
	grep -q -a 'partner.example.net' \"\${f%.d}.e\""

test_expect_success "a partner certificate whose extended key usage lacks clientAuth: refused, naming it" "
	swaks --server 127.0.0.1:$port --from a@partner.example.net --to x@example.com --tls \
	    --tls-cert '$pki/serveronly.pem' --tls-key '$pki/serveronly.key' >'$TRASH/o3b' 2>&1;
	grep -E '451 4\\.7\\.1 .*lacks clientAuth' '$TRASH/o3b' || { cat '$TRASH/o3b'; false; }"

test_expect_success "a sender domain not on the list needs nothing" "
	swaks --server 127.0.0.1:$port --from a@other.example --to x@example.com | grep -q '250 2.0.0 Ok: queued'"

test_expect_success "relay to a foreign domain: denied without the pinned certificate" "
	swaks --server 127.0.0.1:$port --from a@other.example --to y@elsewhere.example --tls >'$TRASH/o5' 2>&1;
	grep -q '554 5.7.1 <y@elsewhere.example>: Relay access denied' '$TRASH/o5' || { cat '$TRASH/o5'; false; }"

test_expect_success "relay to a foreign domain: allowed with the pinned client certificate" "
	swaks --server 127.0.0.1:$port --from a@other.example --to y@elsewhere.example --tls \
	    --tls-cert '$pki/client.pem' --tls-key '$pki/client.key' >'$TRASH/o6' 2>&1 &&
	grep -q '250 2.0.0 Ok: queued' '$TRASH/o6' || { cat '$TRASH/o6'; false; }"

test_expect_success "relay with an unpinned (but CA-valid) certificate is still denied" "
	swaks --server 127.0.0.1:$port --from a@other.example --to y@elsewhere.example --tls \
	    --tls-cert '$pki/server.pem' --tls-key '$pki/server.key' >'$TRASH/o7' 2>&1;
	grep -q '554 5.7.1' '$TRASH/o7' || { cat '$TRASH/o7'; false; }"

port2=$(free_port)
make_config "$TRASH/bad.yaml" "$port2" "  accepted_domains: [ example.com, fabrikam.example ]
  workers: 1
certificates:
  - cert: $pki/server-chain.pem
    key: $pki/server.key
domain_secure:
  receive: [ partner.example.net ]"
test_expect_success "dsmtpd refuses to start when our certificate misses a namespace, naming it and the SANs" "
	'$DSMTPD' -c '$TRASH/bad.yaml' 2>'$TRASH/bad.err'; rc=\$?; cat '$TRASH/bad.err';
	test \$rc = 78 && grep -q 'fabrikam.example' '$TRASH/bad.err' &&
	grep -q 'mail.example.com' '$TRASH/bad.err' && ! grep -q 'listening on' '$TRASH/bad.err'"
test_expect_success "dsmtpc run refuses to start on the same configuration, for the same reason" "
	timeout 20 '$DSMTPC' -c '$TRASH/bad.yaml' run 2>'$TRASH/badc.err'; rc=\$?; cat '$TRASH/badc.err';
	test \$rc = 78 && grep -q 'fabrikam.example' '$TRASH/badc.err'"
finish
