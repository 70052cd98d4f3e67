/* check_dane.c: unit tests of the DANE matcher (tls/tls_dane.c) and the
 * DANE verdict (policy/dane.c). Certificates are made at test time with
 * GnuTLS: a CA, a leaf it signed, an expired leaf, and an unrelated CA; TLSA
 * records are computed from them, so every selector and matching type is
 * checked against digests of real DER, not constants. */
#include "autoconfig.h"

#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gnutls/crypto.h>

#include "policy/policy.h"
#include "tls/tls_int.h"
#include "tests/unit/unit.h"

struct pki {
	gnutls_x509_crt_t	 ca, other, leaf, old;
	gnutls_x509_privkey_t	 cakey, otherkey, leafkey, oldkey;
	gnutls_datum_t		 ca_der, other_der, leaf_der, old_der;
};

static struct pki P;

static void
sign_with(gnutls_x509_crt_t crt, gnutls_x509_crt_t issuer, gnutls_x509_privkey_t key)
{
	gnutls_privkey_t pk;

	ck_assert_int_ge(gnutls_privkey_init(&pk), 0);
	ck_assert_int_ge(gnutls_privkey_import_x509(pk, key, 0), 0);
	ck_assert_int_ge(gnutls_x509_crt_privkey_sign(crt, issuer, pk, GNUTLS_DIG_SHA256, 0), 0);
	gnutls_privkey_deinit(pk);
}

/* a certificate: a CA when issuer is NULL (self-signed), else a leaf for san */
static void
make_cert(gnutls_x509_crt_t *crt, gnutls_x509_privkey_t *key, const char *dn, const char *san,
    gnutls_x509_crt_t issuer, gnutls_x509_privkey_t issuer_key, time_t nb, time_t na,
    unsigned char serial)
{
	ck_assert_int_eq(tls_key_generate(TLS_KEY_ECDSA_P256, key, NULL), 0);
	ck_assert_int_ge(gnutls_x509_crt_init(crt), 0);
	ck_assert_int_ge(gnutls_x509_crt_set_version(*crt, 3), 0);
	ck_assert_int_ge(gnutls_x509_crt_set_serial(*crt, &serial, 1), 0);
	ck_assert_int_ge(gnutls_x509_crt_set_activation_time(*crt, nb), 0);
	ck_assert_int_ge(gnutls_x509_crt_set_expiration_time(*crt, na), 0);
	ck_assert_int_ge(gnutls_x509_crt_set_dn(*crt, dn, NULL), 0);
	ck_assert_int_ge(gnutls_x509_crt_set_key(*crt, *key), 0);
	if (issuer == NULL) {
		ck_assert_int_ge(gnutls_x509_crt_set_basic_constraints(*crt, 1, -1), 0);
		ck_assert_int_ge(gnutls_x509_crt_set_key_usage(*crt, GNUTLS_KEY_KEY_CERT_SIGN), 0);
		sign_with(*crt, *crt, *key);
		return;
	}
	ck_assert_int_ge(gnutls_x509_crt_set_subject_alt_name(*crt, GNUTLS_SAN_DNSNAME, san,
	    (unsigned)strlen(san), GNUTLS_FSAN_APPEND), 0);
	sign_with(*crt, issuer, issuer_key);
}

static void
pki_setup(void)
{
	time_t now = time(NULL);

	make_cert(&P.ca, &P.cakey, "CN=DANE CA", NULL, NULL, NULL, now - 3600, now + 86400, 1);
	make_cert(&P.other, &P.otherkey, "CN=Other CA", NULL, NULL, NULL, now - 3600,
	    now + 86400, 2);
	make_cert(&P.leaf, &P.leafkey, "CN=mx.example.com", "mx.example.com", P.ca, P.cakey,
	    now - 3600, now + 86400, 3);
	make_cert(&P.old, &P.oldkey, "CN=mx.example.com", "mx.example.com", P.ca, P.cakey,
	    now - 86400 * 400, now - 86400 * 30, 4);
	ck_assert_int_ge(gnutls_x509_crt_export2(P.ca, GNUTLS_X509_FMT_DER, &P.ca_der), 0);
	ck_assert_int_ge(gnutls_x509_crt_export2(P.other, GNUTLS_X509_FMT_DER, &P.other_der), 0);
	ck_assert_int_ge(gnutls_x509_crt_export2(P.leaf, GNUTLS_X509_FMT_DER, &P.leaf_der), 0);
	ck_assert_int_ge(gnutls_x509_crt_export2(P.old, GNUTLS_X509_FMT_DER, &P.old_der), 0);
}

