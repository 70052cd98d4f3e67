#!/bin/sh
# t2015-spool-upgrade: a spool left by an older dsmtpd (spool format 1:
# ID.d the message alone, ID.e an envelope file of its own, written by
# tests/unit/spool_gen --v1 with the old writer) beside a new message
# (format 2: one file, ID.e a second link of ID.d). dsmtpc lists them,
# delivers them to a second dsmtpd byte for byte, removes the delivered
# ones, records a deferral in an old message's envelope (which stays
# format 1, its data file untouched), and delivers it after flush. An
# upgrade loses nothing. A data byte flipped after acceptance is caught by
# the CRC over the bytes dsmtpc read, once, and the message quarantined.
. "${srcdir:-.}/tests/t/lib.sh"

need_ python3
GEN="$top_builddir/tests/unit/spool_gen"
[ -x "$GEN" ] || framework_failure_ "$GEN not built (make check builds it)"
hport=$(free_port)
dead=$(free_port)	# nothing listens there: defer.test is deferred
cat >"$TRASH/hub.yaml" <<EOF
hostname: hub.example
state_dir: $TRASH/hub
receive:
  listen: [ "127.0.0.1:$hport" ]
  tls: none
  accepted_domains: [ example.com, defer.test ]
  relay: { networks: [] }
  workers: 1
