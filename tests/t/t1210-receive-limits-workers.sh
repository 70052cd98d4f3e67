#!/bin/sh
# t1210-receive-limits-workers: max_connections and max_connections_per_ip
# hold for the whole server with several workers (issue 14, finding 4),
# places are given back when sessions end, and a worker killed with -9
# does not keep its sessions counted.
. "${srcdir:-.}/tests/t/lib.sh"

port=$(free_port)
make_config "$TRASH/d.yaml" "$port" '  accepted_domains: [ example.org ]
  max_connections: 5
  max_connections_per_ip: 3
  timeouts: { command: 30 }
  workers: 3'
start_bg dsmtpd "$DSMTPD" -c "$TRASH/d.yaml"
dpid=$LAST_PID
wait_port 127.0.0.1 "$port" || framework_failure_ "dsmtpd did not start"
# wait_port's probe connection must be gone from the count
sleep 0.5

# the helper: open N connections from SRC (one at a time, a pause between,
# so that several workers take them), print how many got 220 and 421 4.7.0,
# keep the greeted ones open while the script runs HOLD seconds
cat >"$TRASH/open.py" <<'PY'
import socket, sys, time
port, n, hold = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
srcs = sys.argv[4:]
kept, greeted, refused, other = [], 0, 0, []
for i in range(n):
    src = srcs[i % len(srcs)]
    s = socket.socket()
    s.bind((src, 0))
    s.settimeout(10)
    s.connect(('127.0.0.1', port))
    line = s.makefile('rb').readline()
    if line.startswith(b'220 '):
        greeted += 1
        kept.append(s)
    elif line.startswith(b'421 4.7.0 '):
        refused += 1
        s.close()
    else:
        other.append(line)
    time.sleep(0.05)
print(greeted, refused, other)
sys.stdout.flush()
time.sleep(hold)
for s in kept:
    s.close()
PY

test_expect_success "three workers are running" "
	test \$(pgrep -P $dpid -x dsmtpd | wc -l) = 3"

test_expect_success "max_connections_per_ip across workers: 3 of 9 from one address, 421 4.7.0 for the rest" "
	out=\$(python3 '$TRASH/open.py' $port 9 0 127.0.0.1) && echo \"\$out\" &&
	test \"\$out\" = '3 6 []'"

test_expect_success "after they close, one address gets its 3 again" "
	sleep 0.5 &&
	out=\$(python3 '$TRASH/open.py' $port 4 0 127.0.0.1) && echo \"\$out\" &&
	test \"\$out\" = '3 1 []'"

test_expect_success "max_connections across workers: 5 of 10 from five addresses" "
	sleep 0.5 &&
	out=\$(python3 '$TRASH/open.py' $port 10 0 127.0.0.2 127.0.0.3 127.0.0.4 127.0.0.5 127.0.0.6) &&
	echo \"\$out\" && test \"\$out\" = '5 5 []'"

test_expect_success "a worker killed with -9 holding sessions does not keep them counted" "
	sleep 0.5 &&
	python3 '$TRASH/open.py' $port 5 3 127.0.0.2 127.0.0.3 127.0.0.4 127.0.0.5 127.0.0.6 >'$TRASH/held' &
	hpid=\$! && sleep 1 && cat '$TRASH/held' && test \"\$(cat '$TRASH/held')\" = '5 0 []' &&
	for w in \$(pgrep -P $dpid -x dsmtpd); do kill -9 \$w; done &&
	for i in \$(seq 1 100); do test \$(pgrep -P $dpid -x dsmtpd | wc -l) = 3 && break; sleep 0.1; done &&
	wait \$hpid && sleep 0.5 &&
	out=\$(python3 '$TRASH/open.py' $port 6 0 127.0.0.2 127.0.0.3 127.0.0.4 127.0.0.5 127.0.0.6) &&
	echo \"\$out\" && test \"\$out\" = '5 1 []'"
finish
