/* log_main.c: dsmtp-log, the protocol-log reader (DESIGN.md section 9).
 * Owns the command line and the output of sessions, show, certs and
 * failures. What the records mean (sessions, filters, the tables) lives in
 * log_agg.c; parsing and file finding in plog_read.c. */
#include "autoconfig.h"

#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/cli.h"
#include "common/config.h"
#include "common/diag.h"
#include "logs/log_agg.h"
#include "logs/plog.h"

enum cmd { CMD_SESSIONS, CMD_SHOW, CMD_CERTS, CMD_FAILURES };

struct opts {
	enum cmd	 cmd;
	struct log_filter f;
	const char	*session;	/* show: id (prefix) */
	bool		 json;
};

struct state {
	struct opts	 o;
	struct log_certs certs;
	struct log_causes causes;
	unsigned long	 shown, malformed;	/* malformed: show's count */
};

static int	run_sessions(int, char **, const char *);
static int	run_show(int, char **, const char *);
static int	run_certs(int, char **, const char *);
static int	run_failures(int, char **, const char *);
int	log_tlsrpt_main(int, char **, const char *);	/* log_tlsrpt.c */
int	log_report_main(int, char **, const char *);	/* log_report.c */
int	log_follow_main(int, char **, const char *);	/* log_follow.c */

static const struct cli_cmd log_cmds[] = {
	{ "sessions", "one line per session", run_sessions },
	{ "show", "every record of one session", run_show },
	{ "certs", "each certificate seen per peer, and changes", run_certs },
	{ "failures", "TLS and policy failures grouped by cause", run_failures },
	{ "tlsrpt", "the RFC 8460 TLS report of each domain for a day", log_tlsrpt_main },
	{ "report", "TLS summary per peer domain (text, --json, --html FILE)", log_report_main },
	{ "follow", "the live log as it is written, across rotation", log_follow_main },
	{ NULL, NULL, NULL }
};

#define dir_names log_dir_names

/* ---- output per command ---- */

/* key=value for text output, quoted when the value is empty or has spaces */
static void
print_kv_text(const char *key, const char *val)
{
	if (val[0] == '\0' || strpbrk(val, " \"") != NULL) {
		/* values are visibly escaped already: a quote becomes \x22 too */
		printf(" %s=\"", key);
		for (; *val; val++) {
			if (*val == '"')
				fputs("\\x22", stdout);
			else
				putchar(*val);
		}
		putchar('"');
	} else
		printf(" %s=%s", key, val);
}

/* sessions: the text line of one session */
static void
out_session(const struct log_sess *s)
{
	char id[17], sha[17], tls[100], pol[200];

	snprintf(id, sizeof(id), "%016" PRIx64, s->id);
	snprintf(sha, sizeof(sha), "%.16s", s->sha256);
	if (s->tls)
		snprintf(tls, sizeof(tls), "%s/%s", s->version, s->cipher);
	else
		snprintf(tls, sizeof(tls), "none");
	if (s->policy[0] != '\0')
		snprintf(pol, sizeof(pol), "%s %s %s", s->policy, s->pol_level, s->pol_domain);
	else
		pol[0] = '\0';
	printf("%s %s %s %s", s->start, dir_names[s->dir], id, s->remote[0] ? s->remote : "-");
	print_kv_text("ehlo", s->ehlo);
	printf(" tls=%s", tls);
	if (s->cert) {
		print_kv_text("cert", s->subject);
		printf(" sha256=%s", sha);
	} else	/* with TLS, no Remote certificate record means none was sent
		 * (basic keeps that record but not "Remote certificate absent") */
		printf(" cert=%s", s->cert_absent || s->tls ? "absent" : "none");
	if (pol[0] != '\0')
		print_kv_text("policy", pol);
	else
		printf(" policy=none");
	printf(" messages=%u%s\n", s->messages, s->closed ? "" : " open");
}

/* sessions --json: one object per session */
static void
out_session_json(const struct log_sess *s)
{
	char id[17];

	snprintf(id, sizeof(id), "%016" PRIx64, s->id);
	log_json_kv(stdout, "start", s->start, true);
	log_json_kv(stdout, "end", s->end, false);
	log_json_kv(stdout, "direction", dir_names[s->dir], false);
	log_json_kv(stdout, "session", id, false);
	log_json_kv(stdout, "connector", s->connector, false);
	log_json_kv(stdout, "local", s->local, false);
	log_json_kv(stdout, "peer", s->remote, false);
	log_json_kv(stdout, "ehlo", s->ehlo, false);
	log_json_kv(stdout, "tls_version", s->tls ? s->version : "", false);
	log_json_kv(stdout, "tls_cipher", s->tls ? s->cipher : "", false);
	log_json_kv(stdout, "cert_subject", s->subject, false);
	log_json_kv(stdout, "cert_sha256", s->sha256, false);
	log_json_kv(stdout, "policy", s->policy, false);
	log_json_kv(stdout, "policy_level", s->pol_level, false);
	log_json_kv(stdout, "policy_domain", s->pol_domain, false);
	printf(",\"messages\":%u,\"closed\":%s}\n", s->messages, s->closed ? "true" : "false");
}

