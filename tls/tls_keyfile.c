/* tls_keyfile.c: private key files into GnuTLS without leaving their text
 * behind. The file's bytes, the base64 text and the decoded DER are ours,
 * and each is wiped before it is freed, on every path. GnuTLS itself never
 * sees the PEM: its base64 decoder frees a copy of the armoured text
 * (newlines stripped) without clearing it, which left the key readable in
 * every process that had loaded one (issue 15). So the armour is taken off
 * here and GnuTLS gets DER only. Owns no policy about which key to load. */
#include "autoconfig.h"

#include <stdlib.h>
#include <string.h>

#include "tls/tls_int.h"

/* the value of a base64 character, or -1 */
static int
b64_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/* decode base64 text in[0..len) (white space skipped, '=' padding) into a
 * new gnutls_malloc'd buffer; -1 on anything else */
static int
b64_decode(const unsigned char *in, size_t len, gnutls_datum_t *out)
{
	unsigned acc = 0, bits = 0, pad = 0;
	size_t o = 0;

	out->size = 0;
	if ((out->data = gnutls_malloc(len / 4 * 3 + 3)) == NULL)
		return -1;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = in[i];
		int v;

		if (c == ' ' || c == '\t' || c == '\r' || c == '\n')
			continue;
		if (c == '=') {
			pad++;
			continue;
		}
		if (pad > 0 || (v = b64_value(c)) < 0)
			goto bad;
		acc = (acc << 6) | (unsigned)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out->data[o++] = (unsigned char)(acc >> bits);
		}
	}
	/* a group of 4 characters, padding included, and no stray bits */
	if (pad > 2 || (bits == 6) || o == 0)
		goto bad;
	acc = 0;
	out->size = (unsigned)o;
	return 0;
bad:
	acc = 0;
	gnutls_memset(out->data, 0, len / 4 * 3 + 3);
	gnutls_free(out->data);
	out->data = NULL;
	return -1;
}

/* the DER inside the first PEM block labelled "... PRIVATE KEY" of a
 * file's text, in a new buffer (wipe and free it); -1 when there is none */
static int
pem_key_der(const gnutls_datum_t *text, gnutls_datum_t *der)
{
	const unsigned char *p = text->data, *end = text->data + text->size;

	while ((p = memmem(p, (size_t)(end - p), "-----BEGIN ", 11)) != NULL) {
		const unsigned char *eol = memchr(p, '\n', (size_t)(end - p)), *body, *stop;

		if (eol == NULL)
			return -1;
		/* the label: "PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY" */
		if (eol - p < 11 + 16 ||
		    memmem(p, (size_t)(eol - p), "PRIVATE KEY-----", 16) == NULL ||
		    memmem(p, (size_t)(eol - p), "ENCRYPTED", 9) != NULL) {
			p = eol;
			continue;
		}
		body = eol + 1;
		if ((stop = memmem(body, (size_t)(end - body), "-----END ", 9)) == NULL)
			return -1;
		/* RFC 1421 headers (Proc-Type: 4,ENCRYPTED) mean an encrypted key */
		if (memchr(body, ':', (size_t)(stop - body)) != NULL)
			return -1;
		return b64_decode(body, (size_t)(stop - body), der);
	}
	return -1;
}

/* load an unencrypted private key (PKCS#8, PKCS#1 or SEC 1; PEM or DER) */
int
tls_key_load(const char *path, gnutls_x509_privkey_t *key, struct dsmtp_err *err)
{
	gnutls_datum_t text, der = { NULL, 0 };
	const char *why = NULL;
	int rc = GNUTLS_E_BASE64_DECODING_ERROR;

	*key = NULL;
	if (tls_read_file(path, &text, err) < 0)
		return -1;
	if (memmem(text.data, text.size, "-----BEGIN", 10) == NULL) {
		der = text;	/* DER as it is */
		text.data = NULL;
		text.size = 0;
	} else if (pem_key_der(&text, &der) < 0) {
		why = "no unencrypted \"PRIVATE KEY\" PEM block";
	}
	if (text.data != NULL) {
		gnutls_memset(text.data, 0, text.size);
		gnutls_free(text.data);
	}
	if (why == NULL && (rc = gnutls_x509_privkey_init(key)) >= 0)
		rc = gnutls_x509_privkey_import2(*key, &der, GNUTLS_X509_FMT_DER, NULL,
		    GNUTLS_PKCS_PLAIN);
	if (der.data != NULL) {
		gnutls_memset(der.data, 0, der.size);
		gnutls_free(der.data);
	}
	if (why != NULL || rc < 0) {
		dsmtp_err_set(err, "%s: not an unencrypted private key: %s", path,
		    why != NULL ? why : gnutls_strerror(rc));
		if (*key)
			gnutls_x509_privkey_deinit(*key);
		*key = NULL;
		return -1;
	}
	return 0;
}

