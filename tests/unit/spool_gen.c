/* spool_gen.c: a test-only spool writer for the integration tests (dsmtpd
 * does not write the spool yet). Writes one message through the real
 * spool API and prints its id. Not installed.
 *
 * spool_gen [--async | --v1] QUEUE_DIR [--from A] [--size N] [--subject S] [--client S]
 *     [--body-file F] [--count N] [--ehlo S] [--session HEX] [--tls-version S] [--tls-cipher S]
 *     [--tls-subject S] [--tls-sha256 S] [--tls-verify S]
 *     [--domain-secured D] [--arrival-ago SECS]
 *     --to ADDR [--state S] [--attempts N] [--next +/-SECS] [--error TEXT]
 *     [--to ADDR ...]
 * --state, --attempts, --next and --error apply to the last --to.
 * --v1: written in spool format version 1 (two files, as dsmtpd did before
 * the one-file format), for the upgrade tests.
 * Each message is "Subject: S\r\n\r\n" and a body of --size generated
 * octets (no line breaks: runs of one letter), or with --body-file the
 * file's bytes, exactly (--size ignored). --count N: N messages with the
 * same envelope, the k-th with subject "S k", one id per line (the
 * streamed-delivery test spools 100 large messages in one run). */
#include "autoconfig.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <ev.h>

#include "common/spool.h"

#define MAX_RCPTS	64
#define MAX_BODY	(1ull << 30)	/* --body-file: 1 GiB at most */

static int	done_rc = 1;
static char	done_id[SPOOL_ID_SIZE];

static void
done(void *arg, int rc, const char *id, const char *why)
{
	done_rc = rc;
	snprintf(done_id, sizeof(done_id), "%s", id);
	if (rc != 0)
		fprintf(stderr, "spool_gen: commit failed: %s\n", why);
}

/* the whole of a file into memory (for --body-file) */
static char *
read_file(const char *path, size_t *lenp)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t len = 0, cap = 0;

	if (f == NULL) {
		fprintf(stderr, "spool_gen: %s: %s\n", path, strerror(errno));
		return NULL;
	}
	for (;;) {
		size_t n;

		if (cap - len < 65536) {
			char *nb;

			if (cap >= MAX_BODY || (nb = realloc(buf, cap ? 2 * cap : 1 << 20)) == NULL) {
				fprintf(stderr, "spool_gen: %s: too large or out of memory\n", path);
				free(buf);
				fclose(f);
				return NULL;
			}
			buf = nb;
			cap = cap ? 2 * cap : 1 << 20;
		}
		n = fread(buf + len, 1, cap - len, f);
		len += n;
		if (n == 0)
			break;
	}
	if (ferror(f)) {
		fprintf(stderr, "spool_gen: %s: read error\n", path);
		free(buf);
		fclose(f);
		return NULL;
	}
	fclose(f);
	*lenp = len;
	return buf;
}

