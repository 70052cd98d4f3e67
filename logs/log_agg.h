/* log_agg.h: dsmtp-log's internal header (not part of libplog's API): the
 * filters every subcommand shares, the reading of protocol-log records
 * into per-session summaries, and the bounded tables built from finished
 * sessions (certificates per peer, failures by cause). The subcommands
 * (log_main.c, log_report.c, log_follow.c) only print what these hold. */
#ifndef DSMTP_LOG_AGG_H
#define DSMTP_LOG_AGG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "logs/plog.h"

#define LOG_MAX_FAILS		4	/* failure causes kept per session */
#define LOG_MAX_CAUSES		10000	/* distinct causes; the rest count as "other" */
#define LOG_MAX_OPEN		16384	/* sessions open at once; past it the oldest is
					 * finished early, as if the input had ended */
#define LOG_MAX_REPORTED	10	/* malformed lines printed, then only counted */

extern const char *const log_dir_names[2];	/* "receive", "send" */

/* --peer, --since, --until, --domain */
struct log_filter {
	const char	*peer;		/* prefix of the remote address */
	char		 since[32], until[32];	/* normalised date-times, "" = open */
	unsigned long	 since_day, until_day;
	const char	*domain;
};

/* normalise an ISO 8601 date or date-time (UTC) for string comparison;
 * an --until date-only or partial time extends to the end of that period */
int log_parse_when(const char *s, bool upto, char *out, size_t outlen, unsigned long *day);
/* the filter options shared by every subcommand: 'p' --peer, 's' --since,
 * 'u' --until, 'd' --domain. 0 = taken, 1 = not a filter option, -1 =
 * a bad value (said on stderr) */
int log_filter_option(struct log_filter *f, int ch, const char *arg);
/* the configured state_dir/logs.dir (exits on a bad configuration); -1 if
 * it does not fit */
int log_default_dir(const char *config_path, char *out, size_t outlen);
/* could the file (by the day in its name) hold records in the window? */
bool log_filter_file(const struct log_filter *f, const char *path);
/* one record by its time and remote endpoint (--domain needs a session) */
bool log_filter_record(const struct log_filter *f, const struct plog_record *r);

/* what one session amounts to, kept from its first record to its '-' */
struct log_sess {
	struct log_sess	*next;		/* hash chain / free list */
	struct log_sess	*older, *newer;	/* open sessions in order of arrival */
	uint64_t	 id;
	enum plog_dir	 dir;
	bool		 closed;
	char		 start[32], end[32];
	char		 remote[64], local[64], connector[64];
	char		 ehlo[128];
	char		 version[24], cipher[64];
	bool		 tls, cert, cert_absent;
	char		 subject[256], sha256[65], spki[64], cert_time[32];
	char		 not_after[32];
	char		 chain[64];	/* "TLS verification" chain=, "" if none */
	char		 policy[16], pol_level[32], pol_domain[128];
	unsigned	 messages;
	int		 data_state;	/* 1 after DATA, 2 after 354, 3 after BDAT LAST */
	bool		 domain_hit;
	char		 fails[LOG_MAX_FAILS][200];
	unsigned	 nfails;
	char		 result_type[40];	/* RFC 8460, from a "TLS result" record */
};

/* does a finished session pass the filters? */
bool log_filter_sess(const struct log_filter *f, const struct log_sess *s);

/* a finished session that passed the filters */
typedef void (*log_sess_cb)(const struct log_sess *s, void *arg);

struct log_agg;
struct log_agg *log_agg_new(const struct log_filter *f, log_sess_cb done, void *arg);
void log_agg_free(struct log_agg *a);
/* a plog_record_cb: arg is the log_agg; non-zero when out of memory */
int log_agg_record(const struct plog_record *r, void *arg);
/* a plog_error_cb: reports the first LOG_MAX_REPORTED, counts the rest */
void log_agg_malformed(const char *file, unsigned long line, const char *why, void *arg);
/* the input ended: sessions without '-' are finished as open, by start */
void log_agg_finish(struct log_agg *a);
/* a session still open, or NULL */
const struct log_sess *log_agg_find(const struct log_agg *a, uint64_t id, enum plog_dir dir);
/* malformed lines seen (said on stderr past LOG_MAX_REPORTED by _free) */
unsigned long log_agg_nmalformed(const struct log_agg *a);

/* the failure causes of a finished session as `failures` counts them
 * (type: the RFC 8460 result type, or "") */
typedef void (*log_cause_cb)(const char *text, const char *type, void *arg);
void log_sess_causes(const struct log_sess *s, log_cause_cb cb, void *arg);

/* failures by cause: at most LOG_MAX_CAUSES, the rest as "other" */
struct log_cause {
	struct log_cause *next;
	char		 text[200];
	char		 result_type[40];	/* RFC 8460, or "" */
	unsigned long	 count;
	uint64_t	 example;
	char		 example_time[32], example_peer[64];
};
struct log_causes {
	struct log_cause **tab;
	size_t		 nb, n;
};
void log_causes_add(struct log_causes *t, const char *text, const char *type,
    const struct log_sess *s);
/* every cause, most frequent first (malloc'ed, *n set; NULL if none) */
struct log_cause **log_causes_sorted(const struct log_causes *t, size_t *n);
void log_causes_free(struct log_causes *t);

/* certificates per peer address (a server's with its port) */
struct log_certent {
	char		 sha256[65], spki[64], subject[256];
	char		 first[32], last[32];
	unsigned long	 count;
	bool		 changed;
};
struct log_peer {
	struct log_peer	*next;
	enum plog_dir	 dir;
	char		 addr[64];
	char		 last_sha[65];
	struct log_certent *certs;
	size_t		 ncerts;
};
struct log_certs {
	struct log_peer	**tab;
	size_t		 nb, n;
};
void log_certs_add(struct log_certs *t, const struct log_sess *s);
/* every peer, by direction then address (malloc'ed; NULL if none) */
struct log_peer **log_certs_sorted(const struct log_certs *t, size_t *n);
void log_certs_free(struct log_certs *t);

/* helpers */
void log_copy(char *dst, size_t dstlen, const char *src);
void log_copy2(char *dst, size_t dstlen, const char *a, const char *b);
uint64_t log_hash_str(const char *s, uint64_t h);
bool log_parse_id(const char *s, uint64_t *id);
/* the address part of an endpoint: "[::1]:25" -> "::1" */
void log_endpoint_addr(const char *ep, char *out, size_t outlen);
/* is dom (n bytes) the domain d or a subdomain of it? */
bool log_domain_is(const char *dom, size_t n, const char *d);
/* key and value as one member of a JSON object ("{" first, else ",") */
void log_json_kv(FILE *out, const char *key, const char *val, bool first);

/* log_text.c: values for a person (see there): the visible escapes of
 * printable characters undone, control characters and non-UTF-8 bytes
 * left escaped; _html also escapes & < > " ' */
void log_readable(const char *s, char *out, size_t outlen);
void log_fput_readable(FILE *out, const char *s);
void log_fput_html(FILE *out, const char *s);
/* text already readable (the output of log_readable), HTML-escaped */
void log_fput_html_text(FILE *out, const char *s);
/* one record as show and follow print it: readable text, or with json a
 * JSON object holding the exact (escaped) fields */
void log_print_record(FILE *out, const struct plog_record *r, bool json);

#endif
