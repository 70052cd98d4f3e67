/* tls_keyproc_serve.c: the key process itself (DESIGN.md 13.4; the
 * frames are described in tls_keyproc.h). Owns the keys it holds and their
 * generations, the control messages from the supervisor, and the request
 * parser: every worker frame is validated field by field (version, length,
 * flags, a key we hold, an operation and a signature scheme TLS uses that
 * fits the key) and answered with a result or a bare error status. Runs in
 * its own process only; tests/fuzz/fuzz_keyproc.c includes this file. */
#include "autoconfig.h"

#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tls/tls_int.h"
#include "tls/tls_keyproc.h"

#include <gnutls/crypto.h>

#define KP_RAW_MAX	128	/* a DigestInfo of SHA-512 is 83 bytes */
#define KP_KEYS_MAX	64
#define KP_CLIENTS_MAX	512

struct kp_key {
	unsigned char		id[KP_ID_LEN];
	gnutls_privkey_t	key;
	gnutls_pk_algorithm_t	pk;
	unsigned		bits;	/* ECDSA: the curve's size (256, 384, 521) */
	unsigned		gen;
};

struct kp_state {
	struct kp_key	keys[KP_KEYS_MAX];
	size_t		nkeys;
	unsigned	gen;		/* keys arriving now join this generation */
	bool		decrypt;	/* RSA key exchange is enabled */
	int		clients[KP_CLIENTS_MAX];
	size_t		nclients;
};

static int
privkey_id(gnutls_privkey_t key, unsigned char id[KP_ID_LEN])
{
	gnutls_pubkey_t pub;
	size_t len = KP_ID_LEN;
	int rc;

	if ((rc = gnutls_pubkey_init(&pub)) < 0)
		return rc;
	if ((rc = gnutls_pubkey_import_privkey(pub, key, 0, 0)) >= 0)
		rc = gnutls_pubkey_get_key_id(pub, GNUTLS_KEYID_USE_SHA256, id, &len);
	gnutls_pubkey_deinit(pub);
	return rc < 0 ? rc : (len == KP_ID_LEN ? 0 : GNUTLS_E_INTERNAL_ERROR);
}

/* a key file's bytes (PEM or DER, unencrypted) into the next generation */
static int
kp_add_key(struct kp_state *s, unsigned char *data, size_t len, char *why, size_t whylen)
{
	gnutls_datum_t d = { data, (unsigned)len };
	gnutls_x509_privkey_t x = NULL;
	gnutls_privkey_t key = NULL;
	unsigned char id[KP_ID_LEN];
	bool pem = memmem(data, len, "-----BEGIN", 10) != NULL;
	int rc;

	if ((rc = gnutls_x509_privkey_init(&x)) < 0 ||
	    (rc = gnutls_x509_privkey_import2(x, &d, pem ? GNUTLS_X509_FMT_PEM : GNUTLS_X509_FMT_DER,
	    NULL, GNUTLS_PKCS_PLAIN)) < 0 ||
	    (rc = gnutls_privkey_init(&key)) < 0 ||
	    (rc = gnutls_privkey_import_x509(key, x, GNUTLS_PRIVKEY_IMPORT_AUTO_RELEASE)) < 0) {
		snprintf(why, whylen, "not an unencrypted private key: %s", gnutls_strerror(rc));
		if (key)
			gnutls_privkey_deinit(key);
		if (x)
			gnutls_x509_privkey_deinit(x);
		return -1;
	}
	if ((rc = privkey_id(key, id)) < 0) {
		snprintf(why, whylen, "its public key: %s", gnutls_strerror(rc));
		gnutls_privkey_deinit(key);
		return -1;
	}
	for (size_t i = 0; i < s->nkeys; i++)
		if (memcmp(s->keys[i].id, id, KP_ID_LEN) == 0) {
			/* the same key again: it stays, in the new generation */
			s->keys[i].gen = s->gen;
			gnutls_privkey_deinit(key);
			return 0;
		}
	if (s->nkeys == KP_KEYS_MAX) {
		snprintf(why, whylen, "more than %d keys", KP_KEYS_MAX);
		gnutls_privkey_deinit(key);
		return -1;
	}
	memcpy(s->keys[s->nkeys].id, id, KP_ID_LEN);
	s->keys[s->nkeys].key = key;
	s->keys[s->nkeys].pk = (gnutls_pk_algorithm_t)gnutls_privkey_get_pk_algorithm(key,
	    &s->keys[s->nkeys].bits);
	s->keys[s->nkeys].gen = s->gen;
	s->nkeys++;
	return 0;
}

