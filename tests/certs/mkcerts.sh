#!/bin/sh
# mkcerts.sh DIR: make the test PKI with certtool (GnuTLS), at test time, so
# no private key is ever committed and nothing expires under the suite.
#
# Writes into DIR (created if missing), each NAME.pem with its NAME.key
# (unencrypted PKCS#8 PEM, mode 0600):
#   ca            test root CA, ECDSA P-256, "CN=dsmtp Test CA,O=dsmtp tests"
#   inter         intermediate CA signed by ca, "CN=dsmtp Test Intermediate,O=dsmtp tests"
#   server        ECDSA P-256 leaf signed by ca, CN=mail.example.com, DNS SANs
#                 $MKCERTS_SANS (default "mail.example.com example.com localhost"),
#                 TLS server and client usage, valid 30 days
#   server-rsa    the same names with an RSA 2048 key
#   server-inter  the same names, ECDSA, signed by inter (serve it with inter.pem)
#   wrongname     leaf signed by ca for other.example.net only
#   expired       leaf signed by ca for the server names, valid 2020-01-01..2021-01-01
#   selfsigned    self-signed ECDSA leaf for the server names (no CA)
#   client        client leaf signed by ca, CN=partner.example.net, SAN
#                 partner.example.net, TLS client usage only
#   clientonly    the server names, signed by ca, but extended key usage
#                 TLS client only: no serverAuth (a server must refuse it)
#   serveronly    partner.example.net, signed by ca, extended key usage TLS
#                 server only: no clientAuth (a client must refuse it)
# and bundles:
#   server-chain.pem  server.pem then ca.pem
#   inter-chain.pem   server-inter.pem then inter.pem
#   ca-bundle.pem     ca.pem (the trust anchor to configure: trust.ca_file)
# Exit 0, or non-zero with certtool's message when certtool is missing or fails.
set -eu

dir=${1:?usage: mkcerts.sh DIR}
sans=${MKCERTS_SANS:-"mail.example.com example.com localhost"}
command -v certtool >/dev/null 2>&1 || { echo "mkcerts.sh: certtool not installed (gnutls-bin)" >&2; exit 1; }
mkdir -p "$dir"
umask 077

# key NAME TYPE: a private key (ecdsa or rsa)
key() {
	case $2 in
	rsa) certtool --generate-privkey --key-type rsa --bits 2048 --outfile "$dir/$1.key" 2>/dev/null ;;
	*) certtool --generate-privkey --key-type ecdsa --curve secp256r1 --outfile "$dir/$1.key" 2>/dev/null ;;
	esac
}

# tmpl NAME LINES...: a certtool template
tmpl() {
	_n=$1; shift
	printf '%s\n' "$@" >"$dir/$_n.tmpl"
}

dns_lines() {
	for n in $sans; do printf 'dns_name = "%s"\n' "$n"; done
}

# sign NAME ISSUER: a leaf or sub-CA signed by ISSUER (.pem/.key)
sign() {
	certtool --generate-certificate --load-privkey "$dir/$1.key" \
	    --load-ca-certificate "$dir/$2.pem" --load-ca-privkey "$dir/$2.key" \
	    --template "$dir/$1.tmpl" --outfile "$dir/$1.pem" 2>/dev/null
}

key ca ecdsa
tmpl ca 'cn = "dsmtp Test CA"' 'organization = "dsmtp tests"' 'serial = 1' \
    'expiration_days = 60' 'ca' 'cert_signing_key' 'crl_signing_key'
certtool --generate-self-signed --load-privkey "$dir/ca.key" --template "$dir/ca.tmpl" \
    --outfile "$dir/ca.pem" 2>/dev/null

key inter ecdsa
tmpl inter 'cn = "dsmtp Test Intermediate"' 'organization = "dsmtp tests"' 'serial = 2' \
    'expiration_days = 60' 'ca' 'cert_signing_key' 'crl_signing_key'
sign inter ca

server_tmpl() {
	# $1 NAME, $2 serial, then extra lines
	_n=$1 _s=$2; shift 2
	{
		printf 'cn = "mail.example.com"\norganization = "dsmtp tests"\nserial = %s\n' "$_s"
		dns_lines
		printf '%s\n' tls_www_server tls_www_client signing_key encryption_key "$@"
	} >"$dir/$_n.tmpl"
}

key server ecdsa
server_tmpl server 10 'expiration_days = 30'
sign server ca

key server-rsa rsa
server_tmpl server-rsa 11 'expiration_days = 30'
sign server-rsa ca

key server-inter ecdsa
server_tmpl server-inter 12 'expiration_days = 30'
sign server-inter inter

key wrongname ecdsa
tmpl wrongname 'cn = "other.example.net"' 'serial = 13' 'dns_name = "other.example.net"' \
    'tls_www_server' 'tls_www_client' 'signing_key' 'expiration_days = 30'
sign wrongname ca

key expired ecdsa
server_tmpl expired 14 'activation_date = "2020-01-01 00:00:00"' \
    'expiration_date = "2021-01-01 00:00:00"'
sign expired ca

key selfsigned ecdsa
server_tmpl selfsigned 15 'expiration_days = 30'
certtool --generate-self-signed --load-privkey "$dir/selfsigned.key" \
    --template "$dir/selfsigned.tmpl" --outfile "$dir/selfsigned.pem" 2>/dev/null

key client ecdsa
tmpl client 'cn = "partner.example.net"' 'organization = "partner tests"' 'serial = 16' \
    'dns_name = "partner.example.net"' 'tls_www_client' 'signing_key' 'expiration_days = 30'
sign client ca

key clientonly ecdsa
{
	printf 'cn = "mail.example.com"\norganization = "dsmtp tests"\nserial = 17\n'
	dns_lines
	printf '%s\n' tls_www_client signing_key 'expiration_days = 30'
} >"$dir/clientonly.tmpl"
sign clientonly ca

key serveronly ecdsa
tmpl serveronly 'cn = "partner.example.net"' 'organization = "partner tests"' 'serial = 18' \
    'dns_name = "partner.example.net"' 'tls_www_server' 'signing_key' 'expiration_days = 30'
sign serveronly ca

cat "$dir/server.pem" "$dir/ca.pem" >"$dir/server-chain.pem"
cat "$dir/server-inter.pem" "$dir/inter.pem" >"$dir/inter-chain.pem"
cp "$dir/ca.pem" "$dir/ca-bundle.pem"
rm -f "$dir"/*.tmpl
chmod 600 "$dir"/*.key
chmod 644 "$dir"/*.pem
