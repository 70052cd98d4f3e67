/* tlsrpt_send.c: sending the daily RFC 8460 reports. "dsmtpc tlsrpt-send
 * [--date DAY]" builds each policy domain's report for a finished UTC day
 * from the send logs (logs/tlsrpt_report.c), looks up _smtp._tls.DOMAIN
 * (TXT, common/tlsrpt_txt.c) with dsmtpc's resolver, and delivers it to
 * every rua: mailto: as a message committed to dsmtpc's own spool (which
 * the running daemon then delivers like any other message), https: as a
 * POST (libcurl, GnuTLS flavour; the host resolved by our resolver).
 *
 * Never twice: before anything is handed over, state_dir/tlsrpt/DAY_DOMAIN
 * is created -- written and fsync'd under a temporary name, then link()ed
 * into place (which fails if it exists, so two runs cannot both win) and
 * the directory fsync'd. At most once: a crash or a failed delivery after
 * that loses the report rather than sending it again. A DNS failure
 * (SERVFAIL, timeout) marks nothing, so the next run tries again.
 *
 * dsmtpc run does not do this work in its loop: with tlsrpt.enabled it
 * runs "dsmtpc tlsrpt-send" as a child process a minute after start and
 * at 00:05 UTC every day (smtpc_tlsrpt_daemon_start). */
#include "autoconfig.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "common/diag.h"
#include "common/spool.h"
#include "common/tlsrpt_txt.h"
#include "logs/tlsrpt_report.h"
#include "smtpc/smtpc.h"
#include "smtpc/tlsrpt.h"

#define TXT_TYPE	16
#define A_TYPE		1
#define AAAA_TYPE	28
#define POST_TIMEOUT	60L	/* seconds for one https: report */

extern char **environ;

/* TESTS ONLY: DSMTPC_TLSRPT_TEST_NOW=UNIX-SECONDS stands in for the clock
 * of tlsrpt-send (which day is over, "yesterday", Date:), so a test can
 * send today's report "tomorrow". Documented in dsmtpc(8) as test-only. */
static long long
tlsrpt_now(void)
{
	const char *e = getenv("DSMTPC_TLSRPT_TEST_NOW");
	char *end;
	long long v;

	if (e != NULL && *e != '\0') {
		v = strtoll(e, &end, 10);
		if (*end == '\0' && v > 0)
			return v;
	}
	return (long long)time(NULL);
}

/* ---- one DNS question, answered through a private loop ---- */

struct dns_wait {
	bool			 done;
	int			 rcode;
	bool			 nxdomain;
	char			 why[200];
	size_t			 n;
	unsigned char		*data[32];
	int			 len[32];
};

static void
dns_wait_cb(void *arg, const struct smtpc_dns_answer *a)
{
	struct dns_wait *w = arg;

	w->done = true;
	w->rcode = a->rcode;
	w->nxdomain = a->nxdomain;
	snprintf(w->why, sizeof(w->why), "%s", a->why ? a->why : "");
	for (size_t i = 0; i < a->n && w->n < 32; i++) {
		if ((w->data[w->n] = malloc((size_t)a->len[i] + 1)) == NULL)
			continue;
		memcpy(w->data[w->n], a->data[i], (size_t)a->len[i]);
		w->len[w->n++] = a->len[i];
	}
}

static void
dns_wait_free(struct dns_wait *w)
{
	for (size_t i = 0; i < w->n; i++)
		free(w->data[i]);
	memset(w, 0, sizeof(*w));
}

/* 0 answered (w filled), -1 could not ask */
static int
dns_ask(struct ev_loop *loop, struct smtpc_dns *dns, const char *name, int type,
    struct dns_wait *w)
{
	memset(w, 0, sizeof(*w));
	if (smtpc_dns_query(dns, name, type, dns_wait_cb, w) == NULL)
		return -1;
	while (!w->done)
		ev_run(loop, EVRUN_ONCE);
	return 0;
}

/* ---- the durable "sent" mark ---- */

