#!/bin/sh
# t1300-receive-crash: many concurrent senders, kill -9 of every dsmtpd
# process mid-stream, restart: every message that got 250 is in the spool,
# whole, and the restarted server cleans up and serves; a worker killed
# alone is replaced by the parent.
# Bounded: the load stops by itself after 60 s, and the kill step fails
# at once when it finds no worker to kill (pgrep is from procps).
. "${srcdir:-.}/tests/t/lib.sh"
for c in pgrep swaks; do
	command -v $c >/dev/null 2>&1 || framework_failure_ "$c not installed (contrib/deps installs it)"
done

port=$(free_port)
make_config "$TRASH/d.yaml" "$port" '  accepted_domains: [ example.org ]
  workers: 2'
start_bg dsmtpd "$DSMTPD" -c "$TRASH/d.yaml"
dpid=$LAST_PID
wait_port 127.0.0.1 "$port" || framework_failure_ "dsmtpd did not start"

cat >"$TRASH/load.py" <<'PY'
import random, smtplib, sys, threading, time
port, out = int(sys.argv[1]), sys.argv[2]
lock, stop = threading.Lock(), time.time() + 60
log = open(out, 'a', buffering=1)	# one line per 250, on disk at once
def sender(t):
    n = 0
    while time.time() < stop:
        try:
            s = smtplib.SMTP('127.0.0.1', port, timeout=10)
            if t % 2:
                s.starttls()
            while time.time() < stop:
                n += 1
                mid = 'crash-%d-%d@b.org' % (t, n)
                body = 'Message-ID: <%s>\r\nSubject: c\r\n\r\n' % mid + ('x' * 76 + '\r\n') * random.randint(1, 250)
                s.sendmail('a@b.org', ['x@example.org'], body)
                with lock:
                    log.write(mid + '\n')
        except Exception:
            return
ts = [threading.Thread(target=sender, args=(i,)) for i in range(20)]
for t in ts: t.start()
for t in ts: t.join()
PY

test_expect_success "kill -9 mid-stream loses no message that got 250" "
	: >'$TRASH/accepted';
	python3 '$TRASH/load.py' $port '$TRASH/accepted' & lpid=\$!; echo \$lpid >'$TRASH/load.pid';
	for i in \$(seq 1 600); do test \$(wc -l <'$TRASH/accepted') -ge 40 && break; sleep 0.1; done;
	kids=\$(pgrep -P $dpid);
	test -n \"\$kids\" || { echo 'no dsmtpd worker found (pgrep -P $dpid)'; kill \$lpid; exit 1; };
	kill -9 \$kids $dpid; wait \$lpid;
	n=\$(wc -l <'$TRASH/accepted'); echo \"\$n messages got 250 before the kill\";
	test \$n -ge 40 &&
	find '$TRASH/state-$port/queue' -name '*.d' -exec cat {} + | grep -a -o '^Message-ID: <crash-[0-9-]*@b.org>' |
	    sed 's/^Message-ID: <//; s/>\$//' | sort -u >'$TRASH/spooled' &&
	sort -u '$TRASH/accepted' >'$TRASH/want' &&
	comm -23 '$TRASH/want' '$TRASH/spooled' >'$TRASH/lost' &&
	test ! -s '$TRASH/lost' || { echo lost:; cat '$TRASH/lost'; false; }"

test_expect_success "a restarted dsmtpd cleans tmp/ and accepts mail" "
	start_bg dsmtpd2 '$DSMTPD' -c '$TRASH/d.yaml' && echo \$LAST_PID >'$TRASH/d2.pid' &&
	wait_port 127.0.0.1 $port && sleep 0.3 &&
	test -z \"\$(ls '$TRASH/state-$port/queue/tmp')\" &&
	swaks --server 127.0.0.1:$port --from a@b.org --to x@example.org | grep -q '250 2.0.0 Ok: queued'"
test_expect_success "after recovery every data file has its envelope (crash leftovers removed)" "
	for d in '$TRASH/state-$port/queue'/*.d; do test -f \"\${d%.d}.e\" || { echo \"\$d has no envelope\"; exit 1; }; done"
port3=$(free_port)
make_config "$TRASH/w.yaml" "$port3" '  accepted_domains: [ example.org ]
  workers: 2'
test_expect_success "a worker killed alone is replaced; the server serves and stops with 0" "
	'$DSMTPD' -c '$TRASH/w.yaml' 2>'$TRASH/w.log' & wpid=\$!; echo \$wpid >'$TRASH/w.pid';
	wait_port 127.0.0.1 $port3 &&
	for i in \$(seq 1 100); do test \$(pgrep -P \$wpid -x dsmtpd | wc -l) = 2 && break; sleep 0.1; done &&
	victim=\$(pgrep -P \$wpid -x dsmtpd | head -1) && kill -9 \$victim &&
	for i in \$(seq 1 100); do grep -q 'started in its place' '$TRASH/w.log' && break; sleep 0.1; done &&
	grep -q \"worker \$victim ended abnormally (status 9)\" '$TRASH/w.log' &&
	grep -q 'started in its place' '$TRASH/w.log' &&
	test \$(pgrep -P \$wpid -x dsmtpd | wc -l) = 2 && ! pgrep -P \$wpid -x dsmtpd | grep -qx \$victim &&
	for i in 1 2 3 4; do
		swaks --server 127.0.0.1:$port3 --from a@b.org --to x@example.org | grep -q '250 2.0.0 Ok: queued' || exit 1
	done &&
	kill -TERM \$wpid; wait \$wpid; rc=\$?; cat '$TRASH/w.log'; test \$rc = 0"
finish
