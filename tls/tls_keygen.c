/* tls_keygen.c: new private keys, self-signed certificates and PKCS#10
 * requests, and the names that go into them. Writes nothing to disk: the
 * store (tls_store.c) keeps what is made here. */
#include "autoconfig.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <gnutls/crypto.h>

#include "common/addr.h"
#include "tls/tls_int.h"

static const struct {
	const char		*name;
	enum tls_keyalg		 alg;
	gnutls_pk_algorithm_t	 pk;
	unsigned		 bits;
} keyalgs[] = {
	{ "ecdsa-p256", TLS_KEY_ECDSA_P256, GNUTLS_PK_ECDSA,
	    GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1) },
	{ "ecdsa-p384", TLS_KEY_ECDSA_P384, GNUTLS_PK_ECDSA,
	    GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP384R1) },
	{ "rsa-2048", TLS_KEY_RSA_2048, GNUTLS_PK_RSA, 2048 },
	{ "rsa-3072", TLS_KEY_RSA_3072, GNUTLS_PK_RSA, 3072 },
	{ "rsa-4096", TLS_KEY_RSA_4096, GNUTLS_PK_RSA, 4096 },
	{ "ed25519", TLS_KEY_ED25519, GNUTLS_PK_EDDSA_ED25519,
	    GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_ED25519) },
};
#define NKEYALGS (sizeof(keyalgs) / sizeof(keyalgs[0]))

/* parse a --key value */
int
tls_keyalg_parse(const char *s, enum tls_keyalg *a, struct dsmtp_err *err)
{
	for (size_t i = 0; i < NKEYALGS; i++)
		if (strcasecmp(s, keyalgs[i].name) == 0) {
			*a = keyalgs[i].alg;
			return 0;
		}
	if (strncasecmp(s, "rsa-", 4) == 0 && atoi(s + 4) > 0 && atoi(s + 4) < 2048) {
		dsmtp_err_set(err, "--key %s: RSA keys under 2048 bits are refused", s);
		return -1;
	}
	dsmtp_err_set(err, "--key %s: unknown key type (ecdsa-p256, ecdsa-p384, rsa-2048, "
	    "rsa-3072, rsa-4096, ed25519)", s);
	return -1;
}

/* the --key name of an algorithm */
const char *
tls_keyalg_name(enum tls_keyalg a)
{
	for (size_t i = 0; i < NKEYALGS; i++)
		if (keyalgs[i].alg == a)
			return keyalgs[i].name;
	return "unknown";
}

/* the algorithm to renew a certificate's key with */
int
tls_keyalg_of_facts(const struct tls_cert_facts *f, enum tls_keyalg *a, struct dsmtp_err *err)
{
	if (strcmp(f->key_type, "ECDSA-P256") == 0)
		*a = TLS_KEY_ECDSA_P256;
	else if (strcmp(f->key_type, "ECDSA-P384") == 0)
		*a = TLS_KEY_ECDSA_P384;
	else if (strcmp(f->key_type, "Ed25519") == 0)
		*a = TLS_KEY_ED25519;
	else if (strcmp(f->key_type, "RSA") == 0 && f->key_bits >= 2048) {
		/* an odd size renews as the next standard one up */
		*a = f->key_bits <= 2048 ? TLS_KEY_RSA_2048 :
		    f->key_bits <= 3072 ? TLS_KEY_RSA_3072 : TLS_KEY_RSA_4096;
	} else {
		dsmtp_err_set(err, "cannot make a new key of type %s (%u bits)", f->key_type,
		    f->key_bits);
		return -1;
	}
	return 0;
}

/* a new private key */
int
tls_key_generate(enum tls_keyalg a, gnutls_x509_privkey_t *key, struct dsmtp_err *err)
{
	size_t i;
	int rc;

	for (i = 0; i < NKEYALGS && keyalgs[i].alg != a; i++)
		;
	if (i == NKEYALGS) {
		dsmtp_err_set(err, "unknown key type");
		return -1;
	}
	if ((rc = gnutls_x509_privkey_init(key)) < 0) {
		dsmtp_err_set(err, "key: %s", gnutls_strerror(rc));
		return -1;
	}
	if ((rc = gnutls_x509_privkey_generate2(*key, keyalgs[i].pk, keyalgs[i].bits, 0,
	    NULL, 0)) < 0) {
		dsmtp_err_set(err, "cannot generate a %s key: %s", keyalgs[i].name,
		    gnutls_strerror(rc));
		gnutls_x509_privkey_deinit(*key);
		*key = NULL;
		return -1;
	}
	return 0;
}

