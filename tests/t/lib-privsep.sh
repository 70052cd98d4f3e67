# lib-privsep.sh: what the tests of a root start share (t0400, t0410,
# t0415, t0420; sourced after lib.sh): the dsmtp system user, a trash
# directory the dsmtp user can reach, and self-signed key pairs in $k
# (keys root's 0600, certificates 0644).

# privsep_setup [TRASH-MODE]: needs root (skips otherwise), openssl,
# setpriv and useradd; makes the dsmtp system user when it is missing;
# sets uid (dsmtp's) and k (the key directory)
privsep_setup() {
	need_ openssl
	need_ setpriv
	need_ useradd
	[ "$(id -u)" = 0 ] || skip_ "changing to another user needs root"
	id dsmtp >/dev/null 2>&1 ||
	    useradd --system --no-create-home --home-dir /var/lib/dsmtp --shell /usr/sbin/nologin dsmtp ||
	    framework_failure_ "cannot create the dsmtp user"
	uid=$(id -u dsmtp)
	# processes running as dsmtp must reach their state directories here
	chmod "${1:-711}" "$TRASH"
	k="$TRASH/keys"
	mkdir -m 755 "$k"
}

# privsep_cert NAME SAN OPENSSL-NEWKEY-ARGS...: $k/NAME.pem (CN NAME.test,
# subjectAltName SAN, usable by a server and a client) and $k/NAME.key
privsep_cert() {
	_n=$1 _san=$2
	shift 2
	openssl req -x509 -nodes "$@" -keyout "$k/$_n.key" -out "$k/$_n.pem" -days 30 \
	    -subj "/CN=$_n.test" -addext "subjectAltName=$_san" \
	    -addext "extendedKeyUsage=serverAuth,clientAuth" >/dev/null 2>&1 &&
	    chmod 600 "$k/$_n.key" && chmod 644 "$k/$_n.pem"
}

# mkcert NAME OPENSSL-NEWKEY-ARGS...: privsep_cert with DNS:NAME.test
mkcert() {
	_m=$1
	shift
	privsep_cert "$_m" "DNS:$_m.test" "$@"
}
