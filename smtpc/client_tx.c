/* client_tx.c: a client session's transactions: the next job over the
 * same connection (RSET in between, or idle, or QUIT), the envelope with
 * SIZE, BODY=8BITMIME and REQUIRETLS (RFC 1870, 6152, 8689's gate in
 * requiretls.c), MAIL, RCPT and DATA pipelined when offered (RFC 2920),
 * the body (client_body.c), and each recipient's outcome from
 * the replies. The session core (client.c) reads the replies and hands
 * them here by state. */
#include "autoconfig.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/addr.h"
#include "common/conn.h"
#include "logs/plog.h"
#include "smtpc/client_int.h"
#include "smtpc/requiretls.h"
#include "smtpc/smtpc.h"

static bool
has_8bit(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)p[i] & 0x80)
			return true;
	return false;
}

#define SMTPC_WIRE_PATH	512

/* an envelope address as it goes on the wire: we do not send SMTPUTF8, so
 * a U-label domain goes as its A-label, the same domain (RFC 6531 3.2,
 * RFC 5890 2.3.2.1); the spool keeps the form it was given */
static void
wire_path(const char *addr, char *out, size_t outlen)
{
	if (addr_mailbox_to_ascii(addr, out, outlen, NULL) < 0)
		snprintf(out, outlen, "%s", addr);
}

/* the MAIL, RCPT and DATA commands not yet sent, as far as allowed */
static void
tx_send_more(struct smtpc_session *s, size_t from, size_t upto)
{
	struct smtpc_job *j = s->job;
	char a[SMTPC_WIRE_PATH];

	for (size_t k = from; k <= upto && k <= s->nlive + 1; k++) {
		if (k == 0) {
			/* RFC 6152: say so when the body has 8-bit octets, or
			 * may have: the part of a big message not read yet */
			bool eight = (s->flags & F_8BITMIME) &&
			    (j->dlen < j->len || has_8bit(j->data, j->dlen));

			const char *rt = j->mail_requiretls ? " REQUIRETLS" : "";

			wire_path(j->sender, a, sizeof(a));
			if (s->flags & F_SIZE)
				smtpc_sess_send_cmd(s, "MAIL FROM:<%s> SIZE=%zu%s%s", a, j->len,
				    eight ? " BODY=8BITMIME" : "", rt);
			else
				smtpc_sess_send_cmd(s, "MAIL FROM:<%s>%s%s", a,
				    eight ? " BODY=8BITMIME" : "", rt);
		} else if (k <= s->nlive) {
			wire_path(j->rcpts[s->live[k - 1]], a, sizeof(a));
			smtpc_sess_send_cmd(s, "RCPT TO:<%s>", a);
		} else
			smtpc_sess_send_cmd(s, "DATA");
	}
}

/* a path we will put between < and >: no controls, no brackets (the
 * spool's writer checked it; a damaged or hostile spool must still not
 * be able to inject a command) */
static bool
path_ok(const char *a)
{
	for (; *a; a++)
		if ((unsigned char)*a < 0x21 || *a == 0x7f || *a == '<' || *a == '>')
			return false;
	return true;
}

/* RFC 8689 and the security memory, before MAIL (requiretls.c) */
static void
rt_gate(struct smtpc_session *s)
{
	const struct smtpc_target *t = &s->targets[s->ti];
	struct smtpc_rt_view v = {
		.cfg = s->ctx->cfg, .memory = s->ctx->cfg->send.memory && !s->ctx->no_memory,
		.level = s->dest->level, .mode = s->dest->mode,
		.tls = (s->flags & F_TLS) != 0, .auth = s->auth,
		.requiretls_offered = (s->flags & F_REQUIRETLS) != 0,
		/* RFC 8689 4.2: a next hop named by an enforced STS policy */
		.sts_enforced = s->sts != NULL && s->sts->mode == POLICY_STS_ENFORCE &&
		    t->dane != POLICY_DANE_USABLE && policy_sts_mx_allowed(s->sts, t->host),
		.host = t->host, .peer = s->peer,
		.plog = s->logging ? s->ctx->plog : NULL, .log = &s->log,
	};

	smtpc_rt_gate(&v, s->job);
}

/* start the current job: paths, SIZE, then MAIL (RCPT, DATA) */
static void
tx_begin(struct smtpc_session *s)
{
	struct smtpc_job *j = s->job;

	if (s->ctx->probe) {	/* a probe never sends mail, whatever happened */
		(void)smtpc_sess_abandon(s, "probe done");
		return;
	}

	if ((s->live = calloc(j->nrcpts ? j->nrcpts : 1, sizeof(*s->live))) == NULL ||
	    (s->rcpt_ok = calloc(j->nrcpts ? j->nrcpts : 1, sizeof(*s->rcpt_ok))) == NULL) {
		smtpc_job_fail(j, SMTPC_TEMP, "4.3.0", "out of memory", NULL);
		smtpc_sess_job_finish(s);
		smtpc_sess_quit(s);
		return;
	}
	s->nlive = 0;
	rt_gate(s);
	for (size_t i = 0; i < j->nrcpts; i++) {
		if (j->res[i].done)
			continue;	/* refused by the gate */
		if (!path_ok(j->sender) || !path_ok(j->rcpts[i])) {
			struct smtpc_result *r = &j->res[i];

			r->done = true;
			r->st = SMTPC_PERM;
			snprintf(r->status, sizeof(r->status), "5.1.3");
			snprintf(r->text, sizeof(r->text), "553 5.1.3 address with control "
			    "characters or brackets refused before sending");
		} else
			s->live[s->nlive++] = i;
	}
	if (s->nlive == 0) {
		smtpc_sess_job_finish(s);
		smtpc_sess_next_tx(s);
		return;
	}

	/* RFC 1870 6: never send what the server already said it refuses */
	if ((s->flags & F_SIZE) && s->size_max > 0 && j->len > s->size_max) {
		char text[400];

		snprintf(text, sizeof(text), "message size %zu exceeds size limit %llu of %.300s",
		    j->len, (unsigned long long)s->size_max, s->peer);
		smtpc_job_fail(j, SMTPC_PERM, "5.3.4", text, s->peer);
		smtpc_sess_job_finish(s);
		smtpc_sess_next_tx(s);
		return;
	}
	s->acked = 0;
	s->mail_ok = false;
	s->nrcpt_ok = 0;
	/* RFC 2920: with PIPELINING, MAIL, every RCPT and DATA in one write */
	tx_send_more(s, 0, (s->flags & F_PIPELINING) ? s->nlive + 1 : 0);
	smtpc_sess_set_state(s, SC_XFER, T_COMMAND);
}

