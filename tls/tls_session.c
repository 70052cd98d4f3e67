/* tls_session.c: a GnuTLS session as a conn transport. Non-blocking in
 * every step: on GNUTLS_E_AGAIN the direction GnuTLS waits for is handed
 * back to conn.c, which re-arms its one watcher; a send that returned
 * E_AGAIN is resumed with (NULL, 0) before anything new is sent. Also the
 * facts of a finished handshake. */
#include "autoconfig.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/conn.h"
#include "common/diag.h"
#include "tls/tls_int.h"
#include "tls/tls_sess_int.h"

#define TLS_SEND_MAX	16384	/* one record per call */

struct tls_sess {
	gnutls_session_t	 s;
	struct tls_creds	*cr;		/* our reference: a reload may drop the server's */
	size_t			 pending_send;	/* a send that returned E_AGAIN */
	char			*cache_key;	/* client: where to remember the session */
	bool			 bye_sent;
	bool			 handshaken;
	bool			 has_sni_facts;	/* sni_facts filled */
	struct tls_cert_facts	 sni_facts;	/* the certificate SNI chose, if not the default */
};

/* map a GnuTLS return code to conn's: AGAIN with a direction, or FAIL */
static int
sess_again(struct conn *c, struct tls_sess *t, int rc, const char *what)
{
	if (rc == GNUTLS_E_AGAIN || rc == GNUTLS_E_INTERRUPTED) {
		c->tr_want = gnutls_record_get_direction(t->s) ? EV_WRITE : EV_READ;
		return CONN_AGAIN;
	}
	snprintf(c->err, sizeof(c->err), "TLS %s: %s", what, gnutls_strerror(rc));
	return CONN_FAIL;
}

/* free a session and drop its credentials reference (the last one of
 * credentials replaced by a reload frees them here) */
static void
sess_discard(struct tls_sess *t)
{
	if (t->s)
		gnutls_deinit(t->s);
	if (t->has_sni_facts)
		tls_cert_facts_free(&t->sni_facts);
	free(t->cache_key);
	tls_creds_free(t->cr);
	free(t);
}

static ssize_t
sess_recv(struct conn *c, void *buf, size_t len)
{
	struct tls_sess *t = c->tr_ctx;
	ssize_t n;

	for (;;) {
		n = gnutls_record_recv(t->s, buf, len);
		if (n >= 0)
			return n;
		if (n == GNUTLS_E_PREMATURE_TERMINATION)
			return 0;	/* the peer closed without close_notify */
		/* TLS 1.3 may deliver new tickets or key updates: not data */
		if (n == GNUTLS_E_REHANDSHAKE || (n < 0 && !gnutls_error_is_fatal((int)n) &&
		    n != GNUTLS_E_AGAIN && n != GNUTLS_E_INTERRUPTED))
			continue;
		return sess_again(c, t, (int)n, "read");
	}
}

static ssize_t
sess_send(struct conn *c, const void *buf, size_t len)
{
	struct tls_sess *t = c->tr_ctx;
	ssize_t n;

	if (t->pending_send) {
		/* GnuTLS holds the record already; finish that one first */
		n = gnutls_record_send(t->s, NULL, 0);
	} else {
		if (len > TLS_SEND_MAX)
			len = TLS_SEND_MAX;
		n = gnutls_record_send(t->s, buf, len);
		if (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED)
			t->pending_send = len;
	}
	if (n >= 0) {
		t->pending_send = 0;
		return n;
	}
	return sess_again(c, t, (int)n, "write");
}

static int
sess_handshake(struct conn *c)
{
	struct tls_sess *t = c->tr_ctx;
	int rc;

	do {
		rc = gnutls_handshake(t->s);
	} while (rc < 0 && rc != GNUTLS_E_AGAIN && rc != GNUTLS_E_INTERRUPTED &&
	    !gnutls_error_is_fatal(rc));
	if (rc == 0) {
		t->handshaken = true;
		if (t->cache_key) {
			gnutls_datum_t d = { NULL, 0 };

			if (gnutls_session_get_data2(t->s, &d) == 0)
				tls_creds_cache_put(t->cr, t->cache_key, &d);
		}
		return 0;
	}
	if (rc == GNUTLS_E_FATAL_ALERT_RECEIVED) {
		snprintf(c->err, sizeof(c->err), "TLS handshake: peer sent alert %s",
		    gnutls_alert_get_name(gnutls_alert_get(t->s)));
		return CONN_FAIL;
	}
	return sess_again(c, t, rc, "handshake");
}

static size_t
sess_pending(struct conn *c)
{
	struct tls_sess *t = c->tr_ctx;

	return gnutls_record_check_pending(t->s);
}