/* the generation just loaded and the one before it answer; older go */
static void
kp_commit(struct kp_state *s)
{
	size_t j = 0;

	for (size_t i = 0; i < s->nkeys; i++) {
		if (s->keys[i].gen + 1 < s->gen) {
			gnutls_privkey_deinit(s->keys[i].key);
			continue;
		}
		s->keys[j++] = s->keys[i];
	}
	s->nkeys = j;
	s->gen++;
}

/* the signature schemes TLS 1.2 and 1.3 use (RFC 8446 4.2.3), and only
 * those: anything else (MD2, MD5, GOST, DSA...) is refused before GnuTLS
 * sees it. Fuzzing found that gnutls_privkey_sign_data2 with RSA-MD2
 * overflows a heap buffer (GnuTLS 3.7.9, nettle's MD2), which a
 * compromised worker could otherwise have asked for. */
static bool
sign_algo_tls(gnutls_sign_algorithm_t algo)
{
	switch (algo) {
	case GNUTLS_SIGN_RSA_RAW:
	case GNUTLS_SIGN_RSA_SHA1:
	case GNUTLS_SIGN_RSA_SHA256:
	case GNUTLS_SIGN_RSA_SHA384:
	case GNUTLS_SIGN_RSA_SHA512:
	case GNUTLS_SIGN_RSA_PSS_RSAE_SHA256:
	case GNUTLS_SIGN_RSA_PSS_RSAE_SHA384:
	case GNUTLS_SIGN_RSA_PSS_RSAE_SHA512:
	case GNUTLS_SIGN_RSA_PSS_SHA256:
	case GNUTLS_SIGN_RSA_PSS_SHA384:
	case GNUTLS_SIGN_RSA_PSS_SHA512:
	case GNUTLS_SIGN_ECDSA_SHA1:
	case GNUTLS_SIGN_ECDSA_SHA256:
	case GNUTLS_SIGN_ECDSA_SHA384:
	case GNUTLS_SIGN_ECDSA_SHA512:
	case GNUTLS_SIGN_ECDSA_SECP256R1_SHA256:
	case GNUTLS_SIGN_ECDSA_SECP384R1_SHA384:
	case GNUTLS_SIGN_ECDSA_SECP521R1_SHA512:
	case GNUTLS_SIGN_EDDSA_ED25519:
	case GNUTLS_SIGN_EDDSA_ED448:
		return true;
	default:
		return false;
	}
}

/* may a key of pk make a signature of algo? (workers ask it too) */
bool
tls_keyproc_sign_algo_fits(gnutls_pk_algorithm_t pk, gnutls_sign_algorithm_t algo)
{
	gnutls_pk_algorithm_t spk;

	if (!sign_algo_tls(algo))
		return false;
	if (algo == GNUTLS_SIGN_RSA_RAW)
		return pk == GNUTLS_PK_RSA;
	spk = gnutls_sign_get_pk_algorithm(algo);
	if (spk == GNUTLS_PK_UNKNOWN)
		return false;
	if (spk == pk)
		return true;
	/* RSA-PSS with an rsaEncryption key: TLS 1.3's rsa_pss_rsae_* */
	return pk == GNUTLS_PK_RSA && spk == GNUTLS_PK_RSA_PSS &&
	    (algo == GNUTLS_SIGN_RSA_PSS_RSAE_SHA256 || algo == GNUTLS_SIGN_RSA_PSS_RSAE_SHA384 ||
	    algo == GNUTLS_SIGN_RSA_PSS_RSAE_SHA512);
}

/* TLS 1.3's ECDSA schemes name their curve (RFC 8446 4.2.3): a P-256 key
 * makes no ecdsa_secp384r1_sha384 signature (found by fuzz_keyproc) */
static bool
sign_curve_fits(const struct kp_key *k, gnutls_sign_algorithm_t algo)
{
	switch (algo) {
	case GNUTLS_SIGN_ECDSA_SECP256R1_SHA256:
		return k->bits == 256;
	case GNUTLS_SIGN_ECDSA_SECP384R1_SHA384:
		return k->bits == 384;
	case GNUTLS_SIGN_ECDSA_SECP521R1_SHA512:
		return k->bits == 521;
	default:
		return true;
	}
}