/* 1 marked now (ours to send), 0 already marked, -1 error */
static int
mark_sent(const char *dir, const char *day, const char *domain, const char *what)
{
	char path[PATH_MAX], tmp[PATH_MAX];
	int fd, dfd, rc;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s_%s", dir, day, domain);
	if (access(path, F_OK) == 0)
		return 0;
	snprintf(tmp, sizeof(tmp), "%s/.tmp.%s_%s.%ld", dir, day, domain, (long)getpid());
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) < 0 ||
	    (f = fdopen(fd, "w")) == NULL) {
		diag_warn("tlsrpt: %s", tmp);
		if (fd >= 0)
			close(fd);
		return -1;
	}
	fprintf(f, "day %s\ndomain %s\nsent %lld\n%s\n", day, domain, tlsrpt_now(), what);
	if (fflush(f) != 0 || fsync(fd) != 0) {
		diag_warn("tlsrpt: %s", tmp);
		fclose(f);
		unlink(tmp);
		return -1;
	}
	fclose(f);
	rc = link(tmp, path);
	if (rc < 0 && errno != EEXIST)
		diag_warn("tlsrpt: %s", path);
	(void)unlink(tmp);
	if (rc < 0)
		return errno == EEXIST ? 0 : -1;
	if ((dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0 || fsync(dfd) != 0) {
		diag_warn("tlsrpt: fsync %s", dir);
		if (dfd >= 0)
			close(dfd);
		return -1;	/* marked, but maybe not durably: send nothing */
	}
	close(dfd);
	return 1;
}

/* an A-label domain name: only these bytes go into file names and headers */
static bool
plain_domain(const char *d)
{
	size_t n = strlen(d);

	return n > 0 && n < 254 && strspn(d, "abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-") == n && d[0] != '.' && d[0] != '-';
}

/* ---- delivery ---- */

struct job {
	const struct dsmtp_config	*cfg;
	struct ev_loop			*loop;
	struct smtpc_dns		*dns;
	struct spool			*sp;
	const char			*day;
	const char			*domain;
	const char			*rid;
	long long			 start, now;
	const char			*json;
	size_t				 jsonlen;
	const unsigned char		*gz;
	size_t				 gzlen;
};

static void
commit_done(void *arg, int rc, const char *id, const char *why)
{
	int *out = arg;

	*out = rc;
	if (rc == 0)
		diag_info("tlsrpt: report queued as %s", id);
	else
		diag_warnx("tlsrpt: report not queued: %s", why ? why : "unknown error");
}

/* every mailto: rua in one message, committed to the spool */
static int
send_mail(struct job *j, const struct tlsrpt_txt *t)
{
	const char *to[TLSRPT_RUA_MAX];
	struct tlsrpt_mail m;
	struct spool_envelope env;
	struct spool_rcpt rc[TLSRPT_RUA_MAX];
	struct spool_msg *sm;
	struct dsmtp_err err;
	char from[320], *text = NULL, client[] = "dsmtpc tlsrpt-send";
	size_t len, n = 0;
	int crc = -1;

	for (size_t i = 0; i < t->n; i++)
		if (t->rua[i].kind == TLSRPT_RUA_MAILTO)
			to[n++] = t->rua[i].addr;
	if (n == 0)
		return 0;
	if (j->cfg->tlsrpt.from[0])
		snprintf(from, sizeof(from), "%s", j->cfg->tlsrpt.from);
	else
		snprintf(from, sizeof(from), "postmaster@%s", j->cfg->hostname);
	memset(&m, 0, sizeof(m));
	m.from = from;
	m.to = to;
	m.nto = n;
	m.domain = j->domain;
	m.submitter = j->cfg->hostname;
	m.report_id = j->rid;
	m.start = j->start;
	m.end = j->start + 86399;
	m.now = j->now;
	m.gz = j->gz;
	m.gzlen = j->gzlen;
	if (tlsrpt_mail_build(&m, &text, &len) < 0) {
		diag_warnx("tlsrpt: %s: cannot build the message", j->domain);
		return -1;
	}
	if ((sm = spool_msg_new(j->sp, &err)) == NULL) {
		diag_warnx("tlsrpt: %s", err.msg);
		free(text);
		return -1;
	}
	if (spool_msg_write(sm, text, len) < 0) {
		diag_warn("tlsrpt: spool write");
		spool_msg_abort(sm);
		free(text);
		return -1;
	}
	free(text);
	memset(&env, 0, sizeof(env));
	memset(rc, 0, sizeof(rc));
	for (size_t i = 0; i < n; i++) {
		rc[i].addr = (char *)(uintptr_t)to[i];
		rc[i].state = SPOOL_RCPT_PENDING;
	}
	env.client = client;
	env.ehlo = j->cfg->hostname;
	env.sender = from;
	env.rcpts = rc;
	env.nrcpts = n;
	/* the spool has no loop: done() runs before this returns */
	if (spool_msg_commit(sm, &env, commit_done, &crc) < 0)
		return -1;
	if (crc == 0)
		for (size_t i = 0; i < n; i++)
			diag_info("tlsrpt: %s %s: report to <%s> queued", j->day, j->domain, to[i]);
	return crc == 0 ? 0 : -1;
}

