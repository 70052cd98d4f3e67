/* tls_pkcs12.c: PKCS#12 (PFX) files in and out, and the password files that
 * protect them. Exports use PBES2 with AES-256 and an HMAC-SHA256 MAC, which
 * current OpenSSL reads without -legacy. Passwords are never printed. */
#include "autoconfig.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gnutls/pkcs12.h>

#include "tls/tls_int.h"

/* read a password file */
int
tls_password_file(const char *path, char *out, size_t outlen, struct dsmtp_err *err)
{
	gnutls_datum_t d;
	size_t len;

	if (tls_read_file(path, &d, err) < 0)
		return -1;
	len = d.size;
	/* one trailing newline (LF or CRLF) ends the line, not the password */
	if (len > 0 && d.data[len - 1] == '\n') {
		len--;
		if (len > 0 && d.data[len - 1] == '\r')
			len--;
	}
	if (memchr(d.data, '\0', len) != NULL || len >= outlen) {
		dsmtp_err_set(err, "%s: %s", path, len >= outlen ? "password too long" :
		    "password contains a NUL byte");
		gnutls_memset(d.data, 0, d.size);
		gnutls_free(d.data);
		return -1;
	}
	memcpy(out, d.data, len);
	out[len] = '\0';
	gnutls_memset(d.data, 0, d.size);
	gnutls_free(d.data);
	return 0;
}

/* encode chain and key as an encrypted PKCS#12 file */
int
tls_pkcs12_export(gnutls_x509_crt_t *chain, unsigned n, gnutls_x509_privkey_t key,
    const char *password, gnutls_datum_t *der, struct dsmtp_err *err)
{
	gnutls_pkcs12_t p12 = NULL;
	gnutls_pkcs12_bag_t cbag = NULL, kbag = NULL;
	gnutls_datum_t kder = { NULL, 0 }, id;
	unsigned char keyid[64];
	size_t idlen = sizeof(keyid);
	const char *where = "init";
	int rc, idx;

	der->data = NULL;
	der->size = 0;
	if (password == NULL || password[0] == '\0') {
		dsmtp_err_set(err, "refusing to export a private key without a password");
		return -1;
	}
	if ((rc = gnutls_pkcs12_init(&p12)) < 0 || (rc = gnutls_pkcs12_bag_init(&cbag)) < 0 ||
	    (rc = gnutls_pkcs12_bag_init(&kbag)) < 0)
		goto fail;
	/* localKeyID ties the leaf to its key for every reader */
	where = "key id";
	if ((rc = gnutls_x509_crt_get_key_id(chain[0], 0, keyid, &idlen)) < 0)
		goto fail;
	id.data = keyid;
	id.size = (unsigned)idlen;
	where = "certificates";
	for (unsigned i = 0; i < n; i++) {
		if ((idx = gnutls_pkcs12_bag_set_crt(cbag, chain[i])) < 0) {
			rc = idx;
			goto fail;
		}
		if (i == 0 && (rc = gnutls_pkcs12_bag_set_key_id(cbag, (unsigned)idx, &id)) < 0)
			goto fail;
	}
	if ((rc = gnutls_pkcs12_bag_encrypt(cbag, password, GNUTLS_PKCS_PBES2_AES_256)) < 0 ||
	    (rc = gnutls_pkcs12_set_bag(p12, cbag)) < 0)
		goto fail;
	where = "private key";
	if ((rc = gnutls_x509_privkey_export2_pkcs8(key, GNUTLS_X509_FMT_DER, password,
	    GNUTLS_PKCS_PBES2_AES_256, &kder)) < 0)
		goto fail;
	if ((idx = gnutls_pkcs12_bag_set_data(kbag, GNUTLS_BAG_PKCS8_ENCRYPTED_KEY, &kder)) < 0) {
		rc = idx;
		goto fail;
	}
	if ((rc = gnutls_pkcs12_bag_set_key_id(kbag, (unsigned)idx, &id)) < 0 ||
	    (rc = gnutls_pkcs12_set_bag(p12, kbag)) < 0)
		goto fail;
	where = "MAC";
	if ((rc = gnutls_pkcs12_generate_mac2(p12, GNUTLS_MAC_SHA256, password)) < 0)
		goto fail;
	where = "export";
	if ((rc = gnutls_pkcs12_export2(p12, GNUTLS_X509_FMT_DER, der)) < 0)
		goto fail;
	rc = 0;
	goto out;
fail:
	dsmtp_err_set(err, "PKCS#12 %s: %s", where, gnutls_strerror(rc));
	rc = -1;
out:
	if (kder.data) {
		gnutls_memset(kder.data, 0, kder.size);
		gnutls_free(kder.data);
	}
	if (kbag)
		gnutls_pkcs12_bag_deinit(kbag);
	if (cbag)
		gnutls_pkcs12_bag_deinit(cbag);
	if (p12)
		gnutls_pkcs12_deinit(p12);
	return rc;
}

/* decode a PKCS#12 file into a key and its chain */
int
tls_pkcs12_import(const gnutls_datum_t *data, const char *name, const char *password,
    gnutls_x509_privkey_t *key, gnutls_x509_crt_t **chain, unsigned *n, struct dsmtp_err *err)
{
	gnutls_pkcs12_t p12 = NULL;
	gnutls_x509_crt_t *extra = NULL;
	unsigned nextra = 0;
	bool pem = memmem(data->data, data->size, "-----BEGIN", 10) != NULL;
	int rc;

	*key = NULL;
	*chain = NULL;
	*n = 0;
	if ((rc = gnutls_pkcs12_init(&p12)) < 0) {
		dsmtp_err_set(err, "%s: %s", name, gnutls_strerror(rc));
		return -1;
	}
	if ((rc = gnutls_pkcs12_import(p12, data, pem ? GNUTLS_X509_FMT_PEM : GNUTLS_X509_FMT_DER,
	    0)) < 0) {
		dsmtp_err_set(err, "%s: not a PKCS#12 file: %s", name, gnutls_strerror(rc));
		goto fail;
	}
	if ((rc = gnutls_pkcs12_verify_mac(p12, password)) < 0) {
		dsmtp_err_set(err, "%s: wrong password or damaged file (MAC check: %s)", name,
		    gnutls_strerror(rc));
		goto fail;
	}
	rc = gnutls_pkcs12_simple_parse(p12, password, key, chain, n, &extra, &nextra, NULL, 0);
	if (rc < 0) {
		dsmtp_err_set(err, "%s: cannot read the key and certificate: %s", name,
		    gnutls_strerror(rc));
		goto fail;
	}
	if (*key == NULL || *n == 0) {
		dsmtp_err_set(err, "%s: no private key with a matching certificate", name);
		goto fail;
	}
	tls_crt_list_free(extra, nextra);
	gnutls_pkcs12_deinit(p12);
	return 0;
fail:
	tls_crt_list_free(extra, nextra);
	tls_crt_list_free(*chain, *n);
	*chain = NULL;
	*n = 0;
	if (*key)
		gnutls_x509_privkey_deinit(*key);
	*key = NULL;
	gnutls_pkcs12_deinit(p12);
	return -1;
}
