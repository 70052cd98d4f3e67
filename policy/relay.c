/* relay.c: relay authorisation (DESIGN.md section 11, "no open relay"):
 * mail for an accepted domain is taken from anyone; mail for any other
 * domain only from a relay network or a client whose certificate matches
 * receive.relay.pins. Owns the decision, not the address parsing: the
 * caller hands in the recipient's domain already parsed. */
#include "autoconfig.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "policy/policy.h"

static const char *const relay_names[] = {
	[POLICY_RELAY_DENIED] = "denied",
	[POLICY_RELAY_ACCEPTED_DOMAIN] = "accepted-domain",
	[POLICY_RELAY_NETWORK] = "relay-network",
	[POLICY_RELAY_PIN] = "relay-pin",
};

const char *
policy_relay_name(enum policy_relay r)
{
	if ((unsigned)r >= sizeof(relay_names) / sizeof(relay_names[0]))
		return "invalid";
	return relay_names[r];
}

static void	set_why(char *why, size_t whylen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
set_why(char *why, size_t whylen, const char *fmt, ...)
{
	va_list ap;

	if (why == NULL || whylen == 0)
		return;
	va_start(ap, fmt);
	(void)vsnprintf(why, whylen, fmt, ap);
	va_end(ap);
}

enum policy_relay
policy_relay_check(const struct dsmtp_config *cfg, const struct sockaddr *client,
    const struct tls_peer_facts *client_cert, const char *rcpt_domain, char *why, size_t whylen)
{
	char dom[128], net[64], pin[64];

	policy_printable(rcpt_domain, dom, sizeof(dom));
	if (cfg == NULL) {
		set_why(why, whylen, "denied: no configuration");
		return POLICY_RELAY_DENIED;
	}
	if (rcpt_domain != NULL) {
		for (size_t i = 0; i < cfg->receive.accepted_domains.n; i++)
			if (policy_domain_eq(cfg->receive.accepted_domains.v[i], rcpt_domain)) {
				set_why(why, whylen, "accepted-domain: %s is ours", dom);
				return POLICY_RELAY_ACCEPTED_DOMAIN;
			}
	}
	if (client != NULL) {
		for (size_t i = 0; i < cfg->receive.nrelay_networks; i++)
			if (addr_cidr_contains(&cfg->receive.relay_networks[i], client)) {
				addr_cidr_format(&cfg->receive.relay_networks[i], net, sizeof(net));
				set_why(why, whylen, "relay-network: client in %s", net);
				return POLICY_RELAY_NETWORK;
			}
	}
	if (client_cert != NULL && client_cert->present && cfg->receive.nrelay_pins > 0 &&
	    policy_pins_match(cfg, cfg->receive.relay_pins, cfg->receive.nrelay_pins,
	    &client_cert->leaf, pin, sizeof(pin))) {
		set_why(why, whylen, "relay-pin: client certificate matches pin %s", pin);
		return POLICY_RELAY_PIN;
	}
	set_why(why, whylen, "denied: %s is not ours, and the client is in no relay network "
		    "and %s", dom, client_cert != NULL && client_cert->present ?
		    "its certificate matches no relay pin" : "sent no client certificate");
	return POLICY_RELAY_DENIED;
}
