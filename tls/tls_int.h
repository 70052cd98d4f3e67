/* tls_int.h: tls/'s internal interface, shared by its .c files, dsmtp-cert
 * and the session layer. May include GnuTLS headers (tls.h must not).
 * Owns the store's in-memory shape, key generation, PKCS#12 and verification
 * helpers; nothing outside tls/ includes it. */
#ifndef DSMTP_TLS_INT_H
#define DSMTP_TLS_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <time.h>

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <gnutls/abstract.h>

#include "common/config.h"
#include "common/diag.h"
#include "tls/tls.h"

#define TLS_PATH_MAX	4096

/* tls_facts.c: certificate facts and the encodings they use */
int tls_cert_facts_from_crt(gnutls_x509_crt_t crt, struct tls_cert_facts *f, struct dsmtp_err *err);
/* "sha256/<base64 of SHA-256 of the DER SubjectPublicKeyInfo>" of a public key */
int tls_spki_pin_of_pubkey(gnutls_pubkey_t pub, char out[52], struct dsmtp_err *err);
/* the same, of a private key's public half */
int tls_spki_pin_of_privkey(gnutls_x509_privkey_t key, char out[52], struct dsmtp_err *err);
/* lower-case hex of len bytes into out (2 * len + 1 bytes) */
void tls_hex(const unsigned char *in, size_t len, char *out);
/* RFC 3339 UTC, "2026-11-24T11:44:46Z" */
void tls_time_format(time_t t, char *buf, size_t len);
/* a whole file into a gnutls_datum_t (free with gnutls_free(d->data)) */
int tls_read_file(const char *path, gnutls_datum_t *out, struct dsmtp_err *err);
/* every certificate in PEM, DER or PKCS#7 (PEM or DER) data, in file order;
 * name is used in messages. Free with tls_crt_list_free. */
int tls_crt_list_load(const gnutls_datum_t *data, const char *name, gnutls_x509_crt_t **out,
    unsigned *n, struct dsmtp_err *err);
void tls_crt_list_free(gnutls_x509_crt_t *list, unsigned n);

/* tls_verify.c: trust anchors and chain verification */
gnutls_x509_trust_list_t tls_trust_list(const struct tls_trust *t);
/* verify chain (DER, leaf first) against t; fills out->leaf, chain_len,
 * present, chain and chain_reason. Never checks names (policy/ does).
 * 0, or -1 only on out of memory (out still says why). */
int tls_verify_chain(const struct tls_trust *t, const gnutls_datum_t *chain, unsigned n,
    struct tls_peer_facts *out);

/* tls_keygen.c: keys, self-signed certificates, requests */
enum tls_keyalg {
	TLS_KEY_ECDSA_P256,
	TLS_KEY_ECDSA_P384,
	TLS_KEY_RSA_2048,
	TLS_KEY_RSA_3072,
	TLS_KEY_RSA_4096,
	TLS_KEY_ED25519,
};
/* "ecdsa-p256", "rsa-2048", ...; RSA under 2048 bits is refused */
int tls_keyalg_parse(const char *s, enum tls_keyalg *a, struct dsmtp_err *err);
const char *tls_keyalg_name(enum tls_keyalg a);
/* the algorithm of an existing certificate's key (for renew) */
int tls_keyalg_of_facts(const struct tls_cert_facts *f, enum tls_keyalg *a, struct dsmtp_err *err);
int tls_key_generate(enum tls_keyalg a, gnutls_x509_privkey_t *key, struct dsmtp_err *err);
/* a self-signed leaf for TLS server and client use */
int tls_selfsigned_make(gnutls_x509_privkey_t key, const char *dn, char *const *san, size_t nsan,
    unsigned days, gnutls_x509_crt_t *out, struct dsmtp_err *err);
/* a PKCS#10 request for dn ("C=US,O=Org,CN=mail.example.com") and SANs */
int tls_csr_make(gnutls_x509_privkey_t key, const char *dn, char *const *san, size_t nsan,
    gnutls_x509_crq_t *out, struct dsmtp_err *err);
/* the default names: CN = short host name, SANs = short name and FQDN */
int tls_default_names(const char *hostname, char *cn, size_t cnlen, char ***san, size_t *nsan,
    struct dsmtp_err *err);
void tls_strv_free(char **v, size_t n);
/* a subject written most significant first, as `openssl req -subj` and
 * Windows show it ("C=US,O=Org,CN=mail.example.com"), into the RFC 4514
 * string GnuTLS takes (the same components, last first) */
int tls_dn_from_x500_order(const char *in, char *out, size_t outlen, struct dsmtp_err *err);
/* split "a,b,c" into a vector of normalised DNS names */
int tls_san_parse(const char *list, char ***san, size_t *nsan, struct dsmtp_err *err);

/* tls_pkcs12.c: PKCS#12 (PFX) in and out */
/* a password file's content; one trailing newline is not part of it */
int tls_password_file(const char *path, char *out, size_t outlen, struct dsmtp_err *err);
/* PBES2/AES-256 bags and an HMAC-SHA256 MAC; chain[0] is the leaf */
int tls_pkcs12_export(gnutls_x509_crt_t *chain, unsigned n, gnutls_x509_privkey_t key,
    const char *password, gnutls_datum_t *der, struct dsmtp_err *err);
/* the key, and the chain with its leaf first */
int tls_pkcs12_import(const gnutls_datum_t *data, const char *name, const char *password,
    gnutls_x509_privkey_t *key, gnutls_x509_crt_t **chain, unsigned *n, struct dsmtp_err *err);

