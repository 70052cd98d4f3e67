#!/bin/sh
# t2030-send-stream: streamed delivery in dsmtpc (issue 20). The body is
# read from the leased spool file in 64 KiB chunks as the connection
# drains, the CRC-32C is computed over exactly the bytes read and sent, and
# the memory a message in flight holds is bounded by the chunk size plus
# the output high-water, not by its size.
#  1. 100 large messages (30 MB each; DSMTP_T_STREAM_MB) over 5
#     destinations (20 sessions each, dsmtpc's per-destination maximum) to
#     tests/t/stallsink.py, which reads about 1 MB of each body and then
#     stops reading until all 100 sessions are stalled in DATA: dsmtpc's
#     resident memory while 100 are in flight stays within a bound (below);
#     after the release every message arrives byte for byte and the spool
#     is empty.
#  2. A message with the hard cases of SMTP transparency at chunk
#     boundaries (offsets that are multiples of 65536), relayed to a real
#     dsmtpd: its copy is exactly the dot-unstuffed message, bare LFs as
#     CRLF, a CRLF after the last line.
#  3. A data byte flipped near the end of a 5 MB message (after chunks of
#     it may already be on the wire): the final "." is never sent, the
#     receiving dsmtpd stores nothing, the message is quarantined and
#     dsmtpc names it; the same for a maildir route (no file in new/ or
#     tmp/).
#  4. A large message to a maildir route arrives byte for byte.
. "${srcdir:-.}/tests/t/lib.sh"

need_ python3
need_ openssl
GEN="$top_builddir/tests/unit/spool_gen"
[ -x "$GEN" ] || framework_failure_ "$GEN not built (make check builds it)"

# The sanitizer build (configure --enable-sanitizers) runs everything
# several times slower: there the large messages are 4 MB, not 30 MB, to
# keep CI time down (the bound of check 1 does not depend on the size).
SAN=false
grep -q '^S\["SAN_CFLAGS"\]="-fsanitize' "$top_builddir/config.status" 2>/dev/null && SAN=true
if [ -n "${DSMTP_T_STREAM_MB:-}" ]; then
	MB=$DSMTP_T_STREAM_MB
elif $SAN; then
	MB=4
else
	MB=30
fi
N=100			# messages in flight at once (send.max_parallel's default)
STALL_TIMEOUT=60	# seconds from the first stalled session to all N
$SAN && STALL_TIMEOUT=120
say "# messages of $MB MB (sanitizer build: $SAN)"

hport=$(free_port)
P1=$(free_port) P2=$(free_port) P3=$(free_port) P4=$(free_port) P5=$(free_port)
cat >"$TRASH/hub.yaml" <<EOF
hostname: hub.example
state_dir: $TRASH/hub
receive:
  listen: [ "127.0.0.1:$hport" ]
  tls: none
  accepted_domains: [ example.com ]
  relay: { networks: [] }
  workers: 1
EOF
# five destinations of the sink (one port each), the real dsmtpd, two
# maildirs; send.max_parallel is left at its default (100)
cat >"$TRASH/edge.yaml" <<EOF
hostname: edge.example
state_dir: $TRASH/edge
send:
  tls: opportunistic
  retry: { first: 600, max: 3600, lifetime: 86400 }
  routes:
    - domain: s1.test
      next_hop: "[127.0.0.1]:$P1"
    - domain: s2.test
      next_hop: "[127.0.0.1]:$P2"
    - domain: s3.test
      next_hop: "[127.0.0.1]:$P3"
    - domain: s4.test
      next_hop: "[127.0.0.1]:$P4"
    - domain: s5.test
      next_hop: "[127.0.0.1]:$P5"
    - domain: example.com
      next_hop: "[127.0.0.1]:$hport"
    - domain: md.test
      next_hop: "maildir:$TRASH/md"
    - domain: big.test
      next_hop: "maildir:$TRASH/big"
EOF
Q="$TRASH/edge/queue"
mkdir -p "$Q" "$TRASH/sink"