/* add a certificate file and its key file to cred, as
 * gnutls_certificate_set_x509_key_file2 would, but with the key read here */
int
tls_cred_add_pair(gnutls_certificate_credentials_t cred, const char *cert_path,
    const char *key_path, struct dsmtp_err *err)
{
	gnutls_x509_crt_t *chain = NULL;
	gnutls_x509_privkey_t key = NULL;
	unsigned n = 0;
	int rc;

	if (tls_chain_load(cert_path, &chain, &n, err) < 0)
		return -1;
	if (tls_key_load(key_path, &key, err) < 0) {
		tls_crt_list_free(chain, n);
		return -1;
	}
	/* GnuTLS copies both; ours go at once */
	rc = gnutls_certificate_set_x509_key(cred, chain, n, key);
	gnutls_x509_privkey_deinit(key);
	tls_crt_list_free(chain, n);
	if (rc < 0) {
		dsmtp_err_set(err, "certificate %s with key %s: %s", cert_path, key_path,
		    gnutls_strerror(rc));
		return -1;
	}
	return 0;
}

int
tls_pair_load_chain(const char *path, struct tls_pair *p, struct dsmtp_err *err)
{
	gnutls_x509_crt_t *chain = NULL;
	unsigned n = 0, nimp;
	int rc;

	p->pcerts = NULL;
	p->n = 0;
	if (tls_chain_load(path, &chain, &n, err) < 0)
		return -1;
	if ((p->pcerts = calloc(n, sizeof(*p->pcerts))) == NULL) {
		dsmtp_err_set(err, "out of memory");
		tls_crt_list_free(chain, n);
		return -1;
	}
	nimp = n;
	if ((rc = gnutls_pcert_import_x509_list(p->pcerts, chain, &nimp, 0)) < 0) {
		dsmtp_err_set(err, "%s: %s", path, gnutls_strerror(rc));
		free(p->pcerts);
		p->pcerts = NULL;
		tls_crt_list_free(chain, n);
		return -1;
	}
	p->n = nimp;
	tls_crt_list_free(chain, n);
	return 0;
}

int
tls_pair_load(const char *cert_path, const char *key_path, struct tls_pair *p,
    struct dsmtp_err *err)
{
	gnutls_x509_privkey_t xkey = NULL;
	int rc;

	p->key = NULL;
	if (tls_pair_load_chain(cert_path, p, err) < 0)
		return -1;
	if (tls_key_load(key_path, &xkey, err) < 0)
		goto fail;
	/* the abstract key takes the x509 one over (deinit with it) */
	if ((rc = gnutls_privkey_init(&p->key)) < 0 ||
	    (rc = gnutls_privkey_import_x509(p->key, xkey, GNUTLS_PRIVKEY_IMPORT_AUTO_RELEASE)) < 0) {
		dsmtp_err_set(err, "certificate %s with key %s: %s", cert_path, key_path,
		    gnutls_strerror(rc));
		gnutls_x509_privkey_deinit(xkey);
		goto fail;
	}
	return 0;
fail:
	tls_pair_free(p);
	return -1;
}

void
tls_pair_free(struct tls_pair *p)
{
	for (unsigned i = 0; i < p->n; i++)
		gnutls_pcert_deinit(&p->pcerts[i]);
	free(p->pcerts);
	if (p->key)
		gnutls_privkey_deinit(p->key);
	p->pcerts = NULL;
	p->n = 0;
	p->key = NULL;
}