static void
pki_teardown(void)
{
	gnutls_x509_crt_t *c[] = { &P.ca, &P.other, &P.leaf, &P.old };
	gnutls_x509_privkey_t *k[] = { &P.cakey, &P.otherkey, &P.leafkey, &P.oldkey };
	gnutls_datum_t *d[] = { &P.ca_der, &P.other_der, &P.leaf_der, &P.old_der };

	for (size_t i = 0; i < 4; i++) {
		gnutls_x509_crt_deinit(*c[i]);
		gnutls_x509_privkey_deinit(*k[i]);
		gnutls_free(d[i]->data);
	}
}

enum which { W_CA, W_OTHER, W_LEAF, W_OLD };

static gnutls_x509_crt_t
crt_of(enum which w)
{
	return w == W_CA ? P.ca : w == W_OTHER ? P.other : w == W_LEAF ? P.leaf : P.old;
}

static const gnutls_datum_t *
der_of(enum which w)
{
	return w == W_CA ? &P.ca_der : w == W_OTHER ? &P.other_der : w == W_LEAF ? &P.leaf_der :
	    &P.old_der;
}

/* a TLSA record for certificate w; corrupt: flip a bit of the data */
static void
make_rr(struct tls_dane_rr *rr, uint8_t usage, uint8_t sel, uint8_t mtype, enum which w,
    bool corrupt)
{
	gnutls_pubkey_t pub;
	gnutls_datum_t spki = { NULL, 0 };
	const unsigned char *data;
	size_t len;
	unsigned char md[64];
	unsigned char rdata[3 + 2048];

	if (sel == 1) {
		ck_assert_int_ge(gnutls_pubkey_init(&pub), 0);
		ck_assert_int_ge(gnutls_pubkey_import_x509(pub, crt_of(w), 0), 0);
		ck_assert_int_ge(gnutls_pubkey_export2(pub, GNUTLS_X509_FMT_DER, &spki), 0);
		gnutls_pubkey_deinit(pub);
		data = spki.data;
		len = spki.size;
	} else {
		data = der_of(w)->data;
		len = der_of(w)->size;
	}
	rdata[0] = usage;
	rdata[1] = sel;
	rdata[2] = mtype;
	if (mtype == 0) {
		ck_assert_uint_le(len, sizeof(rdata) - 3);
		memcpy(rdata + 3, data, len);
	} else {
		ck_assert_int_ge(gnutls_hash_fast(mtype == 1 ? GNUTLS_DIG_SHA256 : GNUTLS_DIG_SHA512,
		    data, len, md), 0);
		len = mtype == 1 ? 32 : 64;
		memcpy(rdata + 3, md, len);
	}
	if (corrupt)
		rdata[3 + len / 2] ^= 0x01;
	ck_assert_int_eq(tls_dane_rr_parse(rdata, 3 + len, rr), 0);
	gnutls_free(spki.data);
}

/* ---- the matcher, table-driven ---- */

