/* tls_facts.c: facts of one certificate (names, dates, fingerprints, SPKI
 * pin, key type) and the encodings they are printed in; reading
 * certificates from PEM, DER and PKCS#7. Judges nothing: policy/ does. */
#include "autoconfig.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gnutls/crypto.h>
#include <gnutls/pkcs7.h>

#include "tls/tls_int.h"

#define TLS_FILE_MAX	(4 * 1024 * 1024)	/* no certificate file is this big */

static const char *const chain_names[] = {
	[TLS_CHAIN_OK] = "ok",
	[TLS_CHAIN_NO_CERT] = "no-certificate",
	[TLS_CHAIN_EXPIRED] = "expired",
	[TLS_CHAIN_NOT_YET_VALID] = "not-yet-valid",
	[TLS_CHAIN_UNKNOWN_ISSUER] = "unknown-issuer",
	[TLS_CHAIN_BAD_SIGNATURE] = "bad-signature",
	[TLS_CHAIN_REVOKED] = "revoked",
	[TLS_CHAIN_INSECURE_ALGORITHM] = "insecure-algorithm",
	[TLS_CHAIN_OTHER] = "other",
};

/* the log name of a chain status */
const char *
tls_chain_status_name(enum tls_chain_status s)
{
	if ((unsigned)s >= sizeof(chain_names) / sizeof(chain_names[0]))
		return "other";
	return chain_names[s];
}

int
tls_key_strength_check(const struct tls_cert_facts *f, struct dsmtp_err *err)
{
	/* NIST SP 800-131A: 1024-bit RSA/DSA has been disallowed since 2013 */
	if ((strcmp(f->key_type, "RSA") == 0 || strcmp(f->key_type, "DSA") == 0) &&
	    f->key_bits < TLS_RSA_MIN_BITS) {
		dsmtp_err_set(err, "weak key: %s key of %u bits (keys under %u bits are refused)",
		    f->key_type, f->key_bits, TLS_RSA_MIN_BITS);
		return -1;
	}
	return 0;
}

/* free the SAN list of f (the struct itself is the caller's) */
void
tls_cert_facts_free(struct tls_cert_facts *f)
{
	if (f == NULL)
		return;
	for (size_t i = 0; i < f->nsan; i++)
		free(f->san[i]);
	free(f->san);
	f->san = NULL;
	f->nsan = 0;
}

/* lower-case hex of a byte string */
void
tls_hex(const unsigned char *in, size_t len, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < len; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 0xf];
	}
	out[2 * len] = '\0';
}

