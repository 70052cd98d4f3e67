/* hooks.c: dsmtpd's wiring of protocol logs, TLS and policy into the SMTP
 * session: what gets logged at each step, which facts the policy judges,
 * the per-session summary line on stderr. */
#include "autoconfig.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/diag.h"
#include "logs/plog.h"
#include "policy/policy.h"
#include "smtpd/hooks.h"
#include "smtpd/smtpd.h"

static struct plog_session *
plog_sess(struct smtpd_session *s)
{
	return s->log;
}

uint64_t
smtpd_hook_new_id(void)
{
	return plog_new_session_id();
}

void
smtpd_hook_connect(struct smtpd_session *s)
{
	struct plog_session *ps = calloc(1, sizeof(*ps));

	s->log = ps;
	if (ps == NULL)
		return;
	ps->id = s->id;
	snprintf(ps->connector, sizeof(ps->connector), "dsmtpd %.50s", s->local);
	snprintf(ps->local, sizeof(ps->local), "%.63s", s->local);
	snprintf(ps->remote, sizeof(ps->remote), "%.63s", s->peer);
	plog_peer_decide(&s->srv->cfg, ps, (const struct sockaddr *)&s->conn->peer, NULL, 0);
	plog_connect(s->srv->plog, ps);
}

void
smtpd_hook_disconnect(struct smtpd_session *s, const char *reason)
{
	smtpd_metrics_session_end(s);
	if (s->log == NULL)
		return;
	plog_disconnect(s->srv->plog, plog_sess(s), reason);
	free(s->log);
	s->log = NULL;
}

void
smtpd_hook_sent(struct smtpd_session *s, const char *line, size_t len)
{
	smtpd_metrics_reply(s, line, len);
	if (s->log)
		plog_sent(s->srv->plog, plog_sess(s), line, len);
}

/* logs.peers: the client names itself (EHLO, HELO) or its sender's
 * domain (MAIL FROM): the session's log level anew, before the command is
 * logged; its address was judged at connect */
static void
peer_level(struct smtpd_session *s, const char *line)
{
	const struct dsmtp_config *cfg = &s->srv->cfg;
	const char *args, *params, *names[2] = { s->helo, NULL };
	struct smtp_path from;
	char verb[16], helo[sizeof(s->helo)], reply[256];
	size_t n;

	if (cfg->logs.npeers == 0 || s->log == NULL ||
	    smtp_cmd_verb(line, verb, sizeof(verb), &args) == 0)
		return;
	if (strcmp(verb, "EHLO") == 0 || strcmp(verb, "HELO") == 0) {
		n = strcspn(args, " ");
		snprintf(helo, sizeof(helo), "%.*s", (int)(n < sizeof(helo) ? n : sizeof(helo) - 1),
		    args);
		names[0] = helo;
	} else if (strcmp(verb, "MAIL") == 0 &&
	    smtp_cmd_path(args, "FROM", &from, &params, reply, sizeof(reply)) == 0 && !from.null)
		names[1] = from.domain;
	else
		return;
	plog_peer_decide(cfg, plog_sess(s), (const struct sockaddr *)&s->conn->peer, names, 2);
}

void
smtpd_hook_received(struct smtpd_session *s, const char *line, size_t len)
{
	peer_level(s, line);
	if (s->log)
		plog_received(s->srv->plog, plog_sess(s), line, len);
}

void
smtpd_hook_state(struct smtpd_session *s, const char *from, const char *to)
{
	/* the state trace, as dsmtpc's (DSMTP_DEBUG; common/diag.c) */
	diag_debug("%016llx %s: state %s -> %s", (unsigned long long)s->id, s->peer, from, to);
}

void
smtpd_hook_info(struct smtpd_session *s, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (s->log)
		plog_info(s->srv->plog, plog_sess(s), "", "%s", msg);
	diag_info("%016llx %s: %s", (unsigned long long)s->id, s->peer, msg);
}

int
smtpd_hook_starttls(struct smtpd_session *s, char *why, size_t len)
{
	struct dsmtp_err err;

	if (tls_conn_server(s->conn, s->srv->creds, s->srv->cfg.receive.request_client_cert, &err) < 0) {
		snprintf(why, len, "%s", err.msg);
		smtpd_hook_info(s, "STARTTLS refused: %s", err.msg);
		return -1;
	}
	/* the session's TLS facts point into these credentials: keep them
	 * until the session ends, whatever a SIGHUP does meanwhile */
	s->creds = tls_creds_ref(s->srv->creds);
	return 0;
}

