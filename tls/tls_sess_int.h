/* tls_sess_int.h: the credentials' shape, shared by tls_creds.c and
 * tls_session.c only. */
#ifndef DSMTP_TLS_SESS_INT_H
#define DSMTP_TLS_SESS_INT_H

#include <gnutls/gnutls.h>

#include "tls/tls.h"
#include "tls/tls_int.h"

struct tls_cache_entry {
	char		*key;
	gnutls_datum_t	 data;
};

struct tls_creds {
	unsigned			 refs;	/* see tls_session.h */
	bool				 server;
	gnutls_certificate_credentials_t cert;
	gnutls_priority_t		 prio;
	struct tls_trust		*trust;	/* a reference of ours, or NULL */
	bool				 has_sel;
	struct tls_selected		 sel;
	struct tls_pair			 client;	/* our client certificate, or none */
	bool				 tickets;
	gnutls_datum_t			 ticket_key;
	struct tls_cache_entry		*cache;
	size_t				 ncache;
};

const gnutls_datum_t *tls_creds_cache_get(struct tls_creds *cr, const char *key);
void tls_creds_cache_put(struct tls_creds *cr, const char *key, gnutls_datum_t *data);

#endif
