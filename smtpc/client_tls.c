/* client_tls.c: the TLS side of a client session: STARTTLS as the
 * destination's level demands (DESIGN.md section 6), the handshake's
 * facts and policy/'s verdict on them, DANE (RFC 7672: the TLSA match,
 * the MX hosts not used) and MTA-STS (RFC 8461) skips, the opportunistic
 * plaintext retry, the RFC 8460 outcome of each attempt, and the TLS
 * lines of the protocol log, stderr and `dsmtpc send`. The session core
 * (client.c) calls in when EHLO is answered, at 220 to STARTTLS and when
 * the handshake ends. */
#include "autoconfig.h"

#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/conn.h"
#include "common/diag.h"
#include "logs/plog.h"
#include "smtpc/client_int.h"
#include "smtpc/requiretls.h"
#include "smtpc/smtpc.h"
#include "smtpc/tlsrpt.h"

/* the port a target is reached on (the TLSA owner's _PORT label) */
static unsigned
target_port(const struct smtpc_target *t)
{
	return ntohs(t->ss.ss_family == AF_INET6 ?
	    ((const struct sockaddr_in6 *)&t->ss)->sin6_port :
	    ((const struct sockaddr_in *)&t->ss)->sin_port);
}

/* RFC 8460: one attempt's TLS outcome, success or failure, into the
 * protocol log (smtpc/tlsrpt.c); not for level none, nor probes, and once
 * per connection */
void
smtpc_sess_tls_report(struct smtpc_session *s, const struct smtpc_target *t, const char *type,
    const char *reason)
{
	if (!s->logging || s->reported || s->dest->level == LEVEL_NONE || s->ctx->probe != NULL)
		return;
	s->reported = true;
	tlsrpt_record(s->ctx->plog, &s->log, s->dest, t, type, s->helo, reason);
}

/* a DANE MX host given up before connecting: a protocol-log session of
 * '*' records and a '-' without a '+', so the failure is on record */
static void
dane_log_skip(struct smtpc_session *s, const struct smtpc_target *t, const char *reason)
{
	char a[80];

	s->log.id = s->id;
	snprintf(s->log.connector, sizeof(s->log.connector), "dsmtpc %.55s", s->dest->hop.host);
	snprintf(s->log.local, sizeof(s->log.local), "-");
	conn_format_addr(&t->ss, a, sizeof(a));
	snprintf(s->log.remote, sizeof(s->log.remote), "%.63s", a);
	plog_begin(&s->log);
	s->logging = true;
	s->reported = false;
	plog_info(s->ctx->plog, &s->log, "Next hop", "host=%s; level=%s; domain=%s", t->host,
	    config_level_name(s->dest->level), s->dest->domain[0] ? s->dest->domain : "-");
	plog_info(s->ctx->plog, &s->log, "DANE", "tlsa=_%u._tcp.%s; %s", target_port(t),
	    t->tlsa_base[0] ? t->tlsa_base : t->host, t->dane == POLICY_DANE_FAILED ?
	    t->dane_why : policy_dane_state_name(t->dane));
	plog_policy(s->ctx->plog, &s->log, config_level_name(s->dest->level),
	    s->dest->domain[0] ? s->dest->domain : "-", false, reason);
	smtpc_sess_tls_report(s, t, policy_dane_result_type(reason), reason);
	plog_disconnect(s->ctx->plog, &s->log, "DANE: MX host not used, not connected");
	s->logging = false;
}

/* RFC 7672 2.2: a host whose TLSA lookup failed or was bogus is not used,
 * nor, at dane-only, one without secure TLSA records; true = skip it */
static bool
dane_skip(struct smtpc_session *s, const struct smtpc_target *t)
{
	/* a probe sends no mail: it connects anyway and shows the verdict */
	if (!policy_level_dane(s->dest->level) || s->ctx->probe != NULL)
		return false;
	if (t->dane == POLICY_DANE_FAILED) {
		smtpc_sess_failure(s, SMTPC_TEMP, "4.7.5", "DANE: %s: %s", t->host, t->dane_why);
		diag_info("%016llx %s: %s", (unsigned long long)s->id, t->host, s->fail_text);
		/* the words policy_judge_dane() gives this state */
		dane_log_skip(s, t, "dnssec-invalid: TLSA lookup failed or bogus: this MX host "
		    "is not used");
		return true;
	}
	if (t->dane == POLICY_DANE_INSECURE && s->dest->level == LEVEL_DANE_ONLY) {
		smtpc_sess_failure(s, SMTPC_TEMP, "4.7.5", "DANE: %s has no secure TLSA records "
		    "(level dane-only)", t->host);
		diag_info("%016llx %s: %s", (unsigned long long)s->id, t->host, s->fail_text);
		dane_log_skip(s, t, "dane-insecure: no secure TLSA records (level dane-only)");
		return true;
	}
	return false;
}