/* the next job for this connection (RSET first), or QUIT */
void
smtpc_sess_next_tx(struct smtpc_session *s)
{
	if (s->job == NULL && !s->ctx->stopping)
		s->job = smtpc_dest_pop(s->dest);
	if (s->job == NULL && s->ctx->idle_keep > 0 && !s->ctx->stopping &&
	    s->state != SC_IDLE) {
		/* keep the connection a moment for the next message (no RSET
		 * yet: it comes before the next transaction) */
		smtpc_sess_set_state(s, SC_IDLE, s->ctx->idle_keep);
		return;
	}
	if (s->job == NULL) {
		smtpc_sess_quit(s);
		return;
	}
	if (s->ntx > 0) {
		smtpc_sess_send_cmd(s, "RSET");
		smtpc_sess_set_state(s, SC_RSET, T_COMMAND);
		return;
	}
	tx_begin(s);
}

/* RSET answered: the next transaction starts clean */
int
smtpc_sess_on_rset(struct smtpc_session *s, const struct smtpc_reply *r)
{
	if (r->code / 100 != 2) {
		/* a server that cannot reset cannot be trusted with the next
		 * message: give it back to the destination and reconnect */
		smtpc_sess_requeue_job(s);
		smtpc_sess_quit(s);
		return 0;
	}
	tx_begin(s);
	return 0;
}

/* one recipient's outcome from a reply */
static void
set_result(struct smtpc_session *s, size_t i, const struct smtpc_reply *r)
{
	struct smtpc_result *res = &s->job->res[i];

	res->done = true;
	res->st = r->code / 100 == 2 ? SMTPC_OK : r->code / 100 == 5 ? SMTPC_PERM : SMTPC_TEMP;
	smtpc_reply_status(r, res->status, sizeof(res->status));
	smtpc_reply_flat(r, res->text, sizeof(res->text));
	snprintf(res->mta, sizeof(res->mta), "%.299s", s->peer);
}

/* the transaction is over (its results set): next message or QUIT */
static void
tx_end(struct smtpc_session *s)
{
	s->ntx++;
	smtpc_sess_job_finish(s);
	smtpc_sess_next_tx(s);
}

/* a reply to MAIL, one RCPT or DATA, in the order they were sent */
int
smtpc_sess_on_xfer(struct smtpc_session *s, const struct smtpc_reply *r)
{
	size_t k = s->acked++;
	bool pipe = (s->flags & F_PIPELINING) != 0;

	if (k == 0) {
		/* MAIL */
		if (r->code / 100 == 2)
			s->mail_ok = true;
		else {
			for (size_t i = 0; i < s->nlive; i++)
				set_result(s, s->live[i], r);
			if (!pipe) {
				tx_end(s);
				return 0;
			}
		}
		if (!pipe)
			tx_send_more(s, 1, 1);
		return 0;
	}
	if (k <= s->nlive) {
		/* RCPT k */
		if (s->mail_ok) {
			if (r->code / 100 == 2) {
				s->rcpt_ok[s->live[k - 1]] = true;
				s->nrcpt_ok++;
			} else
				set_result(s, s->live[k - 1], r);
		}
		if (!pipe) {
			if (k < s->nlive)
				tx_send_more(s, k + 1, k + 1);
			else if (s->nrcpt_ok > 0)
				tx_send_more(s, k + 1, k + 1);
			else {
				tx_end(s);
				return 0;
			}
		}
		if (k == s->nlive && pipe)
			smtpc_sess_set_state(s, SC_XFER, T_DATA_INIT);
		return 0;
	}
	/* DATA */
	if (r->code == 354) {
		if (!s->mail_ok || s->nrcpt_ok == 0) {
			/* RFC 2920 3.1: DATA accepted although no recipient
			 * was; end it at once with an empty message */
			smtpc_sess_put(s, ".\r\n", 3);
			smtpc_sess_set_state(s, SC_IGNORE_FINAL, T_DATA_END);
			return 0;
		}
		return smtpc_body_start(s);
	}
	return smtpc_sess_on_body(s, r);
}

/* the reply after the final dot (or a refused DATA): the accepted
 * recipients' outcome */
int
smtpc_sess_on_body(struct smtpc_session *s, const struct smtpc_reply *r)
{
	for (size_t i = 0; i < s->job->nrcpts; i++)
		if (s->rcpt_ok[i])
			set_result(s, i, r);
	tx_end(s);
	return 0;
}

/* the reply after the dot of the empty message sent for a DATA accepted
 * without recipients: every outcome is known already; only the reply
 * is read, so that the next command is not out of step */
int
smtpc_sess_on_ignore_final(struct smtpc_session *s, const struct smtpc_reply *r)
{
	(void)r;
	tx_end(s);
	return 0;
}
