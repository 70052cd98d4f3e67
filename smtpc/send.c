/* send.c: `dsmtpc send`, one message from stdin to one server now,
 * without the spool (DESIGN.md section 4): the same client session as the
 * daemon, a level and pins from the command line (or the route of the
 * recipient domain), the TLS facts printed, and an exit code a script can
 * act on: 0 accepted, 75 temporary failure, 69 permanent failure. */
#include "autoconfig.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/diag.h"
#include "smtpc/smtpc.h"

#define SEND_MAX_RCPTS	1000
#define SEND_MAX_PINS	16
#define SEND_MAX_BYTES	(256u * 1024 * 1024)

static void
usage(FILE *out)
{
	fprintf(out,
	    "Usage: dsmtpc [-c FILE] send --server HOST:PORT --from A --to B [--to C]\n"
	    "       [--tls LEVEL] [--pin PIN] [--domain D] [--client-cert F --client-key F]\n"
	    "       < message\n"
	    "Send one message now, without the spool, and print the TLS facts.\n"
	    "LEVEL: none, opportunistic, mandatory, verify, domain-secure, pinned\n"
	    "(default: the route's level for the recipient domain; pinned with --pin).\n"
	    "Exit: 0 accepted, 75 temporary failure, 69 permanent failure.\n");
}

struct send_state {
	struct ev_loop	*loop;
	bool		 done;
};

static void
send_done(struct smtpc_job *j)
{
	struct send_state *st = j->arg;

	st->done = true;
	ev_break(st->loop, EVBREAK_ALL);
}

