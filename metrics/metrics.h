/* metrics.h: the one public header of metrics/ (DESIGN.md 13.5): counters
 * and gauges for receive.metrics / send.metrics, and the process that
 * serves them in the Prometheus text exposition format at GET /metrics.
 *
 * The numbers live in one anonymous MAP_SHARED mapping made before the
 * fork, so every dsmtpd worker adds into the same counters and the metrics
 * process reads them. A count is one relaxed atomic add: nothing on an
 * SMTP loop waits for a lock, a system call or the HTTP server. Every
 * label takes its value from a fixed list (TLS versions, chain results,
 * reply codes, RFC 8460 result types, levels): a peer cannot grow the
 * label set. Every function is a no-op until metrics_init() succeeded. */
#ifndef DSMTP_METRICS_H
#define DSMTP_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/config.h"

struct tls_cert_facts;

enum metrics_prog { METRICS_RECEIVE, METRICS_SEND };

/* the client-certificate result of a receive session, beside the chain
 * results of enum tls_chain_status */
#define METRICS_CERT_PINNED	(-1)	/* the certificate matched trust.pins */

enum metrics_outcome { METRICS_DELIVERED, METRICS_DEFERRED, METRICS_BOUNCED };

/* Make the shared counters of this process (and of the children it forks
 * after this). 0, or -1 with err. */
int metrics_init(enum metrics_prog prog, struct dsmtp_err *err);
void metrics_fini(void);	/* unmaps; in the last process only */
bool metrics_enabled(void);
const char *metrics_process_name(void);	/* "dsmtpd-metrics", "dsmtpc-metrics" */

/* ---- counting (any process, any thread) ---- */

/* a receive session ended: TLS version ("TLSv1.3", NULL = no TLS) and the
 * client certificate's chain result (enum tls_chain_status, or
 * METRICS_CERT_PINNED) */
void metrics_session(const char *tls_version, int cert_result);
/* a receive message ended with this reply code (250 = accepted) */
void metrics_message(int code);
/* a send connection ended (TLS version, NULL = plaintext) */
void metrics_connection(const char *tls_version);
/* one recipient's delivery attempt at a send level */
void metrics_delivery(enum dsmtp_level level, enum metrics_outcome o);
/* a failed policy verdict, by its level ("memory", "requiretls", a TLS
 * level) and reason ("chain: ...", "no-tls: ...", "sts: ...") */
void metrics_policy_failure(const char *level, const char *reason);
/* a peer's certificate (its SHA-256 hex): counted as a change when it
 * differs from the one last seen for that peer (a bounded table) */
void metrics_peer_cert(const char *peer, const char *sha256);
/* our certificates now (on start and reload) */
void metrics_certs_set(const struct tls_cert_facts *const *f, size_t n);

/* the reason word of a verdict as an RFC 8460 result type where one fits;
 * MTA-STS (reason "sts: ..."), the security memory (level "memory") and
 * REQUIRETLS (level "requiretls") under names of their own */
const char *metrics_result_type(const char *level, const char *reason);

/* ---- serving ---- */

/* the text exposition of every metric, malloc'd (queue_dir: the spool
 * whose size and oldest message are gauged, or NULL) */
char *metrics_render(const char *queue_dir, size_t *len);

/* bind ep for the metrics server (before privileges are dropped); the
 * listening descriptor, or -1 with err */
int metrics_listen(const struct addr_endpoint *ep, struct dsmtp_err *err);
/* Fork the "metrics" process: it serves GET /metrics on fd (libmicrohttpd,
 * its own polling thread, bounded connections and timeouts) until SIGTERM
 * or its parent's death. in_child runs first in the child (close what it
 * must not hold: the SMTP listeners). The child's pid, or -1 with err; the
 * parent closes fd. */
pid_t metrics_child_start(int fd, const char *queue_dir, void (*in_child)(void *), void *arg,
    struct dsmtp_err *err);
/* SIGTERM the metrics process and reap it (pid <= 0: nothing) */
void metrics_child_stop(pid_t pid);

#endif
