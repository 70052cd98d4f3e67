/* check_tls.c: unit tests of tls/'s certificate half: facts (names, key
 * types, fingerprints, SPKI pins), chain verification reasons, selection
 * order, the store (files, modes, thumbprint lookup, pending keys),
 * PKCS#12 round trips and the small parsers. Every fixture is made at test
 * time with GnuTLS; no key is committed. */
#include "autoconfig.h"

#include <check.h>
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gnutls/crypto.h>

#include "tls/tls_int.h"
#include "tls/tls_sess_int.h"
#include "tests/unit/unit.h"

static char tmpdir[256];

static void
mk_tmpdir(void)
{
	snprintf(tmpdir, sizeof(tmpdir), "%s/check_tls.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static void
rm_tmpdir(void)
{
	char cmd[600];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	ck_assert_int_eq(system(cmd), 0);
}

/* a CA certificate (basicConstraints CA, keyCertSign) with its key */
static void
make_ca_named(gnutls_x509_crt_t *crt, gnutls_x509_privkey_t *key, const char *dn)
{
	gnutls_privkey_t pk;
	unsigned char serial[] = { 0x01 };
	time_t now = time(NULL);

	ck_assert_int_eq(tls_key_generate(TLS_KEY_ECDSA_P256, key, NULL), 0);
	ck_assert_int_ge(gnutls_x509_crt_init(crt), 0);
	ck_assert_int_ge(gnutls_x509_crt_set_version(*crt, 3), 0);
	ck_assert_int_ge(gnutls_x509_crt_set_serial(*crt, serial, 1), 0);
	ck_assert_int_ge(gnutls_x509_crt_set_activation_time(*crt, now - 3600), 0);
	ck_assert_int_ge(gnutls_x509_crt_set_expiration_time(*crt, now + 86400), 0);
	ck_assert_int_ge(gnutls_x509_crt_set_dn(*crt, dn, NULL), 0);
	ck_assert_int_ge(gnutls_x509_crt_set_key(*crt, *key), 0);
	ck_assert_int_ge(gnutls_x509_crt_set_basic_constraints(*crt, 1, -1), 0);
	ck_assert_int_ge(gnutls_x509_crt_set_key_usage(*crt, GNUTLS_KEY_KEY_CERT_SIGN), 0);
	ck_assert_int_ge(gnutls_privkey_init(&pk), 0);
	ck_assert_int_ge(gnutls_privkey_import_x509(pk, *key, 0), 0);
	ck_assert_int_ge(gnutls_x509_crt_privkey_sign(*crt, *crt, pk, GNUTLS_DIG_SHA256, 0), 0);
	gnutls_privkey_deinit(pk);
}

static void
make_ca(gnutls_x509_crt_t *crt, gnutls_x509_privkey_t *key)
{
	make_ca_named(crt, key, "CN=Unit CA,O=dsmtp");
}

/* a leaf for san signed by ca, valid from nb to na */
static gnutls_x509_crt_t
make_leaf(gnutls_x509_crt_t ca, gnutls_x509_privkey_t cakey, const char *san, time_t nb,
    time_t na, gnutls_x509_privkey_t *key)
{
	gnutls_x509_crt_t crt;
	gnutls_privkey_t pk;
	unsigned char serial[] = { 0x02, 0x03 };

	ck_assert_int_eq(tls_key_generate(TLS_KEY_ECDSA_P256, key, NULL), 0);
	ck_assert_int_ge(gnutls_x509_crt_init(&crt), 0);
	ck_assert_int_ge(gnutls_x509_crt_set_version(crt, 3), 0);
	ck_assert_int_ge(gnutls_x509_crt_set_serial(crt, serial, 2), 0);
	ck_assert_int_ge(gnutls_x509_crt_set_activation_time(crt, nb), 0);
	ck_assert_int_ge(gnutls_x509_crt_set_expiration_time(crt, na), 0);
	ck_assert_int_ge(gnutls_x509_crt_set_dn(crt, "CN=leaf", NULL), 0);
	ck_assert_int_ge(gnutls_x509_crt_set_subject_alt_name(crt, GNUTLS_SAN_DNSNAME, san,
	    (unsigned)strlen(san), GNUTLS_FSAN_APPEND), 0);
	ck_assert_int_ge(gnutls_x509_crt_set_key(crt, *key), 0);
	ck_assert_int_ge(gnutls_privkey_init(&pk), 0);
	ck_assert_int_ge(gnutls_privkey_import_x509(pk, cakey, 0), 0);
	ck_assert_int_ge(gnutls_x509_crt_privkey_sign(crt, ca, pk, GNUTLS_DIG_SHA256, 0), 0);
	gnutls_privkey_deinit(pk);
	return crt;
}

static void
write_pem(const char *path, gnutls_x509_crt_t crt)
{
	gnutls_datum_t pem;
	FILE *fp = fopen(path, "w");

	ck_assert_ptr_nonnull(fp);
	ck_assert_int_ge(gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_PEM, &pem), 0);
	ck_assert_uint_eq(fwrite(pem.data, 1, pem.size, fp), pem.size);
	ck_assert_int_eq(fclose(fp), 0);
	gnutls_free(pem.data);
}

/* --- facts --- */

static const struct {
	enum tls_keyalg	 alg;
	const char	*type;
	unsigned	 bits;
} key_cases[] = {
	{ TLS_KEY_ECDSA_P256, "ECDSA-P256", 256 },
	{ TLS_KEY_ECDSA_P384, "ECDSA-P384", 384 },
	{ TLS_KEY_RSA_2048, "RSA", 2048 },
	{ TLS_KEY_ED25519, "Ed25519", 256 },
};

START_TEST(test_facts_selfsigned)
{
	gnutls_x509_privkey_t key;
	gnutls_x509_crt_t crt;
	struct tls_cert_facts f;
	struct dsmtp_err err;
	char san_s1[] = "mx", san_s2[] = "mx.example.org";
	char *san[] = { san_s1, san_s2 };
	unsigned char buf[64], id[64];
	size_t size = sizeof(buf), idlen = sizeof(id);
	char hex[129];
	gnutls_datum_t b64 = { NULL, 0 }, raw;
	time_t now = time(NULL);

	ck_assert_int_eq(tls_key_generate(key_cases[_i].alg, &key, &err), 0);
	ck_assert_int_eq(tls_selfsigned_make(key, "CN=mx,O=Example\\, Inc", san, 2, 10, &crt, &err), 0);
	ck_assert_int_eq(tls_cert_facts_from_crt(crt, &f, &err), 0);
	ck_assert_str_eq(f.subject, "CN=mx,O=Example\\, Inc");
	ck_assert_str_eq(f.issuer, f.subject);
	ck_assert_str_eq(f.cn, "mx");
	ck_assert_uint_eq(f.nsan, 2);
	ck_assert_str_eq(f.san[0], "mx");
	ck_assert_str_eq(f.san[1], "mx.example.org");
	ck_assert_str_eq(f.key_type, key_cases[_i].type);
	ck_assert_uint_eq(f.key_bits, key_cases[_i].bits);
	ck_assert(f.self_signed);
	ck_assert(f.not_before >= now && f.not_before <= time(NULL));
	ck_assert_int_eq((long long)(f.not_after - f.not_before), 10LL * 86400);
	ck_assert_uint_eq(strlen(f.serial), 32);
	/* SHA-1 thumbprint: 40 lower-case hex of the DER certificate */
	ck_assert_int_ge(gnutls_x509_crt_get_fingerprint(crt, GNUTLS_DIG_SHA1, buf, &size), 0);
	tls_hex(buf, size, hex);
	ck_assert_str_eq(f.sha1, hex);
	ck_assert_uint_eq(strspn(f.sha1, "0123456789abcdef"), 40);
	ck_assert_uint_eq(strspn(f.sha256, "0123456789abcdef"), 64);
	/* the SPKI pin is base64 of GnuTLS's SHA-256 key id (a hash of the
	 * DER SubjectPublicKeyInfo), computed here by another path */
	ck_assert_int_ge(gnutls_x509_crt_get_key_id(crt, GNUTLS_KEYID_USE_SHA256, id, &idlen), 0);
	ck_assert_uint_eq(idlen, 32);
	raw.data = id;
	raw.size = 32;
	ck_assert_int_ge(gnutls_base64_encode2(&raw, &b64), 0);
	ck_assert_uint_eq(strlen(f.spki), 51);
	ck_assert(strncmp(f.spki, "sha256/", 7) == 0);
	ck_assert(memcmp(f.spki + 7, b64.data, 44) == 0);
	gnutls_free(b64.data);
	/* the private key gives the same pin as its certificate */
	{
		char pin[52];

		ck_assert_int_eq(tls_spki_pin_of_privkey(key, pin, &err), 0);
		ck_assert_str_eq(pin, f.spki);
	}
	tls_cert_facts_free(&f);
	ck_assert_ptr_null(f.san);
	gnutls_x509_crt_deinit(crt);
	gnutls_x509_privkey_deinit(key);
}
END_TEST

START_TEST(test_facts_ca_issued_and_file)
{
	gnutls_x509_crt_t ca, leaf;
	gnutls_x509_privkey_t cakey, key;
	struct tls_cert_facts f, g;
	struct dsmtp_err err;
	char path[400];
	time_t now = time(NULL);

	mk_tmpdir();
	make_ca(&ca, &cakey);
	leaf = make_leaf(ca, cakey, "a.example.com", now - 60, now + 3600, &key);
	ck_assert_int_eq(tls_cert_facts_from_crt(leaf, &f, &err), 0);
	ck_assert(!f.self_signed);
	ck_assert_str_eq(f.issuer, "CN=Unit CA,O=dsmtp");
	ck_assert_str_eq(f.serial, "0203");
	/* the same facts from a PEM file */
	snprintf(path, sizeof(path), "%s/leaf.pem", tmpdir);
	write_pem(path, leaf);
	ck_assert_int_eq(tls_cert_facts_from_file(path, &g, &err), 0);
	ck_assert_str_eq(g.sha1, f.sha1);
	ck_assert_str_eq(g.spki, f.spki);
	tls_cert_facts_free(&g);
	/* a file without a certificate names itself */
	snprintf(path, sizeof(path), "%s/junk.pem", tmpdir);
	{
		FILE *fp = fopen(path, "w");

		ck_assert_ptr_nonnull(fp);
		fputs("not a certificate\n", fp);
		fclose(fp);
	}
	ck_assert_int_eq(tls_cert_facts_from_file(path, &g, &err), -1);
	ck_assert_ptr_nonnull(strstr(err.msg, "junk.pem"));
	ck_assert_int_eq(tls_cert_facts_from_file("/nonexistent/x.pem", &g, &err), -1);
	ck_assert_ptr_nonnull(strstr(err.msg, "/nonexistent/x.pem: cannot open"));
	tls_cert_facts_free(&f);
	gnutls_x509_crt_deinit(leaf);
	gnutls_x509_privkey_deinit(key);
	gnutls_x509_crt_deinit(ca);
	gnutls_x509_privkey_deinit(cakey);
	rm_tmpdir();
}
END_TEST

START_TEST(test_chain_status_names)
{
	ck_assert_str_eq(tls_chain_status_name(TLS_CHAIN_OK), "ok");
	ck_assert_str_eq(tls_chain_status_name(TLS_CHAIN_NO_CERT), "no-certificate");
	ck_assert_str_eq(tls_chain_status_name(TLS_CHAIN_EXPIRED), "expired");
	ck_assert_str_eq(tls_chain_status_name(TLS_CHAIN_NOT_YET_VALID), "not-yet-valid");
	ck_assert_str_eq(tls_chain_status_name(TLS_CHAIN_UNKNOWN_ISSUER), "unknown-issuer");
	ck_assert_str_eq(tls_chain_status_name(TLS_CHAIN_BAD_SIGNATURE), "bad-signature");
	ck_assert_str_eq(tls_chain_status_name(TLS_CHAIN_REVOKED), "revoked");
	ck_assert_str_eq(tls_chain_status_name(TLS_CHAIN_INSECURE_ALGORITHM), "insecure-algorithm");
	ck_assert_str_eq(tls_chain_status_name(TLS_CHAIN_OTHER), "other");
	ck_assert_str_eq(tls_chain_status_name((enum tls_chain_status)99), "other");
}
END_TEST

/* --- names (selection only) --- */

static const struct {
	const char	*pattern;
	const char	*host;
	bool		 match;
} name_cases[] = {
	{ "mail.example.com", "mail.example.com", true },
	{ "mail.example.com", "MAIL.Example.COM", true },
	{ "mail.example.com", "mail.example.com.", true },
	{ "mail.example.com", "example.com", false },
	{ "*.example.com", "mail.example.com", true },
	{ "*.example.com", "example.com", false },
	{ "*.example.com", "a.b.example.com", false },
	{ "*.example.com", ".example.com", false },
	{ "m*.example.com", "mail.example.com", false },
	{ "mail.example.com", "", false },
};

START_TEST(test_names)
{
	char *san[] = { (char *)(uintptr_t)name_cases[_i].pattern };
	struct tls_cert_facts f = { .san = san, .nsan = 1 };

	ck_assert_msg(tls_cert_facts_names(&f, name_cases[_i].host) == name_cases[_i].match,
	    "%s vs %s", name_cases[_i].pattern, name_cases[_i].host);
}
END_TEST

START_TEST(test_names_cn_only_without_san)
{
	char san_s3[] = "other.example.com";
	char *san[] = { san_s3 };
	struct tls_cert_facts f = { .cn = "mail.example.com" };

	ck_assert(tls_cert_facts_names(&f, "mail.example.com"));
	f.san = san;
	f.nsan = 1;
	/* RFC 6125: with a DNS SAN present the CN is not looked at */
	ck_assert(!tls_cert_facts_names(&f, "mail.example.com"));
}
END_TEST

/* --- selection order --- */

#define DAY	86400
#define NOW	((time_t)2000000000)

struct sel_cert {
	const char	*san;
	time_t		 nb, na;
	bool		 self_signed;
};

static const struct {
	const char		*name;
	const char		*sni;
	struct sel_cert		 c[4];
	size_t			 n;
	size_t			 want;
	const char		*why;	/* a piece of the reason */
} sel_cases[] = {
	{ "hostname beats newer", NULL, {
	    { "other.example.org", NOW - DAY, NOW + DAY, false },
	    { "test.example.org", NOW - 9 * DAY, NOW + DAY, true } }, 2, 1,
	    "hostname test.example.org" },
	{ "SNI beats hostname", "mx.partner.example", {
	    { "test.example.org", NOW - DAY, NOW + DAY, false },
	    { "*.partner.example", NOW - 9 * DAY, NOW + DAY, true } }, 2, 1,
	    "SNI mx.partner.example" },
	{ "unknown SNI falls back to hostname", "nobody.example", {
	    { "x.example.org", NOW - DAY, NOW + DAY, false },
	    { "test.example.org", NOW - 9 * DAY, NOW + DAY, true } }, 2, 1,
	    "no certificate names SNI nobody.example" },
	{ "valid beats expired", NULL, {
	    { "test.example.org", NOW - 9 * DAY, NOW - DAY, false },
	    { "test.example.org", NOW - 20 * DAY, NOW + DAY, true } }, 2, 1, "valid until" },
	{ "valid beats not yet valid", NULL, {
	    { "test.example.org", NOW + DAY, NOW + 9 * DAY, false },
	    { "test.example.org", NOW - 20 * DAY, NOW + DAY, true } }, 2, 1, "valid until" },
	{ "CA-issued beats self-signed", NULL, {
	    { "test.example.org", NOW - DAY, NOW + DAY, true },
	    { "test.example.org", NOW - 9 * DAY, NOW + DAY, false } }, 2, 1, "CA-issued" },
	{ "newest first", NULL, {
	    { "test.example.org", NOW - 9 * DAY, NOW + DAY, false },
	    { "test.example.org", NOW - 2 * DAY, NOW + DAY, false },
	    { "test.example.org", NOW - 5 * DAY, NOW + DAY, false } }, 3, 1, "3 candidates" },
	{ "nothing names us: still the best", NULL, {
	    { "a.example", NOW - 9 * DAY, NOW - DAY, false },
	    { "b.example", NOW - 2 * DAY, NOW + DAY, true } }, 2, 1,
	    "no certificate names test.example.org" },
	{ "only an expired one: chosen, and said", NULL, {
	    { "test.example.org", NOW - 9 * DAY, NOW - DAY, true } }, 1, 0, "NOT VALID NOW" },
};

START_TEST(test_select_order)
{
	struct tls_cert_facts f[4];
	const struct tls_cert_facts *p[4];
	char *san[4];
	char why[160];
	size_t got;

	memset(f, 0, sizeof(f));
	for (size_t i = 0; i < sel_cases[_i].n; i++) {
		san[i] = (char *)(uintptr_t)sel_cases[_i].c[i].san;
		f[i].san = &san[i];
		f[i].nsan = 1;
		f[i].not_before = sel_cases[_i].c[i].nb;
		f[i].not_after = sel_cases[_i].c[i].na;
		f[i].self_signed = sel_cases[_i].c[i].self_signed;
		p[i] = &f[i];
	}
	got = tls_select_best(p, sel_cases[_i].n, sel_cases[_i].sni, "test.example.org", NOW, why,
	    sizeof(why));
	ck_assert_msg(got == sel_cases[_i].want, "%s: chose %zu, want %zu (%s)",
	    sel_cases[_i].name, got, sel_cases[_i].want, why);
	ck_assert_msg(strstr(why, sel_cases[_i].why) != NULL, "%s: why \"%s\" lacks \"%s\"",
	    sel_cases[_i].name, why, sel_cases[_i].why);
}
END_TEST

/* --- verification --- */

START_TEST(test_verify_chain)
{
	gnutls_x509_crt_t ca, good, expired, future;
	gnutls_x509_privkey_t cakey, k1, k2, k3, skey;
	gnutls_x509_crt_t self;
	gnutls_datum_t der[2];
	struct tls_peer_facts pf;
	struct tls_trust *t;
	struct dsmtp_err err;
	char path[400];
	char san_s4[] = "self.example";
	char *san[] = { san_s4 };
	time_t now = time(NULL);

	mk_tmpdir();
	make_ca(&ca, &cakey);
	snprintf(path, sizeof(path), "%s/ca.pem", tmpdir);
	write_pem(path, ca);
	ck_assert_ptr_null(tls_trust_load("/nonexistent/ca.pem", NULL, &err));
	ck_assert_ptr_nonnull(strstr(err.msg, "/nonexistent/ca.pem"));
	t = tls_trust_load(path, NULL, &err);
	ck_assert_msg(t != NULL, "%s", err.msg);
	ck_assert_ptr_nonnull(tls_trust_list(t));
	ck_assert_uint_eq(tls_trust_count(t), 1);
	/* the system store loads (possibly empty on a bare host), never fails */
	{
		struct tls_trust *sys = tls_trust_load("system", NULL, &err);

		ck_assert_msg(sys != NULL, "%s", err.msg);
		tls_trust_free(sys);
	}

	good = make_leaf(ca, cakey, "good.example", now - 60, now + 3600, &k1);
	expired = make_leaf(ca, cakey, "old.example", 1577836800 /* 2020-01-01 */,
	    1609459200 /* 2021-01-01 */, &k2);
	future = make_leaf(ca, cakey, "new.example", now + 86400, now + 2 * 86400, &k3);
	ck_assert_int_eq(tls_key_generate(TLS_KEY_ECDSA_P256, &skey, &err), 0);
	ck_assert_int_eq(tls_selfsigned_make(skey, "CN=self", san, 1, 5, &self, &err), 0);

	ck_assert_int_ge(gnutls_x509_crt_export2(good, GNUTLS_X509_FMT_DER, &der[0]), 0);
	ck_assert_int_ge(gnutls_x509_crt_export2(ca, GNUTLS_X509_FMT_DER, &der[1]), 0);
	ck_assert_int_eq(tls_verify_chain(t, der, 1, &pf), 0);
	ck_assert_msg(pf.chain == TLS_CHAIN_OK, "%s", pf.chain_reason);
	ck_assert_str_eq(pf.chain_reason, "ok");
	ck_assert(pf.present);
	ck_assert_uint_eq(pf.chain_len, 1);
	ck_assert_str_eq(pf.leaf.san[0], "good.example");
	tls_cert_facts_free(&pf.leaf);
	/* with the root sent along as well */
	ck_assert_int_eq(tls_verify_chain(t, der, 2, &pf), 0);
	ck_assert_msg(pf.chain == TLS_CHAIN_OK, "%s", pf.chain_reason);
	ck_assert_uint_eq(pf.chain_len, 2);
	tls_cert_facts_free(&pf.leaf);
	gnutls_free(der[0].data);

	ck_assert_int_ge(gnutls_x509_crt_export2(expired, GNUTLS_X509_FMT_DER, &der[0]), 0);
	ck_assert_int_eq(tls_verify_chain(t, der, 1, &pf), 0);
	ck_assert_int_eq(pf.chain, TLS_CHAIN_EXPIRED);
	ck_assert_str_eq(pf.chain_reason, "expired: not_after 2021-01-01T00:00:00Z");
	tls_cert_facts_free(&pf.leaf);
	gnutls_free(der[0].data);

	ck_assert_int_ge(gnutls_x509_crt_export2(future, GNUTLS_X509_FMT_DER, &der[0]), 0);
	ck_assert_int_eq(tls_verify_chain(t, der, 1, &pf), 0);
	ck_assert_int_eq(pf.chain, TLS_CHAIN_NOT_YET_VALID);
	ck_assert(strncmp(pf.chain_reason, "not yet valid: not_before ", 26) == 0);
	tls_cert_facts_free(&pf.leaf);
	gnutls_free(der[0].data);

	ck_assert_int_ge(gnutls_x509_crt_export2(self, GNUTLS_X509_FMT_DER, &der[0]), 0);
	ck_assert_int_eq(tls_verify_chain(t, der, 1, &pf), 0);
	ck_assert_int_eq(pf.chain, TLS_CHAIN_UNKNOWN_ISSUER);
	ck_assert_str_eq(pf.chain_reason, "unknown issuer: CN=self (self-signed)");
	ck_assert(pf.leaf.self_signed);
	tls_cert_facts_free(&pf.leaf);
	/* a tampered signature */
	der[0].data[der[0].size - 3] ^= 0x55;
	ck_assert_int_eq(tls_verify_chain(t, der, 1, &pf), 0);
	ck_assert(pf.chain == TLS_CHAIN_BAD_SIGNATURE || pf.chain == TLS_CHAIN_OTHER ||
	    pf.chain == TLS_CHAIN_UNKNOWN_ISSUER);
	ck_assert(pf.chain != TLS_CHAIN_OK);
	tls_cert_facts_free(&pf.leaf);
	gnutls_free(der[0].data);
	gnutls_free(der[1].data);

	ck_assert_int_eq(tls_verify_chain(t, NULL, 0, &pf), 0);
	ck_assert(!pf.present);
	ck_assert_int_eq(pf.chain, TLS_CHAIN_NO_CERT);

	tls_trust_free(t);
	gnutls_x509_crt_deinit(self);
	gnutls_x509_crt_deinit(good);
	gnutls_x509_crt_deinit(expired);
	gnutls_x509_crt_deinit(future);
	gnutls_x509_crt_deinit(ca);
	gnutls_x509_privkey_deinit(skey);
	gnutls_x509_privkey_deinit(k1);
	gnutls_x509_privkey_deinit(k2);
	gnutls_x509_privkey_deinit(k3);
	gnutls_x509_privkey_deinit(cakey);
	rm_tmpdir();
}
END_TEST

/* a CRL from ca revoking crt, written as PEM to path */
static void
write_crl(const char *path, gnutls_x509_crt_t ca, gnutls_x509_privkey_t cakey,
    gnutls_x509_crt_t crt)
{
	gnutls_x509_crl_t crl;
	gnutls_privkey_t pk;
	gnutls_datum_t pem;
	time_t now = time(NULL);
	FILE *fp;

	ck_assert_int_ge(gnutls_x509_crl_init(&crl), 0);
	ck_assert_int_ge(gnutls_x509_crl_set_version(crl, 2), 0);
	ck_assert_int_ge(gnutls_x509_crl_set_this_update(crl, now - 60), 0);
	ck_assert_int_ge(gnutls_x509_crl_set_next_update(crl, now + 86400), 0);
	ck_assert_int_ge(gnutls_x509_crl_set_crt(crl, crt, now - 30), 0);
	ck_assert_int_ge(gnutls_privkey_init(&pk), 0);
	ck_assert_int_ge(gnutls_privkey_import_x509(pk, cakey, 0), 0);
	ck_assert_int_ge(gnutls_x509_crl_privkey_sign(crl, ca, pk, GNUTLS_DIG_SHA256, 0), 0);
	ck_assert_int_ge(gnutls_x509_crl_export2(crl, GNUTLS_X509_FMT_PEM, &pem), 0);
	ck_assert_ptr_nonnull(fp = fopen(path, "w"));
	ck_assert_uint_eq(fwrite(pem.data, 1, pem.size, fp), pem.size);
	fclose(fp);
	gnutls_free(pem.data);
	gnutls_privkey_deinit(pk);
	gnutls_x509_crl_deinit(crl);
}

START_TEST(test_verify_revoked)
{
	gnutls_x509_crt_t ca, bad, good;
	gnutls_x509_privkey_t cakey, k1, k2;
	gnutls_datum_t der;
	struct tls_peer_facts pf;
	struct tls_trust *t;
	struct dsmtp_err err;
	char capath[400], crlpath[400];
	time_t now = time(NULL);

	mk_tmpdir();
	make_ca(&ca, &cakey);
	bad = make_leaf(ca, cakey, "revoked.example", now - 60, now + 3600, &k1);
	snprintf(capath, sizeof(capath), "%s/ca.pem", tmpdir);
	snprintf(crlpath, sizeof(crlpath), "%s/ca.crl", tmpdir);
	write_pem(capath, ca);
	write_crl(crlpath, ca, cakey, bad);
	t = tls_trust_load(capath, crlpath, &err);
	ck_assert_msg(t != NULL, "%s", err.msg);
	ck_assert_int_ge(gnutls_x509_crt_export2(bad, GNUTLS_X509_FMT_DER, &der), 0);
	ck_assert_int_eq(tls_verify_chain(t, &der, 1, &pf), 0);
	ck_assert_int_eq(pf.chain, TLS_CHAIN_REVOKED);
	ck_assert_str_eq(pf.chain_reason, "revoked: serial 0203");
	tls_cert_facts_free(&pf.leaf);
	gnutls_free(der.data);
	/* the same trust without the CRL accepts it */
	tls_trust_free(t);
	t = tls_trust_load(capath, NULL, &err);
	ck_assert_ptr_nonnull(t);
	ck_assert_int_ge(gnutls_x509_crt_export2(bad, GNUTLS_X509_FMT_DER, &der), 0);
	ck_assert_int_eq(tls_verify_chain(t, &der, 1, &pf), 0);
	ck_assert_int_eq(pf.chain, TLS_CHAIN_OK);
	tls_cert_facts_free(&pf.leaf);
	gnutls_free(der.data);
	/* an impostor CA with our CA's name: the signature fails */
	{
		gnutls_x509_crt_t ca2, ca3, imp;
		gnutls_x509_privkey_t ca2key, ca3key, k3;

		make_ca(&ca2, &ca2key);
		imp = make_leaf(ca2, ca2key, "impostor.example", now - 60, now + 3600, &k3);
		ck_assert_int_ge(gnutls_x509_crt_export2(imp, GNUTLS_X509_FMT_DER, &der), 0);
		ck_assert_int_eq(tls_verify_chain(t, &der, 1, &pf), 0);
		ck_assert_int_eq(pf.chain, TLS_CHAIN_BAD_SIGNATURE);
		tls_cert_facts_free(&pf.leaf);
		gnutls_free(der.data);
		gnutls_x509_crt_deinit(imp);
		gnutls_x509_privkey_deinit(k3);
		gnutls_x509_crt_deinit(ca2);
		gnutls_x509_privkey_deinit(ca2key);
		/* a certificate from another CA: unknown issuer, named */
		make_ca_named(&ca3, &ca3key, "CN=Other CA,O=elsewhere");
		good = make_leaf(ca3, ca3key, "other.example", now - 60, now + 3600, &k2);
		ck_assert_int_ge(gnutls_x509_crt_export2(good, GNUTLS_X509_FMT_DER, &der), 0);
		ck_assert_int_eq(tls_verify_chain(t, &der, 1, &pf), 0);
		ck_assert_int_eq(pf.chain, TLS_CHAIN_UNKNOWN_ISSUER);
		ck_assert_str_eq(pf.chain_reason, "unknown issuer: CN=Other CA,O=elsewhere");
		tls_cert_facts_free(&pf.leaf);
		gnutls_free(der.data);
		gnutls_x509_crt_deinit(ca3);
		gnutls_x509_privkey_deinit(ca3key);
	}
	tls_trust_free(t);
	gnutls_x509_crt_deinit(good);
	gnutls_x509_crt_deinit(bad);
	gnutls_x509_crt_deinit(ca);
	gnutls_x509_privkey_deinit(k1);
	gnutls_x509_privkey_deinit(k2);
	gnutls_x509_privkey_deinit(cakey);
	rm_tmpdir();
}
END_TEST

/* --- the store --- */

START_TEST(test_store)
{
	struct tls_store st;
	struct dsmtp_err err;
	struct stat sb;
	char san_s5[] = "test", san_s6[] = "test.example.org";
	char *san[] = { san_s5, san_s6 };
	char sha1[41], colons[80], upper[41], path[TLS_PATH_MAX + 64];
	size_t idx, idx2;
	int i;

	mk_tmpdir();
	snprintf(path, sizeof(path), "%s/certs", tmpdir);
	ck_assert_int_eq(tls_store_open_dir(path, &st, &err), 0);
	ck_assert_uint_eq(st.ncerts, 0);
	ck_assert_int_eq(tls_store_new_selfsigned(&st, TLS_KEY_ECDSA_P256, "test", san, 2, 30,
	    false, &idx, &err), 0);
	ck_assert_uint_eq(st.ncerts, 1);
	/* the first certificate is enabled even when not asked */
	ck_assert(st.certs[idx].enabled);
	ck_assert(st.certs[idx].has_key);
	memcpy(sha1, st.certs[idx].sha1, sizeof(sha1));
	/* files: <sha1>.pem 0644, <sha1>.key 0600, enabled lists it */
	ck_assert_int_eq(stat(st.certs[idx].key_path, &sb), 0);
	ck_assert_uint_eq(sb.st_mode & 0777, 0600);
	ck_assert_int_eq(stat(st.certs[idx].cert_path, &sb), 0);
	ck_assert_ptr_nonnull(strstr(st.certs[idx].cert_path, sha1));
	snprintf(path, sizeof(path), "%s/certs/enabled", tmpdir);
	{
		FILE *fp = fopen(path, "r");
		char line[64];

		ck_assert_ptr_nonnull(fp);
		ck_assert_ptr_nonnull(fgets(line, sizeof(line), fp));
		line[strcspn(line, "\n")] = '\0';
		ck_assert_str_eq(line, sha1);
		fclose(fp);
	}
	/* no temporary file is left behind */
	{
		char cmd[600];

		snprintf(cmd, sizeof(cmd), "ls -a '%s/certs' | grep -q tmp", tmpdir);
		ck_assert_int_ne(system(cmd), 0);
	}

	ck_assert_int_eq(tls_store_new_selfsigned(&st, TLS_KEY_ED25519, "two", san, 1, 30, false,
	    &idx2, &err), 0);
	ck_assert_uint_eq(st.ncerts, 2);
	ck_assert_int_eq(tls_store_enabled_count(&st), 1);

	/* lookups: full, colons, upper case, 8-digit prefix; errors */
	i = tls_store_lookup(&st, sha1, &err);
	ck_assert_int_ge(i, 0);
	ck_assert_str_eq(st.certs[i].sha1, sha1);
	for (size_t k = 0, o = 0; k < 40; k += 2) {
		colons[o++] = sha1[k];
		colons[o++] = sha1[k + 1];
		colons[o++] = k + 2 < 40 ? ':' : '\0';
	}
	ck_assert_int_eq(tls_store_lookup(&st, colons, &err), i);
	for (size_t k = 0; k < 41; k++)
		upper[k] = (char)toupper((unsigned char)sha1[k]);
	ck_assert_int_eq(tls_store_lookup(&st, upper, &err), i);
	upper[8] = '\0';
	ck_assert_int_eq(tls_store_lookup(&st, upper, &err), i);
	upper[7] = '\0';
	ck_assert_int_eq(tls_store_lookup(&st, upper, &err), -1);
	ck_assert_ptr_nonnull(strstr(err.msg, "at least 8"));
	ck_assert_int_eq(tls_store_lookup(&st, "zzzzzzzzzz", &err), -1);
	ck_assert_ptr_nonnull(strstr(err.msg, "not a thumbprint"));
	ck_assert_int_eq(tls_store_lookup(&st, "0000000000000000000000000000000000000000", &err) ==
	    -1 || strcmp(sha1, "0000000000000000000000000000000000000000") == 0, 1);

	/* enable the second, reopen: both enabled */
	i = tls_store_lookup(&st, st.certs[idx2].sha1, &err);
	ck_assert_int_eq(tls_store_set_enabled(&st, (size_t)i, true, &err), 0);
	snprintf(path, sizeof(path), "%s", st.dir);
	tls_store_close(&st);
	ck_assert_int_eq(tls_store_open_dir(path, &st, &err), 0);
	ck_assert_int_eq(tls_store_enabled_count(&st), 2);

	/* remove the first: its files go, the enabled file forgets it */
	i = tls_store_lookup(&st, sha1, &err);
	ck_assert_int_ge(i, 0);
	{
		char kp[TLS_PATH_MAX], cp[TLS_PATH_MAX];

		snprintf(kp, sizeof(kp), "%s", st.certs[i].key_path);
		snprintf(cp, sizeof(cp), "%s", st.certs[i].cert_path);
		ck_assert_int_eq(tls_store_remove(&st, (size_t)i, &err), 0);
		ck_assert_int_ne(access(kp, F_OK), 0);
		ck_assert_int_ne(access(cp, F_OK), 0);
	}
	ck_assert_uint_eq(st.ncerts, 1);
	ck_assert_int_eq(tls_store_enabled_count(&st), 1);
	ck_assert_int_eq(tls_store_lookup(&st, sha1, &err), -1);
	/* a damaged certificate file is skipped and reported, not fatal */
	{
		char bad[TLS_PATH_MAX + 64];
		FILE *fp;

		snprintf(bad, sizeof(bad), "%s/0123456789012345678901234567890123456789.pem", st.dir);
		ck_assert_ptr_nonnull(fp = fopen(bad, "w"));
		fputs("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", fp);
		fclose(fp);
		snprintf(path, sizeof(path), "%s", st.dir);
		tls_store_close(&st);
		ck_assert_int_eq(tls_store_open_dir(path, &st, &err), 0);
		ck_assert_uint_eq(st.ncerts, 1);
		ck_assert_uint_eq(st.nbad, 1);
		ck_assert_ptr_nonnull(strstr(st.bad[0], "0123456789012345678901234567890123456789.pem"));
	}
	tls_store_close(&st);
	rm_tmpdir();
}
END_TEST

START_TEST(test_store_pending_and_bind)
{
	struct tls_store st;
	struct dsmtp_err err;
	gnutls_x509_privkey_t key, cakey, other;
	gnutls_x509_crq_t crq;
	gnutls_x509_crt_t ca, leaf;
	struct stat sb;
	char san_s7[] = "mail.example.com";
	char *san[] = { san_s7 };
	char path[TLS_PATH_MAX], pin[52];
	size_t idx;

	mk_tmpdir();
	snprintf(path, sizeof(path), "%s/certs", tmpdir);
	ck_assert_int_eq(tls_store_open_dir(path, &st, &err), 0);
	ck_assert_int_eq(tls_key_generate(TLS_KEY_ECDSA_P256, &key, &err), 0);
	ck_assert_int_eq(tls_csr_make(key, "CN=mail.example.com,O=Org,C=US", san, 1, &crq, &err), 0);
	ck_assert_int_eq(tls_store_add_pending(&st, key, crq, &idx, &err), 0);
	ck_assert_uint_eq(st.npending, 1);
	ck_assert_str_eq(st.pending[idx].subject, "CN=mail.example.com,O=Org,C=US");
	ck_assert_int_eq(stat(st.pending[idx].key_path, &sb), 0);
	ck_assert_uint_eq(sb.st_mode & 0777, 0600);
	ck_assert_int_eq(tls_spki_pin_of_privkey(key, pin, &err), 0);
	ck_assert_int_eq(tls_store_pending_find(&st, pin), 0);

	/* a certificate for another key cannot be stored with this key */
	make_ca(&ca, &cakey);
	leaf = make_leaf(ca, cakey, "mail.example.com", time(NULL) - 60, time(NULL) + 3600, &other);
	ck_assert_int_eq(tls_store_add(&st, &leaf, 1, key, false, &idx, &err), -1);
	ck_assert_ptr_nonnull(strstr(err.msg, "does not belong to this private key"));
	ck_assert_uint_eq(st.ncerts, 0);
	ck_assert_int_eq(tls_store_add(&st, &leaf, 1, other, false, &idx, &err), 0);
	ck_assert(!st.certs[idx].facts.self_signed);
	/* the same certificate twice is refused */
	ck_assert_int_eq(tls_store_add(&st, &leaf, 1, other, false, &idx, &err), -1);
	ck_assert_ptr_nonnull(strstr(err.msg, "already in the store"));

	ck_assert_int_eq(tls_store_pending_remove(&st, 0, &err), 0);
	ck_assert_uint_eq(st.npending, 0);
	ck_assert_int_eq(tls_store_pending_find(&st, pin), -1);

	gnutls_x509_crq_deinit(crq);
	gnutls_x509_crt_deinit(leaf);
	gnutls_x509_crt_deinit(ca);
	gnutls_x509_privkey_deinit(key);
	gnutls_x509_privkey_deinit(other);
	gnutls_x509_privkey_deinit(cakey);
	tls_store_close(&st);
	rm_tmpdir();
}
END_TEST

/* a configuration whose state_dir is the test's directory */
static void
load_cfg(struct dsmtp_config *cfg, const char *extra)
{
	struct config_errors errs = { 0 };
	char yaml[2048];

	snprintf(yaml, sizeof(yaml), "hostname: test.example.org\nstate_dir: %s/state\n%s",
	    tmpdir, extra);
	ck_assert_int_eq(config_load_buffer("t.yaml", yaml, strlen(yaml), cfg, &errs), 0);
	config_errors_free(&errs);
}

START_TEST(test_select_and_default)
{
	struct dsmtp_config cfg;
	struct tls_selected sel;
	struct tls_store st;
	struct dsmtp_err err;
	char san_s8[] = "mx.partner.example";
	char *san[] = { san_s8 };
	size_t idx;

	mk_tmpdir();
	load_cfg(&cfg, "");
	ck_assert_int_eq(tls_store_select(&cfg, NULL, &sel, &err), -1);
	ck_assert_ptr_nonnull(strstr(err.msg, "no certificate"));
	/* first start: made once, then found */
	/* racing first starts make exactly one */
	{
		pid_t kids[4];
		int status, made = 0;
		struct tls_store chk;

		for (int k = 0; k < 4; k++) {
			ck_assert_int_ge(kids[k] = fork(), 0);
			if (kids[k] == 0)
				_exit(tls_store_ensure_default(&cfg, &err) + 10);
		}
		for (int k = 0; k < 4; k++) {
			ck_assert_int_eq(waitpid(kids[k], &status, 0), kids[k]);
			ck_assert(WIFEXITED(status));
			ck_assert(WEXITSTATUS(status) == 10 || WEXITSTATUS(status) == 11);
			made += WEXITSTATUS(status) == 11;
		}
		ck_assert_int_eq(made, 1);
		ck_assert_int_eq(tls_store_open(&cfg, &chk, &err), 0);
		ck_assert_uint_eq(chk.ncerts, 1);
		tls_store_close(&chk);
	}
	ck_assert_int_eq(tls_store_ensure_default(&cfg, &err), 0);
	ck_assert_int_eq(tls_store_select(&cfg, NULL, &sel, &err), 0);
	ck_assert_str_eq(sel.facts.cn, "test");
	ck_assert_uint_eq(sel.facts.nsan, 2);
	ck_assert_str_eq(sel.facts.san[0], "test");
	ck_assert_str_eq(sel.facts.san[1], "test.example.org");
	ck_assert_str_eq(sel.facts.key_type, "ECDSA-P256");
	ck_assert_int_eq((long long)(sel.facts.not_after - sel.facts.not_before), 365LL * 86400);
	ck_assert_ptr_nonnull(strstr(sel.why, "hostname test.example.org"));
	ck_assert_int_eq(access(sel.key_path, R_OK), 0);
	tls_selected_free(&sel);

	/* a second enabled certificate for a partner name wins by SNI only */
	ck_assert_int_eq(tls_store_open(&cfg, &st, &err), 0);
	ck_assert_int_eq(tls_store_new_selfsigned(&st, TLS_KEY_ECDSA_P256, "partner", san, 1, 30,
	    true, &idx, &err), 0);
	tls_store_close(&st);
	ck_assert_int_eq(tls_store_select(&cfg, "mx.partner.example", &sel, &err), 0);
	ck_assert_str_eq(sel.facts.san[0], "mx.partner.example");
	ck_assert_ptr_nonnull(strstr(sel.why, "SNI mx.partner.example"));
	tls_selected_free(&sel);
	ck_assert_int_eq(tls_store_select(&cfg, NULL, &sel, &err), 0);
	ck_assert_str_eq(sel.facts.cn, "test");
	tls_selected_free(&sel);
	config_free(&cfg);

	/* configured files take precedence over the store; a bad one is an error */
	{
		char extra[1200];

		snprintf(extra, sizeof(extra), "certificates:\n  - cert: %s/nonexistent.pem\n"
		    "    key: %s/nonexistent.key\n", tmpdir, tmpdir);
		load_cfg(&cfg, extra);
		ck_assert_int_eq(tls_store_select(&cfg, NULL, &sel, &err), -1);
		ck_assert_ptr_nonnull(strstr(err.msg, "nonexistent.pem"));
		ck_assert_int_eq(tls_store_ensure_default(&cfg, &err), 0);
		config_free(&cfg);
	}
	/* configured files that exist are chosen, and said to be configured */
	{
		gnutls_x509_privkey_t key;
		gnutls_x509_crt_t crt;
		gnutls_datum_t kpem;
		char extra[1200], cpath[400], kpath[400];
		char s1[] = "test.example.org";
		char *csan[] = { s1 };
		FILE *fp;

		ck_assert_int_eq(tls_key_generate(TLS_KEY_ECDSA_P256, &key, &err), 0);
		ck_assert_int_eq(tls_selfsigned_make(key, "CN=configured", csan, 1, 5, &crt, &err), 0);
		snprintf(cpath, sizeof(cpath), "%s/conf.pem", tmpdir);
		snprintf(kpath, sizeof(kpath), "%s/conf.key", tmpdir);
		write_pem(cpath, crt);
		snprintf(extra, sizeof(extra), "certificates:\n  - cert: %s\n    key: %s\n", cpath,
		    kpath);
		load_cfg(&cfg, extra);
		/* the key file is missing still */
		ck_assert_int_eq(tls_store_select(&cfg, NULL, &sel, &err), -1);
		ck_assert_ptr_nonnull(strstr(err.msg, "conf.key: cannot read the key"));
		ck_assert_int_ge(gnutls_x509_privkey_export2_pkcs8(key, GNUTLS_X509_FMT_PEM, NULL,
		    GNUTLS_PKCS_PLAIN, &kpem), 0);
		ck_assert_ptr_nonnull(fp = fopen(kpath, "w"));
		ck_assert_uint_eq(fwrite(kpem.data, 1, kpem.size, fp), kpem.size);
		fclose(fp);
		gnutls_free(kpem.data);
		ck_assert_int_eq(tls_store_select(&cfg, NULL, &sel, &err), 0);
		ck_assert_str_eq(sel.facts.subject, "CN=configured");
		ck_assert_str_eq(sel.cert_path, cpath);
		ck_assert_str_eq(sel.key_path, kpath);
		ck_assert(strncmp(sel.why, "configured; ", 12) == 0);
		tls_selected_free(&sel);
		config_free(&cfg);
		gnutls_x509_crt_deinit(crt);
		gnutls_x509_privkey_deinit(key);
	}
	rm_tmpdir();
}
END_TEST

/* --- PKCS#12 and small parsers --- */

/* issue 14: credentials and trust are reference counted; a reload drops
 * the owner's reference while sessions keep theirs, and the trust lives
 * as long as the last credentials built on it */
START_TEST(test_refcounts)
{
	struct dsmtp_config cfg;
	struct dsmtp_err err;
	struct tls_trust *t;
	struct tls_creds *cr, *held;

	mk_tmpdir();
	load_cfg(&cfg, "");
	t = tls_trust_load("system", NULL, &err);
	ck_assert_msg(t != NULL, "%s", err.msg);
	cr = tls_creds_client(&cfg, t, false, &err);
	ck_assert_msg(cr != NULL, "%s", err.msg);
	ck_assert_uint_eq(tls_creds_refs(cr), 1);
	held = tls_creds_ref(cr);		/* a session starts */
	ck_assert_ptr_eq(held, cr);
	ck_assert_uint_eq(tls_creds_refs(cr), 2);
	tls_trust_free(t);			/* the reload drops the old trust ... */
	tls_creds_free(cr);			/* ... and the old credentials */
	ck_assert_uint_eq(tls_creds_refs(held), 1);
	/* still whole for the session: its trust is reachable (ASan checks) */
	ck_assert_ptr_nonnull(tls_trust_list(held->trust));
	tls_creds_free(held);			/* the session ends: all freed */
	ck_assert_ptr_null(tls_creds_ref(NULL));
	tls_creds_free(NULL);
	tls_trust_free(NULL);
	ck_assert_uint_eq(tls_creds_refs(NULL), 0);
	config_free(&cfg);
	rm_tmpdir();
}
END_TEST

START_TEST(test_pkcs12_round_trip)
{
	gnutls_x509_privkey_t key, key2;
	gnutls_x509_crt_t crt, *chain;
	gnutls_datum_t der;
	struct tls_cert_facts f, g;
	struct dsmtp_err err;
	char san_s9[] = "pfx.example";
	char *san[] = { san_s9 };
	char pin[52];
	unsigned n;

	ck_assert_int_eq(tls_key_generate(TLS_KEY_ECDSA_P256, &key, &err), 0);
	ck_assert_int_eq(tls_selfsigned_make(key, "CN=pfx", san, 1, 5, &crt, &err), 0);
	ck_assert_int_eq(tls_pkcs12_export(&crt, 1, key, "", &der, &err), -1);
	ck_assert_ptr_nonnull(strstr(err.msg, "without a password"));
	ck_assert_int_eq(tls_pkcs12_export(&crt, 1, key, "pässword 1", &der, &err), 0);
	ck_assert_int_eq(tls_pkcs12_import(&der, "x.pfx", "wrong", &key2, &chain, &n, &err), -1);
	ck_assert_ptr_nonnull(strstr(err.msg, "wrong password"));
	ck_assert_int_eq(tls_pkcs12_import(&der, "x.pfx", "pässword 1", &key2, &chain, &n, &err), 0);
	ck_assert_uint_eq(n, 1);
	ck_assert_int_eq(tls_cert_facts_from_crt(crt, &f, &err), 0);
	ck_assert_int_eq(tls_cert_facts_from_crt(chain[0], &g, &err), 0);
	ck_assert_str_eq(f.sha1, g.sha1);
	ck_assert_int_eq(tls_spki_pin_of_privkey(key2, pin, &err), 0);
	ck_assert_str_eq(pin, f.spki);
	tls_cert_facts_free(&f);
	tls_cert_facts_free(&g);
	tls_crt_list_free(chain, n);
	gnutls_free(der.data);
	gnutls_x509_privkey_deinit(key2);
	gnutls_x509_crt_deinit(crt);
	gnutls_x509_privkey_deinit(key);
}
END_TEST

static const struct {
	const char	*content;
	size_t		 len;
	const char	*want;
} pw_cases[] = {
	{ "secret\n", 7, "secret" },
	{ "secret", 6, "secret" },
	{ "secret\n\n", 8, "secret\n" },
	{ "secret\r\n", 8, "secret" },
	{ " spaced \n", 9, " spaced " },
	{ "\n", 1, "" },
};

START_TEST(test_password_file)
{
	struct dsmtp_err err;
	char path[300], out[64];
	FILE *fp;

	mk_tmpdir();
	snprintf(path, sizeof(path), "%s/pw", tmpdir);
	ck_assert_ptr_nonnull(fp = fopen(path, "w"));
	ck_assert_uint_eq(fwrite(pw_cases[_i].content, 1, pw_cases[_i].len, fp), pw_cases[_i].len);
	fclose(fp);
	ck_assert_int_eq(tls_password_file(path, out, sizeof(out), &err), 0);
	ck_assert_str_eq(out, pw_cases[_i].want);
	rm_tmpdir();
}
END_TEST

START_TEST(test_parsers)
{
	struct dsmtp_err err;
	enum tls_keyalg a;
	char **san, dn[256], cn[64];
	size_t nsan;

	ck_assert_int_eq(tls_keyalg_parse("ecdsa-p256", &a, &err), 0);
	ck_assert_int_eq(a, TLS_KEY_ECDSA_P256);
	ck_assert_int_eq(tls_keyalg_parse("RSA-3072", &a, &err), 0);
	ck_assert_int_eq(a, TLS_KEY_RSA_3072);
	ck_assert_int_eq(tls_keyalg_parse("ed25519", &a, &err), 0);
	ck_assert_int_eq(tls_keyalg_parse("rsa-1024", &a, &err), -1);
	ck_assert_ptr_nonnull(strstr(err.msg, "under 2048"));
	ck_assert_int_eq(tls_keyalg_parse("dsa", &a, &err), -1);

	ck_assert_int_eq(tls_san_parse("Mail.Example.com, example.com,mail.example.com", &san, &nsan,
	    &err), 0);
	ck_assert_uint_eq(nsan, 2);
	ck_assert_str_eq(san[0], "mail.example.com");
	ck_assert_str_eq(san[1], "example.com");
	tls_strv_free(san, nsan);
	ck_assert_int_eq(tls_san_parse("a,,b", &san, &nsan, &err), -1);
	ck_assert_int_eq(tls_san_parse("bad_name!", &san, &nsan, &err), -1);

	ck_assert_int_eq(tls_dn_from_x500_order("C=US,O=Org,CN=mail.example.com", dn, sizeof(dn),
	    &err), 0);
	ck_assert_str_eq(dn, "CN=mail.example.com,O=Org,C=US");
	ck_assert_int_eq(tls_dn_from_x500_order("C=US, O=Org\\, Inc,CN=x", dn, sizeof(dn), &err), 0);
	ck_assert_str_eq(dn, "CN=x,O=Org\\, Inc,C=US");
	ck_assert_int_eq(tls_dn_from_x500_order("nonsense", dn, sizeof(dn), &err), -1);

	ck_assert_int_eq(tls_default_names("edge.example.com", cn, sizeof(cn), &san, &nsan, &err), 0);
	ck_assert_str_eq(cn, "edge");
	ck_assert_uint_eq(nsan, 2);
	ck_assert_str_eq(san[0], "edge");
	ck_assert_str_eq(san[1], "edge.example.com");
	tls_strv_free(san, nsan);
	ck_assert_int_eq(tls_default_names("localhost", cn, sizeof(cn), &san, &nsan, &err), 0);
	ck_assert_uint_eq(nsan, 1);
	tls_strv_free(san, nsan);
}
END_TEST

static Suite *
tls_suite(void)
{
	Suite *s = suite_create("tls");
	TCase *tc = tcase_create("certs");

	tcase_set_timeout(tc, UNIT_TIMEOUT);
	tcase_add_loop_test(tc, test_facts_selfsigned, 0,
	    (int)(sizeof(key_cases) / sizeof(key_cases[0])));
	tcase_add_test(tc, test_facts_ca_issued_and_file);
	tcase_add_test(tc, test_chain_status_names);
	tcase_add_loop_test(tc, test_names, 0, (int)(sizeof(name_cases) / sizeof(name_cases[0])));
	tcase_add_test(tc, test_names_cn_only_without_san);
	tcase_add_loop_test(tc, test_select_order, 0, (int)(sizeof(sel_cases) / sizeof(sel_cases[0])));
	tcase_add_test(tc, test_verify_chain);
	tcase_add_test(tc, test_verify_revoked);
	tcase_add_test(tc, test_store);
	tcase_add_test(tc, test_store_pending_and_bind);
	tcase_add_test(tc, test_select_and_default);
	tcase_add_test(tc, test_refcounts);
	tcase_add_test(tc, test_pkcs12_round_trip);
	tcase_add_loop_test(tc, test_password_file, 0, (int)(sizeof(pw_cases) / sizeof(pw_cases[0])));
	tcase_add_test(tc, test_parsers);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return unit_run(tls_suite());
}
