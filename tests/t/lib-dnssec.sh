# lib-dnssec.sh: a real signed zone for the DANE tests (sourced after
# lib.sh). At test time: keys made with ldns-keygen, zones signed with
# ldns-signzone, served by a private nsd on a loopback port, with a private
# validating unbound in front of it (trust anchor: the zone's DS) on
# another loopback port. Nothing is faked and nothing listens on port 53.
#
#   dnssec_need                 fail (99) unless nsd, unbound and ldnsutils are installed
#   dnssec_keys ZONE            a KSK and a ZSK for ZONE in $DNSSEC/keys
#   dnssec_sign ZONE FILE [ARGS] FILE signed into $DNSSEC/nsd/ZONE.signed (ARGS
#                               go to ldns-signzone, e.g. -e 20200101000000)
#   dnssec_serve ZONE... -- PLAINZONE...
#                               nsd serving the signed ZONEs and the unsigned
#                               PLAINZONEs ($DNSSEC/nsd/NAME); unbound
#                               validating the signed ones; sets NSD_PORT,
#                               UNBOUND_PORT and DNSSEC_TA (the DS file)
#   dnssec_edge_config PORT [sts] [cert] [retry=YAML]
#                               the edge's config on stdout, down to its first
#                               route (bounce.example, a maildir): dsmtpd on
#                               127.0.0.1:PORT with receive.tls none, state in
#                               $TRASH/a, the test CA as trust, DNSSEC
#                               validated through the private unbound,
#                               send.tls opportunistic. sts: mta_sts on $HPORT;
#                               cert: the test server certificate and
#                               receive.tls left at its default; retry=YAML:
#                               send.retry. The caller appends routes ("    -
#                               domain: ...") and further sections.

DNSSEC="$TRASH/dnssec"

dnssec_need() {
	for _c in nsd unbound ldns-keygen ldns-signzone ldns-key2ds; do
		command -v "$_c" >/dev/null 2>&1 || [ -x "/usr/sbin/$_c" ] ||
		    framework_failure_ "$_c not installed (contrib/deps: nsd unbound ldnsutils)"
	done
	PATH="$PATH:/usr/sbin"
	mkdir -p "$DNSSEC/keys" "$DNSSEC/nsd" "$DNSSEC/unbound"
}

dnssec_keys() {
	(
		cd "$DNSSEC/keys" &&
		ksk=$(ldns-keygen -a ECDSAP256SHA256 -k "$1") &&
		zsk=$(ldns-keygen -a ECDSAP256SHA256 "$1") &&
		echo "$ksk" >"$1.ksk" && echo "$zsk" >"$1.zsk" &&
		# ldns-keygen writes the KSK's DS next to it: the trust anchor
		cat "$ksk.ds" >>"$DNSSEC/ta.ds"
	) || framework_failure_ "ldns-keygen $1"
}

dnssec_sign() {
	_z=$1 _f=$2; shift 2
	(
		cd "$DNSSEC/keys" &&
		ldns-signzone "$@" -f "$DNSSEC/nsd/$_z.signed" "$_f" "$(cat "$_z.ksk")" \
		    "$(cat "$_z.zsk")"
	) || framework_failure_ "ldns-signzone $_z"
}