/* a time as RFC 3339 UTC */
void
tls_time_format(time_t t, char *buf, size_t len)
{
	struct tm tm;

	if (gmtime_r(&t, &tm) == NULL || strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(buf, len, "@%lld", (long long)t);
}

/* copy a gnutls_datum_t string into a fixed buffer, truncating */
static void
datum_copy(char *dst, size_t len, const gnutls_datum_t *d)
{
	size_t n = d->size < len - 1 ? d->size : len - 1;

	memcpy(dst, d->data, n);
	dst[n] = '\0';
}

/* the sha256/ SPKI pin of a public key */
int
tls_spki_pin_of_pubkey(gnutls_pubkey_t pub, char out[52], struct dsmtp_err *err)
{
	gnutls_datum_t der = { NULL, 0 }, b64 = { NULL, 0 }, digest;
	unsigned char md[32];
	int rc;

	/* the DER SubjectPublicKeyInfo, as `openssl pkey -pubin -outform der` */
	if ((rc = gnutls_pubkey_export2(pub, GNUTLS_X509_FMT_DER, &der)) < 0) {
		dsmtp_err_set(err, "cannot export the public key: %s", gnutls_strerror(rc));
		return -1;
	}
	rc = gnutls_hash_fast(GNUTLS_DIG_SHA256, der.data, der.size, md);
	gnutls_free(der.data);
	if (rc < 0) {
		dsmtp_err_set(err, "SHA-256 failed: %s", gnutls_strerror(rc));
		return -1;
	}
	digest.data = md;
	digest.size = sizeof(md);
	if ((rc = gnutls_base64_encode2(&digest, &b64)) < 0 || b64.size != 44) {
		gnutls_free(b64.data);
		dsmtp_err_set(err, "base64 failed: %s", gnutls_strerror(rc));
		return -1;
	}
	memcpy(out, "sha256/", 7);
	memcpy(out + 7, b64.data, 44);
	out[51] = '\0';
	gnutls_free(b64.data);
	return 0;
}

/* the sha256/ SPKI pin of a private key's public half */
int
tls_spki_pin_of_privkey(gnutls_x509_privkey_t key, char out[52], struct dsmtp_err *err)
{
	gnutls_privkey_t pk = NULL;
	gnutls_pubkey_t pub = NULL;
	int rc, ret = -1;

	if ((rc = gnutls_privkey_init(&pk)) < 0 || (rc = gnutls_pubkey_init(&pub)) < 0)
		goto gnutls_fail;
	/* flags 0: the privkey only borrows key, which stays the caller's */
	if ((rc = gnutls_privkey_import_x509(pk, key, 0)) < 0 ||
	    (rc = gnutls_pubkey_import_privkey(pub, pk, 0, 0)) < 0)
		goto gnutls_fail;
	ret = tls_spki_pin_of_pubkey(pub, out, err);
	goto out;
gnutls_fail:
	dsmtp_err_set(err, "cannot read the public key: %s", gnutls_strerror(rc));
out:
	if (pub)
		gnutls_pubkey_deinit(pub);
	if (pk)
		gnutls_privkey_deinit(pk);
	return ret;
}

/* the purposes of a certificate's extended key usage, if it has one */
static void
eku_facts(gnutls_x509_crt_t crt, struct tls_cert_facts *f)
{
	f->eku = 0;
	for (unsigned i = 0; i < 64; i++) {
		char oid[128];
		size_t len = sizeof(oid);
		int rc = gnutls_x509_crt_get_key_purpose_oid(crt, i, oid, &len, NULL);

		if (rc < 0)
			break;	/* GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE: no more */
		f->eku |= TLS_EKU_PRESENT;
		if (strcmp(oid, GNUTLS_KP_TLS_WWW_SERVER) == 0)
			f->eku |= TLS_EKU_SERVER;
		else if (strcmp(oid, GNUTLS_KP_TLS_WWW_CLIENT) == 0)
			f->eku |= TLS_EKU_CLIENT;
		else if (strcmp(oid, GNUTLS_KP_ANY) == 0)
			f->eku |= TLS_EKU_ANY;
	}
}

/* key type name and size of a certificate's public key */
static void
key_facts(gnutls_x509_crt_t crt, struct tls_cert_facts *f)
{
	unsigned bits = 0;
	int alg = gnutls_x509_crt_get_pk_algorithm(crt, &bits);
	gnutls_ecc_curve_t curve;

	f->key_bits = bits;
	switch (alg) {
	case GNUTLS_PK_RSA:
	case GNUTLS_PK_RSA_PSS:
		snprintf(f->key_type, sizeof(f->key_type), "RSA");
		break;
	case GNUTLS_PK_ECDSA:
		if (gnutls_x509_crt_get_pk_ecc_raw(crt, &curve, NULL, NULL) < 0)
			curve = GNUTLS_ECC_CURVE_INVALID;
		switch (curve) {
		case GNUTLS_ECC_CURVE_SECP256R1:
			snprintf(f->key_type, sizeof(f->key_type), "ECDSA-P256");
			f->key_bits = 256;
			break;
		case GNUTLS_ECC_CURVE_SECP384R1:
			snprintf(f->key_type, sizeof(f->key_type), "ECDSA-P384");
			f->key_bits = 384;
			break;
		case GNUTLS_ECC_CURVE_SECP521R1:
			snprintf(f->key_type, sizeof(f->key_type), "ECDSA-P521");
			f->key_bits = 521;
			break;
		default:
			snprintf(f->key_type, sizeof(f->key_type), "ECDSA");
			break;
		}
		break;
	case GNUTLS_PK_EDDSA_ED25519:
		snprintf(f->key_type, sizeof(f->key_type), "Ed25519");
		f->key_bits = 256;
		break;
	case GNUTLS_PK_EDDSA_ED448:
		snprintf(f->key_type, sizeof(f->key_type), "Ed448");
		f->key_bits = 456;
		break;
	case GNUTLS_PK_DSA:
		snprintf(f->key_type, sizeof(f->key_type), "DSA");
		break;
	default:
		snprintf(f->key_type, sizeof(f->key_type), "unknown");
		break;
	}
}

/* append one DNS SAN to f */
static int
san_add(struct tls_cert_facts *f, const char *name, size_t len)
{
	char **v = realloc(f->san, (f->nsan + 1) * sizeof(*v));

	if (v == NULL)
		return -1;
	f->san = v;
	if ((v[f->nsan] = strndup(name, len)) == NULL)
		return -1;
	f->nsan++;
	return 0;
}

/* the DNS-ID SANs, in certificate order */
static int
san_facts(gnutls_x509_crt_t crt, struct tls_cert_facts *f, struct dsmtp_err *err)
{
	for (unsigned seq = 0;; seq++) {
		char buf[1024];
		size_t size = sizeof(buf);
		int rc = gnutls_x509_crt_get_subject_alt_name(crt, seq, buf, &size, NULL);

		if (rc == GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE)
			return 0;
		if (rc == GNUTLS_E_SHORT_MEMORY_BUFFER)
			continue;	/* no DNS name is this long: skip it */
		if (rc < 0) {
			dsmtp_err_set(err, "cannot read the subject alternative names: %s",
			    gnutls_strerror(rc));
			return -1;
		}
		if (rc != GNUTLS_SAN_DNSNAME)
			continue;
		if (san_add(f, buf, strnlen(buf, size)) < 0) {
			dsmtp_err_set(err, "out of memory");
			return -1;
		}
	}
}

/* facts of crt, which has been parsed from its DER encoding */
static int
facts_of_parsed(gnutls_x509_crt_t crt, struct tls_cert_facts *f, struct dsmtp_err *err)
{
	gnutls_datum_t d = { NULL, 0 };
	gnutls_pubkey_t pub = NULL;
	unsigned char buf[64], serial[64];
	size_t size;
	unsigned status;
	int rc;

	memset(f, 0, sizeof(*f));
	if ((rc = gnutls_x509_crt_get_dn3(crt, &d, 0)) < 0)
		goto fail;
	datum_copy(f->subject, sizeof(f->subject), &d);
	gnutls_free(d.data);
	d.data = NULL;
	if ((rc = gnutls_x509_crt_get_issuer_dn3(crt, &d, 0)) < 0)
		goto fail;
	datum_copy(f->issuer, sizeof(f->issuer), &d);
	gnutls_free(d.data);
	d.data = NULL;

	size = sizeof(serial);
	if ((rc = gnutls_x509_crt_get_serial(crt, serial, &size)) < 0)
		goto fail;
	tls_hex(serial, size, f->serial);
	f->not_before = gnutls_x509_crt_get_activation_time(crt);
	f->not_after = gnutls_x509_crt_get_expiration_time(crt);

	size = sizeof(f->cn);
	rc = gnutls_x509_crt_get_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, 0, f->cn, &size);
	if (rc == GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE || rc == GNUTLS_E_SHORT_MEMORY_BUFFER)
		f->cn[0] = '\0';
	else if (rc < 0)
		goto fail;

	if (san_facts(crt, f, err) < 0)
		goto out_fail;

	size = sizeof(buf);
	if ((rc = gnutls_x509_crt_get_fingerprint(crt, GNUTLS_DIG_SHA1, buf, &size)) < 0)
		goto fail;
	tls_hex(buf, size, f->sha1);
	size = sizeof(buf);
	if ((rc = gnutls_x509_crt_get_fingerprint(crt, GNUTLS_DIG_SHA256, buf, &size)) < 0)
		goto fail;
	tls_hex(buf, size, f->sha256);

	if ((rc = gnutls_pubkey_init(&pub)) < 0 ||
	    (rc = gnutls_pubkey_import_x509(pub, crt, 0)) < 0)
		goto fail;
	if (tls_spki_pin_of_pubkey(pub, f->spki, err) < 0)
		goto out_fail;
	gnutls_pubkey_deinit(pub);
	pub = NULL;
	key_facts(crt, f);
	eku_facts(crt, f);

	/* self-signed: issued by its own subject and its signature checks out
	 * with its own key (a matching DN alone is not enough) */
	f->self_signed = false;
	if (gnutls_x509_crt_check_issuer(crt, crt) &&
	    gnutls_x509_crt_verify(crt, &crt, 1,
	    GNUTLS_VERIFY_DISABLE_TIME_CHECKS | GNUTLS_VERIFY_DISABLE_CA_SIGN, &status) >= 0 &&
	    (status & (GNUTLS_CERT_SIGNATURE_FAILURE | GNUTLS_CERT_SIGNER_NOT_FOUND)) == 0)
		f->self_signed = true;
	return 0;
fail:
	dsmtp_err_set(err, "cannot read the certificate: %s", gnutls_strerror(rc));
out_fail:
	gnutls_free(d.data);
	if (pub)
		gnutls_pubkey_deinit(pub);
	tls_cert_facts_free(f);
	return -1;
}