/* RFC 8461 4.1: mode enforce uses only the MX hosts the policy names */
static bool
sts_skip(struct smtpc_session *s, const struct smtpc_target *t)
{
	char why[400];

	if (s->sts == NULL || !smtpc_sts_skip(s->ctx, s->id, s->dest, t, s->sts, why, sizeof(why)))
		return false;
	smtpc_sess_failure(s, SMTPC_TEMP, "4.7.5", "%s", why);
	diag_info("%016llx %s: %s", (unsigned long long)s->id, t->host, why);
	return true;
}

/* ---- TLS ---- */

/* what the policy judges: level, recipient domain, host name, pins */
void
smtpc_sess_dest_of(struct smtpc_session *s, struct policy_dest *pd)
{
	const struct smtpc_target *t = &s->targets[s->ti];

	memset(pd, 0, sizeof(*pd));
	pd->level = s->dest->level;
	pd->domain = s->dest->domain[0] ? s->dest->domain : NULL;
	pd->hostname = t->literal ? NULL : t->host;
	pd->pins = s->dest->pins;
	pd->npins = s->dest->npins;
	pd->sts = s->sts;
	if (policy_level_dane(pd->level)) {
		pd->dane = t->dane;
		pd->dane_base = t->tlsa_base[0] ? t->tlsa_base : NULL;
		pd->dane_facts = s->has_dane ? &s->dane : NULL;
	}
}

/* levels dane, dane-only with usable TLSA records: match the chain, and
 * record the records and the match in the protocol log */
static void
dane_match(struct smtpc_session *s)
{
	const struct smtpc_target *t = &s->targets[s->ti];
	char rr[120];

	if ((!policy_level_dane(s->dest->level) && s->ctx->probe == NULL) ||
	    t->dane != POLICY_DANE_USABLE || t->tlsa == NULL)
		return;
	(void)tls_conn_dane(s->conn, t->tlsa->rr, t->tlsa->n, &s->dane);
	s->has_dane = true;
	if (!s->logging)
		return;
	for (size_t i = 0; i < s->dane.n; i++) {
		tls_dane_rr_format(&t->tlsa->rr[i], rr, sizeof(rr));
		plog_info(s->ctx->plog, &s->log, "DANE", "tlsa=_%u._tcp.%s; record=%s; usage=%s; "
		    "%s", target_port(t), t->tlsa_base, rr,
		    tls_dane_usage_name(t->tlsa->rr[i].usage), !s->dane.usable[i] ? "unusable" :
		    s->dane.matched[i] ? (s->dane.depth[i] == 0 ? "matched the certificate" :
		    "matched the chain") : "no match");
	}
}

/* dsmtpc send: the session's TLS facts and verdict, for people */
static void
print_facts(struct smtpc_session *s, const struct policy_verdict *v)
{
	const struct tls_session_facts *f = &s->tls;

	printf("TLS: %s\n", f->version);
	printf("cipher: %s (%u bits), key exchange %s%s\n", f->cipher, f->cipher_bits, f->kx,
	    f->resumed ? ", resumed" : "");
	if (f->peer.present) {
		printf("peer certificate: %s\n", f->peer.leaf.subject);
		printf("issuer: %s\n", f->peer.leaf.issuer);
		printf("SANs:");
		for (size_t i = 0; i < f->peer.leaf.nsan; i++)
			printf(" %s", f->peer.leaf.san[i]);
		printf("%s\n", f->peer.leaf.nsan ? "" : " (none)");
		printf("SHA-256: %s\n", f->peer.leaf.sha256);
		printf("SPKI pin: %s\n", f->peer.leaf.spki);
		printf("verification: %s\n", f->peer.chain_reason[0] ? f->peer.chain_reason :
		    tls_chain_status_name(f->peer.chain));
	} else
		printf("peer certificate: none\n");
	if (f->local)
		printf("our certificate: %s\n", f->local->subject);
	if (s->has_dane)
		printf("DANE: %zu TLSA record(s), %zu usable, %s\n", s->dane.n, s->dane.nusable,
		    s->dane.match >= 0 ? "one matched" : "none matched");
	printf("policy: level %s, %s: %s\n", config_level_name(s->dest->level),
	    v->pass ? "pass" : "fail", v->reason);
	fflush(stdout);
}