static void
sess_close(struct conn *c)
{
	struct tls_sess *t = c->tr_ctx;

	if (t == NULL)
		return;
	/* TLS 1.3 tickets arrive after the handshake: remember the session
	 * for its next hop now, when the ticket has been read */
	if (t->cache_key && t->handshaken) {
		gnutls_datum_t d = { NULL, 0 };

		if (gnutls_session_get_data2(t->s, &d) == 0 && d.size > 0)
			tls_creds_cache_put(t->cr, t->cache_key, &d);
		else
			gnutls_free(d.data);
	}
	/* one non-blocking close_notify; we do not wait for the answer */
	if (!t->bye_sent && !(c->flags & CONN_F_HANDSHAKE))
		(void)gnutls_bye(t->s, GNUTLS_SHUT_WR);
	sess_discard(t);
	c->tr_ctx = NULL;
}

static const struct conn_transport tls_transport = {
	"tls", sess_recv, sess_send, sess_handshake, sess_pending, sess_close
};

static struct tls_sess *
sess_new(struct conn *c, struct tls_creds *cr, unsigned flags, struct dsmtp_err *err)
{
	struct tls_sess *t = calloc(1, sizeof(*t));
	int rc;

	if (t == NULL) {
		dsmtp_err_set(err, "out of memory");
		return NULL;
	}
	/* GnuTLS keeps pointers into cr->cert (and cr->prio) for the whole
	 * session, and tls_conn_facts reads cr->trust after the handshake: the
	 * session holds cr until it is closed, whatever a reload does */
	t->cr = tls_creds_ref(cr);
	if ((rc = gnutls_init(&t->s, flags | GNUTLS_NONBLOCK | GNUTLS_NO_SIGNAL)) < 0) {
		dsmtp_err_set(err, "TLS init: %s", gnutls_strerror(rc));
		t->s = NULL;
		sess_discard(t);
		return NULL;
	}
	if ((rc = gnutls_priority_set(t->s, cr->prio)) < 0 ||
	    (rc = gnutls_credentials_set(t->s, GNUTLS_CRD_CERTIFICATE, cr->cert)) < 0) {
		dsmtp_err_set(err, "TLS session: %s", gnutls_strerror(rc));
		sess_discard(t);
		return NULL;
	}
	gnutls_session_set_ptr(t->s, cr);	/* tls_creds.c's client certificate */
	gnutls_transport_set_int(t->s, c->fd);
	gnutls_handshake_set_timeout(t->s, 0);	/* conn's timer owns timeouts */
	return t;
}

int
tls_conn_server(struct conn *c, struct tls_creds *cr, bool request_client_cert, struct dsmtp_err *err)
{
	struct tls_sess *t = sess_new(c, cr, GNUTLS_SERVER, err);
	int rc;

	if (t == NULL)
		return -1;
	if (request_client_cert) {
		gnutls_certificate_server_set_request(t->s, GNUTLS_CERT_REQUEST);
		/* no CA list: a client may present any certificate, a pinned
		 * self-signed one included; policy/ judges it afterwards */
		gnutls_certificate_send_x509_rdn_sequence(t->s, 1);
	}
	if (cr->tickets && (rc = gnutls_session_ticket_enable_server(t->s, &cr->ticket_key)) < 0) {
		dsmtp_err_set(err, "session tickets: %s", gnutls_strerror(rc));
		sess_discard(t);
		return -1;
	}
	conn_start_transport(c, &tls_transport, t);
	return 0;
}

int
tls_conn_client(struct conn *c, struct tls_creds *cr, const char *sni, const char *cache_key,
    struct dsmtp_err *err)
{
	struct tls_sess *t = sess_new(c, cr, GNUTLS_CLIENT, err);
	const gnutls_datum_t *d;

	if (t == NULL)
		return -1;
	if (sni && *sni && gnutls_server_name_set(t->s, GNUTLS_NAME_DNS, sni, strlen(sni)) < 0) {
		dsmtp_err_set(err, "TLS SNI \"%s\" refused", sni);
		sess_discard(t);
		return -1;
	}
	if (cache_key) {
		if ((t->cache_key = strdup(cache_key)) == NULL) {
			dsmtp_err_set(err, "out of memory");
			sess_discard(t);
			return -1;
		}
		if ((d = tls_creds_cache_get(cr, cache_key)) != NULL)
			(void)gnutls_session_set_data(t->s, d->data, d->size);
	}
	conn_start_transport(c, &tls_transport, t);
	return 0;
}

/* the server sent another enabled certificate than the default (the
 * client's SNI named it): its facts, kept with the session */
