/* tls_keyproc.h: inside tls/ only, the key process's frames and what its
 * three parts share (DESIGN.md 13.4). Started as root, a program forks the
 * key process before any process that speaks to the network; it holds the
 * private keys and does nothing but sign (and decrypt, only when the
 * priority string enables RSA key exchange) for its siblings.
 *
 *   root supervisor --ctl--> key process <--one socketpair each-- workers
 *   (tls_keyproc.c)          (tls_keyproc_serve.c)       (tls_keyproc_ext.c)
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
#ifndef DSMTP_TLS_KEYPROC_H
#define DSMTP_TLS_KEYPROC_H

#include <stdbool.h>
#include <stdint.h>

#include <gnutls/gnutls.h>
#include <gnutls/abstract.h>

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
#define KP_TIMEOUT_MS	2000	/* a signature takes microseconds to a few ms */
#define KP_FLAGS_OK	(GNUTLS_PRIVKEY_SIGN_FLAG_TLS1_RSA | GNUTLS_PRIVKEY_SIGN_FLAG_RSA_PSS | \
			 GNUTLS_PRIVKEY_FLAG_REPRODUCIBLE | GNUTLS_PRIVKEY_FLAG_RSA_PSS_FIXED_SALT_LENGTH)

/* the frames' numbers, big-endian */
static inline void
kp_put32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)(v >> 24);
	p[1] = (unsigned char)(v >> 16);
	p[2] = (unsigned char)(v >> 8);
	p[3] = (unsigned char)v;
}

static inline uint32_t
kp_get32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* tls_keyproc_serve.c: the key process's whole life on control socket ctl
 * (decrypt: RSA key exchange is enabled), until the supervisor and the
 * last worker are gone */
_Noreturn void tls_keyproc_serve(int ctl, bool decrypt);
/* may a key of algorithm pk make a signature of algorithm algo (only the
 * schemes TLS uses)? The key process refuses the others; workers tell
 * GnuTLS the same */
bool tls_keyproc_sign_algo_fits(gnutls_pk_algorithm_t pk, gnutls_sign_algorithm_t algo);

/* tls_keyproc_ext.c: this worker asks the key process over fd */
void tls_keyproc_ext_attach(int fd);

#endif