static const struct {
	const char	*name;
	uint8_t		 usage, sel, mtype;
	enum which	 rec;		/* the certificate the record is made from */
	bool		 corrupt;
	enum which	 chain[3];
	size_t		 nchain;
	bool		 usable, match;
	int		 depth;
} cases[] = {
	{ "EE spki sha256", 3, 1, 1, W_LEAF, false, { W_LEAF, W_CA }, 2, true, true, 0 },
	{ "EE cert sha256", 3, 0, 1, W_LEAF, false, { W_LEAF, W_CA }, 2, true, true, 0 },
	{ "EE spki sha512", 3, 1, 2, W_LEAF, false, { W_LEAF }, 1, true, true, 0 },
	{ "EE cert sha512", 3, 0, 2, W_LEAF, false, { W_LEAF }, 1, true, true, 0 },
	{ "EE cert full", 3, 0, 0, W_LEAF, false, { W_LEAF }, 1, true, true, 0 },
	{ "EE spki full", 3, 1, 0, W_LEAF, false, { W_LEAF }, 1, true, true, 0 },
	{ "EE one bit off", 3, 1, 1, W_LEAF, true, { W_LEAF, W_CA }, 2, true, false, -1 },
	{ "EE of another certificate", 3, 1, 1, W_CA, false, { W_LEAF, W_CA }, 2, true, false, -1 },
	/* RFC 7672 3.1.1: dates do not matter under DANE-EE */
	{ "EE expired leaf", 3, 1, 1, W_OLD, false, { W_OLD, W_CA }, 2, true, true, 0 },
	{ "TA cert sha256", 2, 0, 1, W_CA, false, { W_LEAF, W_CA }, 2, true, true, 1 },
	{ "TA spki sha256", 2, 1, 1, W_CA, false, { W_LEAF, W_CA }, 2, true, true, 1 },
	{ "TA spki sha512", 2, 1, 2, W_CA, false, { W_LEAF, W_CA }, 2, true, true, 1 },
	{ "TA not sent by the server", 2, 0, 1, W_CA, false, { W_LEAF }, 1, true, false, -1 },
	/* the leaf is no trust anchor */
	{ "TA matching the leaf", 2, 0, 1, W_LEAF, false, { W_LEAF, W_CA }, 2, true, false, -1 },
	/* a matching certificate that did not issue the leaf */
	{ "TA not the issuer", 2, 0, 1, W_OTHER, false, { W_LEAF, W_OTHER }, 2, true, false, -1 },
	/* dates count under DANE-TA: an expired leaf fails the chain */
	{ "TA expired leaf", 2, 0, 1, W_CA, false, { W_OLD, W_CA }, 2, true, false, -1 },
	/* RFC 7672 3.1.3: PKIX usages are unusable */
	{ "PKIX-EE unusable", 1, 1, 1, W_LEAF, false, { W_LEAF, W_CA }, 2, false, false, -1 },
	{ "PKIX-TA unusable", 0, 0, 1, W_CA, false, { W_LEAF, W_CA }, 2, false, false, -1 },
	{ "no certificate", 3, 1, 1, W_LEAF, false, { W_LEAF }, 0, true, false, -1 },
};

START_TEST(test_match)
{
	struct tls_dane_rr rr;
	struct tls_der chain[3];
	struct tls_dane_facts f;

	for (size_t i = 0; i < cases[_i].nchain; i++) {
		chain[i].data = der_of(cases[_i].chain[i])->data;
		chain[i].len = der_of(cases[_i].chain[i])->size;
	}
	make_rr(&rr, cases[_i].usage, cases[_i].sel, cases[_i].mtype, cases[_i].rec,
	    cases[_i].corrupt);
	ck_assert_int_eq(tls_dane_check(&rr, 1, chain, cases[_i].nchain, &f), 0);
	ck_assert_msg(f.usable[0] == cases[_i].usable, "%s: usable", cases[_i].name);
	ck_assert_msg(f.matched[0] == cases[_i].match, "%s: matched %d (%s)", cases[_i].name,
	    f.matched[0], f.why);
	ck_assert_msg(f.depth[0] == cases[_i].depth, "%s: depth %d", cases[_i].name, f.depth[0]);
	ck_assert_int_eq(f.match, cases[_i].match ? 0 : -1);
	if (!cases[_i].match)
		ck_assert_str_ne(f.why, "");
	tls_dane_rr_free(&rr);
}
END_TEST

