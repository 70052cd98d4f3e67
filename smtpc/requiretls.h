/* requiretls.h: dsmtpc's side of RFC 8689 and of the security memory
 * (DESIGN.md 13.3): which destinations a REQUIRETLS or "TLS-Required: No"
 * message goes through, what a session proved about its peer, and the
 * gate every transaction passes before MAIL FROM. client.c calls it from
 * a few lines; the rules live here. */
#ifndef DSMTP_SMTPC_REQUIRETLS_H
#define DSMTP_SMTPC_REQUIRETLS_H

#include <stdbool.h>
#include <stddef.h>

#include "common/config.h"

struct plog;
struct plog_session;
struct policy_dest;
struct policy_verdict;
struct tls_session_facts;
struct smtpc_job;

/* destination modes: part of a destination's key, so a connection opened
 * for one kind of message never carries another */
#define SMTPC_DEST_REQUIRETLS	0x01	/* REQUIRETLS messages (and their DSNs) */
#define SMTPC_DEST_TLS_OPTIONAL	0x02	/* "TLS-Required: No" messages */

/* the mode for a message's spool flags (SPOOL_F_*) */
unsigned smtpc_rt_dest_mode(unsigned spool_flags);
/* the level a destination of that mode uses: REQUIRETLS asks for DANE
 * where the route is weaker (TLSA looked up, so a DNSSEC-signed domain
 * authenticates its MX); "TLS-Required: No" drops DANE (a recipient-side
 * policy) to opportunistic, and keeps every level an administrator set
 * that does not depend on the recipient's DNS */
enum dsmtp_level smtpc_rt_dest_level(enum dsmtp_level level, unsigned mode);

/* what the finished handshake proved about the server, whatever the
 * route demanded: "dane", "pin", "pkix" (a chain to the trust store that
 * names the host connected to), or NULL (not authenticated) */
const char *smtpc_rt_tls_auth(const struct dsmtp_config *cfg, const struct policy_dest *pd,
    const struct tls_session_facts *f, const struct policy_verdict *v);

/* May a REQUIRETLS message use this next hop? An admin route of level
 * verify, domain-secure, pinned or dane-only; or a server authenticated by
 * DANE (its TLSA records, and so its MX, came signed through DNSSEC); or,
 * with an enforced MTA-STS policy, one authenticated by the trust store.
 * true, or false with why. */
bool smtpc_rt_eligible(enum dsmtp_level level, bool tls, const char *auth, bool sts_enforced,
    char *why, size_t wl);

/* one session, as the gate sees it */
struct smtpc_rt_view {
	const struct dsmtp_config	*cfg;
	bool				 memory;	/* consult and teach the memory */
	enum dsmtp_level		 level;		/* the destination's */
	unsigned			 mode;		/* SMTPC_DEST_* */
	bool				 tls;
	const char			*auth;		/* smtpc_rt_tls_auth, or NULL */
	bool				 requiretls_offered;	/* in the EHLO reply */
	bool				 sts_enforced;
	const char			*host;		/* the server's name */
	const char			*peer;		/* host[addr]:port */
	struct plog			*plog;		/* NULL: not logging */
	struct plog_session		*log;
};

/* Before MAIL FROM: sets the result of every recipient of j that may not
 * go on this connection (security memory: 4.7.5 deferral; REQUIRETLS:
 * 5.7.30 failure), logs a Policy record for each refusal, learns what the
 * session showed into the memory, and sets j->mail_requiretls. */
void smtpc_rt_gate(const struct smtpc_rt_view *v, struct smtpc_job *j);

#endif