/* tls_store.c: the on-disk store, state_dir/certs/ (layout in dsmtp-cert(1)):
 *   <sha1>.pem        the certificate, then its chain (PEM)
 *   <sha1>.key        its private key, PKCS#8 PEM, mode 0600
 *   pending/<id>.key  a key made by `request` (id: 16 hex of the SPKI SHA-256)
 *   pending/<id>.csr  the request sent to the CA
 *   enabled           the thumbprints used for SMTP, one per line */
struct tls_store_cert {
	char			sha1[41];
	char			cert_path[TLS_PATH_MAX];
	char			key_path[TLS_PATH_MAX];
	struct tls_cert_facts	facts;
	unsigned		chain_len;	/* certificates in the file, leaf included */
	bool			has_key;
	bool			enabled;
};
struct tls_store_pending {
	char			id[17];
	char			key_path[TLS_PATH_MAX];
	char			csr_path[TLS_PATH_MAX];
	char			subject[512];
	char			spki[52];
	time_t			created;
};
struct tls_store {
	char			 dir[TLS_PATH_MAX];
	struct tls_store_cert	*certs;
	size_t			 ncerts;
	struct tls_store_pending *pending;
	size_t			 npending;
	char			**bad;		/* files skipped, each "path: reason" */
	size_t			 nbad;
	int			 lock_fd;	/* tls_store_lock's, or -1 */
};
int tls_store_open(const struct dsmtp_config *cfg, struct tls_store *st, struct dsmtp_err *err);
/* the same on a directory (tests) */
int tls_store_open_dir(const char *dir, struct tls_store *st, struct dsmtp_err *err);
void tls_store_close(struct tls_store *st);
/* serialise changes: an exclusive lock on certs/.lock, held until
 * tls_store_close (readers need none: every file is replaced whole) */
int tls_store_lock(struct tls_store *st, struct dsmtp_err *err);
/* index of the certificate a thumbprint argument names: 40 hex with or
 * without colons, any case, or a unique prefix of >= 8 hex digits */
int tls_store_lookup(const struct tls_store *st, const char *arg, struct dsmtp_err *err);
/* write chain (+ key) into the store; enable it when nothing is enabled yet
 * or enable is true. *idx = its index after the reload. */
int tls_store_add(struct tls_store *st, gnutls_x509_crt_t *chain, unsigned n,
    gnutls_x509_privkey_t key, bool enable, size_t *idx, struct dsmtp_err *err);
int tls_store_set_enabled(struct tls_store *st, size_t idx, bool on, struct dsmtp_err *err);
int tls_store_remove(struct tls_store *st, size_t idx, struct dsmtp_err *err);
/* keep key as pending with its request; *idx = its index */
int tls_store_add_pending(struct tls_store *st, gnutls_x509_privkey_t key, gnutls_x509_crq_t crq,
    size_t *idx, struct dsmtp_err *err);
/* the pending key whose SPKI pin is spki, or -1 */
int tls_store_pending_find(const struct tls_store *st, const char *spki);
int tls_store_pending_remove(struct tls_store *st, size_t idx, struct dsmtp_err *err);
int tls_store_enabled_count(const struct tls_store *st);
/* atomically: temp file (O_EXCL, mode), write, fsync, rename, fsync dir */
int tls_store_write_file(const char *dir, const char *name, const void *data, size_t len,
    mode_t mode, struct dsmtp_err *err);
/* tls_keyfile.c: an unencrypted private key file (PKCS#8, PKCS#1, SEC 1;
 * PEM or DER). Every buffer that held the file's text or DER is wiped
 * before it is freed; GnuTLS sees DER only. */
int tls_key_load(const char *path, gnutls_x509_privkey_t *key, struct dsmtp_err *err);
/* a certificate file and its key file into cred (as
 * gnutls_certificate_set_x509_key_file2, the key read by tls_key_load) */
int tls_cred_add_pair(gnutls_certificate_credentials_t cred, const char *cert_path,
    const char *key_path, struct dsmtp_err *err);
int tls_chain_load(const char *path, gnutls_x509_crt_t **chain, unsigned *n, struct dsmtp_err *err);
/* a certificate chain and its key as GnuTLS's abstract types, owned by
 * whoever holds the pair: what a client certificate callback hands out */
struct tls_pair {
	gnutls_pcert_st		*pcerts;
	unsigned		 n;
	gnutls_privkey_t	 key;
};
/* path's chain into p->pcerts (p->key untouched) */
int tls_pair_load_chain(const char *path, struct tls_pair *p, struct dsmtp_err *err);
/* a certificate file and its key file (read by tls_key_load) into p */
int tls_pair_load(const char *cert_path, const char *key_path, struct tls_pair *p,
    struct dsmtp_err *err);
void tls_pair_free(struct tls_pair *p);
/* a new self-signed certificate in the store (what `new` and dsmtpd's first start do) */
int tls_store_new_selfsigned(struct tls_store *st, enum tls_keyalg alg, const char *cn,
    char *const *san, size_t nsan, unsigned days, bool enable, size_t *idx, struct dsmtp_err *err);

/* tls_keyproc_ext.c: cert_path's chain with an external key the key process
 * signs for (the credentials own both afterwards) */
int tls_keyproc_set_pair(gnutls_certificate_credentials_t cred, const char *cert_path,
    struct dsmtp_err *err);
/* the same as a pair of our own (tls_pair_free) */
int tls_keyproc_pair(const char *cert_path, struct tls_pair *p, struct dsmtp_err *err);

/* tls_select.c: which of several certificates to serve (DESIGN.md section 7) */
/* index of the best of n candidates (n > 0) at now: those naming sni (if
 * not NULL and any does), else hostname, then valid, CA-issued, newest;
 * the reason into why */
size_t tls_select_best(const struct tls_cert_facts *const *cand, size_t n, const char *sni,
    const char *hostname, time_t now, char *why, size_t whylen);

#endif