/* free a string vector */
void
tls_strv_free(char **v, size_t n)
{
	if (v == NULL)
		return;
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

/* append a copy of s to the vector unless it is already there */
static int
strv_add_unique(char ***v, size_t *n, const char *s)
{
	char **nv;

	for (size_t i = 0; i < *n; i++)
		if (strcasecmp((*v)[i], s) == 0)
			return 0;
	if ((nv = realloc(*v, (*n + 1) * sizeof(*nv))) == NULL)
		return -1;
	*v = nv;
	if ((nv[*n] = strdup(s)) == NULL)
		return -1;
	(*n)++;
	return 0;
}

/* a --san list into normalised DNS names, duplicates dropped */
int
tls_san_parse(const char *list, char ***san, size_t *nsan, struct dsmtp_err *err)
{
	const char *p = list;

	*san = NULL;
	*nsan = 0;
	while (*p != '\0') {
		size_t len = strcspn(p, ",");
		char name[256], norm[256];
		struct dsmtp_err sub;

		while (len > 0 && (*p == ' ' || *p == '\t')) {
			p++;
			len--;
		}
		while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\t'))
			len--;
		if (len == 0 || len >= sizeof(name)) {
			dsmtp_err_set(err, "--san \"%s\": %s name", list, len ? "too long a" : "an empty");
			goto fail;
		}
		memcpy(name, p, len);
		name[len] = '\0';
		if (addr_domain_normalise(name, norm, sizeof(norm), true, &sub) < 0) {
			dsmtp_err_set(err, "--san: %s", sub.msg);
			goto fail;
		}
		if (strv_add_unique(san, nsan, norm) < 0) {
			dsmtp_err_set(err, "out of memory");
			goto fail;
		}
		p += strcspn(p, ",");
		if (*p == ',')
			p++;
	}
	if (*nsan == 0) {
		dsmtp_err_set(err, "--san: no name given");
		return -1;
	}
	return 0;
fail:
	tls_strv_free(*san, *nsan);
	*san = NULL;
	*nsan = 0;
	return -1;
}

/* the default CN and SANs for a host name */
int
tls_default_names(const char *hostname, char *cn, size_t cnlen, char ***san, size_t *nsan,
    struct dsmtp_err *err)
{
	size_t shortlen = strcspn(hostname, ".");

	*san = NULL;
	*nsan = 0;
	if (shortlen == 0 || shortlen >= cnlen) {
		dsmtp_err_set(err, "hostname \"%s\" has no usable short name", hostname);
		return -1;
	}
	memcpy(cn, hostname, shortlen);
	cn[shortlen] = '\0';
	if (strv_add_unique(san, nsan, cn) < 0 || strv_add_unique(san, nsan, hostname) < 0) {
		tls_strv_free(*san, *nsan);
		*san = NULL;
		*nsan = 0;
		dsmtp_err_set(err, "out of memory");
		return -1;
	}
	return 0;
}

/* reverse a most-significant-first subject into RFC 4514 order */
int
tls_dn_from_x500_order(const char *in, char *out, size_t outlen, struct dsmtp_err *err)
{
	const char *rdn[64];
	size_t rlen[64], n = 0, o = 0;
	const char *start = in;

	/* split at commas that are not escaped by a backslash */
	for (const char *p = in;; p++) {
		if (*p == '\\' && p[1] != '\0') {
			p++;
			continue;
		}
		if (*p != ',' && *p != '\0')
			continue;
		if (n == sizeof(rdn) / sizeof(rdn[0])) {
			dsmtp_err_set(err, "--subject: too many components");
			return -1;
		}
		while (*start == ' ')
			start++;
		rdn[n] = start;
		rlen[n] = (size_t)(p - start);
		if (rlen[n] == 0 || memchr(start, '=', rlen[n]) == NULL) {
			dsmtp_err_set(err, "--subject \"%s\": each part is TYPE=value, e.g. "
			    "\"C=US,O=Org,CN=mail.example.com\"", in);
			return -1;
		}
		n++;
		if (*p == '\0')
			break;
		start = p + 1;
	}
	for (size_t i = n; i-- > 0;) {
		if (o + rlen[i] + 2 > outlen) {
			dsmtp_err_set(err, "--subject: too long");
			return -1;
		}
		memcpy(out + o, rdn[i], rlen[i]);
		o += rlen[i];
		if (i > 0)
			out[o++] = ',';
	}
	out[o] = '\0';
	return 0;
}

/* a gnutls_privkey_t view of key, for the *_privkey_sign calls */
static int
privkey_of(gnutls_x509_privkey_t key, gnutls_privkey_t *pk)
{
	int rc;

	if ((rc = gnutls_privkey_init(pk)) < 0)
		return rc;
	if ((rc = gnutls_privkey_import_x509(*pk, key, 0)) < 0) {
		gnutls_privkey_deinit(*pk);
		*pk = NULL;
	}
	return rc;
}

/* digitalSignature, plus keyEncipherment for RSA (TLS 1.2 RSA key exchange) */
static unsigned
key_usage_for(gnutls_x509_privkey_t key)
{
	unsigned usage = GNUTLS_KEY_DIGITAL_SIGNATURE;

	if (gnutls_x509_privkey_get_pk_algorithm(key) == GNUTLS_PK_RSA)
		usage |= GNUTLS_KEY_KEY_ENCIPHERMENT;
	return usage;
}

/* a self-signed TLS leaf for key */
int
tls_selfsigned_make(gnutls_x509_privkey_t key, const char *dn, char *const *san, size_t nsan,
    unsigned days, gnutls_x509_crt_t *out, struct dsmtp_err *err)
{
	gnutls_x509_crt_t crt = NULL;
	gnutls_privkey_t pk = NULL;
	unsigned char serial[16], keyid[64];
	size_t idlen = sizeof(keyid);
	const char *where = "init", *errpos = NULL;
	time_t now = time(NULL);
	int rc;

	*out = NULL;
	if (days == 0 || days > 36500) {
		dsmtp_err_set(err, "--days %u: between 1 and 36500", days);
		return -1;
	}
	if ((rc = gnutls_x509_crt_init(&crt)) < 0)
		goto fail;
	where = "version";
	if ((rc = gnutls_x509_crt_set_version(crt, 3)) < 0)
		goto fail;
	/* 128 random bits, top bit clear so the DER INTEGER stays positive */
	where = "serial";
	if ((rc = gnutls_rnd(GNUTLS_RND_NONCE, serial, sizeof(serial))) < 0)
		goto fail;
	serial[0] &= 0x7f;
	serial[0] |= 0x01;
	if ((rc = gnutls_x509_crt_set_serial(crt, serial, sizeof(serial))) < 0)
		goto fail;
	where = "dates";
	if ((rc = gnutls_x509_crt_set_activation_time(crt, now)) < 0 ||
	    (rc = gnutls_x509_crt_set_expiration_time(crt, now + (time_t)days * 86400)) < 0)
		goto fail;
	where = "subject";
	if ((rc = gnutls_x509_crt_set_dn(crt, dn, &errpos)) < 0 ||
	    (rc = gnutls_x509_crt_set_issuer_dn(crt, dn, &errpos)) < 0)
		goto fail;
	where = "subject alternative name";
	for (size_t i = 0; i < nsan; i++)
		if ((rc = gnutls_x509_crt_set_subject_alt_name(crt, GNUTLS_SAN_DNSNAME, san[i],
		    (unsigned)strlen(san[i]), GNUTLS_FSAN_APPEND)) < 0)
			goto fail;
	where = "key";
	if ((rc = gnutls_x509_crt_set_key(crt, key)) < 0)
		goto fail;
	where = "extensions";
	if ((rc = gnutls_x509_crt_set_basic_constraints(crt, 0, -1)) < 0 ||
	    (rc = gnutls_x509_crt_set_key_usage(crt, key_usage_for(key))) < 0 ||
	    (rc = gnutls_x509_crt_set_key_purpose_oid(crt, GNUTLS_KP_TLS_WWW_SERVER, 0)) < 0 ||
	    (rc = gnutls_x509_crt_set_key_purpose_oid(crt, GNUTLS_KP_TLS_WWW_CLIENT, 0)) < 0)
		goto fail;
	if ((rc = gnutls_x509_crt_get_key_id(crt, 0, keyid, &idlen)) < 0 ||
	    (rc = gnutls_x509_crt_set_subject_key_id(crt, keyid, idlen)) < 0)
		goto fail;
	where = "signature";
	if ((rc = privkey_of(key, &pk)) < 0)
		goto fail;
	/* digest 0: the one the key prefers (SHA-256 for P-256 and RSA, none for Ed25519) */
	if ((rc = gnutls_x509_crt_privkey_sign(crt, crt, pk, 0, 0)) < 0)
		goto fail;
	gnutls_privkey_deinit(pk);
	*out = crt;
	return 0;
fail:
	if (rc == GNUTLS_E_PARSING_ERROR && errpos != NULL)
		dsmtp_err_set(err, "certificate %s \"%s\": cannot parse at \"%s\"", where, dn, errpos);
	else
		dsmtp_err_set(err, "certificate %s: %s", where, gnutls_strerror(rc));
	if (pk)
		gnutls_privkey_deinit(pk);
	if (crt)
		gnutls_x509_crt_deinit(crt);
	return -1;
}

/* a signed PKCS#10 request for key */
int
tls_csr_make(gnutls_x509_privkey_t key, const char *dn, char *const *san, size_t nsan,
    gnutls_x509_crq_t *out, struct dsmtp_err *err)
{
	gnutls_x509_crq_t crq = NULL;
	gnutls_privkey_t pk = NULL;
	const char *where = "init", *errpos = NULL;
	int rc;

	*out = NULL;
	if ((rc = gnutls_x509_crq_init(&crq)) < 0)
		goto fail;
	where = "version";
	if ((rc = gnutls_x509_crq_set_version(crq, 1)) < 0)
		goto fail;
	where = "subject";
	if ((rc = gnutls_x509_crq_set_dn(crq, dn, &errpos)) < 0)
		goto fail;
	where = "subject alternative name";
	for (size_t i = 0; i < nsan; i++)
		if ((rc = gnutls_x509_crq_set_subject_alt_name(crq, GNUTLS_SAN_DNSNAME, san[i],
		    (unsigned)strlen(san[i]), GNUTLS_FSAN_APPEND)) < 0)
			goto fail;
	where = "key";
	if ((rc = gnutls_x509_crq_set_key(crq, key)) < 0)
		goto fail;
	where = "extensions";
	if ((rc = gnutls_x509_crq_set_key_usage(crq, key_usage_for(key))) < 0 ||
	    (rc = gnutls_x509_crq_set_key_purpose_oid(crq, GNUTLS_KP_TLS_WWW_SERVER, 0)) < 0 ||
	    (rc = gnutls_x509_crq_set_key_purpose_oid(crq, GNUTLS_KP_TLS_WWW_CLIENT, 0)) < 0)
		goto fail;
	where = "signature";
	if ((rc = privkey_of(key, &pk)) < 0 ||
	    (rc = gnutls_x509_crq_privkey_sign(crq, pk, 0, 0)) < 0)
		goto fail;
	gnutls_privkey_deinit(pk);
	*out = crq;
	return 0;
fail:
	if (rc == GNUTLS_E_PARSING_ERROR && errpos != NULL)
		dsmtp_err_set(err, "request %s \"%s\": cannot parse at \"%s\"", where, dn, errpos);
	else
		dsmtp_err_set(err, "request %s: %s", where, gnutls_strerror(rc));
	if (pk)
		gnutls_privkey_deinit(pk);
	if (crq)
		gnutls_x509_crq_deinit(crq);
	return -1;
}