static int
usage(void)
{
	fprintf(stderr, "usage: spool_gen [--async] QUEUE_DIR [options] --to ADDR [...]\n");
	return 64;
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "async", no_argument, NULL, 'A' },
		{ "v1", no_argument, NULL, '1' },
		{ "subject", required_argument, NULL, 'U' },
		{ "body-file", required_argument, NULL, 'B' },
		{ "count", required_argument, NULL, 'N' },
		{ "from", required_argument, NULL, 'f' },
		{ "size", required_argument, NULL, 'z' },
		{ "client", required_argument, NULL, 'c' },
		{ "ehlo", required_argument, NULL, 'h' },
		{ "session", required_argument, NULL, 'S' },
		{ "tls-version", required_argument, NULL, 'v' },
		{ "tls-cipher", required_argument, NULL, 'C' },
		{ "tls-subject", required_argument, NULL, 'j' },
		{ "tls-sha256", required_argument, NULL, 'H' },
		{ "tls-verify", required_argument, NULL, 'V' },
		{ "domain-secured", required_argument, NULL, 'D' },
		{ "arrival-ago", required_argument, NULL, 'a' },
		{ "to", required_argument, NULL, 't' },
		{ "state", required_argument, NULL, 's' },
		{ "attempts", required_argument, NULL, 'n' },
		{ "next", required_argument, NULL, 'x' },
		{ "error", required_argument, NULL, 'e' },
		{ NULL, 0, NULL, 0 }
	};
	struct spool_rcpt rcpts[MAX_RCPTS];
	struct spool_envelope env;
	struct ev_loop *loop = NULL;
	struct dsmtp_err err;
	struct spool_msg *m;
	struct spool *sp;
	unsigned long long size = 1000;
	time_t now = time(NULL);
	bool async = false, v1 = false;
	const char *subject = "spool_gen test", *body_file = NULL;
	unsigned long count = 1;
	char *body = NULL;
	size_t body_len = 0;
	int ch;

	memset(&env, 0, sizeof(env));
	memset(rcpts, 0, sizeof(rcpts));
	env.rcpts = rcpts;
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		struct spool_rcpt *r = env.nrcpts ? &rcpts[env.nrcpts - 1] : NULL;

		switch (ch) {
		case 'A': async = true; break;
		case '1': v1 = true; break;
		case 'U': subject = optarg; break;
		case 'B': body_file = optarg; break;
		case 'N': count = strtoul(optarg, NULL, 10); break;
		case 'f': env.sender = optarg; break;
		case 'z': size = strtoull(optarg, NULL, 10); break;
		case 'c': env.client = optarg; break;
		case 'h': env.ehlo = optarg; break;
		case 'S': env.session_id = strtoull(optarg, NULL, 16); break;
		case 'v': env.tls.version = optarg; break;
		case 'C': env.tls.cipher = optarg; break;
		case 'j': env.tls.peer_subject = optarg; break;
		case 'H': env.tls.peer_sha256 = optarg; break;
		case 'V': env.tls.verify = optarg; break;
		case 'D': env.tls.domain_secured = true; env.tls.domain = optarg; break;
		case 'a': env.arrival = (int64_t)now - strtoll(optarg, NULL, 10); break;
		case 't':
			if (env.nrcpts == MAX_RCPTS)
				return usage();
			rcpts[env.nrcpts++].addr = optarg;
			break;
		case 's':
		case 'n':
		case 'x':
		case 'e':
			if (r == NULL)
				return usage();
			if (ch == 's') {
				int i;

				for (i = 0; i <= SPOOL_RCPT_BOUNCED; i++)
					if (strcmp(optarg, spool_rcpt_state_name(i)) == 0)
						break;
				if (i > SPOOL_RCPT_BOUNCED)
					return usage();
				r->state = (enum spool_rcpt_state)i;
			} else if (ch == 'n')
				r->attempts = (unsigned)strtoul(optarg, NULL, 10);
			else if (ch == 'x')
				r->next_attempt = (int64_t)now + strtoll(optarg, NULL, 10);
			else
				r->last_error = optarg;
			break;
		default:
			return usage();
		}
	}
	if (optind != argc - 1 || env.nrcpts == 0 || count == 0 ||
	    (v1 && (body_file != NULL || count != 1)))
		return usage();
	if (body_file != NULL && (body = read_file(body_file, &body_len)) == NULL)
		return 66;
	if (async && (loop = ev_loop_new(EVFLAG_AUTO)) == NULL)
		return 71;
	if ((sp = spool_open(argv[optind], loop, &err)) == NULL) {
		fprintf(stderr, "spool_gen: %s\n", err.msg);
		return 73;
	}
	if (v1) {
		/* the whole message in memory, then the old two-file writer */
		char *buf, hdr[300];
		int n = snprintf(hdr, sizeof(hdr), "Subject: %s\r\n\r\n", subject);
		size_t len = (size_t)n + (size_t)size;
		char id[SPOOL_ID_SIZE];

		if (n < 0 || (size_t)n >= sizeof(hdr) || (buf = malloc(len + 1)) == NULL)
			return 71;
		memcpy(buf, hdr, (size_t)n);
		for (unsigned long long left = size; left > 0; left--)
			buf[len - left] = (left % 62 == 1) ? '\n' : (left % 62 == 2) ? '\r' :
			    (char)('a' + (int)(left / 62 % 26));
		done_rc = spool_test_write_v1(sp, buf, len, &env, id, &err);
		free(buf);
		spool_close(sp);
		if (done_rc != 0) {
			fprintf(stderr, "spool_gen: %s\n", err.msg);
			return 75;
		}
		printf("%s\n", id);
		return 0;
	}
	for (unsigned long k = 1; k <= count; k++) {
		char line[300];
		unsigned long long left = size;
		int n = count > 1 ? snprintf(line, sizeof(line), "Subject: %s %lu\r\n\r\n", subject, k) :
		    snprintf(line, sizeof(line), "Subject: %s\r\n\r\n", subject);
		bool failed = false;

		if ((m = spool_msg_new(sp, &err)) == NULL) {
			fprintf(stderr, "spool_gen: %s\n", err.msg);
			spool_close(sp);
			free(body);
			return 73;
		}
		if (n < 0 || (size_t)n >= sizeof(line) || spool_msg_write(m, line, (size_t)n) < 0)
			failed = true;
		if (body != NULL && body_len > 0 && spool_msg_write(m, body, body_len) < 0)
			failed = true;
		while (body == NULL && left > 0) {
			size_t w = left < 60 ? (size_t)left : 60;

			memset(line, 'a' + (int)(left % 26), w);
			if (spool_msg_write(m, line, w) < 0)
				failed = true;
			left -= w;
		}
		if (failed) {
			fprintf(stderr, "spool_gen: write failed: %s\n", strerror(errno));
			spool_msg_abort(m);
			spool_close(sp);
			free(body);
			return 74;
		}
		done_rc = 1;
		spool_msg_commit(m, &env, done, NULL);
		if (loop != NULL)
			ev_run(loop, 0);
		if (done_rc != 0)
			break;
		printf("%s\n", done_id);
	}
	spool_close(sp);
	if (loop != NULL)
		ev_loop_destroy(loop);
	free(body);
	return done_rc == 0 ? 0 : 75;
}
