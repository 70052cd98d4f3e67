#!/bin/sh
# t2560-dsmtpc-sighup: dsmtpc run reloads its certificate on SIGHUP (checked
# as at start) and keeps delivering: a message accepted by dsmtpd after the
# reload reaches the maildir route.
. "${srcdir:-.}/tests/t/lib.sh"
need_ swaks

port=$(free_port)
make_config "$TRASH/d.yaml" "$port" "  accepted_domains: [ example.org ]
  workers: 1
send:
  routes:
    - domain: example.org
      next_hop: \"maildir:$TRASH/mail\""
start_bg dsmtpd "$DSMTPD" -c "$TRASH/d.yaml"
wait_port 127.0.0.1 "$port" || framework_failure_ "dsmtpd did not start"
start_bg dsmtpc "$DSMTPC" -c "$TRASH/d.yaml" run
cpid=$LAST_PID

test_expect_success "SIGHUP: dsmtpc reloads its certificate and says so" "
	wait_for 20 \"grep -q 'delivering from' '$TRASH/dsmtpc.log'\" &&
	kill -HUP $cpid &&
	wait_for 10 \"grep -q 'SIGHUP: certificate reloaded' '$TRASH/dsmtpc.log'\" &&
	kill -0 $cpid"
test_expect_success "after the reload a new message is delivered (maildir)" "
	swaks --server 127.0.0.1:$port --from a@b.org --to x@example.org --header 'Subject: after-hup' >/dev/null &&
	wait_for 20 \"grep -l -r -a '^Subject: after-hup' '$TRASH/mail/new' >/dev/null 2>&1\""
finish
