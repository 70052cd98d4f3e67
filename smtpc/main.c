/* main.c: dsmtpc, the send component (DESIGN.md section 4). Owns the
 * command line and the two spool commands built so far: "queue" (list the
 * spool, for people or, with --json, for scripts) and "flush" (make every
 * deferred recipient due now). Delivery (run, once, send) lives in other
 * smtpc/ files once it is built; the spool itself is common/spool.h. */
#include "autoconfig.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/cli.h"
#include "common/config.h"
#include "common/diag.h"
#include "common/json.h"
#include "common/spool.h"
#include "smtpc/smtpc.h"
#include "smtpc/tlsrpt.h"

static int	cmd_queue(int argc, char **argv, const char *config_path);
static int	cmd_flush(int argc, char **argv, const char *config_path);

static const struct cli_cmd smtpc_cmds[] = {
	{ "run", "the delivery daemon: watch the spool and deliver (default)", smtpc_cmd_run },
	{ "once", "deliver everything due now and exit", smtpc_cmd_once },
	{ "queue", "list the spool (--json for scripts)", cmd_queue },
	{ "flush", "make every deferred message due now", cmd_flush },
	{ "send", "send one message from stdin now, without the spool", smtpc_cmd_send },
	{ "tlsrpt-send", "send a finished day's TLS reports (RFC 8460), once", smtpc_cmd_tlsrpt_send },
	{ "memory", "show or forget the per-domain security memory", smtpc_cmd_memory },
	{ NULL, NULL, NULL }
};

/* the configuration's state_dir/queue, opened for synchronous use */
static struct spool *
open_spool(const char *config_path, int *rc)
{
	struct dsmtp_config cfg;
	struct dsmtp_err err;
	char path[4096];
	struct spool *sp;

	smtpc_privsep_load(config_path, &cfg);	/* root: as `user` from here */
	if (config_state_path(&cfg, "queue", path, sizeof(path), &err) < 0) {
		fprintf(stderr, "%s: %s\n", diag_progname(), err.msg);
		config_free(&cfg);
		*rc = EX_DSMTP_CANTCREAT;
		return NULL;
	}
	config_free(&cfg);
	if ((sp = spool_open(path, NULL, &err)) == NULL) {
		fprintf(stderr, "%s: %s\n", diag_progname(), err.msg);
		*rc = EX_DSMTP_IOERR;
	}
	return sp;
}

/* --- output --- */

/* peer text is hostile: control bytes shown C-style, never raw (a
 * newline in a last error must not forge a queue line) */
static void
put_text(FILE *out, const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		switch (*p) {
		case '\\': fputs("\\\\", out); break;
		case '\n': fputs("\\n", out); break;
		case '\r': fputs("\\r", out); break;
		case '\t': fputs("\\t", out); break;
		default:
			if (*p < 0x20 || *p == 0x7f)
				fprintf(out, "\\x%02x", *p);
			else
				fputc(*p, out);
		}
	}
}


/* "45s", "3m12s", "2h05m", "4d03h" */
static void
fmt_dur(char *buf, size_t len, int64_t s)
{
	if (s < 0)
		s = 0;
	if (s < 60)
		snprintf(buf, len, "%" PRId64 "s", s);
	else if (s < 3600)
		snprintf(buf, len, "%" PRId64 "m%02" PRId64 "s", s / 60, s % 60);
	else if (s < 86400)
		snprintf(buf, len, "%" PRId64 "h%02" PRId64 "m", s / 3600, s % 3600 / 60);
	else
		snprintf(buf, len, "%" PRId64 "d%02" PRId64 "h", s / 86400, s % 86400 / 3600);
}