static void
local_by_sni(struct tls_sess *t, struct tls_session_facts *out)
{
	const gnutls_datum_t *ours = gnutls_certificate_get_ours(t->s);
	gnutls_x509_crt_t crt;
	unsigned char digest[32];
	size_t dlen = sizeof(digest);
	char hex[65], name[256];
	size_t nlen = sizeof(name);
	unsigned type;
	struct dsmtp_err err;

	if (ours == NULL || gnutls_fingerprint(GNUTLS_DIG_SHA256, ours, digest, &dlen) < 0)
		return;
	tls_hex(digest, dlen, hex);
	if (strcmp(hex, out->local->sha256) == 0)
		return;		/* the default one */
	if (!t->has_sni_facts) {
		if (gnutls_x509_crt_init(&crt) < 0)
			return;
		if (gnutls_x509_crt_import(crt, ours, GNUTLS_X509_FMT_DER) < 0 ||
		    tls_cert_facts_from_crt(crt, &t->sni_facts, &err) < 0) {
			gnutls_x509_crt_deinit(crt);
			return;
		}
		gnutls_x509_crt_deinit(crt);
		t->has_sni_facts = true;
	}
	out->local = &t->sni_facts;
	if (gnutls_server_name_get(t->s, name, &nlen, &type, 0) == 0 && type == GNUTLS_NAME_DNS)
		snprintf(out->local_why, sizeof(out->local_why), "SNI %.150s", name);
	else
		snprintf(out->local_why, sizeof(out->local_why), "chosen by the TLS library");
}

/* "TLS1.3" -> "TLSv1.3", as administrators read it in Postfix logs */
static void
version_name(gnutls_session_t s, char *out, size_t len)
{
	const char *v = gnutls_protocol_get_name(gnutls_protocol_get_version(s));

	if (v && strncmp(v, "TLS", 3) == 0)
		snprintf(out, len, "TLSv%s", v + 3);
	else
		snprintf(out, len, "%s", v ? v : "unknown");
}

int
tls_conn_facts(struct conn *c, struct tls_session_facts *out)
{
	struct tls_sess *t = c->tr_ctx;
	const gnutls_datum_t *peers;
	const char *why = NULL, *cs;
	unsigned n = 0;
	gnutls_group_t g;

	memset(out, 0, sizeof(*out));
	if (t == NULL || c->tr != &tls_transport)
		return -1;
	version_name(t->s, out->version, sizeof(out->version));
	cs = gnutls_ciphersuite_get(t->s);
	snprintf(out->cipher, sizeof(out->cipher), "%s", cs ? cs : "unknown");
	out->cipher_bits = (unsigned)gnutls_cipher_get_key_size(gnutls_cipher_get(t->s)) * 8;
	g = gnutls_group_get(t->s);
	if (g)
		snprintf(out->kx, sizeof(out->kx), "%s%s",
		    gnutls_protocol_get_version(t->s) == GNUTLS_TLS1_3 ? "" : "ECDHE-",
		    gnutls_group_get_name(g));
	else
		snprintf(out->kx, sizeof(out->kx), "%s", gnutls_kx_get_name(gnutls_kx_get(t->s)));
	out->resumed = gnutls_session_is_resumed(t->s) != 0;
	/* a client presents its certificate only when asked: "local" is what
	 * actually crossed the wire, or a domain-secure verdict could count a
	 * mutual authentication that never happened */
	if (t->cr->server || gnutls_certificate_get_ours(t->s) != NULL)
		out->local = tls_creds_local(t->cr, &why);
	snprintf(out->local_why, sizeof(out->local_why), "%s", why ? why : "");
	if (t->cr->server && out->local)
		local_by_sni(t, out);
	peers = gnutls_certificate_get_peers(t->s, &n);
	if (peers == NULL || n == 0) {
		out->peer.present = false;
		out->peer.chain = TLS_CHAIN_NO_CERT;
		snprintf(out->peer.chain_reason, sizeof(out->peer.chain_reason), "no certificate");
		return 0;
	}
	if (t->cr->trust == NULL) {
		out->peer.present = true;
		out->peer.chain_len = n;
		out->peer.chain = TLS_CHAIN_OTHER;
		snprintf(out->peer.chain_reason, sizeof(out->peer.chain_reason), "no trust configured");
		return 0;
	}
	return tls_verify_chain(t->cr->trust, peers, n, &out->peer);
}

/* the chain of c's handshake against TLSA records */
int
tls_conn_dane(struct conn *c, const struct tls_dane_rr *rrs, size_t n, struct tls_dane_facts *out)
{
	struct tls_sess *t = c->tr_ctx;
	const gnutls_datum_t *peers;
	struct tls_der chain[16];
	unsigned np = 0;

	if (t == NULL || c->tr != &tls_transport) {
		memset(out, 0, sizeof(*out));
		out->match = -1;
		snprintf(out->why, sizeof(out->why), "no TLS session");
		return -1;
	}
	peers = gnutls_certificate_get_peers(t->s, &np);
	if (peers == NULL)
		np = 0;
	if (np > 16)
		np = 16;
	for (unsigned i = 0; i < np; i++) {
		chain[i].data = peers[i].data;
		chain[i].len = peers[i].size;
	}
	return tls_dane_check(rrs, n, chain, np, out);
}

const char *
tls_trust_word(const struct tls_session_facts *f, bool names_ok)
{
	if (!f->peer.present)
		return "Anonymous";
	if (f->peer.chain != TLS_CHAIN_OK)
		return "Untrusted";
	return names_ok ? "Verified" : "Trusted";
}