/* every fact of one certificate */
int
tls_cert_facts_from_crt(gnutls_x509_crt_t crt, struct tls_cert_facts *f, struct dsmtp_err *err)
{
	gnutls_x509_crt_t parsed;
	gnutls_datum_t der = { NULL, 0 };
	int rc;

	/* read the facts from the DER encoding, not from a structure that may
	 * have been built in memory: GnuTLS answers some questions (SANs,
	 * issuer checks) only for a parsed certificate */
	memset(f, 0, sizeof(*f));
	if ((rc = gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_DER, &der)) < 0) {
		dsmtp_err_set(err, "cannot encode the certificate: %s", gnutls_strerror(rc));
		return -1;
	}
	if ((rc = gnutls_x509_crt_init(&parsed)) < 0) {
		gnutls_free(der.data);
		dsmtp_err_set(err, "out of memory");
		return -1;
	}
	rc = gnutls_x509_crt_import(parsed, &der, GNUTLS_X509_FMT_DER);
	gnutls_free(der.data);
	if (rc < 0) {
		gnutls_x509_crt_deinit(parsed);
		dsmtp_err_set(err, "cannot read the certificate: %s", gnutls_strerror(rc));
		return -1;
	}
	rc = facts_of_parsed(parsed, f, err);
	gnutls_x509_crt_deinit(parsed);
	return rc;
}