/* the handshake is done: facts, verdict, logs, summary line */
int
smtpc_sess_tls_ready(struct smtpc_session *s)
{
	struct policy_dest pd;
	struct policy_verdict v;
	bool names_ok;

	smtpc_sess_dest_of(s, &pd);
	if (tls_conn_facts(s->conn, &s->tls) < 0) {
		smtpc_sess_failure(s, SMTPC_TEMP, "4.7.5", "TLS facts of %s unavailable", s->peer);
		smtpc_sess_try_next(s, "TLS facts unavailable");
		return -1;
	}
	s->has_facts = true;
	s->flags |= F_TLS;
	smtpc_observe_tls(&s->targets[s->ti], &s->tls);
	dane_match(s);
	smtpc_sess_dest_of(s, &pd);
	policy_judge_send(s->ctx->cfg, &pd, true, &s->tls, &v);
	if (s->logging) {
		plog_tls(s->ctx->plog, &s->log, &s->tls);
		plog_verification(s->ctx->plog, &s->log, s->tls.peer.chain_reason[0] ?
		    s->tls.peer.chain_reason : tls_chain_status_name(s->tls.peer.chain),
		    v.names[0] ? v.names : "-", v.pin[0] ? v.pin : "none");
		plog_policy(s->ctx->plog, &s->log, config_level_name(pd.level),
		    pd.domain ? pd.domain : "-", v.pass, v.reason);
	}
	s->auth = smtpc_rt_tls_auth(s->ctx->cfg, &pd, &s->tls, &v);
	names_ok = v.pass && ((s->dest->level >= LEVEL_VERIFY && s->dest->level <= LEVEL_PINNED) ||
	    pd.dane == POLICY_DANE_USABLE || (policy_dest_sts(&pd) && v.sts_result == NULL));
	/* the line Postfix administrators grep for (tls/tls_misc.c shape) */
	diag_info("%s TLS connection established to %s: %s with cipher %s (%u/%u bits) "
	    "[%s%s%s] %s session=%016llx", pd.dane == POLICY_DANE_USABLE && v.pass ? "Verified" :
	    tls_trust_word(&s->tls, names_ok), s->peer,
	    s->tls.version, s->tls.cipher, s->tls.cipher_bits, s->tls.cipher_bits,
	    config_level_name(pd.level), pd.domain ? " " : "", pd.domain ? pd.domain : "",
	    v.pass ? "pass" : "FAIL", (unsigned long long)s->id);
	if (v.sts_result)
		smtpc_sess_tls_report(s, &s->targets[s->ti], v.sts_result, v.reason);
	if (s->ctx->print_facts)
		print_facts(s, &v);
	if (s->ctx->probe) {
		s->ctx->probe(s->ctx, s->peer, true, &s->tls, NULL, &s->targets[s->ti],
		    s->has_dane ? &s->dane : NULL);
		smtpc_sess_failure(s, SMTPC_TEMP, "4.0.0", "probe of %s done", s->peer);
		return smtpc_sess_abandon(s, "probe done");
	}
	if (!v.pass) {
		smtpc_sess_tls_report(s, &s->targets[s->ti], policy_dane_result_type(v.reason),
		    v.reason);
		/* mandatory and up: fail closed, never a byte of the envelope */
		smtpc_sess_failure(s, SMTPC_TEMP, "4.7.5", "TLS policy failure with %s: %s",
		    s->peer, v.reason);
		return smtpc_sess_abandon(s, "TLS policy failure");
	}
	smtpc_sess_tls_report(s, &s->targets[s->ti], "success", NULL);
	/* RFC 3207 4.2: forget what the server said before TLS; EHLO again */
	s->flags &= ~(F_ESMTP | F_PIPELINING | F_STARTTLS | F_8BITMIME | F_SIZE | F_REQUIRETLS);
	s->size_max = 0;
	smtpc_sess_send_cmd(s, "EHLO %s", s->ctx->cfg->hostname);
	smtpc_sess_set_state(s, SC_EHLO, T_COMMAND);
	return 0;
}