static void
print_human(FILE *out, const struct spool_envelope *envs, size_t n, int64_t now)
{
	size_t npending = 0, nrcpts = 0;

	if (n == 0) {
		fputs("queue is empty\n", out);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		const struct spool_envelope *e = &envs[i];
		char age[32];

		fmt_dur(age, sizeof(age), now - e->arrival);
		fprintf(out, "%s  age %s  size %" PRIu64 "  from <", e->id, age, e->size);
		put_text(out, e->sender);
		fputs(">\n    client ", out);
		put_text(out, e->client[0] ? e->client : "-");
		fputs("  ehlo ", out);
		put_text(out, e->ehlo[0] ? e->ehlo : "-");
		fprintf(out, "  session %016" PRIx64 "\n    tls ", e->session_id);
		if (e->tls.version[0] == '\0')
			fputs("none", out);
		else {
			put_text(out, e->tls.version);
			fputc(' ', out);
			put_text(out, e->tls.cipher);
			if (e->tls.peer_subject[0]) {
				fputs("  peer \"", out);
				put_text(out, e->tls.peer_subject);
				fputc('"', out);
			}
			if (e->tls.verify[0]) {
				fputs("  verify ", out);
				put_text(out, e->tls.verify);
			}
			if (e->tls.domain_secured) {
				fputs("  domain-secured ", out);
				put_text(out, e->tls.domain);
			}
		}
		if (e->flags) {
			char words[64];

			spool_flags_format(e->flags, words, sizeof(words));
			fprintf(out, "\n    flags %s", words);
		}
		fputc('\n', out);
		for (size_t r = 0; r < e->nrcpts; r++) {
			const struct spool_rcpt *rc = &e->rcpts[r];

			nrcpts++;
			fputs("    to <", out);
			put_text(out, rc->addr);
			fprintf(out, ">  %s  attempts: %u", spool_rcpt_state_name(rc->state),
			    rc->attempts);
			if (rc->state == SPOOL_RCPT_PENDING) {
				npending++;
				if (rc->next_attempt <= now)
					fputs("  next attempt: now", out);
				else {
					fmt_dur(age, sizeof(age), rc->next_attempt - now);
					fprintf(out, "  next attempt: in %s", age);
				}
			}
			if (rc->last_error[0]) {
				fputs("  last error: ", out);
				put_text(out, rc->last_error);
			}
			fputc('\n', out);
		}
	}
	fprintf(out, "-- %zu message%s, %zu recipient%s, %zu pending\n", n, n == 1 ? "" : "s",
	    nrcpts, nrcpts == 1 ? "" : "s", npending);
}

static void
json_field(FILE *out, const char *name, const char *val, bool comma)
{
	fprintf(out, "\"%s\":", name);
	json_put_string(out, val);
	if (comma)
		fputc(',', out);
}

static void
print_json(FILE *out, const struct spool_envelope *envs, size_t n, int64_t now)
{
	fputs("{\"messages\":[", out);
	for (size_t i = 0; i < n; i++) {
		const struct spool_envelope *e = &envs[i];
		char words[64];

		fprintf(out, "%s\n{\"id\":\"%s\",\"arrival\":%" PRId64 ",\"age\":%" PRId64
		    ",\"size\":%" PRIu64 ",", i ? "," : "", e->id, e->arrival,
		    now > e->arrival ? now - e->arrival : 0, e->size);
		json_field(out, "sender", e->sender, true);
		json_field(out, "client", e->client, true);
		json_field(out, "ehlo", e->ehlo, true);
		fprintf(out, "\"session_id\":\"%016" PRIx64 "\",\"tls\":{", e->session_id);
		json_field(out, "version", e->tls.version, true);
		json_field(out, "cipher", e->tls.cipher, true);
		json_field(out, "peer_subject", e->tls.peer_subject, true);
		json_field(out, "peer_sha256", e->tls.peer_sha256, true);
		json_field(out, "verify", e->tls.verify, true);
		fprintf(out, "\"domain_secured\":%s,", e->tls.domain_secured ? "true" : "false");
		json_field(out, "domain", e->tls.domain, false);
		spool_flags_format(e->flags, words, sizeof(words));
		fputs("},\"flags\":", out);
		json_put_string(out, words);
		if (e->next_attempt == INT64_MAX)
			fputs(",\"next_attempt\":null,\"recipients\":[", out);
		else
			fprintf(out, ",\"next_attempt\":%" PRId64 ",\"recipients\":[",
			    e->next_attempt);
		for (size_t r = 0; r < e->nrcpts; r++) {
			const struct spool_rcpt *rc = &e->rcpts[r];

			fputs(r ? ",{" : "{", out);
			json_field(out, "address", rc->addr, true);
			fprintf(out, "\"state\":\"%s\",\"attempts\":%u,"
			    "\"next_attempt\":%" PRId64 ",", spool_rcpt_state_name(rc->state),
			    rc->attempts, rc->next_attempt);
			json_field(out, "last_error", rc->last_error, false);
			fputc('}', out);
		}
		fputs("]}", out);
	}
	fputs("\n]}\n", out);
}