/* read a whole (small) file */
int
tls_read_file(const char *path, gnutls_datum_t *out, struct dsmtp_err *err)
{
	struct stat sb;
	ssize_t r;
	size_t got = 0;
	int fd;

	out->data = NULL;
	out->size = 0;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		dsmtp_err_set(err, "%s: cannot open: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode) || sb.st_size > TLS_FILE_MAX) {
		dsmtp_err_set(err, "%s: not a regular file of at most %d bytes", path, TLS_FILE_MAX);
		close(fd);
		return -1;
	}
	if ((out->data = gnutls_malloc((size_t)sb.st_size + 1)) == NULL) {
		dsmtp_err_set(err, "%s: out of memory", path);
		close(fd);
		return -1;
	}
	while (got < (size_t)sb.st_size) {
		r = read(fd, out->data + got, (size_t)sb.st_size - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			dsmtp_err_set(err, "%s: read failed: %s", path,
			    r < 0 ? strerror(errno) : "file shrank");
			/* what was read may be part of a private key */
			gnutls_memset(out->data, 0, got);
			gnutls_free(out->data);
			out->data = NULL;
			close(fd);
			return -1;
		}
		got += (size_t)r;
	}
	close(fd);
	out->data[got] = '\0';	/* PEM parsers like a terminator; not counted */
	out->size = (unsigned)got;
	return 0;
}

/* free a certificate list from tls_crt_list_load */
void
tls_crt_list_free(gnutls_x509_crt_t *list, unsigned n)
{
	if (list == NULL)
		return;
	for (unsigned i = 0; i < n; i++)
		gnutls_x509_crt_deinit(list[i]);
	gnutls_free(list);
}

/* the certificates of a PKCS#7 SignedData (.p7b), PEM or DER */
static int
p7_load(const gnutls_datum_t *data, gnutls_x509_crt_fmt_t fmt, gnutls_x509_crt_t **out,
    unsigned *n)
{
	gnutls_pkcs7_t p7 = NULL;
	gnutls_x509_crt_t *list = NULL;
	int rc, count;
	unsigned got = 0;

	if ((rc = gnutls_pkcs7_init(&p7)) < 0)
		return rc;
	if ((rc = gnutls_pkcs7_import(p7, data, fmt)) < 0)
		goto out;
	if ((count = gnutls_pkcs7_get_crt_count(p7)) <= 0) {
		rc = GNUTLS_E_NO_CERTIFICATE_FOUND;
		goto out;
	}
	if ((list = gnutls_calloc((size_t)count, sizeof(*list))) == NULL) {
		rc = GNUTLS_E_MEMORY_ERROR;
		goto out;
	}
	for (int i = 0; i < count; i++) {
		gnutls_datum_t der = { NULL, 0 };

		if ((rc = gnutls_pkcs7_get_crt_raw2(p7, (unsigned)i, &der)) < 0)
			goto out;
		if ((rc = gnutls_x509_crt_init(&list[got])) < 0) {
			gnutls_free(der.data);
			goto out;
		}
		got++;
		rc = gnutls_x509_crt_import(list[got - 1], &der, GNUTLS_X509_FMT_DER);
		gnutls_free(der.data);
		if (rc < 0)
			goto out;
	}
	*out = list;
	*n = got;
	list = NULL;
	rc = 0;
out:
	if (list)
		tls_crt_list_free(list, got);
	gnutls_pkcs7_deinit(p7);
	return rc;
}

