/* tlsrpt_txt.h: the TLS reporting policy record of a domain, the TXT
 * record at _smtp._tls.DOMAIN (RFC 8460 section 3): "v=TLSRPTv1;
 * rua=mailto:a@example.com,https://r.example.com/x". Pure parsing of peer
 * (DNS) input, no I/O; fuzzed by tests/fuzz/fuzz_tlsrpt_txt.c. */
#ifndef DSMTP_TLSRPT_TXT_H
#define DSMTP_TLSRPT_TXT_H

#include <stdbool.h>
#include <stddef.h>

#define TLSRPT_RUA_MAX	8	/* more rua URIs are ignored */
#define TLSRPT_URI_MAX	512	/* a longer URI is ignored */

enum tlsrpt_rua_kind { TLSRPT_RUA_MAILTO, TLSRPT_RUA_HTTPS };

struct tlsrpt_rua {
	enum tlsrpt_rua_kind	 kind;
	char			 uri[TLSRPT_URI_MAX];	/* as in the record */
	char			 addr[TLSRPT_URI_MAX];	/* mailto: the address, %XX decoded */
};

struct tlsrpt_txt {
	size_t			 n;
	struct tlsrpt_rua	 rua[TLSRPT_RUA_MAX];
	size_t			 ignored;	/* URIs of other schemes, or unusable */
};

/* Parse one record's text (its character-strings already joined). 0, or
 * -1 with why: not "v=TLSRPTv1", bad syntax, no rua, or no rua we can use
 * (mailto: with one plain address, https://). Extensions are skipped. */
int tlsrpt_txt_parse(const char *rec, size_t len, struct tlsrpt_txt *out, char *why,
    size_t whylen);

/* From a TXT RRset (each rdata in wire form: length-prefixed strings),
 * keep the records that begin with "v=TLSRPTv1" (RFC 8460 3: exactly one
 * must remain, else the domain does not do TLS reporting) and parse it.
 * 0, or -1 with why. */
int tlsrpt_txt_select(const unsigned char *const *rdata, const int *rdlen, size_t n,
    struct tlsrpt_txt *out, char *why, size_t whylen);

#endif
