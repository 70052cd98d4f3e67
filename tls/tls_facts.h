/* tls_facts.h: what a certificate and a finished handshake are, as plain
 * C data: the structs tls/ fills in, policy/ judges and logs/ records
 * (DESIGN.md section 9). Pulls in no GnuTLS and none of tls/'s functions,
 * so a library that only reads facts (logs/) includes this and not
 * tls/tls.h. The functions on facts are declared in tls/tls.h. */
#ifndef DSMTP_TLS_FACTS_H
#define DSMTP_TLS_FACTS_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

/* Facts of one certificate, as logged (DESIGN.md section 9) and judged
 * (policy/). Hex is lower case; SHA-1 is for display only, never a pin. */
struct tls_cert_facts {
	char		  subject[512];		/* RFC 4514 DN, e.g. "CN=mx.contoso.com,O=Contoso" */
	char		  issuer[512];
	char		  serial[130];		/* hex */
	time_t		  not_before, not_after;
	char		  cn[256];		/* the subject's CN, "" if none */
	char		**san;			/* DNS-ID SANs, as in the certificate */
	size_t		  nsan;
	char		  sha1[41];		/* thumbprint of the DER certificate */
	char		  sha256[65];		/* SHA-256 of the DER certificate */
	char		  spki[52];		/* "sha256/" + base64 SHA-256 of the SPKI */
	char		  key_type[16];		/* "ECDSA-P256", "RSA", "Ed25519" */
	unsigned	  key_bits;
	bool		  self_signed;
	unsigned	  eku;			/* TLS_EKU_* of the extended key usage */
};

/* extended key usage (RFC 5280 4.2.1.12): absent means any purpose */
#define TLS_EKU_PRESENT	0x01	/* the extension is there */
#define TLS_EKU_SERVER	0x02	/* id-kp-serverAuth */
#define TLS_EKU_CLIENT	0x04	/* id-kp-clientAuth */
#define TLS_EKU_ANY	0x08	/* anyExtendedKeyUsage */

/* How the peer's chain fared against the configured trust. */
enum tls_chain_status {
	TLS_CHAIN_OK,
	TLS_CHAIN_NO_CERT,		/* the peer sent none */
	TLS_CHAIN_EXPIRED,
	TLS_CHAIN_NOT_YET_VALID,
	TLS_CHAIN_UNKNOWN_ISSUER,
	TLS_CHAIN_BAD_SIGNATURE,
	TLS_CHAIN_REVOKED,
	TLS_CHAIN_INSECURE_ALGORITHM,
	TLS_CHAIN_OTHER,
};

struct tls_peer_facts {
	bool			 present;	/* false: "Remote certificate absent" */
	struct tls_cert_facts	 leaf;
	size_t			 chain_len;
	enum tls_chain_status	 chain;
	char			 chain_reason[160];	/* "ok" or the precise reason */
};

/* What a finished handshake tells (DESIGN.md section 9, "TLS negotiated"). */
struct tls_session_facts {
	char			 version[16];	/* "TLSv1.3" */
	char			 cipher[64];	/* IANA-like name, "TLS_AES_256_GCM_SHA384" */
	char			 kx[32];	/* "ECDHE-X25519" */
	unsigned		 cipher_bits;
	bool			 resumed;
	struct tls_peer_facts	 peer;
	const struct tls_cert_facts *local;	/* our certificate, or NULL */
	char			 local_why[160];	/* why it was chosen */
};

#endif
