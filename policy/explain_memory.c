/* explain_memory.c: the security memory's and RFC 8689's part in
 * "dsmtp-policy explain DOMAIN" (DESIGN.md 13.3; the store is
 * common/secmem.h). Reads the memory, never writes it. */
#include "autoconfig.h"

#include <stdio.h>
#include <time.h>

#include "common/config.h"
#include "common/secmem.h"
#include "policy/policy.h"
#include "policy/policy_cmd.h"

void
policy_explain_memory(const struct dsmtp_config *cfg, const char *domain, enum dsmtp_level level)
{
	struct secmem_rec r;
	struct dsmtp_err err;
	char desc[64], date[32];
	struct tm tm;
	time_t t;
	int rc;

	if (!cfg->send.memory)
		printf("security memory: off (send.memory: false)\n");
	else if ((rc = secmem_get(cfg, domain, &r, &err)) < 0)
		printf("security memory: unreadable: %s (deliveries defer until it is fixed or "
		    "dsmtpc memory forget %s)\n", err.msg, domain);
	else if (rc == 0)
		printf("security memory: nothing remembered for %s yet (the first delivery "
		    "teaches it)\n", domain);
	else {
		secmem_describe(r.level, r.method, desc, sizeof(desc));
		t = (time_t)r.seen;
		if (gmtime_r(&t, &tm) == NULL || strftime(date, sizeof(date), "%Y-%m-%d", &tm) == 0)
			snprintf(date, sizeof(date), "?");
		printf("security memory: %s showed %s on %s (host %s); a delivery below that "
		    "defers (4.7.5) whatever the level says, unless the message has "
		    "TLS-Required: No; dsmtpc memory forget %s clears it\n", domain, desc, date,
		    r.host, domain);
	}
	switch (level) {
	case LEVEL_VERIFY:
	case LEVEL_DOMAIN_SECURE:
	case LEVEL_PINNED:
	case LEVEL_DANE_ONLY:
		printf("requiretls: REQUIRETLS messages may go (level %s authenticates the next hop), "
		    "if it offers REQUIRETLS; else they bounce 5.7.30\n", config_level_name(level));
		break;
	default:
		printf("requiretls: REQUIRETLS messages go only to an MX host authenticated by DANE "
		    "(DNSSEC) or an enforced MTA-STS policy that offers REQUIRETLS; else they "
		    "bounce 5.7.30\n");
		break;
	}
}