/* every certificate of PEM, DER or PKCS#7 data, in order */
int
tls_crt_list_load(const gnutls_datum_t *data, const char *name, gnutls_x509_crt_t **out,
    unsigned *n, struct dsmtp_err *err)
{
	bool pem = memmem(data->data, data->size, "-----BEGIN", 10) != NULL;
	int rc;

	*out = NULL;
	*n = 0;
	if (pem && memmem(data->data, data->size, "-----BEGIN PKCS7", 16) != NULL)
		rc = p7_load(data, GNUTLS_X509_FMT_PEM, out, n);
	else if (pem && memmem(data->data, data->size, "-----BEGIN CERTIFICATE", 22) == NULL) {
		dsmtp_err_set(err, "%s: no certificate in this PEM file", name);
		return -1;
	} else {
		rc = gnutls_x509_crt_list_import2(out, n, data,
		    pem ? GNUTLS_X509_FMT_PEM : GNUTLS_X509_FMT_DER, 0);
		/* DER that is not one certificate may be a PKCS#7 bundle */
		if (rc < 0 && !pem) {
			int rc7 = p7_load(data, GNUTLS_X509_FMT_DER, out, n);

			if (rc7 >= 0)
				rc = rc7;
		}
	}
	if (rc < 0) {
		dsmtp_err_set(err, "%s: not a certificate (PEM, DER or PKCS#7): %s", name,
		    gnutls_strerror(rc));
		*out = NULL;
		*n = 0;
		return -1;
	}
	if (*n == 0) {
		dsmtp_err_set(err, "%s: no certificate found", name);
		return -1;
	}
	return 0;
}

/* facts of the first certificate of a file */
int
tls_cert_facts_from_file(const char *path, struct tls_cert_facts *f, struct dsmtp_err *err)
{
	gnutls_datum_t data;
	gnutls_x509_crt_t *list;
	unsigned n;
	int ret;

	memset(f, 0, sizeof(*f));
	if (tls_read_file(path, &data, err) < 0)
		return -1;
	ret = tls_crt_list_load(&data, path, &list, &n, err);
	gnutls_free(data.data);
	if (ret < 0)
		return -1;
	ret = tls_cert_facts_from_crt(list[0], f, err);
	tls_crt_list_free(list, n);
	if (ret < 0) {
		struct dsmtp_err sub = *err;

		dsmtp_err_set(err, "%s: %s", path, sub.msg);
	}
	return ret;
}

/* a deep copy of facts */
int
tls_cert_facts_copy(struct tls_cert_facts *dst, const struct tls_cert_facts *src)
{
	*dst = *src;
	dst->san = NULL;
	dst->nsan = 0;
	for (size_t i = 0; i < src->nsan; i++)
		if (san_add(dst, src->san[i], strlen(src->san[i])) < 0) {
			tls_cert_facts_free(dst);
			return -1;
		}
	return 0;
}

/* is f within its validity at now? */
bool
tls_cert_facts_valid_at(const struct tls_cert_facts *f, time_t now)
{
	return f->not_before <= now && now <= f->not_after;
}

/* one name against one pattern: case-insensitive, "*" only as a whole
 * left-most label, never matching the bare parent or more than one label */
static bool
name_match(const char *pattern, const char *host)
{
	size_t pl = strlen(pattern), hl = strlen(host);
	const char *dot;

	if (pl > 0 && pattern[pl - 1] == '.')
		pl--;
	if (hl > 0 && host[hl - 1] == '.')
		hl--;
	if (pl == hl && strncasecmp(pattern, host, pl) == 0)
		return true;
	if (pl < 3 || pattern[0] != '*' || pattern[1] != '.')
		return false;
	if ((dot = memchr(host, '.', hl)) == NULL || dot == host)
		return false;
	/* "*.example.com" against "x.example.com": compare from the first dot */
	return (size_t)(host + hl - dot) == pl - 1 && strncasecmp(dot, pattern + 1, pl - 1) == 0;
}

/* does f name host (selection only; policy/ judges RFC 6125) */
bool
tls_cert_facts_names(const struct tls_cert_facts *f, const char *host)
{
	if (host == NULL || host[0] == '\0')
		return false;
	if (f->nsan == 0)
		return f->cn[0] != '\0' && name_match(f->cn, host);
	for (size_t i = 0; i < f->nsan; i++)
		if (name_match(f->san[i], host))
			return true;
	return false;
}
