/* coverage.c: does our own certificate cover every namespace partners
 * authenticate us by (domain_secure.local, else receive.accepted_domains)?
 * One certificate must, because it is chosen before the domain is known
 * (DESIGN.md section 1). Owns the report text; reading the certificate is
 * tls/'s job. */
#include "autoconfig.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "policy/policy.h"

/* append to report, keeping it terminated; a full report ends in "..." */
static void
append(char *report, size_t len, size_t *used, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void
append(char *report, size_t len, size_t *used, const char *fmt, ...)
{
	va_list ap;
	int w;

	if (report == NULL || len == 0 || *used >= len - 1)
		return;
	va_start(ap, fmt);
	w = vsnprintf(report + *used, len - *used, fmt, ap);
	va_end(ap);
	if (w < 0 || (size_t)w >= len - *used) {
		*used = len - 1;
		if (len > 4)
			memcpy(report + len - 4, "...", 4);
		return;
	}
	*used += (size_t)w;
}

int
policy_check_coverage(const struct dsmtp_config *cfg, const struct tls_cert_facts *ours,
    char *report, size_t len)
{
	const struct cfg_strlist *ns = config_local_namespaces(cfg);
	enum ds_match mode = cfg->domain_secure.match;
	size_t used = 0;
	int missing = 0;

	if (report != NULL && len > 0)
		report[0] = '\0';
	for (size_t i = 0; i < ns->n; i++) {
		char matched[256];

		if (ours != NULL && policy_cert_covers(mode, ours, ns->v[i], matched,
		    sizeof(matched)))
			append(report, len, &used, "covered: %s (by %s)\n", ns->v[i], matched);
		else {
			append(report, len, &used, "not covered: %s\n", ns->v[i]);
			missing++;
		}
	}
	if (missing > 0) {
		char names[1024];

		policy_cert_names_format(ours, names, sizeof(names));
		append(report, len, &used, "the certificate's names (match %s): %s\n",
		    config_match_name(mode), names);
	}
	return missing;
}