static size_t
discard_body(char *p, size_t size, size_t n, void *arg)
{
	(void)p;
	(void)arg;
	return size * n;
}

/* https://HOST[:PORT]/...: HOST resolved by our resolver, handed to curl
 * (CURLOPT_RESOLVE) so SNI and the certificate name check stay HOST's */
static int
send_https(struct job *j, const char *uri)
{
	char host[256], resolve[400], addr[INET6_ADDRSTRLEN], err[CURL_ERROR_SIZE];
	const char *h = uri + 8, *e;
	struct curl_slist *hdrs = NULL, *res = NULL;
	struct dns_wait w;
	unsigned port = 443;
	struct in_addr a4;
	long code = 0;
	CURL *c;
	CURLcode cc;

	e = h + strcspn(h, ":/?#");
	if (*h == '[' || (size_t)(e - h) >= sizeof(host) || e == h || memchr(h, '@', (size_t)(e - h))) {
		diag_warnx("tlsrpt: %s: unsupported https URI", uri);
		return -1;
	}
	snprintf(host, sizeof(host), "%.*s", (int)(e - h), h);
	if (*e == ':')
		port = (unsigned)strtoul(e + 1, NULL, 10);
	if (port == 0 || port > 65535) {
		diag_warnx("tlsrpt: %s: bad port", uri);
		return -1;
	}
	addr[0] = '\0';
	if (inet_pton(AF_INET, host, &a4) != 1) {
		if (dns_ask(j->loop, j->dns, host, A_TYPE, &w) == 0 && w.rcode == 0) {
			for (size_t i = 0; i < w.n && addr[0] == '\0'; i++)
				if (w.len[i] == 4)
					inet_ntop(AF_INET, w.data[i], addr, sizeof(addr));
		}
		dns_wait_free(&w);
		if (addr[0] == '\0' && dns_ask(j->loop, j->dns, host, AAAA_TYPE, &w) == 0 &&
		    w.rcode == 0) {
			for (size_t i = 0; i < w.n && addr[0] == '\0'; i++)
				if (w.len[i] == 16)
					inet_ntop(AF_INET6, w.data[i], addr, sizeof(addr));
		}
		dns_wait_free(&w);
		if (addr[0] == '\0') {
			diag_warnx("tlsrpt: %s: no address for %s", uri, host);
			return -1;
		}
		snprintf(resolve, sizeof(resolve), "%s:%u:%s%s%s", host, port,
		    strchr(addr, ':') ? "[" : "", addr, strchr(addr, ':') ? "]" : "");
		if ((res = curl_slist_append(NULL, resolve)) == NULL)
			return -1;
	}
	if ((c = curl_easy_init()) == NULL) {
		curl_slist_free_all(res);
		return -1;
	}
	hdrs = curl_slist_append(NULL, "Content-Type: application/tlsrpt+gzip");
	err[0] = '\0';
	curl_easy_setopt(c, CURLOPT_URL, uri);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "https");
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 20L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, POST_TIMEOUT);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, err);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, (const char *)j->gz);
	curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)j->gzlen);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard_body);
	curl_easy_setopt(c, CURLOPT_USERAGENT, PACKAGE_STRING " tlsrpt");
	if (res != NULL)
		curl_easy_setopt(c, CURLOPT_RESOLVE, res);
	if (strcmp(j->cfg->trust.ca_file, "system") != 0)
		curl_easy_setopt(c, CURLOPT_CAINFO, j->cfg->trust.ca_file);
	cc = curl_easy_perform(c);
	if (cc == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
	curl_easy_cleanup(c);
	curl_slist_free_all(hdrs);
	curl_slist_free_all(res);
	if (cc != CURLE_OK) {
		diag_warnx("tlsrpt: %s %s: POST %s: %s", j->day, j->domain, uri,
		    err[0] ? err : curl_easy_strerror(cc));
		return -1;
	}
	if (code < 200 || code > 299) {
		diag_warnx("tlsrpt: %s %s: POST %s: HTTP %ld", j->day, j->domain, uri, code);
		return -1;
	}
	diag_info("tlsrpt: %s %s: report POSTed to %s (HTTP %ld)", j->day, j->domain, uri, code);
	return 0;
}

