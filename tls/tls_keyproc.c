/* tls_keyproc.c: the key process (DESIGN.md 13.4). Started as root, a
 * program forks it before any process that speaks to the network; it
 * holds the private keys and does nothing but sign (and decrypt, only
 * when the priority string enables RSA key exchange) for its siblings.
 *
 *   root supervisor --ctl--> key process <--one socketpair each-- workers
 *
 * The supervisor reads the key files (at start and at SIGHUP) and hands
 * their bytes over the control socket, wiping its copies; it never parses
 * them. Workers load certificates only and give GnuTLS an external key
 * (gnutls_privkey_import_ext4) whose callbacks send one fixed binary frame
 * and wait, bounded by KP_TIMEOUT_MS, for the answer. A key is named by
 * the SHA-256 of its SubjectPublicKeyInfo, computed on both sides.
 *
 * Frames are SOCK_SEQPACKET messages (one message, one frame), numbers
 * big-endian. Request, worker -> key process:
 *   0 version (1)  1 op  2-3 signature algorithm  4-7 flags  8-11 sequence
 *   12-15 data length (<= KP_DATA_MAX)  16-47 key id  48- data
 * Reply: 0 version  1 status (0 ok)  2-3 zero  4-7 sequence  8-11 length
 *   12- signature or plaintext
 * Control, supervisor -> key process: 'K' + key file bytes (a key for the
 * next generation), 'C' (commit: the new generation and the one before
 * it answer, older keys are dropped), 'S' with a descriptor (a worker's
 * socket). Each is answered by one status byte and an optional reason. */
#include "autoconfig.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/privdrop.h"
#include "tls/tls_int.h"

#include <gnutls/crypto.h>

#define KP_VERSION	1
#define KP_OP_SIGN_DATA	1
#define KP_OP_SIGN_HASH	2
#define KP_OP_DECRYPT	3
#define KP_HDR		48
#define KP_RHDR		12
#define KP_ID_LEN	32
#define KP_DATA_MAX	8192	/* TLS 1.2 signs randoms + DH parameters: ffdhe8192 fits */
#define KP_OUT_MAX	2048	/* an RSA-16384 signature */
#define KP_KEYFILE_MAX	65536	/* one key file */
#define KP_RAW_MAX	128	/* a DigestInfo of SHA-512 is 83 bytes */
#define KP_KEYS_MAX	64
#define KP_CLIENTS_MAX	512
#define KP_TIMEOUT_MS	2000	/* a signature takes microseconds to a few ms */
#define KP_FLAGS_OK	(GNUTLS_PRIVKEY_SIGN_FLAG_TLS1_RSA | GNUTLS_PRIVKEY_SIGN_FLAG_RSA_PSS | \
			 GNUTLS_PRIVKEY_FLAG_REPRODUCIBLE | GNUTLS_PRIVKEY_FLAG_RSA_PSS_FIXED_SALT_LENGTH)

/* --- this process's role --- */
static bool	kp_on;			/* a key process serves this program */
static pid_t	kp_pid = -1;		/* the supervisor's view */
static int	kp_ctl = -1;		/* the supervisor's end of the control socket */
static int	kp_fd = -1;		/* a worker's end of its socket */
static uint32_t	kp_seq;
static pthread_mutex_t kp_lock = PTHREAD_MUTEX_INITIALIZER;

bool
tls_keyproc_active(void)
{
	return kp_on;
}

int
tls_keyproc_pid(void)
{
	return (int)kp_pid;
}

static void
put32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)(v >> 24);
	p[1] = (unsigned char)(v >> 16);
	p[2] = (unsigned char)(v >> 8);
	p[3] = (unsigned char)v;
}

static uint32_t
get32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* --- the key process --- */

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

/* may this key make a signature of algorithm algo? */
static bool
sign_algo_fits(gnutls_pk_algorithm_t pk, gnutls_sign_algorithm_t algo)
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
	flags = get32(req + 4);
	len = get32(req + 12);
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
		if (!sign_algo_fits(k->pk, algo) || !sign_curve_fits(k, algo) ||
		    algo == GNUTLS_SIGN_RSA_RAW)
			goto answer;
		rc = gnutls_privkey_sign_data2(k->key, algo, flags, &in, &out);
		break;
	case KP_OP_SIGN_HASH:
		if (!sign_algo_fits(k->pk, algo) || !sign_curve_fits(k, algo))
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
		put32(reply + 8, out.size);
		memcpy(reply + KP_RHDR, out.data, out.size);
	}
