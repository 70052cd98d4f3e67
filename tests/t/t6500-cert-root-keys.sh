#!/bin/sh
# t6500-cert-root-keys: dsmtp-cert run as root on a state_dir the service
# user owns (DESIGN.md 13.4): the certificates (and the directories, the
# enabled file, a request) become the user's and the user can read them;
# the private keys, made by `new` and by `request`, stay root's, mode 0600,
# and the user cannot open them. Run as the user itself, everything is the
# user's as before, keys included.
. "${srcdir:-.}/tests/t/lib.sh"

[ "$(id -u)" = 0 ] || skip_ "writing keys as root into another user's state_dir needs root"
command -v setpriv >/dev/null 2>&1 || framework_failure_ "setpriv not installed (util-linux)"
# the service user the package makes; a machine without it has nobody
svc=dsmtp
id "$svc" >/dev/null 2>&1 || svc=nobody
id "$svc" >/dev/null 2>&1 || framework_failure_ "neither dsmtp nor nobody exists"
grp=$(id -gn "$svc")
as_svc="setpriv --reuid=$svc --regid=$grp --clear-groups"

# the user must reach its state_dir: the trash is root's 0700 otherwise
chmod 0755 "$TRASH"
state=$TRASH/state
install -d -o "$svc" -g "$grp" -m 0700 "$state"
cat >"$TRASH/c.yaml" <<EOF2
hostname: mx.example.org
state_dir: $state
EOF2
chmod 0644 "$TRASH/c.yaml"

test_expect_success "dsmtp-cert new as root: the key is root's 0600, the certificate the user's 0644" "
	'$DSMTP_CERT' -c '$TRASH/c.yaml' new --cn mx.example.org >'$TRASH/new.out' 2>&1 ||
	    { cat '$TRASH/new.out'; exit 1; }
	t=\$(sed -n 's/^created self-signed certificate //p' '$TRASH/new.out') && test -n \"\$t\" &&
	stat -c '%n %U:%G %a' '$state/certs' '$state/certs/'\$t.key '$state/certs/'\$t.pem &&
	test \"\$(stat -c '%U:%G %a' '$state/certs/'\$t.key)\" = 'root:root 600' &&
	test \"\$(stat -c '%U %a' '$state/certs/'\$t.pem)\" = '$svc 644' &&
	test \"\$(stat -c '%U' '$state/certs' '$state/certs/enabled' '$state/certs/pending' | sort -u)\" = '$svc'"

test_expect_success "the user reads the certificate and cannot open the key" "
	t=\$(sed -n 's/^created self-signed certificate //p' '$TRASH/new.out') &&
	$as_svc cat '$state/certs/'\$t.pem >'$TRASH/cert.pem' && grep -q 'BEGIN CERTIFICATE' '$TRASH/cert.pem' &&
	$as_svc cat '$state/certs/enabled' | grep -qx \"\$t\" &&
	! $as_svc cat '$state/certs/'\$t.key >'$TRASH/key.out' 2>'$TRASH/key.err' &&
	grep -q 'Permission denied' '$TRASH/key.err' && test ! -s '$TRASH/key.out' &&
	cat '$state/certs/'\$t.key | grep -q 'BEGIN PRIVATE KEY'"

test_expect_success "the user's own dsmtp-cert list still reads the store (the key is there, not readable)" "
	$as_svc '$DSMTP_CERT' -c '$TRASH/c.yaml' list >'$TRASH/list.out' 2>&1 ||
	    { cat '$TRASH/list.out'; exit 1; }
	grep -q mx.example.org '$TRASH/list.out'"

test_expect_success "request as root: the pending key is root's 0600, its request the user's" "
	'$DSMTP_CERT' -c '$TRASH/c.yaml' request --subject 'CN=mx.example.org' --san mx.example.org \
	    --out '$TRASH/req.csr' >'$TRASH/req.out' 2>&1 || { cat '$TRASH/req.out'; exit 1; }
	k=\$(ls '$state'/certs/pending/*.key) && test -n \"\$k\" &&
	test \"\$(stat -c '%U:%G %a' \$k)\" = 'root:root 600' &&
	test \"\$(stat -c '%U' \${k%.key}.csr)\" = '$svc' &&
	! $as_svc cat \$k >/dev/null 2>&1 && $as_svc cat \${k%.key}.csr | grep -q 'CERTIFICATE REQUEST'"

test_expect_success "run as the user, dsmtp-cert new keeps today's behaviour: the key is the user's 0600" "
	$as_svc '$DSMTP_CERT' -c '$TRASH/c.yaml' new --cn user.example.org >'$TRASH/new2.out' 2>&1 ||
	    { cat '$TRASH/new2.out'; exit 1; }
	t=\$(sed -n 's/^created self-signed certificate //p' '$TRASH/new2.out') && test -n \"\$t\" &&
	test \"\$(stat -c '%U %a' '$state/certs/'\$t.key)\" = '$svc 600' &&
	test \"\$(stat -c '%U %a' '$state/certs/'\$t.pem)\" = '$svc 644' &&
	$as_svc cat '$state/certs/'\$t.key | grep -q 'BEGIN PRIVATE KEY'"

test_expect_success "as root in root's own state_dir nothing changes: everything root's" "
	mkdir -m 0700 '$TRASH/rootstate' &&
	printf 'hostname: mx.example.org\nstate_dir: %s\n' '$TRASH/rootstate' >'$TRASH/r.yaml' &&
	'$DSMTP_CERT' -c '$TRASH/r.yaml' new >'$TRASH/new3.out' 2>&1 || { cat '$TRASH/new3.out'; exit 1; }
	test \"\$(find '$TRASH/rootstate' ! -user root | wc -l)\" = 0 &&
	test \"\$(stat -c %a '$TRASH'/rootstate/certs/*.key)\" = 600"
finish
