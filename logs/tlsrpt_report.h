/* tlsrpt_report.h: RFC 8460 aggregate reports made from the protocol
 * logs' "TLS result" records (written by smtpc/tlsrpt.c): one report per
 * policy domain per UTC day, as the JSON of RFC 8460 section 4.4. Used by
 * dsmtp-log tlsrpt (prints) and dsmtpc tlsrpt-send (sends). */
#ifndef DSMTP_TLSRPT_REPORT_H
#define DSMTP_TLSRPT_REPORT_H

#include <stddef.h>
#include <stdio.h>

#include "common/diag.h"

struct tlsrpt_meta {
	const char	*organization;	/* organization-name */
	const char	*contact;	/* contact-info */
	const char	*submitter;	/* our host name: report-id, mail headers */
};

struct tlsrpt_reports;

/* "YYYY-MM-DD", "today" or "yesterday" (UTC) into out (11 bytes); 0 or -1 */
int tlsrpt_day_parse(const char *s, char out[11]);
/* the day's first second (UTC), or -1 for a malformed day */
long long tlsrpt_day_start(const char *day);

/* Read the send logs under paths (files or directories, as dsmtp-log)
 * for day ("YYYY-MM-DD"); domain: only this policy domain, or NULL for
 * all. NULL with err on failure (no logs at all is no failure: none). */
struct tlsrpt_reports *tlsrpt_reports_read(char *const *paths, size_t npaths, const char *day,
    const char *domain, struct dsmtp_err *err);
size_t tlsrpt_reports_n(const struct tlsrpt_reports *r);	/* domains, sorted */
const char *tlsrpt_reports_domain(const struct tlsrpt_reports *r, size_t i);
/* domain i's report as one line of JSON (no newline); 0, or -1 on a write error */
int tlsrpt_reports_json(const struct tlsrpt_reports *r, size_t i, const struct tlsrpt_meta *m,
    FILE *out);
void tlsrpt_reports_free(struct tlsrpt_reports *r);



struct dsmtp_config;

/* the meta data of our reports from the configuration: tlsrpt.organization
 * (default: hostname), tlsrpt.contact (default: postmaster@hostname), and
 * the hostname as submitter; the strings point into cfg or buf */
void tlsrpt_meta_from_config(const struct dsmtp_config *cfg, struct tlsrpt_meta *m,
    char *buf, size_t buflen);
/* state_dir/logs.dir (or logs.dir when absolute); 0 or -1 (too long) */
int tlsrpt_logs_dir(const struct dsmtp_config *cfg, char *out, size_t outlen);
#endif
