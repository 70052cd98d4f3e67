/* tls_keyproc_ext.c: a worker's side of the key process (DESIGN.md 13.4;
 * the frames are described in tls_keyproc.h). Owns the worker's socket to
 * the key process, the request/answer exchange (one at a time, bounded by
 * KP_TIMEOUT_MS, late answers skipped by sequence number), and the GnuTLS
 * external keys (gnutls_privkey_import_ext4) whose callbacks use it:
 * tls_keyproc_set_pair gives credentials a certificate chain whose key
 * stays in the key process. */
#include "autoconfig.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "tls/tls_int.h"
#include "tls/tls_keyproc.h"

#include <gnutls/crypto.h>

static int	kp_fd = -1;		/* this worker's end of its socket */
static uint32_t	kp_seq;
static pthread_mutex_t kp_lock = PTHREAD_MUTEX_INITIALIZER;

void
tls_keyproc_ext_attach(int fd)
{
	kp_fd = fd;
}

struct kp_ext {
	unsigned char		id[KP_ID_LEN];
	gnutls_pk_algorithm_t	pk;
	unsigned		bits;
};

static int
kp_call(const struct kp_ext *x, unsigned op, gnutls_sign_algorithm_t algo, unsigned flags,
    const gnutls_datum_t *in, gnutls_datum_t *out)
{
	unsigned char req[KP_HDR + KP_DATA_MAX], rep[KP_RHDR + KP_OUT_MAX + 1];
	struct timespec t0, t1;
	uint32_t seq;
	int rc = GNUTLS_E_PK_SIGN_FAILED;

	if (in->size > KP_DATA_MAX || (unsigned)algo > 0xffff)
		return GNUTLS_E_PK_SIGN_FAILED;
	pthread_mutex_lock(&kp_lock);
	if (kp_fd < 0)
		goto out;
	seq = ++kp_seq;
	req[0] = KP_VERSION;
	req[1] = (unsigned char)op;
	req[2] = (unsigned char)((unsigned)algo >> 8);
	req[3] = (unsigned char)algo;
	kp_put32(req + 4, flags);
	kp_put32(req + 8, seq);
	kp_put32(req + 12, in->size);
	memcpy(req + 16, x->id, KP_ID_LEN);
	memcpy(req + KP_HDR, in->data, in->size);
	if (send(kp_fd, req, KP_HDR + in->size, MSG_NOSIGNAL) != (ssize_t)(KP_HDR + in->size)) {
		diag_warn("key process: request");
		goto out;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		struct pollfd pfd = { kp_fd, POLLIN, 0 };
		long waited;
		ssize_t n;

		clock_gettime(CLOCK_MONOTONIC, &t1);
		waited = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
		if (waited >= KP_TIMEOUT_MS || poll(&pfd, 1, (int)(KP_TIMEOUT_MS - waited)) == 0) {
			diag_warnx("key process: no answer within %d ms", KP_TIMEOUT_MS);
			goto out;
		}
		n = recv(kp_fd, rep, sizeof(rep), MSG_DONTWAIT);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n < KP_RHDR) {
			diag_warnx("key process: gone");
			goto out;
		}
		if (kp_get32(rep + 4) != seq)
			continue;	/* the late answer to a request that timed out */
		if (rep[0] != KP_VERSION || rep[1] != 0 || kp_get32(rep + 8) > KP_OUT_MAX ||
		    (size_t)n != KP_RHDR + kp_get32(rep + 8))
			goto out;
		if ((out->data = gnutls_malloc(kp_get32(rep + 8))) == NULL) {
			rc = GNUTLS_E_MEMORY_ERROR;
			goto out;
		}
		out->size = kp_get32(rep + 8);
		memcpy(out->data, rep + KP_RHDR, out->size);
		rc = 0;
		break;
	}
out:
	pthread_mutex_unlock(&kp_lock);
	gnutls_memset(rep, 0, sizeof(rep));
	return rc;
}

static int
ext_sign_data(gnutls_privkey_t key, gnutls_sign_algorithm_t algo, void *userdata, unsigned flags,
    const gnutls_datum_t *data, gnutls_datum_t *sig)
{
	(void)key;
	return kp_call(userdata, KP_OP_SIGN_DATA, algo, flags, data, sig);
}