static int
cmp_id(const void *a, const void *b)
{
	return strcmp(((const struct spool_envelope *)a)->id,
	    ((const struct spool_envelope *)b)->id);
}

/* --- commands --- */

/* dsmtpc queue [--json]: every message in arrival order */
static int
cmd_queue(int argc, char **argv, const char *config_path)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	struct spool_envelope *envs;
	struct dsmtp_err err;
	struct spool *sp;
	bool json = false;
	size_t n;
	int ch, rc = 0;

	while ((ch = getopt_long(argc, argv, "jh", opts, NULL)) != -1) {
		switch (ch) {
		case 'j':
			json = true;
			break;
		case 'h':
			printf("Usage: dsmtpc [-c FILE] queue [--json]\n"
			    "List every message in the spool: id, age, size, sender, the\n"
			    "receiving session, and per recipient its state, attempts and\n"
			    "last error.\n");
			return 0;
		default:
			return EX_DSMTP_USAGE;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "%s: queue: unexpected argument '%s'\n", diag_progname(),
		    argv[optind]);
		return EX_DSMTP_USAGE;
	}
	if ((sp = open_spool(config_path, &rc)) == NULL)
		return rc;
	if (spool_list(sp, &envs, &n, &err) < 0) {
		fprintf(stderr, "%s: %s\n", diag_progname(), err.msg);
		spool_close(sp);
		return EX_DSMTP_IOERR;
	}
	if (n > 1)
		qsort(envs, n, sizeof(*envs), cmp_id);
	if (json)
		print_json(stdout, envs, n, (int64_t)time(NULL));
	else
		print_human(stdout, envs, n, (int64_t)time(NULL));
	spool_list_free(envs, n);
	spool_close(sp);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, "%s: writing the listing: %s\n", diag_progname(), strerror(errno));
		return EX_DSMTP_IOERR;
	}
	return 0;
}

/* dsmtpc flush: dsmtpc run sees each rewritten envelope land in queue/
 * (inotify IN_MOVED_TO) and tries it at once */
static int
cmd_flush(int argc, char **argv, const char *config_path)
{
	static const struct option opts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	struct dsmtp_err err;
	struct spool *sp;
	size_t flushed, busy;
	int ch, rc = 0;

	while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (ch == 'h') {
			printf("Usage: dsmtpc [-c FILE] flush\n"
			    "Make every deferred recipient of every message due now.\n");
			return 0;
		}
		return EX_DSMTP_USAGE;
	}
	if (optind != argc) {
		fprintf(stderr, "%s: flush: unexpected argument '%s'\n", diag_progname(),
		    argv[optind]);
		return EX_DSMTP_USAGE;
	}
	if ((sp = open_spool(config_path, &rc)) == NULL)
		return rc;
	if (spool_flush_all(sp, &flushed, &busy, &err) < 0) {
		fprintf(stderr, "%s: flush: %s\n", diag_progname(), err.msg);
		spool_close(sp);
		return EX_DSMTP_IOERR;
	}
	spool_close(sp);
	printf("flushed %zu message%s", flushed, flushed == 1 ? "" : "s");
	if (busy > 0)
		printf("; %zu being delivered right now, left as they are", busy);
	printf("\n");
	return 0;
}

int
main(int argc, char **argv)
{
	return cli_dispatch(argc, argv,
	    "Usage: dsmtpc [-c FILE] [COMMAND] [ARGS]\n"
	    "Deliver mail from the dsmtp spool.", smtpc_cmds, "run");
}