EOF
edge_config() {
	cat >"$TRASH/edge.yaml" <<EOF
hostname: edge.example
state_dir: $TRASH/edge
send:
  tls: opportunistic
  retry: { first: 600, max: 3600, lifetime: 86400 }
  routes:
    - domain: example.com
      next_hop: "[127.0.0.1]:$hport"
    - domain: defer.test
      next_hop: "[127.0.0.1]:$1"
EOF
}
edge_config "$dead"
start_bg hub "$DSMTPD" -c "$TRASH/hub.yaml"
wait_port 127.0.0.1 "$hport" || { cat "$TRASH/hub.log"; framework_failure_ "hub did not start"; }
Q="$TRASH/edge/queue"
mkdir -p "$Q"
# body SUBJECT: the message from its Subject line on, as the hub spooled it
CR=$(printf '\r')
hub_body() { f=$(grep -l -a "^Subject: $1$CR\$" "$TRASH"/hub/queue/*.d) && spool_data "$f" | sed -n "/^Subject: $1/,\$p"; }

test_expect_success "old-format messages written beside a new one (two files vs one inode)" "
	'$GEN' --v1 '$Q' --subject v1-one --size 5000 --to a@example.com >'$TRASH/id1' &&
	'$GEN' --v1 '$Q' --subject v1-two --size 300 --to b@example.com --to c@defer.test >'$TRASH/id2' &&
	'$GEN' '$Q' --subject v2-new --size 700 --to d@example.com >'$TRASH/id3' &&
	id1=\$(cat '$TRASH/id1') && id2=\$(cat '$TRASH/id2') && id3=\$(cat '$TRASH/id3') &&
	test \"\$(head -1 '$Q/'\$id1.e)\" = 'dsmtp-envelope 1' &&
	test \$(stat -c %i '$Q/'\$id1.d) != \$(stat -c %i '$Q/'\$id1.e) &&
	test \$(stat -c %s '$Q/'\$id1.d) = \$((5000 + 19)) &&
	test \$(stat -c %i '$Q/'\$id3.d) = \$(stat -c %i '$Q/'\$id3.e) &&
	stat -c %i '$Q/'\$id2.d >'$TRASH/ino2' &&
	cp '$Q/'\$id1.d '$TRASH/one.d' && cp '$Q/'\$id2.d '$TRASH/two.d' &&
	spool_data '$Q/'\$id3.d >'$TRASH/new.d' && test \$(wc -c <'$TRASH/new.d') = \$((700 + 19))"

test_expect_success "dsmtpc queue lists both formats" "
	'$DSMTPC' -c '$TRASH/edge.yaml' queue >'$TRASH/q' 2>&1; cat '$TRASH/q';
	grep -q '^-- 3 messages, 4 recipients, 4 pending\$' '$TRASH/q' &&
	grep -q \"^\$(cat '$TRASH/id1')  age [0-9]*s  size 5019  from <>\" '$TRASH/q'"

test_expect_success "dsmtpc once delivers old and new byte for byte, removes what is done, defers the rest" "
	'$DSMTPC' -c '$TRASH/edge.yaml' once >'$TRASH/once.log' 2>&1; rc=\$?; cat '$TRASH/once.log';
	test \$rc = 75 &&
	hub_body v1-one | cmp - '$TRASH/one.d' &&
	hub_body v1-two | cmp - '$TRASH/two.d' &&
	hub_body v2-new >'$TRASH/new.got' &&
	{ cat '$TRASH/new.d'; printf '\r\n'; } | cmp - '$TRASH/new.got' &&	# spool_gen: no CRLF at its end
	id1=\$(cat '$TRASH/id1') && id2=\$(cat '$TRASH/id2') && id3=\$(cat '$TRASH/id3') &&
	! test -e '$Q/'\$id1.d && ! test -e '$Q/'\$id1.e &&
	! test -e '$Q/'\$id3.d && ! test -e '$Q/'\$id3.e &&
	test \"\$(ls '$Q')\" = \"\$(printf '%s\n' \$id2.d \$id2.e quarantine tmp)\""

test_expect_success "the deferral is in the old message's envelope, still format 1; its data untouched" "
	id2=\$(cat '$TRASH/id2') &&
	test \"\$(head -1 '$Q/'\$id2.e)\" = 'dsmtp-envelope 1' &&
	test \$(stat -c %i '$Q/'\$id2.d) = \$(cat '$TRASH/ino2') && cmp '$Q/'\$id2.d '$TRASH/two.d' &&
	'$DSMTPC' -c '$TRASH/edge.yaml' queue >'$TRASH/q' && cat '$TRASH/q' &&
	grep -q '^    to <b@example.com>  delivered  attempts: 1\$' '$TRASH/q' &&
	grep -q '^    to <c@defer.test>  pending  attempts: 1  next attempt: in ' '$TRASH/q'"

test_expect_success "after flush the old message is delivered and removed; the spool is empty" "
	edge_config $hport &&
	'$DSMTPC' -c '$TRASH/edge.yaml' flush | grep -qx 'flushed 1 message' &&
	'$DSMTPC' -c '$TRASH/edge.yaml' once >'$TRASH/once2.log' 2>&1; rc=\$?; cat '$TRASH/once2.log';
	test \$rc = 0 &&
	test \$(grep -l -a '^Subject: v1-two' '$TRASH'/hub/queue/*.d | wc -l) = 2 &&
	test \"\$(ls '$Q')\" = \"\$(printf '%s\n' quarantine tmp)\" &&
	test -z \"\$(ls -A '$Q/quarantine')\""
# a bit flipped in a new message's data after it was accepted: dsmtpc
# reads the data once, checks the CRC over the bytes it holds (the ones it
# would send), sends nothing of it and quarantines the message
test_expect_success "a flipped data byte: caught by the CRC over the bytes read, quarantined, nothing sent" "
	'$GEN' '$Q' --subject v2-flip --size 400 --to f@example.com >'$TRASH/id4' && id4=\$(cat '$TRASH/id4') &&
	printf X | dd of='$Q/'\$id4.d bs=1 seek=200 conv=notrunc 2>/dev/null &&
	'$DSMTPC' -c '$TRASH/edge.yaml' once >'$TRASH/once3.log' 2>&1; rc=\$?; cat '$TRASH/once3.log';
	test \$rc = 0 && grep -q \"\$id4: damaged: data file checksum mismatch (420 bytes\" '$TRASH/once3.log' &&
	! grep -l -a '^Subject: v2-flip' '$TRASH'/hub/queue/*.d &&
	test -e '$Q/quarantine/'\$id4.d && ! test -e '$Q/'\$id4.e"
finish
