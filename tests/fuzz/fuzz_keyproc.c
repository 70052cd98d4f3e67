/* fuzz_keyproc.c: libFuzzer target for the key process's request parser
 * (tls/tls_keyproc_serve.c, kp_serve): what a worker, possibly a compromised
 * one, sends it. The file is included whole, so its static parser runs
 * against a real key set made at start: an RSA-2048, an ECDSA P-256 and an
 * Ed25519 key, loaded through the same kp_add_key the supervisor's bytes
 * go through, with decryption enabled. Input: 1 control byte, then one
 * request frame. Control bits 0-1: 0-2 overwrite the frame's key id (bytes
 * 16-47) with that key's id, so the signing paths are reached; 3 keeps the
 * fuzzer's id. Bit 2 sets the version byte to 1, bit 3 makes the length
 * field match the data.
 * Checks: exactly one reply, at least the 12-byte header, version 1,
 * status 0 or 1; an error carries no data (nothing of the request or of a
 * key is echoed); the sequence number is echoed when the header was whole;
 * a success only for a well-formed frame (whole header, version 1, length
 * = data <= KP_DATA_MAX, known flags, a key we hold, a known operation
 * whose algorithm fits the key), with reply length = header + data <=
 * KP_OUT_MAX; and every signature it returns verifies with the key's public
 * half (gnutls_pubkey_verify_data2 / _hash2), a decryption is no longer
 * than the key's modulus. */
#include "autoconfig.h"

#include "tls/tls_keyproc_serve.c"

#include <gnutls/crypto.h>

#include "fuzz.h"

static struct kp_state	st;
static gnutls_pubkey_t	pubs[3];
static int		sp[2] = { -1, -1 };

static void
setup(void)
{
	static const gnutls_pk_algorithm_t pk[3] = { GNUTLS_PK_RSA, GNUTLS_PK_ECDSA, GNUTLS_PK_EDDSA_ED25519 };
	static const unsigned bits[3] = { 2048, 256, 256 };
	char why[200];

	if (socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sp) < 0)
		abort();
	st.gen = 1;
	st.decrypt = true;
	for (int i = 0; i < 3; i++) {
		gnutls_x509_privkey_t x;
		gnutls_privkey_t k;
		gnutls_datum_t pem = { NULL, 0 };
		unsigned b = pk[i] == GNUTLS_PK_ECDSA ? GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1) : bits[i];

		if (gnutls_x509_privkey_init(&x) < 0 || gnutls_x509_privkey_generate(x, pk[i], b, 0) < 0 ||
		    gnutls_x509_privkey_export2_pkcs8(x, GNUTLS_X509_FMT_PEM, NULL, GNUTLS_PKCS_PLAIN, &pem) < 0)
			abort();
		if (kp_add_key(&st, pem.data, pem.size, why, sizeof(why)) < 0)
			abort();
		gnutls_free(pem.data);
		if (gnutls_privkey_init(&k) < 0 || gnutls_privkey_import_x509(k, x, 0) < 0 ||
		    gnutls_pubkey_init(&pubs[i]) < 0 || gnutls_pubkey_import_privkey(pubs[i], k, 0, 0) < 0)
			abort();
		gnutls_privkey_deinit(k);
		gnutls_x509_privkey_deinit(x);
	}
	FUZZ_CHECK(st.nkeys == 3, "%zu keys loaded", st.nkeys);
}

