/* stats.c: dsmtpd's side of receive.metrics (DESIGN.md 13.5): starts the
 * metrics process, publishes our certificates, and turns session facts
 * into metrics/ counts (a session's TLS version and client-certificate
 * result, the reply that ends a message, a peer's certificate). Every
 * count is one atomic add into the mapping the workers share. */
#include "autoconfig.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/diag.h"
#include "common/privdrop.h"
#include "logs/plog.h"
#include "metrics/metrics.h"
#include "smtpd/smtpd.h"

static void
policy_seen(const char *level, bool pass, const char *reason)
{
	if (!pass)
		metrics_policy_failure(level, reason);
}

/* in the metrics process: the SMTP listeners are not its to hold, and
 * started as root it runs as `user` like the workers (DESIGN.md 13.4):
 * it parses HTTP from whoever reaches its port */
static void
close_listeners(void *arg)
{
	struct smtpd_server *srv = arg;
	struct dsmtp_err err;

	for (size_t i = 0; i < srv->nlisteners; i++)
		if (srv->listeners[i].fd >= 0)
			close(srv->listeners[i].fd);
	if (srv->drop_user != NULL && privdrop_to(srv->drop_user, &err) < 0)
		diag_fatalx(EX_DSMTP_OSERR, "metrics process: %s", err.msg);
}

pid_t
smtpd_metrics_start(struct smtpd_server *srv, struct dsmtp_err *err)
{
	int fd;
	pid_t p;

	if (!srv->cfg.receive.metrics_set)
		return 0;
	if (metrics_init(METRICS_RECEIVE, err) < 0)
		return -1;
	plog_set_policy_observer(policy_seen);
	smtpd_metrics_certs(srv);
	if ((fd = metrics_listen(&srv->cfg.receive.metrics, err)) < 0)
		return -1;
	if ((p = metrics_child_start(fd, NULL, close_listeners, srv, err)) < 0)
		return -1;
	return p;
}

void
smtpd_metrics_certs(struct smtpd_server *srv)
{
	const struct tls_cert_facts *v[17];
	struct tls_cert_facts files[16];
	size_t n = 0, nf = 0;

	if (!metrics_enabled())
		return;
	if (srv->creds && (v[n] = tls_creds_local(srv->creds, NULL)) != NULL)
		n++;
	for (size_t i = 0; i < srv->cfg.ncertificates && nf < 16; i++) {
		struct dsmtp_err err;

		if (tls_cert_facts_from_file(srv->cfg.certificates[i].cert, &files[nf], &err) == 0)
			v[n++] = &files[nf++];
	}
	metrics_certs_set(v, n);
	for (size_t i = 0; i < nf; i++)
		tls_cert_facts_free(&files[i]);
}

void
smtpd_metrics_session_end(struct smtpd_session *s)
{
	int cert;

	if (!metrics_enabled())
		return;
	if (!s->has_tls_facts) {
		metrics_session(NULL, TLS_CHAIN_NO_CERT);
		return;
	}
	if (!s->tls.peer.present)
		cert = TLS_CHAIN_NO_CERT;
	else if (s->peer_pin[0])
		cert = METRICS_CERT_PINNED;
	else
		cert = (int)s->tls.peer.chain;
	metrics_session(s->tls.version, cert);
}

void
smtpd_metrics_reply(struct smtpd_session *s, const char *line, size_t len)
{
	if (!s->message_end || len < 3 || line[0] < '2' || line[0] > '5' ||
	    line[1] < '0' || line[1] > '9' || line[2] < '0' || line[2] > '9')
		return;
	/* the reply ending a message: its code (a 4xx/5xx before the end of
	 * data is a command's, not counted here) */
	s->message_end = false;
	metrics_message((line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0'));
}

void
smtpd_metrics_tls(struct smtpd_session *s)
{
	char key[400];

	if (!metrics_enabled() || !s->has_tls_facts || !s->tls.peer.present)
		return;
	/* the peer as it names itself (the EHLO before STARTTLS), else its address */
	snprintf(key, sizeof(key), "%s", s->helo[0] ? s->helo : s->peer_ip);
	metrics_peer_cert(key, s->tls.peer.leaf.sha256);
}
