/* data.h: the DATA body state machine: dot-unstuffing, the one true end
 * of data (CRLF.CRLF, RFC 5321 4.1.1.4), and the bad-input flags (bare CR
 * or LF, long lines, size). Pure: bytes in, bytes out through a callback. */
#ifndef DSMTP_SMTPD_DATA_H
#define DSMTP_SMTPD_DATA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SMTP_TEXT_LINE_MAX	1000	/* RFC 5321 4.5.3.1.6, including CRLF */

enum smtpd_data_state { DATA_BOL, DATA_TEXT, DATA_CR, DATA_DOT, DATA_DOT_CR, DATA_DONE };

struct smtpd_data {
	enum smtpd_data_state	 st;
	size_t			 linelen;	/* octets on this line, without CRLF */
	uint64_t		 size;		/* octets stored (after unstuffing) */
	uint64_t		 max;		/* stop storing beyond this */
	bool			 bare;		/* a bare CR or LF was seen */
	bool			 too_long;	/* a line over 1000 octets */
	bool			 too_big;	/* over max */
};

/* store(arg, p, n): 0 or -1 (a failed store stops storing, not parsing) */
typedef int (*smtpd_data_store)(void *arg, const char *p, size_t n);

void smtpd_data_init(struct smtpd_data *d, uint64_t max);
/* consume bytes up to and including the end of data; returns the count
 * consumed (less than len only when the end was reached) */
size_t smtpd_data_feed(struct smtpd_data *d, const char *p, size_t len, smtpd_data_store store,
    void *arg, bool *store_failed);
/* BDAT chunks (RFC 3030) carry no dot-stuffing and no terminator, but the
 * same bare CR/LF and line rules apply: the next hop may speak DATA */
void smtpd_data_feed_raw(struct smtpd_data *d, const char *p, size_t len, smtpd_data_store store,
    void *arg, bool *store_failed);

#endif