/* several records: any match will do, DANE-EE preferred over DANE-TA */
START_TEST(test_several)
{
	struct tls_dane_rr rr[4];
	struct tls_der chain[2] = { { P.leaf_der.data, P.leaf_der.size },
	    { P.ca_der.data, P.ca_der.size } };
	struct tls_dane_facts f;
	char text[120];

	make_rr(&rr[0], 3, 1, 1, W_LEAF, true);
	make_rr(&rr[1], 2, 0, 1, W_CA, false);
	make_rr(&rr[2], 1, 1, 1, W_LEAF, false);
	make_rr(&rr[3], 3, 0, 1, W_LEAF, false);
	ck_assert_int_eq(tls_dane_check(rr, 4, chain, 2, &f), 0);
	ck_assert_uint_eq(f.n, 4);
	ck_assert_uint_eq(f.nusable, 3);
	ck_assert(!f.matched[0] && f.matched[1] && !f.matched[2] && f.matched[3]);
	ck_assert_int_eq(f.match, 3);
	tls_dane_rr_format(&rr[3], text, sizeof(text));
	ck_assert_int_eq(strncmp(text, "3 0 1 ", 6), 0);
	ck_assert_ptr_nonnull(strstr(text, "..."));
	for (size_t i = 0; i < 4; i++)
		tls_dane_rr_free(&rr[i]);
}
END_TEST

/* hostile rdata: too short, too long, wrong digest lengths, unknown fields */
START_TEST(test_parse)
{
	static const unsigned char shortrr[] = { 3, 1, 1 };
	unsigned char big[3 + TLS_DANE_MAX_DATA + 1] = { 3, 0, 0 };
	unsigned char d31[3 + 31] = { 3, 1, 1 }, d64[3 + 64] = { 3, 1, 2 }, sel2[3 + 32] = { 3, 2, 1 };
	unsigned char mt3[3 + 32] = { 3, 1, 3 }, u4[3 + 32] = { 4, 1, 1 };
	struct tls_dane_rr rr;

	ck_assert_int_eq(tls_dane_rr_parse(shortrr, sizeof(shortrr), &rr), -1);
	ck_assert_int_eq(tls_dane_rr_parse(NULL, 10, &rr), -1);
	ck_assert_int_eq(tls_dane_rr_parse(big, sizeof(big), &rr), -1);
	ck_assert_int_eq(tls_dane_rr_parse(d31, sizeof(d31), &rr), 0);
	ck_assert(!tls_dane_rr_usable(&rr));	/* SHA-256 of 31 octets */
	tls_dane_rr_free(&rr);
	ck_assert_int_eq(tls_dane_rr_parse(d64, sizeof(d64), &rr), 0);
	ck_assert(tls_dane_rr_usable(&rr));
	tls_dane_rr_free(&rr);
	ck_assert_int_eq(tls_dane_rr_parse(sel2, sizeof(sel2), &rr), 0);
	ck_assert(!tls_dane_rr_usable(&rr));
	tls_dane_rr_free(&rr);
	ck_assert_int_eq(tls_dane_rr_parse(mt3, sizeof(mt3), &rr), 0);
	ck_assert(!tls_dane_rr_usable(&rr));
	tls_dane_rr_free(&rr);
	ck_assert_int_eq(tls_dane_rr_parse(u4, sizeof(u4), &rr), 0);
	ck_assert(!tls_dane_rr_usable(&rr));
	ck_assert_str_eq(tls_dane_usage_name(rr.usage), "usage-unknown");
	tls_dane_rr_free(&rr);
}
END_TEST

/* a garbage chain is reported, not crashed on */
START_TEST(test_garbage_chain)
{
	static const unsigned char junk[] = { 0x30, 0x82, 0xff, 0xff, 0x01 };
	struct tls_der chain[1] = { { junk, sizeof(junk) } };
	struct tls_dane_rr rr;
	struct tls_dane_facts f;

	make_rr(&rr, 3, 1, 1, W_LEAF, false);
	ck_assert_int_eq(tls_dane_check(&rr, 1, chain, 1, &f), -1);
	ck_assert_int_eq(f.match, -1);
	tls_dane_rr_free(&rr);
}
END_TEST

/* ---- the verdict (policy/dane.c) ---- */