/* the handshake failed: opportunistic retries once in plaintext */
int
smtpc_sess_tls_failed(struct smtpc_session *s, const char *why)
{
	struct policy_dest pd;
	struct policy_verdict v;

	smtpc_sess_dest_of(s, &pd);
	policy_judge_send(s->ctx->cfg, &pd, false, NULL, &v);
	if (s->logging) {
		plog_tls_error(s->ctx->plog, &s->log, why);
		plog_policy(s->ctx->plog, &s->log, config_level_name(pd.level),
		    pd.domain ? pd.domain : "-", false, v.reason);
	}
	/* one outcome per connection: an MTA-STS one names the policy's
	 * result type (tlsrpt.c reports under the STS policy) */
	if (v.sts_result)
		smtpc_sess_tls_report(s, &s->targets[s->ti], v.sts_result, why);
	smtpc_sess_tls_report(s, &s->targets[s->ti], "validation-failure", why);
	smtpc_sess_failure(s, SMTPC_TEMP, "4.7.5", "TLS handshake with %s failed: %s (%s)", s->peer,
	    why, v.reason);
	if (s->ctx->probe) {
		s->ctx->probe(s->ctx, s->peer, true, NULL, why, &s->targets[s->ti], NULL);
		return smtpc_sess_abandon(s, "probe done");
	}
	/* F_NOTLS: this address's plaintext retry is under way (it has no
	 * STARTTLS, so no second handshake can fail here; kept as a guard) */
	if (v.plaintext && !(s->flags & F_NOTLS)) {
		diag_info("%016llx %s: %s; retrying in plaintext", (unsigned long long)s->id,
		    s->peer, s->fail_text);
		smtpc_sess_drop_conn(s, "TLS handshake failed");
		s->flags |= F_NOTLS;
		smtpc_sess_connect_next(s);
		return -1;
	}
	smtpc_sess_try_next(s, "TLS handshake failed");
	return -1;
}

/* after EHLO/HELO: STARTTLS as the level says, then the first message */
int
smtpc_sess_after_greeting(struct smtpc_session *s)
{
	struct policy_dest pd;
	struct policy_verdict v;

	if (s->flags & F_TLS) {
		smtpc_sess_next_tx(s);
		return 0;
	}
	smtpc_sess_dest_of(s, &pd);
	if (s->ctx->probe && (!(s->flags & F_STARTTLS) || s->ctx->creds == NULL)) {
		s->ctx->probe(s->ctx, s->peer, (s->flags & F_STARTTLS) != 0, NULL,
		    s->ctx->creds ? "STARTTLS not offered" : "no TLS credentials here",
		    &s->targets[s->ti], NULL);
		smtpc_sess_failure(s, SMTPC_TEMP, "4.0.0", "probe of %s done", s->peer);
		return smtpc_sess_abandon(s, "probe done");
	}
	if (s->ctx->print_facts && (s->dest->level == LEVEL_NONE || (s->flags & F_NOTLS) ||
	    !(s->flags & F_STARTTLS)))
		printf("TLS: none (%s)\n", s->dest->level == LEVEL_NONE ? "level none" :
		    (s->flags & F_NOTLS) ? "plaintext retry after a failed handshake" :
		    "STARTTLS not offered");
	if (s->dest->level == LEVEL_NONE || (s->flags & F_NOTLS)) {
		if (s->logging)
			plog_policy(s->ctx->plog, &s->log, config_level_name(pd.level),
			    pd.domain ? pd.domain : "-", true, s->dest->level == LEVEL_NONE ?
			    "ok: level none, STARTTLS not used" :
			    "ok: plaintext retry after a failed opportunistic handshake");
		smtpc_sess_next_tx(s);
		return 0;
	}
	policy_judge_starttls(&pd, (s->flags & F_STARTTLS) != 0, &v);
	if (v.sts_result)
		smtpc_sess_tls_report(s, &s->targets[s->ti], v.sts_result, v.reason);
	if (!v.pass) {
		/* STRIPTLS: a man in the middle can delete STARTTLS from the
		 * EHLO reply; from mandatory up that is a deferral, never plaintext */
		if (s->logging)
			plog_policy(s->ctx->plog, &s->log, config_level_name(pd.level),
			    pd.domain ? pd.domain : "-", false, v.reason);
		smtpc_sess_tls_report(s, &s->targets[s->ti], "starttls-not-supported", v.reason);
		smtpc_sess_failure(s, SMTPC_TEMP, "4.7.4", "TLS is required, but was not offered "
		    "by host %s (%s)", s->peer, v.reason);
		return smtpc_sess_abandon(s, "STARTTLS not offered");
	}
	if (!(s->flags & F_STARTTLS) || s->ctx->creds == NULL) {
		if (!(s->flags & F_STARTTLS))
			smtpc_sess_tls_report(s, &s->targets[s->ti], "starttls-not-supported",
			    v.reason);
		if (s->logging)
			plog_policy(s->ctx->plog, &s->log, config_level_name(pd.level),
			    pd.domain ? pd.domain : "-", true, v.reason);
		smtpc_sess_next_tx(s);
		return 0;
	}
	smtpc_sess_send_cmd(s, "STARTTLS");
	smtpc_sess_set_state(s, SC_STARTTLS, T_COMMAND);
	return 0;
}