answer:
	if (out.data) {
		gnutls_memset(out.data, 0, out.size);
		gnutls_free(out.data);
	}
	(void)send(fd, reply, KP_RHDR + (reply[1] == 0 ? get32(reply + 8) : 0), MSG_NOSIGNAL);
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

/* the key process's whole life: the supervisor's messages and the
 * workers' requests, until the supervisor goes away */
static _Noreturn void
kp_main(int ctl, bool decrypt)
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

/* does the priority string enable RSA key exchange (then, and only then,
 * the key process decrypts)? */
static bool
prio_has_rsa_kx(const char *priority)
{
	gnutls_priority_t p;
	const unsigned *list;
	int n;
	bool yes = false;

	if (gnutls_priority_init(&p, priority, NULL) < 0)
		return false;
	n = gnutls_priority_kx_list(p, &list);
	for (int i = 0; i < n; i++)
		if (list[i] == GNUTLS_KX_RSA)
			yes = true;
	gnutls_priority_deinit(p);
	return yes;
}

int
tls_keyproc_start(const struct dsmtp_config *cfg, const struct privdrop_user *u,
    struct dsmtp_err *err)
{
	bool decrypt = prio_has_rsa_kx(cfg->tls_priority);
	int sv[2];
	pid_t p;

	/* started again after it died: the old control socket goes */
	if (kp_ctl >= 0)
		close(kp_ctl);
	kp_ctl = -1;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
		dsmtp_err_set(err, "key process: socketpair: %s", strerror(errno));
		return -1;
	}
	if ((p = fork()) < 0) {
		dsmtp_err_set(err, "key process: fork: %s", strerror(errno));
		close(sv[0]);
		close(sv[1]);
		return -1;
	}
	if (p == 0) {
		struct dsmtp_err e2 = { "" };
		sigset_t all;

		/* nothing but the control socket and stderr: no listener,
		 * no spool, no log */
		close(sv[0]);
		if (dup2(sv[1], 3) < 0)
			_exit(EX_DSMTP_OSERR);
		if (sv[1] != 3)
			close(sv[1]);
		for (int fd = 4; fd < 65536; fd++)
			if (fcntl(fd, F_GETFD) >= 0)
				close(fd);
		{
			int nfd = open("/dev/null", O_RDWR);

			if (nfd < 0 || dup2(nfd, 0) < 0 || dup2(nfd, 1) < 0)
				_exit(EX_DSMTP_OSERR);
			if (nfd > 3)
				close(nfd);
		}
		sigemptyset(&all);
		sigaddset(&all, SIGHUP);
		sigaddset(&all, SIGUSR1);
		sigaddset(&all, SIGUSR2);
		sigaddset(&all, SIGINT);
		sigprocmask(SIG_BLOCK, &all, NULL);
		sigemptyset(&all);
		sigaddset(&all, SIGTERM);
		sigprocmask(SIG_UNBLOCK, &all, NULL);
		signal(SIGTERM, SIG_DFL);
		(void)prctl(PR_SET_NAME, "dsmtp-keys", 0, 0, 0);
		if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0 || (u && privdrop_to(u, &e2) < 0)) {
			diag_warnx("key process: %s", e2.msg[0] ? e2.msg : strerror(errno));
			_exit(EX_DSMTP_OSERR);
		}
		kp_main(3, decrypt);
	}
	close(sv[1]);
	kp_ctl = sv[0];
	kp_pid = p;
	kp_on = true;
	return 0;
}

/* the supervisor: one control message and its answer */
static int
ctl_call(void *msg, size_t len, int passfd, struct dsmtp_err *err)
{
	char cbuf[CMSG_SPACE(sizeof(int))];
	struct iovec iov = { msg, len };
	struct msghdr mh = { 0 };
	struct pollfd pfd = { kp_ctl, POLLIN, 0 };
	char ans[256];
	ssize_t n;

	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	if (passfd >= 0) {
		struct cmsghdr *cm;

		memset(cbuf, 0, sizeof(cbuf));
		mh.msg_control = cbuf;
		mh.msg_controllen = sizeof(cbuf);
		cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(cm), &passfd, sizeof(int));
	}
	if (kp_ctl < 0 || sendmsg(kp_ctl, &mh, MSG_NOSIGNAL) != (ssize_t)len) {
		dsmtp_err_set(err, "key process: cannot reach it: %s", strerror(errno));
		return -1;
	}
	/* it answers at once; a long wait means it is stuck or gone */
	if (poll(&pfd, 1, 10 * KP_TIMEOUT_MS) <= 0 ||
	    (n = recv(kp_ctl, ans, sizeof(ans) - 1, 0)) <= 0) {
		dsmtp_err_set(err, "key process: no answer");
		return -1;
	}
	ans[n] = '\0';
	if (ans[0] != 0) {
		dsmtp_err_set(err, "key process: %s", n > 1 ? ans + 1 : "refused");
		return -1;
	}
	return 0;
}

