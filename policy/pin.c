/* pin.c: direct trust by pin. A pin is "sha256/<base64>" (SHA-256 of the
 * SubjectPublicKeyInfo) or "cert-sha256:<hex>" (SHA-256 of the DER
 * certificate), normalised by config_pin_normalise(); a reference is a
 * trust.pins set name or a literal pin. Owns only the comparison: the
 * digests themselves come from tls/ in the certificate facts. */
#include "autoconfig.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "policy/policy.h"

#define SPKI_PREFIX	"sha256/"
#define CERT_PREFIX	"cert-sha256:"

bool
policy_pinref_is_literal(const char *ref)
{
	return ref != NULL && (strncmp(ref, SPKI_PREFIX, strlen(SPKI_PREFIX)) == 0 ||
	    strncmp(ref, CERT_PREFIX, strlen(CERT_PREFIX)) == 0);
}

bool
policy_pin_matches(const char *pin, const struct tls_cert_facts *f)
{
	if (pin == NULL || f == NULL)
		return false;
	/* base64 is case-sensitive: compare exactly */
	if (strncmp(pin, SPKI_PREFIX, strlen(SPKI_PREFIX)) == 0)
		return f->spki[0] != '\0' && strcmp(pin, f->spki) == 0;
	/* hex is not: config lower-cases it, tls/ should too, but be sure */
	if (strncmp(pin, CERT_PREFIX, strlen(CERT_PREFIX)) == 0)
		return strlen(f->sha256) == 64 &&
		    strcasecmp(pin + strlen(CERT_PREFIX), f->sha256) == 0;
	return false;	/* SHA-1 and anything else are never pins */
}

bool
policy_pins_match(const struct dsmtp_config *cfg, const struct cfg_pinref *refs, size_t n,
    const struct tls_cert_facts *f, char *matched, size_t matchedlen)
{
	for (size_t i = 0; i < n; i++) {
		const struct cfg_pinset *ps;
		const char *name = refs[i].name;

		if (name == NULL)
			continue;
		if (policy_pinref_is_literal(name)) {
			if (!policy_pin_matches(name, f))
				continue;
		} else {
			bool hit = false;

			if (cfg == NULL || (ps = config_pinset(cfg, name)) == NULL)
				continue;
			for (size_t j = 0; j < ps->pins.n && !hit; j++)
				hit = policy_pin_matches(ps->pins.v[j], f);
			if (!hit)
				continue;
		}
		if (matched != NULL && matchedlen > 0)
			snprintf(matched, matchedlen, "%s", name);
		return true;
	}
	if (matched != NULL && matchedlen > 0)
		snprintf(matched, matchedlen, "none");
	return false;
}

size_t
policy_pins_count(const struct dsmtp_config *cfg, const struct cfg_pinref *refs, size_t n)
{
	size_t count = 0;

	for (size_t i = 0; i < n; i++) {
		const struct cfg_pinset *ps;

		if (refs[i].name == NULL)
			continue;
		if (policy_pinref_is_literal(refs[i].name))
			count++;
		else if (cfg != NULL && (ps = config_pinset(cfg, refs[i].name)) != NULL)
			count += ps->pins.n;
	}
	return count;
}