/* one domain's report: look up its rua, mark, send; 0 done (or nothing
 * to do), -1 failed (a DNS failure: nothing marked, the next run retries) */
static int
send_domain(struct job *j, const char *dir)
{
	struct tlsrpt_txt t;
	struct dns_wait w;
	char name[PATH_MAX], why[160], what[TLSRPT_RUA_MAX * (TLSRPT_URI_MAX + 8)];
	int rc = 0, m;

	if (snprintf(name, sizeof(name), "%s/%s_%s", dir, j->day, j->domain) >= (int)sizeof(name))
		return -1;
	if (access(name, F_OK) == 0) {
		diag_info("tlsrpt: %s %s: already sent, not again", j->day, j->domain);
		return 0;
	}
	snprintf(name, sizeof(name), "_smtp._tls.%s", j->domain);
	if (dns_ask(j->loop, j->dns, name, TXT_TYPE, &w) < 0) {
		diag_warnx("tlsrpt: %s: cannot ask DNS", name);
		return -1;
	}
	if (w.rcode != 0 && !w.nxdomain) {
		diag_warnx("tlsrpt: %s %s: TXT lookup failed (%s); trying again next run",
		    j->day, j->domain, w.why[0] ? w.why : "no answer");
		dns_wait_free(&w);
		return -1;
	}
	if (w.nxdomain || tlsrpt_txt_select((const unsigned char *const *)w.data, w.len, w.n, &t,
	    why, sizeof(why)) < 0) {
		if (w.nxdomain)
			snprintf(why, sizeof(why), "no _smtp._tls record");
		dns_wait_free(&w);
		diag_info("tlsrpt: %s %s: no report sent: %s", j->day, j->domain, why);
		return mark_sent(dir, j->day, j->domain, "none") < 0 ? -1 : 0;
	}
	dns_wait_free(&w);
	what[0] = '\0';
	for (size_t i = 0; i < t.n; i++) {
		strncat(what, "rua ", sizeof(what) - strlen(what) - 1);
		strncat(what, t.rua[i].uri, sizeof(what) - strlen(what) - 1);
		strncat(what, "\n", sizeof(what) - strlen(what) - 1);
	}
	if ((m = mark_sent(dir, j->day, j->domain, what)) <= 0) {
		if (m == 0)
			diag_info("tlsrpt: %s %s: already sent, not again", j->day, j->domain);
		return m;
	}
	if (send_mail(j, &t) < 0)
		rc = -1;
	for (size_t i = 0; i < t.n; i++)
		if (t.rua[i].kind == TLSRPT_RUA_HTTPS && send_https(j, t.rua[i].uri) < 0)
			rc = -1;
	return rc;
}

static void
usage(FILE *out)
{
	fputs("Usage: dsmtpc [-c FILE] tlsrpt-send [--date DAY]\n"
	    "Send each domain's RFC 8460 report for DAY (YYYY-MM-DD or yesterday, the\n"
	    "default; UTC; the day must be over), once: a day and domain already sent is\n"
	    "skipped. Needs tlsrpt.enabled.\n", out);
}

