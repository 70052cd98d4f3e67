/* addr.h: network and mail-domain syntax: listen endpoints ("127.0.0.1:2525",
 * "[::1]:25"), CIDR networks and membership, DNS domain names and next_hop
 * forms. Pure parsing: no DNS, no sockets. */
#ifndef DSMTP_ADDR_H
#define DSMTP_ADDR_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "common/diag.h"

struct addr_endpoint {
	int		family;		/* AF_INET or AF_INET6 */
	unsigned char	addr[16];
	uint16_t	port;
};

struct addr_cidr {
	int		family;
	unsigned char	addr[16];	/* masked to prefix */
	unsigned	prefix;
};

enum addr_hop_kind { HOP_MX, HOP_HOSTPORT, HOP_MAILDIR, HOP_DISCARD };

struct addr_hop {
	enum addr_hop_kind kind;
	char		host[256];	/* HOP_MX, HOP_HOSTPORT */
	uint16_t	port;		/* HOP_HOSTPORT (HOP_MX uses 25) */
	char		path[1024];	/* HOP_MAILDIR */
};

int addr_parse_endpoint(const char *s, struct addr_endpoint *ep, struct dsmtp_err *err);
void addr_endpoint_sockaddr(const struct addr_endpoint *ep, struct sockaddr_storage *ss,
    socklen_t *len);
void addr_endpoint_format(const struct addr_endpoint *ep, char *buf, size_t len);
int addr_parse_port(const char *s, uint16_t *port);

int addr_parse_cidr(const char *s, struct addr_cidr *c, struct dsmtp_err *err);
bool addr_cidr_contains(const struct addr_cidr *c, const struct sockaddr *sa);
void addr_cidr_format(const struct addr_cidr *c, char *buf, size_t len);
/* is this network every address of its family (0.0.0.0/0, ::/0)? */
bool addr_cidr_is_everything(const struct addr_cidr *c);

/* DNS name syntax (LDH labels, 1..63, total <= 253, one trailing dot
 * dropped), lower-cased in place into out; allow_wild admits "*" and "*.x".
 * A name with non-ASCII characters (U-labels) is converted to its A-label
 * form first (IDNA2008, libidn2): out is always ASCII. */
int addr_domain_normalise(const char *s, char *out, size_t outlen, bool allow_wild,
    struct dsmtp_err *err);

/* a U-label domain to its A-label form (lower case), or -1 with the
 * reason: the name is not valid IDNA2008 */
int addr_domain_to_ascii(const char *s, char *out, size_t outlen, struct dsmtp_err *err);
/* local@domain with the domain in A-labels (the local part unchanged);
 * an address without non-ASCII in its domain is copied as it is */
int addr_mailbox_to_ascii(const char *addr, char *out, size_t outlen, struct dsmtp_err *err);

int addr_parse_hop(const char *s, struct addr_hop *hop, struct dsmtp_err *err);

#endif