# body FILE BYTES: about BYTES of body text in CRLF lines of 0 to 200
# octets, one in twenty starting with "." (dot-stuffed on the wire), all
# ASCII (BODY=8BITMIME must then come from the size, not from a scan); the
# same pseudo-random 1 MiB of lines repeated, cut at a line end
python3 - "$TRASH/body-big" $((MB * 1048576)) "$TRASH/body-5m" 5242880 <<'PY' ||
import random, sys
r = random.Random(2030)
alphabet = 'abcdefghijklmnopqrstuvwxyz ABCDEFGHIJ0123456789.,-'
lines, n = [], 0
while n < (1 << 20):
    l = ''.join(r.choice(alphabet) for _ in range(r.randint(0, 200)))
    if r.random() < 0.05:
        l = '.' + l
    b = (l + '\r\n').encode()
    lines.append(b)
    n += len(b)
block = b''.join(lines)
for path, size in zip(sys.argv[1::2], sys.argv[2::2]):
    size = int(size)
    data = block * (size // len(block) + 1)
    data = data[:data.rindex(b'\r\n', 0, size) + 2]
    open(path, 'wb').write(data)
PY
framework_failure_ "cannot write the message bodies"

# rss PID FIELD: VmRSS or VmHWM of a process, in kB
rss() { sed -n "s/^$2:[^0-9]*\([0-9]*\) kB\$/\1/p" "/proc/$1/status"; }
# cpu PID: the CPU time (user + system) a process used so far, in seconds
cpu() { awk -v hz="$(getconf CLK_TCK)" '{ printf "%.1f", ($14 + $15) / hz }' "/proc/$1/stat"; }
# empty DIR...: each directory is empty or absent
empty() { for _d; do [ -z "$(ls -A "$_d" 2>/dev/null)" ] || return 1; done; }
# sha FILE: the SHA-256 of a spooled message's data
sha() { spool_data "$1" | openssl dgst -sha256 -r | cut -c1-64; }

# --- 1. 100 large messages in flight at once, memory bounded ---

start_bg sink python3 "$srcdir/tests/t/stallsink.py" "$TRASH/sink" $N $STALL_TIMEOUT 1048576 \
    $P1 $P2 $P3 $P4 $P5
sink_pid=$LAST_PID
for p in $P1 $P2 $P3 $P4 $P5; do
	wait_port 127.0.0.1 $p || { cat "$TRASH/sink.log"; framework_failure_ "stallsink did not start"; }
done
# the sanitizers' quarantine keeps freed memory resident by design (256 MB
# by default): 8 MB here (still catching a use-after-free of recent
# buffers), allowed for below
start_bg dsmtpc env ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=8" \
    "$DSMTPC" -c "$TRASH/edge.yaml" run
dsmtpc_pid=$LAST_PID
# The process that speaks SMTP: started as root (as in CI), dsmtpc run
# splits (smtpc/privsep.c): the PID started is a supervisor that only
# passes signals on, beside it a key process, and the delivering process
# (the one holding the messages and sessions) is a child that says
# "delivery runs as USER (uid N, pid PID)" on stderr. Not root: no split,
# the PID started delivers.
wait_for 30 "grep -q 'delivering from' '$TRASH/dsmtpc.log'" ||
	{ cat "$TRASH/dsmtpc.log"; framework_failure_ "dsmtpc run did not start"; }
if [ "$(id -u)" = 0 ]; then
	deliverer=$(sed -n 's/.*delivery runs as .* (uid [0-9]*, pid \([0-9]*\)).*/\1/p' "$TRASH/dsmtpc.log")
	[ -n "$deliverer" ] || { cat "$TRASH/dsmtpc.log"; framework_failure_ "no delivering process named"; }
else
	deliverer=$dsmtpc_pid
fi
sleep 1
base=$(rss "$deliverer" VmRSS)
[ -n "$base" ] || framework_failure_ "no VmRSS for $deliverer"
echo "$deliverer $base" >"$TRASH/base"
say "# dsmtpc run: started as $dsmtpc_pid, delivering process $deliverer, baseline VmRSS $base kB"

t0=$(date +%s)
test_expect_success "$N messages of $MB MB spooled for 5 destinations, their data hashed" "
	# each batch hashed while the next one is spooled; the files stay
	# while their sessions are stalled
	for k in 1 2 3 4 5; do
		'$GEN' '$Q' --subject big-s\$k --body-file '$TRASH/body-big' --count $((N / 5)) \
		    --to r@s\$k.test >'$TRASH/ids.'\$k || exit 1
		{ while read id; do sha '$Q/'\$id.d; done <'$TRASH/ids.'\$k >'$TRASH/sha.'\$k; } &
	done &&
	echo \"spooled in \$((\$(date +%s) - $t0)) s\" >>'$TRASH/times' &&
	wait &&
	test \$(cat '$TRASH'/ids.? | wc -l) = $N &&
	cat '$TRASH'/sha.? | sort >'$TRASH/sha.want' &&
	test \$(sort -u '$TRASH/sha.want' | wc -l) = $N &&
	echo \"spooled and hashed in \$((\$(date +%s) - $t0)) s\" >>'$TRASH/times'"

# The bound. Streamed, a message in flight holds one chunk of data (64 KiB)
# and its session's output up to the high-water mark (about 128 KiB), plus
# small change (the job, the session, its input buffer): 512 KiB per
# message is more than twice that, and for 100 messages in flight it is
# 50 MiB over the baseline measured before the run -- 1/60 of the 3000 MB
# of messages in flight, and far below even one 30 MB message per 10 in
# flight (300 MB). Measured with the streaming code (main at ff25dd3):
# 29 MB for 100 in flight, about 290 KiB each. Whole-message delivery (the
# code before it) holds each message in flight whole, and its dot-stuffed
# copy in the output buffer: 550 MB for the 9 its 256 MB limit let in.
# Sanitizer build: plus 16 MB for the 8 MB quarantine and the allocator's
# slack around it (measured: 34 MB grown without a quarantine, 42 MB with
# 8 MB, 72 MB with 32 MB).
allow=$((N * 512))
$SAN && allow=$((allow + 16384))
test_expect_success "$N sessions stalled in DATA at once: dsmtpc's memory grew by less than $N x 512 KiB" "
	wait_for $((STALL_TIMEOUT + 60)) 'test -s \"$TRASH/sink/status\"' &&
	now=\$(rss $deliverer VmRSS) &&
	echo \"sink status after \$((\$(date +%s) - $t0)) s\" >>'$TRASH/times' &&
	echo \"sink: \$(cat '$TRASH/sink/status'); VmRSS base $base kB, now \$now kB, grown \$((now - base)) kB, allowed $allow kB\" |
	    tee -a '$TRASH/times' &&
	echo \"sessions open: \$(grep -c . '$TRASH/sink/mail') MAIL commands\" &&
	test \$((now - base)) -le $allow &&
	test \"\$(cat '$TRASH/sink/status')\" = 'stalled $N'"

test_expect_success "released: all $N delivered (250) byte for byte, once each, the spool empty" "
	t1=\$(date +%s) && touch '$TRASH/sink/release' &&
	# every message answered, out of the spool, its removal logged
	wait_for 120 'test \$(cat \"$TRASH/sink/bodies\" 2>/dev/null | grep -c .) -ge $N &&
	    test -z \"\$(ls \"$Q\" | grep \"\\.[de]\$\")\" &&
	    test \$(grep -c \"removed (every recipient\" \"$TRASH/dsmtpc.log\") -ge $N' &&
	echo \"delivered in \$((\$(date +%s) - t1)) s after the release (CPU so far: sink \$(cpu $sink_pid) s, dsmtpc \$(cpu $deliverer) s)\" >>'$TRASH/times' &&
	cut -d' ' -f1 '$TRASH/sink/bodies' | sort >'$TRASH/sha.got' &&
	cmp '$TRASH/sha.want' '$TRASH/sha.got' &&
	echo \"\$(grep -c 'status=sent' '$TRASH/dsmtpc.log') sent\" &&
	test \$(grep -c 'status=sent' '$TRASH/dsmtpc.log') = $N &&
	test \$(grep -c 'removed (every recipient' '$TRASH/dsmtpc.log') = $N &&
	test \"\$(ls '$Q')\" = \"\$(printf '%s\n' quarantine tmp)\" &&
	empty '$Q/quarantine' '$Q/tmp' &&
	# SIZE= is the message size (spooled data length)
	awk '{ n = split(\$0, f, \" \"); for (i = 1; i <= n; i++) if (f[i] ~ /^SIZE=/) print substr(f[i], 6), \$2 }' \
	    '$TRASH/sink/bodies' | awk '\$1 != \$2 { bad++ } END { exit (bad > 0 || NR != $N) }'"

test_expect_success "peak memory over the whole run (VmHWM) within the same bound" "
	hwm=\$(rss $deliverer VmHWM) &&
	echo \"VmHWM \$hwm kB, base $base kB, grown \$((hwm - base)) kB, allowed $allow kB\" | tee -a '$TRASH/times' &&
	test \$((hwm - base)) -le $allow"

# a message larger than one chunk is not scanned ahead for 8-bit octets:
# BODY=8BITMIME whenever the server offers 8BITMIME
test_expect_success "larger than one chunk: MAIL says BODY=8BITMIME" "
	test \$(grep -c ' BODY=8BITMIME' '$TRASH/sink/mail') = $N"

kill -TERM "$dsmtpc_pid" && wait "$dsmtpc_pid"
echo $? >"$TRASH/dsmtpc.rc"
test_expect_success "dsmtpc run stops cleanly; no warning, no sanitizer report" "
	test \$(cat '$TRASH/dsmtpc.rc') = 0 && grep -q stopped '$TRASH/dsmtpc.log' &&
	! grep -i -E 'warning|error|AddressSanitizer|runtime error|LeakSanitizer' '$TRASH/dsmtpc.log' |
	    grep -v 'no client certificate'"
sed 's/^/# /' "$TRASH/times"
say "# check 1 took $(($(date +%s) - t0)) s"

# --- the real receiver for 2 and 3 ---
start_bg hub "$DSMTPD" -c "$TRASH/hub.yaml"
wait_port 127.0.0.1 "$hport" || { cat "$TRASH/hub.log"; framework_failure_ "hub did not start"; }
once() { "$DSMTPC" -c "$TRASH/edge.yaml" once >"$TRASH/$1.log" 2>&1; echo $? >"$TRASH/$1.rc"; cat "$TRASH/$1.log"; }

# --- 2. transparency at chunk boundaries ---
# the message (from its Subject line: spool_gen writes "Subject: chunk"
# CRLF CRLF before the body file) with, at multiples of C = 65536 of the
# message data (the reads of SMTPC_BODY_CHUNK):
#   C   a line starting with "." begins exactly there
#   2C  a CR ends the chunk, its LF starts the next one; a "." line follows
#   3C  a bare LF is the last octet of a chunk, a "." line starts the next
#   4C  a bare LF is the first octet of a chunk
#   5C  a line of a single "." starts a chunk (unstuffed, it would end DATA)
#   6C  a line's leading "." is the last octet of a chunk
#   7C  a "." line's CR ends a chunk, its LF starts the next
#   8C  a "." inside a line starts a chunk (not to be doubled)
# and the message ends without a newline. want: what the receiver must
# hold: bare LFs as CRLF, a CRLF after the last line, nothing else changed.
test_expect_success "chunk-boundary message written and spooled (features at k x 65536)" "
	python3 - '$TRASH/chunk' <<'PY' &&
import re, sys
C = 65536
m = bytearray(b'Subject: chunk\r\n\r\n')
def fill(upto):
    # ordinary CRLF lines until the message is exactly upto octets long
    while len(m) < upto:
        r = upto - len(m)
        k = 78 if r >= 80 else r
        assert k >= 2
        m.extend(b'f' * (k - 2) + b'\r\n')
fill(C); m.extend(b'.a line starting with a dot at C\r\n')
fill(2 * C - 10); m.extend(b'crlf-spli\r'); assert len(m) == 2 * C
m.extend(b'\n.dot line after a CRLF split at 2C\r\n')
fill(3 * C - 8); m.extend(b'bare-lf\n'); assert len(m) == 3 * C
m.extend(b'.dot line after a bare LF at 3C\r\n')
fill(4 * C - 6); m.extend(b'word-x'); assert len(m) == 4 * C
m.extend(b'\nafter a bare LF first in chunk 4C\r\n')
fill(5 * C); m.extend(b'.\r\n')
fill(6 * C - 1); m.extend(b'.'); assert len(m) == 6 * C
m.extend(b'the dot of this line ended chunk 6C\r\n')
fill(7 * C - 2); m.extend(b'.\r'); assert len(m) == 7 * C
m.extend(b'\n')
fill(8 * C - 4); m.extend(b'mid-.a dot inside a line, first in chunk 8C\r\n')
fill(8 * C + 1000); m.extend(b'the last line, without a newline')
m = bytes(m)
for k, want in ((1, b'.'), (2, b'\n'), (3, b'.'), (4, b'\n'), (5, b'.'), (7, b'\n'), (8, b'.')):
    assert m[k * C] == want[0], k
assert m[3 * C - 1:3 * C] == b'\n' and m[3 * C - 2] != 13 and m[4 * C - 1] != 13
want = re.sub(rb'(?<!\r)\n', b'\r\n', m) + b'\r\n'
open(sys.argv[1] + '.body', 'wb').write(m[len(b'Subject: chunk\r\n\r\n'):])
open(sys.argv[1] + '.msg', 'wb').write(m)
open(sys.argv[1] + '.want', 'wb').write(want)
PY
	'$GEN' '$Q' --subject chunk --body-file '$TRASH/chunk.body' --to c@example.com >'$TRASH/id.chunk' &&
	spool_data '$Q/'\$(cat '$TRASH/id.chunk').d | cmp - '$TRASH/chunk.msg'"

test_expect_success "relayed to a real dsmtpd: its copy is exactly what SMTP transparency requires" "
	once chunk && test \$(cat '$TRASH/chunk.rc') = 0 &&
	grep -q 'status=sent' '$TRASH/chunk.log' &&
	files_exist '$TRASH'/hub/queue/*.d &&
	test \$(ls '$TRASH'/hub/queue/*.d | wc -l) = 1 &&
	spool_data \$(ls '$TRASH'/hub/queue/*.d) >'$TRASH/chunk.got' &&
	python3 - '$TRASH/chunk' <<'PY'
import sys
got = open(sys.argv[1] + '.got', 'rb').read()
want = open(sys.argv[1] + '.want', 'rb').read()
i = got.find(b'Subject: chunk\r\n')
assert i == 0 or got[i - 1:i] == b'\n', 'no Subject line at a line start'
print('receiver holds %d octets of header before it, %d of message, want %d'
      % (i, len(got) - i, len(want)))
if got[i:] != want:
    d = next((k for k in range(min(len(want), len(got) - i)) if got[i + k] != want[k]), None)
    sys.exit('differs at message offset %s: got %r want %r' % (d, got[i + (d or 0) - 8:i + (d or 0) + 8],
             want[(d or 0) - 8:(d or 0) + 8]))
PY"

# --- 3. damage mid-stream ---
# flip ID LEN: change the data octet at LEN - 100 (a case flip: still text)
flip() {
	python3 - "$Q/$1.d" $(($2 - 100)) <<'PY'
import sys
f = open(sys.argv[1], 'r+b'); f.seek(int(sys.argv[2])); b = f.read(1)
f.seek(int(sys.argv[2])); f.write(bytes([b[0] ^ 0x20])); f.close()
PY
}
damaged_ok() {	# ID LOG: quarantined, named on stderr, nothing left in queue/
	test -e "$Q/quarantine/$1.d" && ! test -e "$Q/$1.e" && ! test -e "$Q/$1.d" &&
	grep -F "$1" "$TRASH/$2.log" | grep -q -i -E 'damage|quarantin|checksum' &&
	test "$(ls "$Q")" = "$(printf '%s\n' quarantine tmp)" && test -z "$(ls -A "$Q/tmp")"
}
test_expect_success "a 5 MB message damaged near its end: nothing stored by dsmtpd, quarantined, named" "
	'$GEN' '$Q' --subject dmg-hub --body-file '$TRASH/body-5m' --to d@example.com >'$TRASH/id.dmg' &&
	'$GEN' '$Q' --subject ok-hub --body-file '$TRASH/body-5m' --to o@example.com >'$TRASH/id.ok' &&
	id=\$(cat '$TRASH/id.dmg') && len=\$(spool_data '$Q/'\$id.d | wc -c) &&
	spool_data '$Q/'\$(cat '$TRASH/id.ok').d >'$TRASH/ok.msg' &&
	flip \$id \$len &&
	ls '$TRASH'/hub/queue/*.d >'$TRASH/hub.before' &&
	once dmg && test \$(cat '$TRASH/dmg.rc') = 0 &&
	damaged_ok \$id dmg &&
	# the undamaged twin of the same size went through: the receiver would
	# have taken the damaged one whole, had it been sent whole
	ls '$TRASH'/hub/queue/*.d >'$TRASH/hub.after' &&
	test \$(comm -13 '$TRASH/hub.before' '$TRASH/hub.after' | wc -l) = 1 &&
	spool_data \$(comm -13 '$TRASH/hub.before' '$TRASH/hub.after') | grep -c -a '^Subject: ok-hub' &&
	! grep -l -a '^Subject: dmg-hub' '$TRASH'/hub/queue/*.d &&
	# a partial message is discarded by the receiver, not left in its tmp/
	wait_for 10 'test -z \"\$(ls -A \"$TRASH/hub/queue/tmp\")\"'"

# streamed, the damage shows only at the end: the receiver saw the DATA
# begin (354) and the client close the connection inside it, no final dot
# and no reply to one (today's whole-message read sends nothing at all)
test_expect_success "the damaged message's DATA was cut: dsmtpd's protocol log has 354, then the client's close" "
	flush_plog hub &&
	python3 - '$TRASH'/hub/logs/receive/*.LOG <<'PY'
import sys
rows = [l.rstrip('\\n').split(',', 7) for f in sys.argv[1:] for l in open(f, errors='replace')]
rows = [r for r in rows if len(r) == 8]
sess = {r[2] for r in rows if r[6] == '<' and r[7].startswith('RCPT TO:<d@example.com>')}
assert len(sess) == 1, 'sessions with the damaged message: %r' % sess
sid = sess.pop()
mine = [r[6:] for r in rows if r[2] == sid]
for d, t in mine:
    print(d, t[:100])
r = next(i for i, (d, t) in enumerate(mine) if d == '<' and t.startswith('RCPT TO:<d@example.com>'))
k = next(i for i, (d, t) in enumerate(mine) if i > r and d == '>' and t.startswith('354'))
after = mine[k + 1:]
assert after and after[-1][0] == '-' and 'closed' in after[-1][1], 'no close after 354'
assert not any(d == '>' for d, t in after), 'a reply after 354: the message was ended'
PY"

test_expect_success "the same to a maildir route: no file in new/ nor tmp/, quarantined, named" "
	'$GEN' '$Q' --subject dmg-md --body-file '$TRASH/body-5m' --to m@md.test >'$TRASH/id.dmd' &&
	id=\$(cat '$TRASH/id.dmd') && len=\$(spool_data '$Q/'\$id.d | wc -c) &&
	flip \$id \$len &&
	once dmd && test \$(cat '$TRASH/dmd.rc') = 0 &&
	damaged_ok \$id dmd &&
	empty '$TRASH/md/new' '$TRASH/md/tmp'"

# --- 4. a large message to a maildir ---
# smtpc/maildir.c writes "Return-Path: <SENDER>" and "Delivered-To: RCPT"
# (CRLF each) before the message bytes, which follow unchanged
test_expect_success "a $MB MB message to a maildir route arrives byte for byte" "
	'$GEN' '$Q' --subject big-md --body-file '$TRASH/body-big' --to r@big.test >'$TRASH/id.bmd' &&
	spool_data '$Q/'\$(cat '$TRASH/id.bmd').d >'$TRASH/bmd.msg' &&
	once bmd && test \$(cat '$TRASH/bmd.rc') = 0 &&
	test \$(ls '$TRASH/big/new' | wc -l) = 1 && test -z \"\$(ls -A '$TRASH/big/tmp')\" &&
	f=\$(ls -d '$TRASH'/big/new/*) && len=\$(wc -c <'$TRASH/bmd.msg') &&
	tail -c \$len \"\$f\" | cmp - '$TRASH/bmd.msg' &&
	printf 'Return-Path: <>\r\nDelivered-To: r@big.test\r\n' >'$TRASH/bmd.hdr' &&
	head -c \$((\$(wc -c <\"\$f\") - len)) \"\$f\" | cmp - '$TRASH/bmd.hdr' &&
	test \"\$(ls '$Q')\" = \"\$(printf '%s\n' quarantine tmp)\""
say "# t2030 took $(($(date +%s) - t0)) s from the first spooled message"
finish
