/* tx.c: the spool side of a dsmtpd transaction: open the spool file with
 * our Received header first, stream the body into it, hand the envelope to
 * the group commit, and answer only when the commit is durable. */
#include "autoconfig.h"

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <time.h>

#include "common/spool.h"
#include "smtpd/hooks.h"
#include "smtpd/smtpd.h"

#define SMTPD_SPOOL_MARGIN	(64 * 1024)	/* free octets a new transaction needs */
/* what a worker may write in the second a free-space reading is reused */
#define SMTPD_SPOOL_SLACK	(1024ull * 1024 * 1024)

/* a commit in flight outlives its session if the client vanishes: the
 * session lets go of the token, and done() then only frees it */
struct tx_commit {
	struct smtpd_session	*s;
};

/* printable, quote-free text for a header comment */
static void
header_safe(const char *in, char *out, size_t len)
{
	size_t n = 0;

	for (; *in && n + 1 < len; in++) {
		unsigned char c = (unsigned char)*in;
		out[n++] = (c >= 32 && c < 127 && c != '"' && c != '\\' && c != '(' && c != ')') ?
		    (char)c : '?';
	}
	out[n] = '\0';
}

/* append a formatted piece to out[len] at *n. snprintf returns what it
 * would have written, not what it wrote: adding that up unchecked walks
 * past the buffer (len - n underflows). 0, or -1 when it did not fit
 * (*n is then left as it was, and out stays terminated). */