/* show: print every record of the wanted session */
static int
on_record_show(const struct plog_record *r, void *arg)
{
	struct state *st = arg;
	const struct opts *o = &st->o;

	if (strncasecmp(r->f[PLOG_F_SESSION], o->session, strlen(o->session)) != 0)
		return 0;
	if (!log_filter_record(&o->f, r))
		return 0;
	st->shown++;
	log_print_record(stdout, r, o->json);
	return 0;
}

/* certs: one line per certificate per peer, peers sorted */
static void
print_certs(struct state *st)
{
	struct log_peer **all, *p;
	const struct log_certent *c;
	size_t i, j, n;

	if ((all = log_certs_sorted(&st->certs, &n)) == NULL)
		return;
	for (i = 0; i < n; i++) {
		p = all[i];
		for (j = 0; j < p->ncerts; j++) {
			c = &p->certs[j];
			st->shown++;
			if (st->o.json) {
				log_json_kv(stdout, "direction", dir_names[p->dir], true);
				log_json_kv(stdout, "peer", p->addr, false);
				log_json_kv(stdout, "sha256", c->sha256, false);
				log_json_kv(stdout, "spki", c->spki, false);
				log_json_kv(stdout, "subject", c->subject, false);
				log_json_kv(stdout, "first", c->first, false);
				log_json_kv(stdout, "last", c->last, false);
				printf(",\"count\":%lu,\"changed\":%s}\n", c->count,
				    c->changed ? "true" : "false");
				continue;
			}
			printf("%s %s sha256=%.16s first=%s last=%s count=%lu", dir_names[p->dir],
			    p->addr, c->sha256, c->first, c->last, c->count);
			print_kv_text("subject", c->subject);
			if (c->changed)
				printf(" CHANGED%s", j > 0 && strcmp(c->spki, p->certs[0].spki) == 0 ?
				    " (same key)" : "");
			putchar('\n');
		}
	}
	free(all);
}

/* failures: causes by count, most frequent first */
static void
print_failures(struct state *st)
{
	struct log_cause **all, *c;
	char id[17];
	size_t i, n;

	if ((all = log_causes_sorted(&st->causes, &n)) == NULL)
		return;
	for (i = 0; i < n; i++) {
		c = all[i];
		snprintf(id, sizeof(id), "%016" PRIx64, c->example);
		st->shown++;
		if (st->o.json) {
			printf("{\"count\":%lu", c->count);
			log_json_kv(stdout, "cause", c->text, false);
			if (c->result_type[0] != '\0')
				log_json_kv(stdout, "result_type", c->result_type, false);
			log_json_kv(stdout, "example_session", id, false);
			log_json_kv(stdout, "example_time", c->example_time, false);
			log_json_kv(stdout, "example_peer", c->example_peer, false);
			printf("}\n");
		} else
			printf("%lu %s (e.g. session %s, %s, %s)\n", c->count, c->text, id,
			    c->example_peer, c->example_time);
	}
	free(all);
}

/* show: the reader skipped a line: say so (the first LOG_MAX_REPORTED times) */
static void
on_malformed_show(const char *file, unsigned long line, const char *why, void *arg)
{
	struct state *st = arg;

	if (++st->malformed <= LOG_MAX_REPORTED)
		fprintf(stderr, "%s: %s:%lu: skipped: %s\n", diag_progname(), file, line, why);
}

/* failures: one cause of a finished session */
static void
on_cause(const char *text, const char *type, void *arg)
{
	struct state *st = ((void **)arg)[0];
	const struct log_sess *s = ((void **)arg)[1];

	log_causes_add(&st->causes, text, type, s);
}

/* a finished session that passed the filters */
static void
on_session(const struct log_sess *s, void *arg)
{
	struct state *st = arg;
	void *pair[2] = { st, (void *)(uintptr_t)s };

	switch (st->o.cmd) {
	case CMD_SESSIONS:
		if (st->o.json)
			out_session_json(s);
		else
			out_session(s);
		st->shown++;
		break;
	case CMD_CERTS:
		if (s->cert && s->sha256[0] != '\0')
			log_certs_add(&st->certs, s);
		break;
	case CMD_FAILURES:
		log_sess_causes(s, on_cause, pair);
		break;
	case CMD_SHOW:
		break;
	}
}

static void
usage(FILE *out, const char *name)
{
	fprintf(out, "Usage: dsmtp-log [-c FILE] %s%s [--peer ADDR] [--since WHEN] [--until WHEN]\n"
	    "       [--domain D] [--json] [FILE|DIR...]\n"
	    "WHEN is an ISO 8601 date or date-time in UTC (2026-11-24, 2026-11-24T11:44:46Z).\n"
	    "Default input: the configured state_dir/logs.dir.\n", name,
	    strcmp(name, "show") == 0 ? " SESSION" : "");
}

