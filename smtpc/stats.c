/* stats.c: dsmtpc's observability hooks (DESIGN.md 13.5): send.metrics
 * (the metrics process, our certificates, connection and delivery counts)
 * and logs.peers (a connection's protocol log level from its destination
 * domain, MX host and address). Every count is one atomic add; every
 * function is a no-op when metrics are off. */
#include "autoconfig.h"

#include <stdio.h>
#include <string.h>

#include "logs/plog.h"
#include "metrics/metrics.h"
#include "smtpc/smtpc.h"

static void
policy_seen(const char *level, bool pass, const char *reason)
{
	if (!pass)
		metrics_policy_failure(level, reason);
}

pid_t
smtpc_metrics_start(const struct dsmtp_config *cfg, const char *queue_dir, struct dsmtp_err *err)
{
	char ep[80];
	int fd;
	pid_t p;

	if (!cfg->send.metrics_set)
		return 0;
	if (metrics_init(METRICS_SEND, err) < 0)
		return -1;
	plog_set_policy_observer(policy_seen);
	if ((fd = metrics_listen(&cfg->send.metrics, err)) < 0)
		return -1;
	if ((p = metrics_child_start(fd, queue_dir, NULL, NULL, err)) < 0)
		return -1;
	addr_endpoint_format(&cfg->send.metrics, ep, sizeof(ep));
	diag_info("metrics on http://%s/metrics (process %ld)", ep, (long)p);
	return p;
}

void
smtpc_metrics_certs(const struct dsmtp_config *cfg, const struct tls_creds *creds)
{
	const struct tls_cert_facts *v[17];
	struct tls_cert_facts files[16];
	size_t n = 0, nf = 0;

	if (!metrics_enabled())
		return;
	if (creds && (v[n] = tls_creds_local(creds, NULL)) != NULL)
		n++;
	for (size_t i = 0; i < cfg->ncertificates && nf < 16; i++) {
		struct dsmtp_err err;

		if (tls_cert_facts_from_file(cfg->certificates[i].cert, &files[nf], &err) == 0)
			v[n++] = &files[nf++];
	}
	metrics_certs_set(v, n);
	for (size_t i = 0; i < nf; i++)
		tls_cert_facts_free(&files[i]);
}

void
smtpc_observe_connect(const struct dsmtp_config *cfg, struct plog_session *log,
    const struct smtpc_target *t, const struct smtpc_dest *d, const struct smtpc_job *j)
{
	/* a destination's domain is its own only at domain-secure (other
	 * destinations are shared by every domain with the same next hop) */
	const char *names[4] = { d->level == LEVEL_DOMAIN_SECURE ? d->domain : NULL, d->hop.host,
	    t->host, NULL };
	const char *at;

	if (cfg->logs.npeers == 0)
		return;
	/* the recipient domain of the job the connection opens with */
	if (j != NULL && j->nrcpts > 0 && (at = strrchr(j->rcpts[0], '@')) != NULL)
		names[3] = at + 1;
	plog_peer_decide(cfg, log, (const struct sockaddr *)&t->ss, names, 4);
}

void
smtpc_observe_tls(const struct smtpc_target *t, const struct tls_session_facts *f)
{
	if (f->peer.present)
		metrics_peer_cert(t->host, f->peer.leaf.sha256);
}

void
smtpc_observe_end(const struct tls_session_facts *f)
{
	metrics_connection(f != NULL ? f->version : NULL);
}

void
smtpc_observe_delivery(enum dsmtp_level level, enum spool_rcpt_state st)
{
	metrics_delivery(level, st == SPOOL_RCPT_DELIVERED ? METRICS_DELIVERED :
	    st == SPOOL_RCPT_PENDING ? METRICS_DEFERRED : METRICS_BOUNCED);
}
