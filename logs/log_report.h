/* log_report.h: dsmtp-log report's tables (internal to dsmtp-log): a TLS
 * summary per peer domain and direction, totals, a per-day TLS coverage
 * series and failures by cause, all of bounded size whatever the length
 * of the logs read (log_report.c fills and prints them as text or JSON,
 * log_html.c as one HTML page). */
#ifndef DSMTP_LOG_REPORT_H
#define DSMTP_LOG_REPORT_H

#include <stdbool.h>
#include <stdio.h>
#include <time.h>

#include "logs/log_agg.h"

/* The bounds (also in dsmtp-log(1)): with them and log_agg's, a report
 * over any amount of log needs at most about 60 MB. */
#define RPT_MAX_PEERS	4096	/* peer rows; later peers count under "(other peers)" */
#define RPT_MAX_KEYS	8	/* values per small table (versions, ciphers, ...); more: "other" */
#define RPT_MAX_CERTS	4	/* certificates kept per peer; more are only counted */
#define RPT_MAX_ADDRS	4	/* addresses per peer whose certificate changes are followed */
#define RPT_MAX_DAYS	3660	/* days in the coverage series; the oldest go first */

struct rpt_count {
	char		 key[120];
	unsigned long	 n;
};

/* a small tally: the first RPT_MAX_KEYS distinct values, the rest in other */
struct rpt_tab {
	struct rpt_count v[RPT_MAX_KEYS];
	unsigned	 nv;
	unsigned long	 other;
};

struct rpt_cert {
	char		 sha256[65], subject[256], not_after[32];
	char		 first[32], last[32];
	unsigned long	 count;
};

struct rpt_peer {
	struct rpt_peer	*next;		/* hash chain */
	enum plog_dir	 dir;
	char		 name[128];	/* the peer domain (see log_report.c) */
	unsigned long	 sessions, tls, messages, failed, changes;
	char		 first[32], last[32];
	struct rpt_tab	 versions, ciphers, verify, policy, fails;
	struct rpt_cert	 certs[RPT_MAX_CERTS];
	unsigned	 ncerts;
	unsigned long	 certs_more;	/* sessions with a certificate not kept */
	struct {
		char	 addr[64], sha256[65];
	}		 addrs[RPT_MAX_ADDRS];	/* last certificate per address */
	unsigned	 naddrs;
};

struct rpt_day {
	unsigned long	 day;		/* yyyymmdd */
	unsigned long	 sessions[2], tls[2];
};

struct rpt_totals {
	unsigned long	 sessions, tls, messages, failed, changes;
};

struct report {
	struct log_filter f;
	time_t		 now;
	char		 first[32], last[32];	/* the sessions' time span */
	struct rpt_peer	**tab;
	size_t		 nb, npeers;
	struct rpt_peer	 other[2];	/* past RPT_MAX_PEERS, per direction */
	struct rpt_day	*days;		/* sorted by day */
	size_t		 ndays;
	unsigned long	 days_dropped;	/* sessions of days no longer in days */
	struct rpt_totals tot[2];
	struct log_causes causes;
};

/* a log_sess_cb (arg: the report): fold one finished session in; the
 * report needs f, now, and days (RPT_MAX_DAYS zeroed entries) set first */
void rpt_on_session(const struct log_sess *s, void *arg);
void rpt_free(struct report *rp);	/* the tables, not rp itself */
/* every peer row, sorted by direction then name, "(other peers)" last
 * when used (malloc'ed; NULL with *n = 0 if none) */
const struct rpt_peer **rpt_peers_sorted(const struct report *rp, size_t *n);
/* days from now (rp->now) to an ISO date-time, false if it is none */
bool rpt_days_left(const struct report *rp, const char *when, long *days);
/* "YYYY-MM-DD" of a yyyymmdd day */
void rpt_day_str(unsigned long day, char *out, size_t outlen);
double rpt_share(unsigned long part, unsigned long whole);	/* percent */

/* log_html.c: the whole report as one self-contained HTML page */
int rpt_write_html(const struct report *rp, FILE *out);

#endif