static int
read_stdin(char **out, size_t *outlen)
{
	size_t cap = 65536, len = 0;
	char *buf = malloc(cap);

	if (buf == NULL)
		return -1;
	for (;;) {
		ssize_t n;

		if (len == cap) {
			char *t;

			if (cap >= SEND_MAX_BYTES) {
				free(buf);
				errno = EFBIG;
				return -1;
			}
			if ((t = realloc(buf, cap * 2)) == NULL) {
				free(buf);
				return -1;
			}
			buf = t;
			cap *= 2;
		}
		n = read(STDIN_FILENO, buf + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			free(buf);
			return -1;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	*out = buf;
	*outlen = len;
	return 0;
}

/* "host:port", "[v6]:port", "host" -> a [host]:port hop */
static int
parse_server(const char *s, struct addr_hop *hop, struct dsmtp_err *err)
{
	char tmp[600];
	const char *colon = strrchr(s, ':');

	if (s[0] == '[')
		snprintf(tmp, sizeof(tmp), "%s", s);
	else if (colon && strchr(s, ':') == colon)
		snprintf(tmp, sizeof(tmp), "[%.*s]%s", (int)(colon - s), s, colon);
	else
		snprintf(tmp, sizeof(tmp), "[%s]", s);
	return addr_parse_hop(tmp, hop, err);
}

static void
replace_cert(struct dsmtp_config *cfg, const char *cert, const char *key)
{
	for (size_t i = 0; i < cfg->ncertificates; i++) {
		free(cfg->certificates[i].cert);
		free(cfg->certificates[i].key);
	}
	free(cfg->certificates);
	cfg->certificates = calloc(1, sizeof(*cfg->certificates));
	if (cfg->certificates == NULL ||
	    (cfg->certificates[0].cert = strdup(cert)) == NULL ||
	    (cfg->certificates[0].key = strdup(key)) == NULL)
		diag_fatalx(EX_DSMTP_OSERR, "out of memory");
	cfg->ncertificates = 1;
	/* a certificate named on the command line is meant to be presented */
	cfg->send.client_cert = true;
}

int
smtpc_cmd_send(int argc, char **argv, const char *config_path)
{
	static const struct option opts[] = {
		{ "server", required_argument, NULL, 's' },
		{ "from", required_argument, NULL, 'f' },
		{ "to", required_argument, NULL, 't' },
		{ "tls", required_argument, NULL, 'l' },
		{ "pin", required_argument, NULL, 'p' },
		{ "domain", required_argument, NULL, 'd' },
		{ "client-cert", required_argument, NULL, 'C' },
		{ "client-key", required_argument, NULL, 'K' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	struct dsmtp_config cfg;
	struct smtpc ctx;
	struct smtpc_job job;
	struct send_state st;
	struct addr_hop hop;
	struct policy_effective eff;
	struct cfg_pinref pinrefs[SEND_MAX_PINS];
	char pinbuf[SEND_MAX_PINS][128];
	char *rcpts[SEND_MAX_RCPTS];
	struct dsmtp_err err = { "" };
	const char *server = NULL, *from = NULL, *level_s = NULL, *domain = NULL;
	const char *cert = NULL, *key = NULL;
	const struct cfg_pinref *pins = NULL;
	size_t nrcpts = 0, npins = 0, npinrefs = 0;
	enum dsmtp_level level;
	struct smtpc_dest *d;
	char *data = NULL;
	size_t len = 0;
	int ch, rc = 0;
	bool temp = false, perm = false, with_cert;

	while ((ch = getopt_long(argc, argv, "s:f:t:l:p:d:C:K:h", opts, NULL)) != -1) {
		switch (ch) {
		case 's': server = optarg; break;
		case 'f': from = optarg; break;
		case 't':
			if (nrcpts == SEND_MAX_RCPTS) {
				fprintf(stderr, "dsmtpc send: at most %d --to\n", SEND_MAX_RCPTS);
				return EX_DSMTP_USAGE;
			}
			rcpts[nrcpts++] = optarg;
			break;
		case 'l': level_s = optarg; break;
		case 'p':
			if (npins == SEND_MAX_PINS) {
				fprintf(stderr, "dsmtpc send: at most %d --pin\n", SEND_MAX_PINS);
				return EX_DSMTP_USAGE;
			}
			if (config_pin_normalise(optarg, pinbuf[npins], sizeof(pinbuf[npins]),
			    &err) < 0) {
				fprintf(stderr, "dsmtpc send: --pin %s: %s\n", optarg, err.msg);
				return EX_DSMTP_USAGE;
			}
			npins++;
			break;
		case 'd': domain = optarg; break;
		case 'C': cert = optarg; break;
		case 'K': key = optarg; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return EX_DSMTP_USAGE;
		}
	}
	if (server == NULL || from == NULL || nrcpts == 0 || optind < argc ||
	    (cert == NULL) != (key == NULL)) {
		usage(stderr);
		return EX_DSMTP_USAGE;
	}
	if (parse_server(server, &hop, &err) < 0) {
		fprintf(stderr, "dsmtpc send: --server %s: %s\n", server, err.msg);
		return EX_DSMTP_USAGE;
	}
	config_load_or_exit(config_path, &cfg);
	if (cert)
		replace_cert(&cfg, cert, key);
	if (domain == NULL) {
		const char *at = strrchr(rcpts[0], '@');

		domain = at ? at + 1 : cfg.hostname;
	}
	/* the route's level and pins for the domain, unless given */
	if (policy_effective(&cfg, domain, &eff, &err) < 0) {
		fprintf(stderr, "dsmtpc send: --domain %s: %s\n", domain, err.msg);
		config_free(&cfg);
		return EX_DSMTP_USAGE;
	}
	level = eff.level;
	pins = eff.pins;
	npinrefs = eff.npins;
	if (npins > 0) {
		for (size_t i = 0; i < npins; i++) {
			memset(&pinrefs[i], 0, sizeof(pinrefs[i]));
			pinrefs[i].name = pinbuf[i];
		}
		pins = pinrefs;
		npinrefs = npins;
		level = LEVEL_PINNED;
	}
	if (level_s && config_level_parse(level_s, &level) < 0) {
		fprintf(stderr, "dsmtpc send: --tls %s: unknown level (none, opportunistic, "
		    "mandatory, verify, domain-secure, pinned, dane, dane-only)\n", level_s);
		config_free(&cfg);
		return EX_DSMTP_USAGE;
	}
	/* DESIGN.md 13.4: started as root, this process only reads the key
	 * files and waits; a child speaks SMTP as `user` (smtpc/privsep.c) */
	if (smtpc_privsep(&cfg, &rc) != 0) {
		config_free(&cfg);
		return rc;
	}
	if (read_stdin(&data, &len) < 0) {
		fprintf(stderr, "dsmtpc send: reading the message from stdin: %s\n",
		    strerror(errno));
		config_free(&cfg);
		return EX_DSMTP_NOINPUT;
	}
	signal(SIGPIPE, SIG_IGN);
	st.loop = ev_loop_new(EVFLAG_AUTO);
	st.done = false;
	if (st.loop == NULL)
		diag_fatalx(EX_DSMTP_OSERR, "cannot initialise libev");
	/* our certificate when the server asks, as the daemon does
	 * (send.client_cert, DESIGN.md section 5): given, needed for mutual
	 * TLS, or simply there; with none at all only domain-secure says so */
	with_cert = cert != NULL || level == LEVEL_DOMAIN_SECURE;
	if (!with_cert && cfg.send.client_cert) {
		struct tls_selected sel;
		struct dsmtp_err e2 = { "" };

		if (tls_store_select(&cfg, NULL, &sel, &e2) == 0) {
			tls_selected_free(&sel);
			with_cert = true;
		}
	}
	if (smtpc_ctx_init(&ctx, st.loop, &cfg, with_cert, &err) < 0) {
		fprintf(stderr, "dsmtpc send: %s\n", err.msg);
		ev_loop_destroy(st.loop);
		free(data);
		config_free(&cfg);
		return EX_DSMTP_CONFIG;
	}
	ctx.print_facts = true;
	/* a one-shot to a named server at a named level: the security memory
	 * (DESIGN.md 13.3) is for deliveries dsmtpc routes itself */
	ctx.no_memory = true;
	memset(&job, 0, sizeof(job));
	job.sender = from;
	job.rcpts = rcpts;
	job.nrcpts = nrcpts;
	job.data = data;
	job.dlen = job.len = len;
	job.body_fd = -1;
	job.done = send_done;
	job.arg = &st;
	if ((job.res = calloc(nrcpts, sizeof(*job.res))) == NULL)
		diag_fatalx(EX_DSMTP_OSERR, "out of memory");
	printf("server: %s, level %s, domain %s\n", server, config_level_name(level), domain);
	fflush(stdout);
	d = smtpc_dest_get(&ctx, &hop, level, domain, pins, npinrefs);
	if (d == NULL)
		diag_fatalx(EX_DSMTP_OSERR, "out of memory");
	smtpc_dest_submit(d, &job);
	if (!st.done)
		ev_run(st.loop, 0);
	for (size_t i = 0; i < nrcpts; i++) {
		const struct smtpc_result *r = &job.res[i];
		const char *word = !r->done ? "not attempted" : r->st == SMTPC_OK ? "sent" :
		    r->st == SMTPC_PERM ? "failed" : "deferred";

		printf("<%s>: %s (%s)%s%s\n", rcpts[i], word, r->done ? r->text : "",
		    r->mta[0] ? " via " : "", r->mta);
		if (!r->done || r->st == SMTPC_TEMP)
			temp = true;
		else if (r->st == SMTPC_PERM)
			perm = true;
	}
	rc = temp ? EX_DSMTP_TEMPFAIL : perm ? EX_DSMTP_UNAVAILABLE : 0;
	/* the QUIT goes out and its reply is read before we leave */
	ctx.idle = NULL;
	while (ctx.nsessions > 0 && ev_run(st.loop, EVRUN_ONCE))
		;
	smtpc_ctx_free(&ctx);
	ev_loop_destroy(st.loop);
	free(job.res);
	free(data);
	config_free(&cfg);
	return rc;
}