/* 220 to STARTTLS: swap the transport and start the handshake */
int
smtpc_sess_on_starttls(struct smtpc_session *s, const struct smtpc_reply *r)
{
	const struct smtpc_target *t = &s->targets[s->ti];
	const struct tls_cert_facts *local;
	const char *why = NULL;
	struct dsmtp_err err;
	char cache_key[600], flat[400];

	if (r->code != 220) {
		struct policy_dest pd;

		smtpc_reply_flat(r, flat, sizeof(flat));
		smtpc_sess_dest_of(s, &pd);
		if (!policy_dest_requires_tls(&pd)) {
			/* opportunistic: a refused STARTTLS is a server without TLS */
			if (s->logging)
				plog_policy(s->ctx->plog, &s->log, config_level_name(s->dest->level),
				    s->dest->domain[0] ? s->dest->domain : "-", true,
				    "no-tls: STARTTLS refused (opportunistic: plaintext)");
			smtpc_sess_tls_report(s, t, "starttls-not-supported", flat);
			smtpc_sess_next_tx(s);
			return 0;
		}
		smtpc_sess_tls_report(s, t, "starttls-not-supported", flat);
		smtpc_sess_failure(s, SMTPC_TEMP, "4.7.5", "host %s refused STARTTLS: %s", s->peer,
		    flat);
		return smtpc_sess_abandon(s, "STARTTLS refused");
	}
	snprintf(cache_key, sizeof(cache_key), "%s|%s", t->host, s->addr);
	if (tls_conn_client(s->conn, s->ctx->creds, t->literal ? NULL : t->host, cache_key,
	    &err) < 0) {
		smtpc_sess_failure(s, SMTPC_TEMP, "4.7.5", "TLS with %s: %s", s->peer, err.msg);
		smtpc_sess_try_next(s, "TLS setup failed");
		return -1;
	}
	/* a SIGHUP may replace ctx->creds while this session runs */
	tls_creds_free(s->creds);
	s->creds = tls_creds_ref(s->ctx->creds);
	if (s->logging && (local = tls_creds_local(s->creds, &why)) != NULL)
		plog_local_cert(s->ctx->plog, &s->log, local, why);
	/* CVE-2011-0411 and the 2021 "NO STARTTLS" study: reply bytes after
	 * the 220 are an injection; conn.c drops what is buffered when the
	 * transport switches, and we stop reading here and forget any
	 * partial line */
	smtpc_reply_reset(&s->rp);
	smtpc_sess_set_state(s, SC_TLS, T_TLS);
	return 1;
}

/* DANE or MTA-STS rule this target out before connecting */
bool
smtpc_sess_skip_target(struct smtpc_session *s, const struct smtpc_target *t)
{
	return dane_skip(s, t) || sts_skip(s, t);
}
