/* tls_dane.h: DANE TLSA records (RFC 6698, RFC 7671, RFC 7672) and what a
 * server's certificate chain says about them. tls/ parses records and
 * matches them against the chain (digests, and for DANE-TA the signatures
 * from the leaf up to the matched anchor); policy/ decides what a match is
 * worth (the MX host name check of DANE-TA is policy_cert_matches_host's).
 * Part of tls/'s public interface; included by tls.h. */
#ifndef DSMTP_TLS_DANE_H
#define DSMTP_TLS_DANE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TLS_DANE_MAX_RR		16	/* records judged per TLSA RRset; more are ignored */
#define TLS_DANE_MAX_DATA	4096	/* a longer association (full certificate) is unusable */

/* RFC 6698 2.1.1, RFC 7218 names */
enum tls_dane_usage { TLS_DANE_PKIX_TA, TLS_DANE_PKIX_EE, TLS_DANE_DANE_TA, TLS_DANE_DANE_EE };

/* one TLSA record */
struct tls_dane_rr {
	uint8_t		 usage;		/* 0..3 (RFC 7672 3.1: only 2 and 3 are usable) */
	uint8_t		 selector;	/* 0 full certificate, 1 SubjectPublicKeyInfo */
	uint8_t		 mtype;		/* 0 full, 1 SHA-256, 2 SHA-512 */
	size_t		 len;
	unsigned char	*data;		/* malloc'd */
};

/* one DER certificate of the peer's chain, leaf first */
struct tls_der {
	const unsigned char	*data;
	size_t			 len;
};

/* the chain judged against an RRset */
struct tls_dane_facts {
	size_t		 n;			/* records judged (at most TLS_DANE_MAX_RR) */
	bool		 usable[TLS_DANE_MAX_RR];
	bool		 matched[TLS_DANE_MAX_RR];	/* digest matched and, for DANE-TA, the chain holds */
	int		 depth[TLS_DANE_MAX_RR];	/* chain position of the match, -1 none */
	size_t		 nusable;
	int		 match;			/* the record that authenticated, -1 none (DANE-EE first) */
	char		 why[200];		/* when nothing matched: the closest miss */
};

/* TLSA rdata (usage, selector, mtype, data) into rr; 0, or -1 when it is
 * shorter than 4 octets or its data too long (rr is then empty) */
int tls_dane_rr_parse(const unsigned char *rdata, size_t len, struct tls_dane_rr *rr);
void tls_dane_rr_free(struct tls_dane_rr *rr);
/* RFC 7672 3.1: DANE-TA(2) or DANE-EE(3), a known selector and matching
 * type, and a digest of the digest's length */
bool tls_dane_rr_usable(const struct tls_dane_rr *rr);
/* "3 1 1 5f0c...a9e2" (data cut to 16 hex digits each side) */
void tls_dane_rr_format(const struct tls_dane_rr *rr, char *out, size_t outlen);
/* RFC 7218 acronyms: "DANE-EE", "DANE-TA", "PKIX-EE", "PKIX-TA", "usage-N" */
const char *tls_dane_usage_name(unsigned usage);

/* Match a chain (DER, leaf first, as the server sent it) against rrs.
 * DANE-EE: the leaf's certificate or SPKI digest; names and dates are not
 * looked at (RFC 7672 3.1.1). DANE-TA: a certificate of the chain above the
 * leaf matches, and the leaf chains to it by signatures, within dates
 * (RFC 7671 5.2.2); the host name is left to policy/. 0, or -1 when the
 * chain cannot be parsed at all (out->why says so). */
int tls_dane_check(const struct tls_dane_rr *rrs, size_t n, const struct tls_der *chain,
    size_t nchain, struct tls_dane_facts *out);

struct conn;
/* the same with the chain of c's finished handshake */
int tls_conn_dane(struct conn *c, const struct tls_dane_rr *rrs, size_t n,
    struct tls_dane_facts *out);

#endif