dnssec_serve() {
	NSD_PORT=$(free_port)
	UNBOUND_PORT=$(free_port)
	DNSSEC_TA="$DNSSEC/ta.ds"
	{
		printf 'server:\n  ip-address: 127.0.0.1@%s\n  port: %s\n' "$NSD_PORT" "$NSD_PORT"
		printf '  zonesdir: "%s"\n  database: ""\n  username: ""\n  chroot: ""\n' "$DNSSEC/nsd"
		printf '  pidfile: "%s"\n  xfrdfile: "%s"\n  zonelistfile: "%s"\n' \
		    "$DNSSEC/nsd/nsd.pid" "$DNSSEC/nsd/xfrd.state" "$DNSSEC/nsd/zone.list"
		printf '  logfile: "%s"\n  server-count: 1\n  verbosity: 1\n' "$DNSSEC/nsd/nsd.log"
		printf 'remote-control:\n  control-enable: no\n'
	} >"$DNSSEC/nsd.conf"
	{
		printf 'server:\n  interface: 127.0.0.1@%s\n  port: %s\n' "$UNBOUND_PORT" "$UNBOUND_PORT"
		printf '  do-daemonize: no\n  username: ""\n  chroot: ""\n  directory: "%s"\n' \
		    "$DNSSEC/unbound"
		printf '  pidfile: ""\n  use-syslog: no\n  logfile: "%s"\n  verbosity: 1\n' \
		    "$DNSSEC/unbound/unbound.log"
		printf '  val-log-level: 2\n  do-not-query-localhost: no\n  do-ip6: no\n'
		printf '  access-control: 127.0.0.0/8 allow\n  qname-minimisation: no\n'
		printf '  local-zone: "test." nodefault\n  trust-anchor-file: "%s"\n' "$DNSSEC_TA"
		printf '  module-config: "validator iterator"\n  harden-referral-path: no\n'
		printf '  cache-max-ttl: 1\n  cache-max-negative-ttl: 1\n'
		printf 'remote-control:\n  control-enable: no\n'
	} >"$DNSSEC/unbound.conf"
	_plain=false
	for _z in "$@"; do
		if [ "$_z" = -- ]; then _plain=true; continue; fi
		_file="$_z.signed"
		$_plain && _file="$_z"
		printf 'zone:\n  name: "%s"\n  zonefile: "%s"\n' "$_z" "$_file" >>"$DNSSEC/nsd.conf"
		printf 'stub-zone:\n  name: "%s"\n  stub-addr: 127.0.0.1@%s\n' "$_z" "$NSD_PORT" \
		    >>"$DNSSEC/unbound.conf"
	done
	nsd-checkconf "$DNSSEC/nsd.conf" >"$DNSSEC/nsd-checkconf.out" 2>&1 ||
	    { cat "$DNSSEC/nsd-checkconf.out"; framework_failure_ "nsd.conf"; }
	start_bg nsd nsd -d -c "$DNSSEC/nsd.conf"
	start_bg unbound unbound -d -c "$DNSSEC/unbound.conf"
	# ready when unbound answers a validated SOA of the first zone
	_i=0
	until python3 - "$UNBOUND_PORT" "$1" <<'PY' >/dev/null 2>&1
import socket, struct, sys
port, zone = int(sys.argv[1]), sys.argv[2]
q = struct.pack("!HHHHHH", 0x1234, 0x0100, 1, 0, 0, 1)
q += b"".join(bytes([len(l)]) + l.encode() for l in zone.split(".")) + b"\0"
q += struct.pack("!HH", 6, 1)
q += b"\0" + struct.pack("!HHIH", 41, 4096, 0x8000, 0)   # EDNS, DO
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(1)
s.sendto(q, ("127.0.0.1", port))
r = s.recv(4096)
sys.exit(0 if (r[3] & 0x0f) == 0 and (r[3] & 0x20) else 1)   # NOERROR and AD
PY
	do
		_i=$((_i + 1))
		[ $_i -lt 50 ] || { cat "$TRASH/nsd.log" "$TRASH/unbound.log" "$DNSSEC/nsd/nsd.log" \
		    "$DNSSEC/unbound/unbound.log" 2>/dev/null; framework_failure_ "nsd+unbound did not validate $1"; }
		sleep 0.2
	done
}

dnssec_edge_config() {
	_port=$1 _sts=false _cert=false _retry=
	shift
	for _o in "$@"; do
		case $_o in
		sts) _sts=true ;;
		cert) _cert=true ;;
		retry=*) _retry=${_o#retry=} ;;
		*) framework_failure_ "dnssec_edge_config: unknown option $_o" ;;
		esac
	done
	printf 'hostname: edge.example.org\nstate_dir: %s\n' "$TRASH/a"
	if $_cert; then
		printf 'certificates:\n  - cert: %s\n    key: %s\n' "$pki/server-chain.pem" \
		    "$pki/server.key"
	fi
	printf 'trust:\n  ca_file: %s\n' "$pki/ca-bundle.pem"
	printf 'receive:\n  listen: [ "127.0.0.1:%s" ]\n' "$_port"
	if ! $_cert; then
		printf '  tls: none\n'
	fi
	printf '  workers: 1\n'
	printf 'dns:\n  resolver: [ "127.0.0.1:%s" ]\n  dnssec: validate\n' "$UNBOUND_PORT"
	printf '  trust_anchor_file: %s\n' "$DNSSEC_TA"
	if $_sts; then
		printf 'mta_sts:\n  enabled: true\n  port: %s\n' "$HPORT"
	fi
	printf 'send:\n  tls: opportunistic\n'
	if [ -n "$_retry" ]; then
		printf '  retry: %s\n' "$_retry"
	fi
	printf '  routes:\n    - domain: bounce.example\n      next_hop: "maildir:%s"\n' \
	    "$TRASH/bounces"
}