/* read one key file and hand its bytes over; the copy is wiped */
static int
send_key_file(const char *path, struct dsmtp_err *err)
{
	unsigned char *buf;
	struct stat sb;
	size_t got = 0;
	int fd, rc;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		dsmtp_err_set(err, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode) || sb.st_size <= 0 ||
	    sb.st_size > KP_KEYFILE_MAX) {
		dsmtp_err_set(err, "%s: not a key file of at most %d bytes", path, KP_KEYFILE_MAX);
		close(fd);
		return -1;
	}
	if ((buf = malloc((size_t)sb.st_size + 1)) == NULL) {
		dsmtp_err_set(err, "out of memory");
		close(fd);
		return -1;
	}
	buf[0] = 'K';
	while (got < (size_t)sb.st_size) {
		ssize_t n = read(fd, buf + 1 + got, (size_t)sb.st_size - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	if (got != (size_t)sb.st_size) {
		dsmtp_err_set(err, "%s: short read", path);
		rc = -1;
	} else if ((rc = ctl_call(buf, got + 1, -1, err)) < 0) {
		char msg[sizeof(err->msg)];

		snprintf(msg, sizeof(msg), "%s", err->msg);
		dsmtp_err_set(err, "%s: %s", path, msg);
	}
	gnutls_memset(buf, 0, got + 1);
	free(buf);
	return rc;
}

int
tls_keyproc_load(const struct dsmtp_config *cfg, struct dsmtp_err *err)
{
	struct tls_store st;
	unsigned sent = 0;

	if (!kp_on)
		return 0;
	if (cfg->ncertificates > 0) {
		for (size_t i = 0; i < cfg->ncertificates; i++)
			if (send_key_file(cfg->certificates[i].key, err) < 0)
				return -1;
	} else if (tls_store_open(cfg, &st, err) == 0) {
		for (size_t i = 0; i < st.ncerts; i++) {
			struct dsmtp_err e2;

			if (!st.certs[i].enabled || !st.certs[i].has_key)
				continue;
			if (send_key_file(st.certs[i].key_path, &e2) < 0)
				diag_warnx("certificate %s: %s (not usable)", st.certs[i].sha1, e2.msg);
			else
				sent++;
		}
		tls_store_close(&st);
	} else {
		return -1;
	}
	{
		char commit[1] = { 'C' };

		return ctl_call(commit, 1, -1, err);
	}
}

int
tls_keyproc_client_new(struct dsmtp_err *err)
{
	char add[1] = { 'S' };
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
		dsmtp_err_set(err, "key process: socketpair: %s", strerror(errno));
		return -1;
	}
	if (ctl_call(add, 1, sv[1], err) < 0) {
		close(sv[0]);
		close(sv[1]);
		return -1;
	}
	close(sv[1]);
	return sv[0];
}

void
tls_keyproc_child(int fd)
{
	if (kp_ctl >= 0)
		close(kp_ctl);
	kp_ctl = -1;
	kp_pid = -1;
	kp_fd = fd;
}

void
tls_keyproc_reaped(void)
{
	if (kp_ctl >= 0)
		close(kp_ctl);
	kp_ctl = -1;
	kp_pid = -1;
}

void
tls_keyproc_stop(void)
{
	int status;

	if (kp_ctl >= 0)
		close(kp_ctl);
	kp_ctl = -1;
	if (kp_pid > 0) {
		/* it ends when its control socket closes */
		while (waitpid(kp_pid, &status, 0) < 0 && errno == EINTR)
			;
		kp_pid = -1;
	}
}