/* the shared front of every subcommand: options, inputs, the read loop */
static int
run(enum cmd cmd, int argc, char **argv, const char *config_path)
{
	static const struct option lopts[] = {
		{ "peer", required_argument, NULL, 'p' },
		{ "since", required_argument, NULL, 's' },
		{ "until", required_argument, NULL, 'u' },
		{ "domain", required_argument, NULL, 'd' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	struct state st;
	struct plog_files files = { NULL, 0 };
	struct plog_reader *r = NULL;
	struct log_agg *agg = NULL;
	struct dsmtp_err err;
	char dflt[PATH_MAX], *dflt_v[1];
	size_t i;
	int ch, rc = EX_DSMTP_OK, rrc;

	memset(&st, 0, sizeof(st));
	st.o.cmd = cmd;
	while ((ch = getopt_long(argc, argv, "p:s:u:d:jh", lopts, NULL)) != -1) {
		switch (ch) {
		case 'p':
		case 's':
		case 'u':
		case 'd':
			if (log_filter_option(&st.o.f, ch, optarg) < 0)
				return EX_DSMTP_USAGE;
			break;
		case 'j':
			st.o.json = true;
			break;
		case 'h':
			usage(stdout, argv[0]);
			return EX_DSMTP_OK;
		default:
			usage(stderr, argv[0]);
			return EX_DSMTP_USAGE;
		}
	}
	if (cmd == CMD_SHOW) {
		if (optind >= argc || argv[optind][0] == '\0' ||
		    strspn(argv[optind], "0123456789abcdefABCDEF") != strlen(argv[optind])) {
			fprintf(stderr, "%s: show needs a session id (hex)\n", diag_progname());
			usage(stderr, argv[0]);
			return EX_DSMTP_USAGE;
		}
		st.o.session = argv[optind++];
	}
	if (optind < argc) {
		if (plog_files_collect(argv + optind, (size_t)(argc - optind), &files, &err) < 0) {
			fprintf(stderr, "%s: %s\n", diag_progname(), err.msg);
			return EX_DSMTP_NOINPUT;
		}
	} else {
		if (log_default_dir(config_path, dflt, sizeof(dflt)) < 0)
			return EX_DSMTP_USAGE;
		dflt_v[0] = dflt;
		if (plog_files_collect(dflt_v, 1, &files, &err) < 0) {
			fprintf(stderr, "%s: no protocol logs: %s\n", diag_progname(), err.msg);
			return EX_DSMTP_NOINPUT;
		}
	}
	if (cmd == CMD_SHOW)
		r = plog_reader_new(on_record_show, on_malformed_show, &st);
	else if ((agg = log_agg_new(&st.o.f, on_session, &st)) != NULL)
		r = plog_reader_new(log_agg_record, log_agg_malformed, agg);
	if (r == NULL) {
		log_agg_free(agg);
		fprintf(stderr, "%s: out of memory\n", diag_progname());
		plog_files_free(&files);
		return EX_DSMTP_OSERR;
	}
	for (i = 0; i < files.n; i++) {
		if (!log_filter_file(&st.o.f, files.v[i]))
			continue;
		rrc = plog_read_file(r, files.v[i], &err);
		if (rrc < 0) {
			fprintf(stderr, "%s: %s\n", diag_progname(), err.msg);
			rc = EX_DSMTP_NOINPUT;
		} else if (rrc > 0) {
			rc = EX_DSMTP_SOFTWARE;
			break;
		}
	}
	if (agg != NULL)
		log_agg_finish(agg);
	if (cmd == CMD_CERTS)
		print_certs(&st);
	else if (cmd == CMD_FAILURES)
		print_failures(&st);
	if (st.malformed > LOG_MAX_REPORTED)
		fprintf(stderr, "%s: %lu malformed lines skipped in all\n", diag_progname(),
		    st.malformed);
	if (cmd == CMD_SHOW && st.shown == 0 && rc == EX_DSMTP_OK) {
		fprintf(stderr, "%s: no records of session %s\n", diag_progname(), st.o.session);
		rc = 1;
	}
	if (fflush(stdout) != 0 && rc == EX_DSMTP_OK)
		rc = EX_DSMTP_IOERR;
	plog_reader_free(r);
	plog_files_free(&files);
	log_agg_free(agg);
	log_certs_free(&st.certs);
	log_causes_free(&st.causes);
	return rc;
}

static int
run_sessions(int argc, char **argv, const char *config_path)
{
	return run(CMD_SESSIONS, argc, argv, config_path);
}

static int
run_show(int argc, char **argv, const char *config_path)
{
	return run(CMD_SHOW, argc, argv, config_path);
}

static int
run_certs(int argc, char **argv, const char *config_path)
{
	return run(CMD_CERTS, argc, argv, config_path);
}

static int
run_failures(int argc, char **argv, const char *config_path)
{
	return run(CMD_FAILURES, argc, argv, config_path);
}

int
main(int argc, char **argv)
{
	return cli_dispatch(argc, argv,
	    "Usage: dsmtp-log [-c FILE] COMMAND [OPTIONS] [FILE|DIR...]\n"
	    "Read dsmtp's protocol logs.", log_cmds, NULL);
}