START_TEST(test_verdict)
{
	struct tls_dane_rr rr;
	struct tls_der chain[2] = { { P.leaf_der.data, P.leaf_der.size },
	    { P.ca_der.data, P.ca_der.size } };
	struct tls_dane_facts df;
	struct tls_session_facts f;
	struct policy_dest d;
	struct policy_verdict v;

	memset(&f, 0, sizeof(f));
	f.peer.present = true;
	ck_assert_int_eq(tls_cert_facts_from_crt(P.leaf, &f.peer.leaf, NULL), 0);
	memset(&d, 0, sizeof(d));
	d.level = LEVEL_DANE;
	d.domain = "example.com";

	/* DANE-TA: the MX host must be named */
	make_rr(&rr, 2, 0, 1, W_CA, false);
	ck_assert_int_eq(tls_dane_check(&rr, 1, chain, 2, &df), 0);
	d.dane = POLICY_DANE_USABLE;
	d.dane_facts = &df;
	d.hostname = "mx.example.com";
	policy_judge_send(NULL, &d, true, &f, &v);
	ck_assert_msg(v.pass, "%s", v.reason);
	d.hostname = "other.example.com";
	policy_judge_send(NULL, &d, true, &f, &v);
	ck_assert(!v.pass && v.defer);
	ck_assert_ptr_nonnull(strstr(v.reason, "dane-ta-name:"));
	/* ... or the TLSA base domain after CNAME expansion */
	d.dane_base = "mx.example.com";
	policy_judge_send(NULL, &d, true, &f, &v);
	ck_assert_msg(v.pass, "%s", v.reason);
	tls_dane_rr_free(&rr);

	/* DANE-EE: no name needed */
	make_rr(&rr, 3, 1, 1, W_LEAF, false);
	ck_assert_int_eq(tls_dane_check(&rr, 1, chain, 2, &df), 0);
	d.hostname = "unrelated.example.net";
	d.dane_base = NULL;
	policy_judge_send(NULL, &d, true, &f, &v);
	ck_assert_msg(v.pass, "%s", v.reason);
	tls_dane_rr_free(&rr);

	/* no match: defer, never plaintext */
	make_rr(&rr, 3, 1, 1, W_LEAF, true);
	ck_assert_int_eq(tls_dane_check(&rr, 1, chain, 2, &df), 0);
	policy_judge_send(NULL, &d, true, &f, &v);
	ck_assert(!v.pass && v.defer && !v.plaintext);
	ck_assert_ptr_nonnull(strstr(v.reason, "tlsa-mismatch:"));
	tls_dane_rr_free(&rr);

	/* a failed handshake with usable TLSA: defer, no plaintext retry */
	policy_judge_send(NULL, &d, false, NULL, &v);
	ck_assert(!v.pass && v.defer && !v.plaintext);
	/* secure but unusable: TLS required, not authenticated */
	d.dane = POLICY_DANE_UNUSABLE;
	d.dane_facts = NULL;
	policy_judge_starttls(&d, false, &v);
	ck_assert(!v.pass && v.defer);
	policy_judge_send(NULL, &d, true, &f, &v);
	ck_assert(v.pass);
	/* insecure: dane is opportunistic, dane-only is not */
	d.dane = POLICY_DANE_INSECURE;
	policy_judge_starttls(&d, false, &v);
	ck_assert(v.pass && v.plaintext);
	policy_judge_send(NULL, &d, false, NULL, &v);
	ck_assert(!v.pass && v.plaintext);
	d.level = LEVEL_DANE_ONLY;
	policy_judge_starttls(&d, false, &v);
	ck_assert(!v.pass && v.defer);
	policy_judge_send(NULL, &d, true, &f, &v);
	ck_assert(!v.pass && v.defer);
	tls_cert_facts_free(&f.peer.leaf);
}
END_TEST

static Suite *
dane_suite(void)
{
	Suite *s = suite_create("dane");
	TCase *tc = tcase_create("match");

	tcase_set_timeout(tc, 60);
	tcase_add_checked_fixture(tc, pki_setup, pki_teardown);
	tcase_add_loop_test(tc, test_match, 0, (int)(sizeof(cases) / sizeof(cases[0])));
	tcase_add_test(tc, test_several);
	tcase_add_test(tc, test_parse);
	tcase_add_test(tc, test_garbage_chain);
	tcase_add_test(tc, test_verdict);
	tcase_set_timeout(tc, UNIT_TIMEOUT);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return unit_run(dane_suite());
}