/* one request: validated field by field, answered with a result or an
 * error status (never a reason: the worker is not trusted with one) */
static void
kp_serve(struct kp_state *s, int fd, unsigned char *req, ssize_t n)
{
	unsigned char reply[KP_RHDR + KP_OUT_MAX];
	gnutls_datum_t in, out = { NULL, 0 };
	const struct kp_key *k = NULL;
	gnutls_sign_algorithm_t algo;
	unsigned op, flags;
	uint32_t len;
	int rc = -1;

	memset(reply, 0, KP_RHDR);
	reply[0] = KP_VERSION;
	reply[1] = 1;
	if (n < KP_HDR)
		goto answer;
	memcpy(reply + 4, req + 8, 4);
	op = req[1];
	algo = (gnutls_sign_algorithm_t)((unsigned)req[2] << 8 | req[3]);
	flags = kp_get32(req + 4);
	len = kp_get32(req + 12);
	if (req[0] != KP_VERSION || len > KP_DATA_MAX || (size_t)n != KP_HDR + (size_t)len ||
	    (flags & ~(unsigned)KP_FLAGS_OK) != 0)
		goto answer;
	for (size_t i = 0; i < s->nkeys && k == NULL; i++)
		if (memcmp(s->keys[i].id, req + 16, KP_ID_LEN) == 0)
			k = &s->keys[i];
	if (k == NULL)
		goto answer;
	/* RSA-PSS takes no caller-chosen padding: a reproducible (salt-less)
	 * or a PKCS#1 form of it is not what any TLS peer verifies */
	if (gnutls_sign_get_pk_algorithm(algo) == GNUTLS_PK_RSA_PSS &&
	    (flags & (GNUTLS_PRIVKEY_FLAG_REPRODUCIBLE | GNUTLS_PRIVKEY_SIGN_FLAG_TLS1_RSA)) != 0)
		goto answer;
	in.data = req + KP_HDR;
	in.size = len;
	switch (op) {
	case KP_OP_SIGN_DATA:
		if (!tls_keyproc_sign_algo_fits(k->pk, algo) || !sign_curve_fits(k, algo) ||
		    algo == GNUTLS_SIGN_RSA_RAW)
			goto answer;
		rc = gnutls_privkey_sign_data2(k->key, algo, flags, &in, &out);
		break;
	case KP_OP_SIGN_HASH:
		if (!tls_keyproc_sign_algo_fits(k->pk, algo) || !sign_curve_fits(k, algo))
			goto answer;
		/* a hash of exactly its algorithm's length (TLS 1.0's MD5+SHA-1
		 * or a DigestInfo for the raw RSA form) */
		if (algo == GNUTLS_SIGN_RSA_RAW ? len > KP_RAW_MAX :
		    gnutls_sign_get_hash_algorithm(algo) == GNUTLS_DIG_UNKNOWN ||
		    len != gnutls_hash_get_len((gnutls_digest_algorithm_t)gnutls_sign_get_hash_algorithm(algo)))
			goto answer;
		if (algo == GNUTLS_SIGN_RSA_RAW)
			rc = gnutls_privkey_sign_hash(k->key, 0, GNUTLS_PRIVKEY_SIGN_FLAG_TLS1_RSA,
			    &in, &out);
		else
			rc = gnutls_privkey_sign_hash2(k->key, algo, flags, &in, &out);
		break;
	case KP_OP_DECRYPT:
		if (!s->decrypt || k->pk != GNUTLS_PK_RSA || algo != 0 || flags != 0)
			goto answer;
		rc = gnutls_privkey_decrypt_data(k->key, 0, &in, &out);
		break;
	default:
		goto answer;
	}
	if (rc >= 0 && out.size <= KP_OUT_MAX) {
		reply[1] = 0;
		kp_put32(reply + 8, out.size);
		memcpy(reply + KP_RHDR, out.data, out.size);
	}
answer:
	if (out.data) {
		gnutls_memset(out.data, 0, out.size);
		gnutls_free(out.data);
	}
	(void)send(fd, reply, KP_RHDR + (reply[1] == 0 ? kp_get32(reply + 8) : 0), MSG_NOSIGNAL);
	gnutls_memset(reply, 0, sizeof(reply));
}