/* the key a frame names, or -1 */
static int
key_of(const uint8_t *req, size_t n)
{
	if (n < KP_HDR)
		return -1;
	for (size_t i = 0; i < st.nkeys; i++)
		if (memcmp(st.keys[i].id, req + 16, KP_ID_LEN) == 0)
			return (int)i;
	return -1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static unsigned char req[KP_HDR + KP_DATA_MAX + 64], rep[KP_RHDR + KP_OUT_MAX + 64];
	struct fuzz_in in = { data, size };
	uint8_t ctl;
	size_t n;
	ssize_t r;
	int k, more;
	uint32_t len;
	unsigned op, flags;
	gnutls_sign_algorithm_t algo;

	if (sp[0] < 0)
		setup();
	ctl = fuzz_byte(&in);
	n = in.n < sizeof(req) ? in.n : sizeof(req);
	memcpy(req, in.p, n);
	if ((ctl & 3) != 3 && n >= KP_HDR)
		memcpy(req + 16, st.keys[ctl & 3].id, KP_ID_LEN);
	if ((ctl & 4) && n >= 1)
		req[0] = KP_VERSION;
	if ((ctl & 8) && n >= KP_HDR)
		kp_put32(req + 12, (uint32_t)(n - KP_HDR));

	kp_serve(&st, sp[0], req, n > KP_HDR + KP_DATA_MAX ? 0 : (ssize_t)n);

	r = recv(sp[1], rep, sizeof(rep), MSG_DONTWAIT);
	FUZZ_CHECK(r >= KP_RHDR, "reply of %zd bytes", r);
	FUZZ_CHECK(recv(sp[1], rep + KP_RHDR + KP_OUT_MAX, 1, MSG_DONTWAIT) < 0, "a second reply");
	FUZZ_CHECK(rep[0] == KP_VERSION && (rep[1] == 0 || rep[1] == 1) && rep[2] == 0 && rep[3] == 0,
	    "header %02x %02x %02x %02x", rep[0], rep[1], rep[2], rep[3]);
	if (n >= KP_HDR && n <= KP_HDR + KP_DATA_MAX)
		FUZZ_CHECK(memcmp(rep + 4, req + 8, 4) == 0, "sequence not echoed");
	if (rep[1] == 1) {
		FUZZ_CHECK(r == KP_RHDR && kp_get32(rep + 8) == 0, "an error with %zd bytes", r);
		return 0;
	}
	/* a success: the frame was well-formed in every field */
	FUZZ_CHECK(n >= KP_HDR && n <= KP_HDR + KP_DATA_MAX, "success for %zu bytes", n);
	len = kp_get32(req + 12);
	op = req[1];
	algo = (gnutls_sign_algorithm_t)((unsigned)req[2] << 8 | req[3]);
	flags = kp_get32(req + 4);
	k = key_of(req, n);
	FUZZ_CHECK(req[0] == KP_VERSION && len <= KP_DATA_MAX && n == KP_HDR + len &&
	    (flags & ~(unsigned)KP_FLAGS_OK) == 0 && k >= 0, "success for a bad frame");
	FUZZ_CHECK((size_t)r == KP_RHDR + kp_get32(rep + 8) && kp_get32(rep + 8) <= KP_OUT_MAX,
	    "reply %zd bytes, length field %u", r, kp_get32(rep + 8));
	more = (int)kp_get32(rep + 8);
	{
		gnutls_datum_t msg = { req + KP_HDR, len }, sig = { rep + KP_RHDR, (unsigned)more };
		int rc;

		switch (op) {
		case KP_OP_SIGN_DATA:
			FUZZ_CHECK(tls_keyproc_sign_algo_fits(st.keys[k].pk, algo), "algorithm %d for pk %d", algo,
			    st.keys[k].pk);
			rc = gnutls_pubkey_verify_data2(pubs[k], algo, 0, &msg, &sig);
			FUZZ_CHECK(rc >= 0, "a signature (data, %s) that does not verify: %s",
			    gnutls_sign_get_name(algo), gnutls_strerror(rc));
			break;
		case KP_OP_SIGN_HASH:
			FUZZ_CHECK(tls_keyproc_sign_algo_fits(st.keys[k].pk, algo), "algorithm %d for pk %d", algo,
			    st.keys[k].pk);
			if (algo == GNUTLS_SIGN_RSA_RAW)
				rc = gnutls_pubkey_verify_hash2(pubs[k], GNUTLS_SIGN_UNKNOWN,
				    GNUTLS_PUBKEY_VERIFY_FLAG_TLS1_RSA, &msg, &sig);
			else
				rc = gnutls_pubkey_verify_hash2(pubs[k], algo, 0, &msg, &sig);
			FUZZ_CHECK(rc >= 0, "a signature (hash, %s, %u bytes) that does not verify: %s",
			    gnutls_sign_get_name(algo), len, gnutls_strerror(rc));
			break;
		case KP_OP_DECRYPT:
			FUZZ_CHECK(st.keys[k].pk == GNUTLS_PK_RSA && algo == 0 && flags == 0 && more <= 256,
			    "a decryption of %d bytes", more);
			break;
		default:
			FUZZ_CHECK(0, "success for operation %u", op);
		}
	}
	return 0;
}