int
smtpc_cmd_tlsrpt_send(int argc, char **argv, const char *config_path)
{
	static const struct option lopts[] = {
		{ "date", required_argument, NULL, 'D' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	struct dsmtp_config cfg;
	struct dsmtp_err err;
	struct tlsrpt_reports *r = NULL;
	struct tlsrpt_meta meta;
	struct job j;
	char day[11], contact[300], logs[PATH_MAX], dir[PATH_MAX], qdir[PATH_MAX], *logv[1];
	const char *dayarg = "yesterday";
	long long now = tlsrpt_now();
	int ch, rc = EX_DSMTP_OK;

	while ((ch = getopt_long(argc, argv, "D:h", lopts, NULL)) != -1) {
		switch (ch) {
		case 'D':
			dayarg = optarg;
			break;
		case 'h':
			usage(stdout);
			return EX_DSMTP_OK;
		default:
			usage(stderr);
			return EX_DSMTP_USAGE;
		}
	}
	if (strcmp(dayarg, "yesterday") == 0) {
		time_t y = (time_t)(now - 86400);
		struct tm tm;

		if (gmtime_r(&y, &tm) == NULL || strftime(day, sizeof(day), "%Y-%m-%d", &tm) != 10)
			return EX_DSMTP_SOFTWARE;
	} else if (strcmp(dayarg, "today") == 0 || tlsrpt_day_parse(dayarg, day) < 0) {
		fprintf(stderr, "%s: --date: not a finished day (YYYY-MM-DD, yesterday): %s\n",
		    diag_progname(), dayarg);
		return EX_DSMTP_USAGE;
	}
	if (tlsrpt_day_start(day) + 86400 > now) {
		fprintf(stderr, "%s: %s is not over yet (UTC): its report would be incomplete\n",
		    diag_progname(), day);
		return EX_DSMTP_USAGE;
	}
	smtpc_privsep_load(config_path, &cfg);	/* root: as `user` from here */
	memset(&j, 0, sizeof(j));
	if (!cfg.tlsrpt.enabled) {
		diag_info("tlsrpt: tlsrpt.enabled is false: no reports sent");
		config_free(&cfg);
		return EX_DSMTP_OK;
	}
	tlsrpt_meta_from_config(&cfg, &meta, contact, sizeof(contact));
	if (tlsrpt_logs_dir(&cfg, logs, sizeof(logs)) < 0 ||
	    config_state_path(&cfg, "tlsrpt", dir, sizeof(dir), &err) < 0 ||
	    config_state_path(&cfg, "queue", qdir, sizeof(qdir), &err) < 0) {
		diag_warnx("tlsrpt: state_dir: %s", err.msg);
		config_free(&cfg);
		return EX_DSMTP_CANTCREAT;
	}
	if (access(logs, F_OK) != 0) {
		diag_info("tlsrpt: %s: no protocol logs, no reports", logs);
		config_free(&cfg);
		return EX_DSMTP_OK;
	}
	logv[0] = logs;
	if ((r = tlsrpt_reports_read(logv, 1, day, NULL, &err)) == NULL) {
		diag_warnx("tlsrpt: %s", err.msg);
		config_free(&cfg);
		return EX_DSMTP_NOINPUT;
	}
	j.cfg = &cfg;
	j.day = day;
	j.start = tlsrpt_day_start(day);
	j.now = now;
	if (tlsrpt_reports_n(r) > 0) {
		if ((j.loop = ev_loop_new(EVFLAG_AUTO)) == NULL ||
		    (j.dns = smtpc_dns_new(j.loop, &cfg, &err)) == NULL ||
		    (j.sp = spool_open(qdir, NULL, &err)) == NULL) {
			diag_warnx("tlsrpt: %s", j.loop ? err.msg : "out of memory");
			rc = EX_DSMTP_OSERR;
			goto out;
		}
		if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0) {
			diag_warnx("tlsrpt: libcurl did not start");
			rc = EX_DSMTP_OSERR;
			goto out;
		}
	}
	for (size_t i = 0; i < tlsrpt_reports_n(r); i++) {
		char *json = NULL, rid[600];
		unsigned char *gz = NULL;
		size_t jlen = 0, gzlen = 0;
		FILE *f;

		j.domain = tlsrpt_reports_domain(r, i);
		if (!plain_domain(j.domain)) {
			diag_warnx("tlsrpt: %s: not an A-label domain name, skipped", j.domain);
			continue;
		}
		snprintf(rid, sizeof(rid), "%sT00:00:00Z_%s_%s", day, j.domain, cfg.hostname);
		j.rid = rid;
		if ((f = open_memstream(&json, &jlen)) == NULL) {
			rc = EX_DSMTP_OSERR;
			break;
		}
		if (tlsrpt_reports_json(r, i, &meta, f) < 0 || fclose(f) != 0 ||
		    tlsrpt_gzip(json, jlen, &gz, &gzlen) < 0) {
			diag_warnx("tlsrpt: %s: cannot build the report", j.domain);
			free(json);
			rc = EX_DSMTP_SOFTWARE;
			continue;
		}
		j.json = json;
		j.jsonlen = jlen;
		j.gz = gz;
		j.gzlen = gzlen;
		if (send_domain(&j, dir) < 0)
			rc = EX_DSMTP_TEMPFAIL;
		free(json);
		free(gz);
	}
	if (j.loop != NULL && j.dns != NULL && j.sp != NULL)
		curl_global_cleanup();
out:
	if (j.sp != NULL)
		spool_close(j.sp);
	if (j.dns != NULL)
		smtpc_dns_free(j.dns);
	if (j.loop != NULL)
		ev_loop_destroy(j.loop);
	tlsrpt_reports_free(r);
	config_free(&cfg);
	return rc;
}

/* ---- the daemon's daily run ---- */

static struct {
	bool				 on;
	const struct dsmtp_config	*cfg;
	char				 self[PATH_MAX];
	const char			*config_path;
	ev_periodic			 daily;
	ev_timer			 first;
	ev_signal			 chld;
	pid_t				 child;
} daemon_st;

static void
spawn_send(struct ev_loop *loop)
{
	posix_spawn_file_actions_t fa;
	char *argv[7];
	int argc = 0;
	pid_t pid;
	int e;

	(void)loop;
	if (!daemon_st.cfg->tlsrpt.enabled || daemon_st.child > 0)
		return;
	argv[argc++] = (char *)(uintptr_t)"dsmtpc";
	if (daemon_st.config_path != NULL) {
		argv[argc++] = (char *)(uintptr_t)"-c";
		argv[argc++] = (char *)(uintptr_t)daemon_st.config_path;
	}
	argv[argc++] = (char *)(uintptr_t)"tlsrpt-send";
	argv[argc++] = (char *)(uintptr_t)"--date";
	argv[argc++] = (char *)(uintptr_t)"yesterday";
	argv[argc] = NULL;
	/* the child gets stdin, stdout, stderr and nothing else: no spool
	 * lease, socket or resolver descriptor of ours stays open in it */
	if ((e = posix_spawn_file_actions_init(&fa)) == 0) {
		if ((e = posix_spawn_file_actions_addclosefrom_np(&fa, 3)) == 0)
			e = posix_spawn(&pid, daemon_st.self, &fa, NULL, argv, environ);
		posix_spawn_file_actions_destroy(&fa);
	}
	if (e != 0) {
		errno = e;
		diag_warn("tlsrpt: cannot run %s tlsrpt-send", daemon_st.self);
		return;
	}
	daemon_st.child = pid;
	diag_info("tlsrpt: sending yesterday's reports (pid %ld)", (long)pid);
}

static void
daily_cb(struct ev_loop *loop, ev_periodic *w, int revents)
{
	(void)w;
	(void)revents;
	spawn_send(loop);
}

static void
first_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)w;
	(void)revents;
	spawn_send(loop);
}