int
tls_keyproc_ensure_default(const struct dsmtp_config *cfg, struct dsmtp_err *err)
{
	pid_t p;
	int status;

	/* a key made here would leave traces in memory every worker forked
	 * from us inherits: make it in a child that exits */
	if ((p = fork()) < 0) {
		dsmtp_err_set(err, "fork: %s", strerror(errno));
		return -1;
	}
	if (p == 0) {
		struct dsmtp_err e2 = { "" };
		int rc = tls_store_ensure_default(cfg, &e2);

		if (rc < 0)
			diag_warnx("%s", e2.msg);
		_exit(rc < 0 ? 2 : rc);
	}
	while (waitpid(p, &status, 0) < 0)
		if (errno != EINTR) {
			dsmtp_err_set(err, "waitpid: %s", strerror(errno));
			return -1;
		}
	if (!WIFEXITED(status) || WEXITSTATUS(status) > 1) {
		dsmtp_err_set(err, "could not make the default certificate (above)");
		return -1;
	}
	return WEXITSTATUS(status);
}

/* --- the worker's side: GnuTLS external keys --- */

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
	put32(req + 4, flags);
	put32(req + 8, seq);
	put32(req + 12, in->size);
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
		if (get32(rep + 4) != seq)
			continue;	/* the late answer to a request that timed out */
		if (rep[0] != KP_VERSION || rep[1] != 0 || get32(rep + 8) > KP_OUT_MAX ||
		    (size_t)n != KP_RHDR + get32(rep + 8))
			goto out;
		if ((out->data = gnutls_malloc(get32(rep + 8))) == NULL) {
			rc = GNUTLS_E_MEMORY_ERROR;
			goto out;
		}
		out->size = get32(rep + 8);
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
		return sign_algo_fits(x->pk,
		    (gnutls_sign_algorithm_t)GNUTLS_FLAGS_TO_SIGN_ALGO(flags)) ? 1 : 0;
	if (flags & GNUTLS_PRIVKEY_INFO_SIGN_ALGO)
		return 0;
	return GNUTLS_E_UNKNOWN_PK_ALGORITHM;
}

int
tls_keyproc_set_pair(gnutls_certificate_credentials_t cred, const char *cert_path,
    struct dsmtp_err *err)
{
	gnutls_x509_crt_t *chain = NULL;
	gnutls_pcert_st *pcerts = NULL;
	gnutls_privkey_t key = NULL;
	struct kp_ext *x = NULL;
	size_t idlen = KP_ID_LEN;
	unsigned n = 0, nimp, bits = 0;
	int rc;

	if (tls_chain_load(cert_path, &chain, &n, err) < 0)
		return -1;
	if ((x = calloc(1, sizeof(*x))) == NULL || (pcerts = calloc(n, sizeof(*pcerts))) == NULL) {
		dsmtp_err_set(err, "out of memory");
		goto fail;
	}
	rc = gnutls_x509_crt_get_pk_algorithm(chain[0], &bits);
	if (rc < 0 || (rc = gnutls_x509_crt_get_key_id(chain[0], GNUTLS_KEYID_USE_SHA256, x->id,
	    &idlen)) < 0 || idlen != KP_ID_LEN) {
		dsmtp_err_set(err, "%s: its public key: %s", cert_path, gnutls_strerror(rc));
		goto fail;
	}
	x->pk = (gnutls_pk_algorithm_t)gnutls_x509_crt_get_pk_algorithm(chain[0], NULL);
	x->bits = bits;
	nimp = n;
	if ((rc = gnutls_pcert_import_x509_list(pcerts, chain, &nimp, 0)) < 0) {
		dsmtp_err_set(err, "%s: %s", cert_path, gnutls_strerror(rc));
		goto fail;
	}
	if ((rc = gnutls_privkey_init(&key)) < 0 ||
	    (rc = gnutls_privkey_import_ext4(key, x, ext_sign_data, ext_sign_hash,
	    x->pk == GNUTLS_PK_RSA ? ext_decrypt : NULL, ext_deinit, ext_info, 0)) < 0) {
		dsmtp_err_set(err, "%s: external key: %s", cert_path, gnutls_strerror(rc));
		for (unsigned i = 0; i < nimp; i++)
			gnutls_pcert_deinit(&pcerts[i]);
		goto fail;
	}
	x = NULL;	/* the key's now (ext_deinit) */
	/* the credentials own the key and the certificates from here */
	if ((rc = gnutls_certificate_set_key(cred, NULL, 0, pcerts, (int)nimp, key)) < 0) {
		dsmtp_err_set(err, "%s: %s", cert_path, gnutls_strerror(rc));
		free(pcerts);
		tls_crt_list_free(chain, n);
		return -1;
	}
	free(pcerts);
	tls_crt_list_free(chain, n);
	return 0;
fail:
	if (key)
		gnutls_privkey_deinit(key);
	free(x);
	free(pcerts);
	tls_crt_list_free(chain, n);
	return -1;
}