/* the stderr summary line, in the shape Postfix administrators grep for */
static void
tls_summary(struct smtpd_session *s)
{
	const struct tls_session_facts *f = &s->tls;

	diag_info("%s TLS connection established from %s[%s]: %s with cipher %s (%u/%u bits)%s%s%s"
	    " session=%016llx",
	    tls_trust_word(f, false), s->helo[0] ? s->helo : "unknown", s->peer, f->version,
	    f->cipher, f->cipher_bits, f->cipher_bits,
	    f->peer.present ? " client-cert=\"" : "", f->peer.present ? f->peer.leaf.subject : "",
	    f->peer.present ? "\"" : "", (unsigned long long)s->id);
}

/* the trust.pins set the client's certificate matches (direct trust),
 * so logs and the Received header can say "pin=hub" next to the chain */
static void
peer_pin_name(const struct dsmtp_config *cfg, const struct tls_cert_facts *f, char *out,
    size_t len)
{
	out[0] = '\0';
	for (size_t i = 0; i < cfg->trust.npins; i++)
		for (size_t k = 0; k < cfg->trust.pins[i].pins.n; k++)
			if (policy_pin_matches(cfg->trust.pins[i].pins.v[k], f)) {
				snprintf(out, len, "%s", cfg->trust.pins[i].name);
				return;
			}
}

void
smtpd_hook_tls_ready(struct smtpd_session *s)
{
	if (tls_conn_facts(s->conn, &s->tls) < 0) {
		smtpd_hook_info(s, "TLS facts unavailable");
		return;
	}
	s->has_tls_facts = true;
	/* the certificate actually sent (SNI may have chosen another) */
	if (s->log && s->tls.local)
		plog_local_cert(s->srv->plog, plog_sess(s), s->tls.local, s->tls.local_why);
	if (s->tls.peer.present)
		peer_pin_name(&s->srv->cfg, &s->tls.peer.leaf, s->peer_pin, sizeof(s->peer_pin));
	if (s->log) {
		plog_tls(s->srv->plog, plog_sess(s), &s->tls);
		if (s->tls.peer.present)
			plog_verification(s->srv->plog, plog_sess(s), s->tls.peer.chain_reason,
			    "-", s->peer_pin[0] ? s->peer_pin : "none");
	}
	smtpd_metrics_tls(s);
	tls_summary(s);
}

int
smtpd_hook_sender_policy(struct smtpd_session *s, const struct smtp_path *from, char *reply,
    size_t rl)
{
	const struct dsmtp_config *cfg = &s->srv->cfg;
	struct policy_verdict v;
	bool tls = (s->flags & SESS_TLS) != 0;

	if (from->null || !policy_receive_requires(cfg, from->domain))
		return 0;
	policy_judge_receive_sender(cfg, from->domain, tls,
	    tls && s->has_tls_facts ? &s->tls.peer : NULL, &v);
	if (s->log)
		plog_policy(s->srv->plog, plog_sess(s), "domain-secure", from->domain, v.pass, v.reason);
	if (!v.pass) {
		snprintf(reply, rl, "%s", v.reply[0] ? v.reply :
		    "451 4.7.1 Domain-secure sender refused");
		smtpd_hook_info(s, "domain-secure sender %s refused: %s", from->domain, v.reason);
		return -1;
	}
	return 1;
}

int
smtpd_hook_relay(struct smtpd_session *s, struct smtp_path *to, char *reply, size_t rl)
{
	const struct dsmtp_config *cfg = &s->srv->cfg;
	enum policy_relay r;
	char why[256];

	if (to->postmaster && !to->domain[0]) {
		/* RFC 5321 4.5.1: <postmaster> is always accepted, for us */
		snprintf(to->domain, sizeof(to->domain), "%s", cfg->hostname);
		snprintf(to->addr, sizeof(to->addr), "postmaster@%s", cfg->hostname);
		return 0;
	}
	r = policy_relay_check(cfg, (const struct sockaddr *)&s->conn->peer,
	    s->has_tls_facts && s->tls.peer.present ? &s->tls.peer : NULL,
	    to->domain_literal ? "" : to->domain, why, sizeof(why));
	if (s->log)
		plog_info(s->srv->plog, plog_sess(s), "Relay", "rcpt=%s; result=%s; reason=%s",
		    to->addr, policy_relay_name(r), why);
	if (r == POLICY_RELAY_DENIED) {
		snprintf(reply, rl, "554 5.7.1 <%.256s>: Relay access denied", to->addr);
		return -1;
	}
	if (to->trick && r == POLICY_RELAY_ACCEPTED_DOMAIN) {
		/* "u%other@ours": a next hop that honours the % hack would relay */
		snprintf(reply, rl, "553 5.7.1 <%.256s>: '%%', '!' and '@' in the local part are "
		    "accepted only from relay clients", to->addr);
		return -1;
	}
	return 0;
}