static int hdr_append(char *out, size_t len, size_t *n, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int
hdr_append(char *out, size_t len, size_t *n, const char *fmt, ...)
{
	va_list ap;
	int r;

	if (*n >= len)
		return -1;
	va_start(ap, fmt);
	r = vsnprintf(out + *n, len - *n, fmt, ap);
	va_end(ap);
	if (r < 0 || (size_t)r >= len - *n) {
		out[*n] = '\0';
		return -1;
	}
	*n += (size_t)r;
	return 0;
}

/* RFC 5321 4.4 trace header with the TLS facts (RFC 3848 protocol names);
 * its length, or -1 when it does not fit in len */
static int
received_header(struct smtpd_session *s, char *out, size_t len)
{
	const struct tls_session_facts *f = &s->tls;
	bool tls = (s->flags & SESS_TLS) && s->has_tls_facts;
	char date[64], subj[300], why[200], proto[16];
	struct tm tm;
	time_t now = time(NULL);
	size_t n = 0;

	gmtime_r(&now, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S +0000", &tm);
	snprintf(proto, sizeof(proto), "%s%s%s", s->tx->params.smtputf8 ? "UTF8" : "",
	    (s->flags & SESS_EHLO) ? (s->tx->params.smtputf8 ? "SMTP" : "ESMTP") : "SMTP",
	    tls ? "S" : "");
	/* RFC 5321 4.4: TCP-info is an address literal */
	if (hdr_append(out, len, &n, "Received: from %s ([%s%s])\r\n\tby %s (dsmtpd) with %s id %016llx.%u\r\n",
	    s->helo[0] ? s->helo : "unknown", strchr(s->peer_ip, ':') ? "IPv6:" : "", s->peer_ip,
	    s->srv->cfg.hostname, proto, (unsigned long long)s->id, s->tx->n) < 0)
		return -1;
	if (tls) {
		header_safe(f->peer.present ? f->peer.leaf.subject : "", subj, sizeof(subj));
		header_safe(f->peer.chain_reason, why, sizeof(why));
		if (hdr_append(out, len, &n,
		    "\t(version=%s cipher=%s bits=%u)\r\n\t(client certificate: %s%s%s verify=%s%s%s)\r\n",
		    f->version, f->cipher, f->cipher_bits,
		    f->peer.present ? "subject=\"" : "none", f->peer.present ? subj : "",
		    f->peer.present ? "\"" : "", f->peer.present ? why : "none",
		    s->peer_pin[0] ? " pin=" : "", s->peer_pin) < 0)
			return -1;
		if (s->tx->domain_secured &&
		    hdr_append(out, len, &n, "\t(domain-secured for %s)\r\n", s->tx->ds_domain) < 0)
			return -1;
	}
	if (s->tx->nrcpt == 1) {
		if (hdr_append(out, len, &n, "\tfor <%s>; %s\r\n", s->tx->rcpt[0].addr, date) < 0)
			return -1;
	} else if (hdr_append(out, len, &n, "\t; %s\r\n", date) < 0)
		return -1;
	return n > INT_MAX ? -1 : (int)n;
}

/* room for a message of size octets (0: unknown) plus a margin, so a
 * transaction is not started only to fail at its commit */
bool
smtpd_tx_space_ok(struct smtpd_session *s, uint64_t size)
{
	/* the last look, reused for a second while the disk has far more
	 * than this message needs (a statvfs per MAIL showed in profiles);
	 * near full, every transaction looks again */
	static double seen_at = -1;
	static uint64_t seen_avail;
	double now = ev_now(s->srv->loop);
	struct statvfs sv;

	if (seen_at >= 0 && now - seen_at < 1.0 && now >= seen_at &&
	    seen_avail >= size + SMTPD_SPOOL_MARGIN + SMTPD_SPOOL_SLACK)
		return true;
	if (statvfs(spool_dir(s->srv->spool), &sv) < 0)
		return true;	/* cannot tell: the commit will say */
	seen_at = now;
	seen_avail = (uint64_t)sv.f_bavail * sv.f_frsize;
	return seen_avail >= size + SMTPD_SPOOL_MARGIN;
}

int
smtpd_tx_begin(struct smtpd_session *s, char *reply, size_t rl)
{
	struct dsmtp_err err;
	char hdr[2048];
	int n;

	smtpd_hdrscan_init(&s->tx->hdr);
	s->tx->msg = spool_msg_new(s->srv->spool, &err);
	if (s->tx->msg == NULL) {
		smtpd_hook_info(s, "spool: %s", err.msg);
		snprintf(reply, rl, "452 4.3.1 Insufficient system storage");
		return -1;
	}
	if ((n = received_header(s, hdr, sizeof(hdr))) < 0 ||
	    spool_msg_write(s->tx->msg, hdr, (size_t)n) < 0) {
		spool_msg_abort(s->tx->msg);
		s->tx->msg = NULL;
		snprintf(reply, rl, "452 4.3.1 Insufficient system storage");
		return -1;
	}
	return 0;
}

int
smtpd_tx_store(void *arg, const char *p, size_t n)
{
	struct smtpd_session *s = arg;

	smtpd_hdrscan_feed(&s->tx->hdr, p, n);
	return spool_msg_write(s->tx->msg, p, n);
}

static void
tx_committed(void *arg, int rc, const char *id, const char *why)
{
	struct tx_commit *tc = arg;
	struct smtpd_session *s = tc->s;

	free(tc);
	if (s == NULL)
		return;		/* the client left; the message is queued or not, as rc says */
	s->commit = NULL;
	smtpd_session_committed(s, rc, id, why);
}

void
smtpd_tx_commit(struct smtpd_session *s)
{
	struct smtpd_tx *tx = s->tx;
	const struct tls_session_facts *f = &s->tls;
	bool tls = (s->flags & SESS_TLS) && s->has_tls_facts;
	struct spool_envelope env;
	struct spool_rcpt *rc;
	struct tx_commit *tc;
	static char empty[] = "";

	memset(&env, 0, sizeof(env));
	rc = calloc(tx->nrcpt, sizeof(*rc));
	tc = malloc(sizeof(*tc));
	if (rc == NULL || tc == NULL) {
		free(rc);
		free(tc);
		smtpd_session_committed(s, -1, "", "out of memory");
		return;
	}
	for (size_t i = 0; i < tx->nrcpt; i++) {
		rc[i].addr = tx->rcpt[i].addr;
		rc[i].state = SPOOL_RCPT_PENDING;
	}
	env.client = s->peer;
	env.ehlo = s->helo;
	env.session_id = s->id;
	env.sender = tx->from.null ? empty : tx->from.addr;
	env.rcpts = rc;
	env.nrcpts = tx->nrcpt;
	if (tls) {
		env.tls.version = (char *)(uintptr_t)f->version;
		env.tls.cipher = (char *)(uintptr_t)f->cipher;
		env.tls.peer_subject = f->peer.present ? (char *)(uintptr_t)f->peer.leaf.subject : empty;
		env.tls.peer_sha256 = f->peer.present ? (char *)(uintptr_t)f->peer.leaf.sha256 : empty;
		env.tls.verify = f->peer.present ? (char *)(uintptr_t)f->peer.chain_reason : empty;
	}
	env.tls.domain_secured = tx->domain_secured;
	env.tls.domain = tx->ds_domain;
	/* RFC 8689: the MAIL parameter wins over the header (4.1) */
	smtpd_hdrscan_end(&tx->hdr);
	if (tx->params.requiretls)
		env.flags |= SPOOL_F_REQUIRETLS;
	else if (tx->hdr.tls_optional)
		env.flags |= SPOOL_F_TLS_OPTIONAL;
	if (env.flags) {
		char words[64];

		spool_flags_format(env.flags, words, sizeof(words));
		smtpd_hook_info(s, "message flags: %s", words);
	}
	tc->s = s;
	s->commit = tc;
	if (spool_msg_commit(tx->msg, &env, tx_committed, tc) < 0) {
		s->commit = NULL;
		free(tc);
		tx->msg = NULL;
		free(rc);
		smtpd_session_committed(s, -1, "", "spool refused the commit");
		return;
	}
	tx->msg = NULL;		/* the spool owns it now */
	free(rc);
}

void
smtpd_tx_free(struct smtpd_session *s)
{
	if (s->tx == NULL)
		return;
	if (s->tx->msg)
		spool_msg_abort(s->tx->msg);
	free(s->tx->rcpt);
	free(s->tx);
	s->tx = NULL;
}

void
smtpd_tx_orphan(struct smtpd_session *s)
{
	if (s->commit) {
		s->commit->s = NULL;
		s->commit = NULL;
	}
}
