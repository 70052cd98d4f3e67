/* probe.c: `dsmtp-policy probe DOMAIN | [HOST]:PORT`: connect as dsmtpc
 * would (its client engine, this folder), EHLO, STARTTLS, show the offered
 * chain, what DNSSEC said of the MX, address and TLSA records and how each
 * TLSA record met the chain (RFC 7672), and the verdict of every level for
 * that destination, QUIT. Sends no mail. Owns only the command and its
 * output; the judging is policy_judge_every_level(), the talking and the
 * DNS are smtpc's. Lives in smtpc/ because it drives dsmtpc's engine;
 * linked into dsmtp-policy (policy/policy_cmd.h), not into libsmtpc.a. */
#include "autoconfig.h"

#include <arpa/inet.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/cli.h"
#include "common/diag.h"
#include "policy/policy.h"
#include "policy/policy_cmd.h"
#include "smtpc/probe.h"
#include "smtpc/smtpc.h"

struct probe_state {
	struct ev_loop		*loop;
	const struct dsmtp_config *cfg;
	struct policy_dest	 pd;
	enum dsmtp_level	 level;		/* the destination's effective level */
	bool			 seen;
	int			 rc;
};

static void
probe_time(time_t t, char *buf, size_t len)
{
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* DNSSEC at each step, the TLSA records and their match (RFC 7672) */
static void
probe_dane(const struct smtpc_target *t, const struct tls_dane_facts *df)
{
	char rr[120];
	unsigned port = ntohs(t->ss.ss_family == AF_INET6 ?
	    ((const struct sockaddr_in6 *)&t->ss)->sin6_port :
	    ((const struct sockaddr_in *)&t->ss)->sin_port);

	printf("dnssec: MX %s; address records of %s %s\n", t->mx_sec ? t->mx_sec : "-",
	    t->host, t->addr_sec ? t->addr_sec : "-");
	printf("tlsa: _%u._tcp.%s: %s\n", port, t->tlsa_base[0] ? t->tlsa_base : t->host,
	    t->tlsa_sec ? t->tlsa_sec : "-");
	printf("dane: %s%s%s\n", policy_dane_state_name(t->dane),
	    t->dane == POLICY_DANE_FAILED ? ": " : "",
	    t->dane == POLICY_DANE_FAILED ? t->dane_why : "");
	if (t->tlsa == NULL)
		return;
	for (size_t i = 0; i < t->tlsa->n; i++) {
		const struct tls_dane_rr *r = &t->tlsa->rr[i];

		tls_dane_rr_format(r, rr, sizeof(rr));
		printf("  record %zu: %s  %s, %s\n", i + 1, rr, tls_dane_usage_name(r->usage),
		    !tls_dane_rr_usable(r) ? "unusable" : df == NULL || i >= df->n ?
		    "not matched (no TLS handshake)" : df->matched[i] ? (df->depth[i] == 0 ?
		    "matched the certificate" : "matched the chain") : "no match");
	}
}

/* what the session saw: the chain, then every level's verdict */
static void
probe_seen(struct smtpc *ctx, const char *peer, bool offered, const struct tls_session_facts *f,
    const char *why, const struct smtpc_target *t, const struct tls_dane_facts *df)
{
	struct probe_state *ps = ctx->arg;
	struct policy_verdict v[POLICY_NLEVELS];
	char nb[32], na[32];

	if (ps->seen)
		return;		/* the first host that answered is the one judged */
	ps->seen = true;
	printf("connected: %s\n", peer);
	printf("starttls: %s\n", offered ? "offered" : "not offered");
	if (f != NULL) {
		printf("tls: %s, %s (%u bits), key exchange %s\n", f->version, f->cipher,
		    f->cipher_bits, f->kx);
		if (f->peer.present) {
			const struct tls_cert_facts *c = &f->peer.leaf;

			probe_time(c->not_before, nb, sizeof(nb));
			probe_time(c->not_after, na, sizeof(na));
			printf("certificate: %s\n", c->subject);
			printf("  issuer: %s\n", c->issuer);
			printf("  san:");
			for (size_t i = 0; i < c->nsan; i++)
				printf(" %s", c->san[i]);
			printf("%s\n", c->nsan ? "" : " (none)");
			printf("  valid: %s .. %s\n", nb, na);
			printf("  sha256: %s\n", c->sha256);
			printf("  spki: %s\n", c->spki);
			printf("  chain: %zu certificate(s), %s\n", f->peer.chain_len,
			    f->peer.chain_reason[0] ? f->peer.chain_reason :
			    tls_chain_status_name(f->peer.chain));
		} else
			printf("certificate: none offered\n");
	} else if (why)
		printf("tls: %s\n", why);
	if (t != NULL) {
		probe_dane(t, df);
		smtpc_probe_sts_mx(ps->pd.sts, t->host);
		/* the dane levels' verdicts below judge this host's TLSA state,
		 * and every level this host's name, as dsmtpc would */
		ps->pd.dane = t->dane;
		ps->pd.dane_base = t->tlsa_base[0] ? t->tlsa_base : NULL;
		ps->pd.dane_facts = df;
		if (!t->literal)
			ps->pd.hostname = t->host;
	}
	policy_judge_every_level(ps->cfg, &ps->pd, offered, f != NULL, f, v);
	printf("verdicts for %s:\n", ps->pd.domain ? ps->pd.domain : peer);
	for (int l = LEVEL_NONE; l < POLICY_NLEVELS; l++)
		printf("  %-14s %s  %s%s\n", policy_level_name((enum dsmtp_level)l),
		    v[l].pass ? "pass" : "FAIL", v[l].reason,
		    l == (int)ps->level ? "   <- this destination's level" : "");
	ps->rc = v[ps->level].pass ? 0 : EX_DSMTP_UNAVAILABLE;
	fflush(stdout);
}

static void
probe_done(struct smtpc_job *j)
{
	struct probe_state *ps = j->arg;

	ev_break(ps->loop, EVBREAK_ALL);
}

int
smtpc_probe_cmd(int argc, char **argv, const char *config_path)
{
	static const struct option opts[] = {
		{ "level", required_argument, NULL, 'l' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	struct dsmtp_config cfg;
	struct policy_effective e;
	struct probe_state ps;
	struct smtpc ctx;
	struct smtpc_job job;
	struct smtpc_result res;
	struct smtpc_dest *d;
	struct addr_hop hop;
	struct dsmtp_err err = { "" };
	const char *level_s = NULL, *target;
	char rcpt[300], *rcpts[1] = { rcpt };
	const struct cfg_pinref *pins = NULL;
	size_t npins = 0;
	int ch, prc = 0;

	while ((ch = getopt_long(argc, argv, "l:h", opts, NULL)) != -1) {
		switch (ch) {
		case 'l': level_s = optarg; break;
		case 'h':
			printf("Usage: dsmtp-policy [-c FILE] probe DOMAIN | [HOST]:PORT [--level L]\n");
			return 0;
		default:
			fprintf(stderr, "Usage: dsmtp-policy [-c FILE] probe DOMAIN | [HOST]:PORT "
			    "[--level L]\n");
			return EX_DSMTP_USAGE;
		}
	}
	if (optind + 1 != argc) {
		fprintf(stderr, "Usage: dsmtp-policy [-c FILE] probe DOMAIN | [HOST]:PORT [--level L]\n");
		return EX_DSMTP_USAGE;
	}
	target = argv[optind];
	config_load_or_exit(config_path, &cfg);
	memset(&ps, 0, sizeof(ps));
	ps.cfg = &cfg;
	ps.rc = EX_DSMTP_TEMPFAIL;	/* no answer at all */
	if (strchr(target, ':') != NULL) {
		/* a host: [h]:p or h:p, judged without a recipient domain */
		char buf[300];

		snprintf(buf, sizeof(buf), "%s%s", target[0] == '[' ? "" : "[", target);
		if (target[0] != '[') {
			char *c = strrchr(buf, ':');
			memmove(c + 1, c, strlen(c) + 1);
			*c = ']';
		}
		if (addr_parse_hop(buf, &hop, &err) < 0 || hop.kind != HOP_HOSTPORT) {
			fprintf(stderr, "%s: probe %s: %s\n", diag_progname(), target, err.msg);
			config_free(&cfg);
			return EX_DSMTP_USAGE;
		}
		ps.level = cfg.send.tls;
		snprintf(rcpt, sizeof(rcpt), "postmaster@%s", hop.host);
	} else {
		if (policy_effective(&cfg, target, &e, &err) < 0) {
			fprintf(stderr, "%s: probe %s: %s\n", diag_progname(), target, err.msg);
			config_free(&cfg);
			return EX_DSMTP_DATAERR;
		}
		if (e.hop.kind != HOP_HOSTPORT && e.hop.kind != HOP_MX) {
			fprintf(stderr, "%s: probe %s: the route delivers locally (%s); nothing to probe\n",
			    diag_progname(), target, e.hop.kind == HOP_MAILDIR ? "maildir" : "discard");
			config_free(&cfg);
			return EX_DSMTP_DATAERR;
		}
		hop = e.hop;
		ps.level = e.level;
		pins = e.pins;
		npins = e.npins;
		ps.pd.domain = target;
		snprintf(rcpt, sizeof(rcpt), "postmaster@%s", target);
	}
	if (level_s && config_level_parse(level_s, &ps.level) < 0) {
		fprintf(stderr, "%s: probe: --level %s: unknown level\n", diag_progname(), level_s);
		config_free(&cfg);
		return EX_DSMTP_USAGE;
	}
	ps.pd.level = ps.level;
	ps.pd.hostname = hop.host;
	ps.pd.pins = pins;
	ps.pd.npins = npins;
	/* DESIGN.md 13.4: started as root, this process only reads the key
	 * files and waits; a child probes as `user`, the key in the key
	 * process (smtpc/privsep.c, as dsmtpc send) */
	if (smtpc_privsep(&cfg, &prc) != 0) {
		config_free(&cfg);
		return prc;
	}
	signal(SIGPIPE, SIG_IGN);
	if ((ps.loop = ev_loop_new(EVFLAG_AUTO)) == NULL)
		diag_fatalx(EX_DSMTP_OSERR, "cannot initialise libev");
	/* our certificate is presented, so mutual-TLS servers show their hand */
	if (smtpc_ctx_init(&ctx, ps.loop, &cfg, true, &err) < 0 &&
	    smtpc_ctx_init(&ctx, ps.loop, &cfg, false, &err) < 0) {
		fprintf(stderr, "%s: probe: %s\n", diag_progname(), err.msg);
		ev_loop_destroy(ps.loop);
		config_free(&cfg);
		return EX_DSMTP_CONFIG;
	}
	ctx.probe = probe_seen;
	ctx.arg = &ps;
	/* RFC 8461: the policy first, as dsmtpc looks it up; its verdicts below */
	if (ps.pd.domain)
		ps.pd.sts = smtpc_probe_sts(&ctx, ps.loop, &e);
	memset(&job, 0, sizeof(job));
	memset(&res, 0, sizeof(res));
	job.sender = "";
	job.rcpts = rcpts;
	job.nrcpts = 1;
	job.data = "";
	job.dlen = job.len = 0;
	job.body_fd = -1;
	job.res = &res;
	job.done = probe_done;
	job.arg = &ps;
	/* the session must reach STARTTLS: at least opportunistic */
	d = smtpc_dest_get(&ctx, &hop, ps.level > LEVEL_OPPORTUNISTIC ? ps.level : LEVEL_OPPORTUNISTIC,
	    ps.pd.domain ? ps.pd.domain : "", pins, npins);
	if (d == NULL)
		diag_fatalx(EX_DSMTP_OSERR, "out of memory");
	smtpc_dest_submit(d, &job);
	ev_run(ps.loop, 0);
	if (!ps.seen)
		printf("no answer: %s\n", res.done ? res.text : "not reached");
	ctx.idle = NULL;
	while (ctx.nsessions > 0 && ev_run(ps.loop, EVRUN_ONCE))
		;
	smtpc_ctx_free(&ctx);
	ev_loop_destroy(ps.loop);
	config_free(&cfg);
	return ps.rc;
}