static int
ext_sign_hash(gnutls_privkey_t key, gnutls_sign_algorithm_t algo, void *userdata, unsigned flags,
    const gnutls_datum_t *hash, gnutls_datum_t *sig)
{
	(void)key;
	return kp_call(userdata, KP_OP_SIGN_HASH, algo, flags, hash, sig);
}

static int
ext_decrypt(gnutls_privkey_t key, void *userdata, const gnutls_datum_t *ct, gnutls_datum_t *pt)
{
	(void)key;
	return kp_call(userdata, KP_OP_DECRYPT, 0, 0, ct, pt) < 0 ? GNUTLS_E_DECRYPTION_FAILED : 0;
}

static void
ext_deinit(gnutls_privkey_t key, void *userdata)
{
	(void)key;
	free(userdata);
}

static int
ext_info(gnutls_privkey_t key, unsigned flags, void *userdata)
{
	const struct kp_ext *x = userdata;

	(void)key;
	if (flags & GNUTLS_PRIVKEY_INFO_PK_ALGO)
		return (int)x->pk;
	if (flags & GNUTLS_PRIVKEY_INFO_PK_ALGO_BITS)
		return (int)x->bits;
	if (flags & GNUTLS_PRIVKEY_INFO_HAVE_SIGN_ALGO)
		return tls_keyproc_sign_algo_fits(x->pk,
		    (gnutls_sign_algorithm_t)GNUTLS_FLAGS_TO_SIGN_ALGO(flags)) ? 1 : 0;
	if (flags & GNUTLS_PRIVKEY_INFO_SIGN_ALGO)
		return 0;
	return GNUTLS_E_UNKNOWN_PK_ALGORITHM;
}

int
tls_keyproc_pair(const char *cert_path, struct tls_pair *p, struct dsmtp_err *err)
{
	struct kp_ext *x = NULL;
	size_t idlen = KP_ID_LEN;
	unsigned bits = 0;
	int rc;

	p->key = NULL;
	if (tls_pair_load_chain(cert_path, p, err) < 0)
		return -1;
	if ((x = calloc(1, sizeof(*x))) == NULL) {
		dsmtp_err_set(err, "out of memory");
		goto fail;
	}
	rc = gnutls_pubkey_get_pk_algorithm(p->pcerts[0].pubkey, &bits);
	x->pk = (gnutls_pk_algorithm_t)rc;
	if (rc < 0 || (rc = gnutls_pubkey_get_key_id(p->pcerts[0].pubkey, GNUTLS_KEYID_USE_SHA256,
	    x->id, &idlen)) < 0 || idlen != KP_ID_LEN) {
		dsmtp_err_set(err, "%s: its public key: %s", cert_path, gnutls_strerror(rc));
		goto fail;
	}
	x->bits = bits;
	if ((rc = gnutls_privkey_init(&p->key)) < 0 ||
	    (rc = gnutls_privkey_import_ext4(p->key, x, ext_sign_data, ext_sign_hash,
	    x->pk == GNUTLS_PK_RSA ? ext_decrypt : NULL, ext_deinit, ext_info, 0)) < 0) {
		dsmtp_err_set(err, "%s: external key: %s", cert_path, gnutls_strerror(rc));
		goto fail;
	}
	return 0;	/* x is the key's now (ext_deinit) */
fail:
	free(x);
	tls_pair_free(p);
	return -1;
}

int
tls_keyproc_set_pair(gnutls_certificate_credentials_t cred, const char *cert_path,
    struct dsmtp_err *err)
{
	struct tls_pair p;
	int rc;

	if (tls_keyproc_pair(cert_path, &p, err) < 0)
		return -1;
	/* the credentials own the key and the certificates' contents from
	 * here; the array stays ours */
	if ((rc = gnutls_certificate_set_key(cred, NULL, 0, p.pcerts, (int)p.n, p.key)) < 0) {
		dsmtp_err_set(err, "%s: %s", cert_path, gnutls_strerror(rc));
		tls_pair_free(&p);
		return -1;
	}
	free(p.pcerts);
	return 0;
}