static void
chld_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
	int status;
	pid_t p;

	(void)loop;
	(void)w;
	(void)revents;
	while (daemon_st.child > 0 && (p = waitpid(daemon_st.child, &status, WNOHANG)) > 0) {
		if (WIFEXITED(status) && WEXITSTATUS(status) != 0)
			diag_warnx("tlsrpt: tlsrpt-send exited %d (see above)", WEXITSTATUS(status));
		else if (WIFSIGNALED(status))
			diag_warnx("tlsrpt: tlsrpt-send killed by signal %d", WTERMSIG(status));
		daemon_st.child = 0;
	}
}

void
smtpc_tlsrpt_daemon_start(struct ev_loop *loop, const struct dsmtp_config *cfg,
    const char *config_path)
{
	const char *e;
	double first;
	ssize_t n;

	memset(&daemon_st, 0, sizeof(daemon_st));
	daemon_st.cfg = cfg;
	daemon_st.config_path = config_path;
	if ((n = readlink("/proc/self/exe", daemon_st.self, sizeof(daemon_st.self) - 1)) <= 0) {
		diag_warn("tlsrpt: /proc/self/exe: reports will not be sent");
		return;
	}
	daemon_st.self[n] = '\0';
	/* 00:05 UTC daily: yesterday's logs are complete by then */
	ev_periodic_init(&daemon_st.daily, daily_cb, 300.0, 86400.0, NULL);
	ev_periodic_start(loop, &daemon_st.daily);
	/* after a start: a day missed while down (the marks keep it single);
	 * TESTS ONLY: DSMTPC_TLSRPT_TEST_FIRST=SECONDS shortens the wait */
	first = 60.0;
	if ((e = getenv("DSMTPC_TLSRPT_TEST_FIRST")) != NULL && atof(e) > 0)
		first = atof(e);
	ev_timer_init(&daemon_st.first, first_cb, first, 0.0);
	ev_timer_start(loop, &daemon_st.first);
	ev_signal_init(&daemon_st.chld, chld_cb, SIGCHLD);
	ev_signal_start(loop, &daemon_st.chld);
	daemon_st.on = true;
}

void
smtpc_tlsrpt_daemon_stop(struct ev_loop *loop)
{
	if (!daemon_st.on)
		return;
	ev_periodic_stop(loop, &daemon_st.daily);
	ev_timer_stop(loop, &daemon_st.first);
	ev_signal_stop(loop, &daemon_st.chld);
	daemon_st.on = false;
	/* a running child finishes on its own; its marks keep it single */
}