static void
ctl_answer(int fd, int status, const char *why)
{
	char buf[256];
	size_t n = 1;

	buf[0] = (char)status;
	if (why && why[0]) {
		n += (size_t)snprintf(buf + 1, sizeof(buf) - 1, "%s", why);
		if (n > sizeof(buf) - 1)
			n = sizeof(buf) - 1;
	}
	(void)send(fd, buf, n, MSG_NOSIGNAL);
}

/* a control message from the supervisor; -1: the supervisor is gone */
static int
kp_control(struct kp_state *s, int ctl, unsigned char *buf, size_t bufsize)
{
	char cbuf[CMSG_SPACE(sizeof(int))];
	struct iovec iov = { buf, bufsize };
	struct msghdr mh = { 0 };
	struct cmsghdr *cm;
	char why[200] = "";
	int newfd = -1;
	ssize_t n;

	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = cbuf;
	mh.msg_controllen = sizeof(cbuf);
	if ((n = recvmsg(ctl, &mh, MSG_CMSG_CLOEXEC)) <= 0)
		return n < 0 && errno == EINTR ? 0 : -1;
	for (cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm))
		if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS &&
		    cm->cmsg_len == CMSG_LEN(sizeof(int)))
			memcpy(&newfd, CMSG_DATA(cm), sizeof(int));
	if ((mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) != 0) {
		ctl_answer(ctl, 1, "message too long");
	} else if (buf[0] == 'K' && n > 1) {
		int rc = kp_add_key(s, buf + 1, (size_t)n - 1, why, sizeof(why));

		ctl_answer(ctl, rc < 0, why);
	} else if (buf[0] == 'C' && n == 1) {
		kp_commit(s);
		ctl_answer(ctl, 0, NULL);
	} else if (buf[0] == 'S' && n == 1 && newfd >= 0 && s->nclients < KP_CLIENTS_MAX) {
		s->clients[s->nclients++] = newfd;
		newfd = -1;
		ctl_answer(ctl, 0, NULL);
	} else {
		ctl_answer(ctl, 1, "bad control message");
	}
	gnutls_memset(buf, 0, (size_t)n);
	if (newfd >= 0)
		close(newfd);
	return 0;
}

/* the supervisor's messages and the workers' requests, until the
 * supervisor goes away */
_Noreturn void
tls_keyproc_serve(int ctl, bool decrypt)
{
	static unsigned char buf[KP_KEYFILE_MAX + 2];
	static struct pollfd pfd[KP_CLIENTS_MAX + 1];
	static struct kp_state s;

	s.decrypt = decrypt;
	s.gen = 1;
	for (;;) {
		size_t np = 0;

		/* the supervisor gone (killed: its orphaned workers may still
		 * serve), the keys answer until the last worker is gone too */
		if (ctl < 0 && s.nclients == 0)
			break;
		pfd[np].fd = ctl;
		pfd[np++].events = POLLIN;
		for (size_t i = 0; i < s.nclients; i++) {
			pfd[np].fd = s.clients[i];
			pfd[np++].events = POLLIN;
		}
		if (poll(pfd, np, -1) < 0) {
			if (errno == EINTR)
				continue;
			_exit(EX_DSMTP_OSERR);
		}
		if (pfd[0].revents && kp_control(&s, ctl, buf, sizeof(buf)) < 0) {
			close(ctl);
			ctl = -1;
		}
		for (size_t i = 1, c = 0; i < np; i++, c++) {
			ssize_t n;

			if (pfd[i].revents == 0)
				continue;
			n = recv(pfd[i].fd, buf, KP_HDR + KP_DATA_MAX + 1, MSG_DONTWAIT);
			if (n < 0 && (errno == EAGAIN || errno == EINTR))
				continue;
			if (n <= 0) {
				/* the worker is gone */
				close(pfd[i].fd);
				s.clients[c] = -1;
				continue;
			}
			kp_serve(&s, pfd[i].fd, buf, n > KP_HDR + KP_DATA_MAX ? 0 : n);
			gnutls_memset(buf, 0, (size_t)n);
		}
		/* forget the closed ones */
		{
			size_t j = 0;

			for (size_t i = 0; i < s.nclients; i++)
				if (s.clients[i] >= 0)
					s.clients[j++] = s.clients[i];
			s.nclients = j;
		}
	}
	for (size_t i = 0; i < s.nkeys; i++)
		gnutls_privkey_deinit(s.keys[i].key);
	_exit(0);
}
