#!/bin/sh
# t2540-routes: next-hop resolution (libunbound, dns.dnssec off) against a
# private DNS server on loopback (tests/t/fakedns.py as dns.resolver, which
# libunbound forwards to): MX hosts in
# preference order with fallback to the next when one refuses, the implicit
# MX (A record, no MX), the "host" next_hop form, a null MX (RFC 7505) and a
# name that does not exist (both permanent: bounced); IPv6 to [::1].
# MX delivery is to port 25 on 127.x.y.z addresses: needs root.
. "${srcdir:-.}/tests/t/lib.sh"
[ "$(id -u)" = 0 ] || skip_ "MX delivery needs port 25 on loopback addresses (root)"

# a loopback /24 of our own, so port 25 does not collide with anyone's
net=$(python3 -c 'import random; print("127.%d.%d" % (random.randint(100, 250), random.randint(0, 250)))')
dport=$(free_port)
cat >"$TRASH/zone.json" <<EOF
{
 "mxtest.example": {"MX": [[20, "mx2.mxtest.example"], [10, "mx1.mxtest.example"]]},
 "mx1.mxtest.example": {"A": ["$net.1"]},
 "mx2.mxtest.example": {"A": ["$net.2"]},
 "amx.example": {"A": ["$net.3"]},
 "nullmx.example": {"MX": [[0, "."]]}
}
EOF
start_bg fakedns python3 "$srcdir/tests/t/fakedns.py" "$dport" "$TRASH/zone.json"
sleep 0.3

# receiver NAME ADDR:PORT DOMAINS
receiver() {
	cat >"$TRASH/$1.yaml" <<EOF
hostname: $1.example
state_dir: $TRASH/$1
receive:
  listen: [ "$2" ]
  tls: none
  accepted_domains: [ $3 ]
  relay: { networks: [] }
  workers: 1
EOF
	start_bg "$1" "$DSMTPD" -c "$TRASH/$1.yaml"
}
receiver mx2 "$net.2:25" "mxtest.example, hostform.example"
receiver amx "$net.3:25" "amx.example"
wait_port "$net.2" 25 || { cat "$TRASH/mx2.log"; framework_failure_ "dsmtpd mx2 did not listen on $net.2:25"; }
wait_port "$net.3" 25 || framework_failure_ "dsmtpd amx did not start"

aport=$(free_port)
cat >"$TRASH/a.yaml" <<EOF
hostname: edge.example.org
state_dir: $TRASH/a
receive:
  listen: [ "127.0.0.1:$aport" ]
  tls: none
  workers: 1
dns:
  resolver: [ "127.0.0.1:$dport" ]
send:
  tls: opportunistic
  routes:
    - domain: bounce.test
      next_hop: "maildir:$TRASH/bounces"
    - domain: hostform.example
      next_hop: "mxtest.example"
EOF
start_bg edge "$DSMTPD" -c "$TRASH/a.yaml"
wait_port 127.0.0.1 "$aport" || framework_failure_ "dsmtpd edge did not start"

CR=$(printf '\r')
got() { grep -l -a "^Subject: $2$CR\$" "$TRASH/$1"/queue/*.d >/dev/null 2>&1; }

test_expect_success "queue five messages, then dsmtpc once routes each" "
	python3 - $aport <<'PY' &&
import smtplib, sys
s = smtplib.SMTP('127.0.0.1', int(sys.argv[1]))
for rcpt, subj in (('r@mxtest.example', 'via-mx'), ('r@amx.example', 'implicit-mx'),
                   ('r@hostform.example', 'host-form'), ('r@nullmx.example', 'null-mx'),
                   ('r@nxdomain.example', 'nx')):
    s.sendmail('s@bounce.test', [rcpt], ('Subject: %s\r\n\r\nx\r\n' % subj).encode())
s.quit()
PY
	'$DSMTPC' -c '$TRASH/a.yaml' once >'$TRASH/once.out' 2>&1; rc=\$?; cat '$TRASH/once.out'; test \$rc = 0"

test_expect_success "MX in preference order: mx1 refuses, mx2 gets it" "
	got mx2 via-mx &&
	grep -q 'connect to mx1.mxtest.example\[$net.1\]:25: Connection refused' '$TRASH/once.out' &&
	grep -q 'to=<r@mxtest.example>, relay=mx2.mxtest.example\[$net.2\]:25, .*status=sent' '$TRASH/once.out'"

test_expect_success "no MX: the domain's own address (implicit MX)" "
	got amx implicit-mx &&
	grep -q 'to=<r@amx.example>, relay=amx.example\[$net.3\]:25, .*status=sent' '$TRASH/once.out'"

test_expect_success "next_hop \"host\": the MX of that host" "
	got mx2 host-form"

test_expect_success "a null MX and a missing domain are permanent: bounced" "
	grep -q 'to=<r@nullmx.example>.*status=bounced (nullmx.example publishes a null MX' '$TRASH/once.out' &&
	grep -q 'to=<r@nxdomain.example>.*status=bounced (Host or domain name not found: nxdomain.example' '$TRASH/once.out' &&
	test \$(grep -l 'Final-Recipient: rfc822; r@n' $TRASH/bounces/new/* | wc -l) = 2 &&
	test -z \"\$(ls $TRASH/a/queue/*.e 2>/dev/null)\""

if python3 -c 'import socket; s=socket.socket(socket.AF_INET6); s.bind(("::1", 0))' 2>/dev/null; then
	p6=$(python3 -c 'import socket; s=socket.socket(socket.AF_INET6); s.bind(("::1",0)); print(s.getsockname()[1])')
	receiver v6 "[::1]:$p6" "example.com"
	test_expect_success "IPv6: send to [::1]" "
		for _ in \$(seq 1 50); do
			python3 -c 'import socket,sys; socket.create_connection((\"::1\", int(sys.argv[1])), 1).close()' $p6 2>/dev/null && break
			sleep 0.1
		done &&
		printf 'Subject: v6\r\n\r\nx\r\n' | '$DSMTPC' -c '$TRASH/a.yaml' send --server '[::1]:$p6' \
		    --from s@bounce.test --to r@example.com --tls opportunistic >'$TRASH/v6.out' 2>&1 &&
		grep -q 'sent (250 .* via ::1\[::1\]:$p6' '$TRASH/v6.out' && got v6 v6"
fi
finish
