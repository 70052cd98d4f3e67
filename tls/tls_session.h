/* tls_session.h: credentials and TLS sessions over non-blocking sockets
 * driven by libev, in both roles. A session is a transport that
 * common/conn.c swaps in after STARTTLS; handshake, read, write and bye
 * never block (EAGAIN re-arms the watcher the library asks for). Part of
 * tls/'s public interface; included by tls.h. */
#ifndef DSMTP_TLS_SESSION_H
#define DSMTP_TLS_SESSION_H

#include <stdbool.h>

struct conn;
struct dsmtp_config;
struct dsmtp_err;
struct tls_trust;
struct tls_creds;
struct tls_session_facts;
struct tls_cert_facts;

/* Credentials are reference counted, so that a reload (SIGHUP) can build
 * new ones and drop its reference to the old ones while handshakes and
 * sessions still use them: the creator holds one reference, every TLS
 * session takes one when it starts (tls_conn_server/_client) and drops it
 * when its transport closes. The credentials hold a reference to their
 * trust (NULL allowed) in turn. */
/* Server credentials: the selected certificate (tls_store_select), the
 * priority string, session-ticket key, trust to judge client chains. */
struct tls_creds *tls_creds_server(const struct dsmtp_config *cfg, struct tls_trust *trust,
    struct dsmtp_err *err);
/* Client credentials: our certificate when with_cert (presented when the
 * server asks), trust for the server's chain, a session cache per next hop */
struct tls_creds *tls_creds_client(const struct dsmtp_config *cfg, struct tls_trust *trust,
    bool with_cert, struct dsmtp_err *err);
/* one more reference to cr (returns cr) */
struct tls_creds *tls_creds_ref(struct tls_creds *cr);
/* drop one reference; the last frees the credentials and drops their
 * trust (NULL is ignored) */
void tls_creds_free(struct tls_creds *cr);
/* references held now (tests, and the reload's log line) */
unsigned tls_creds_refs(const struct tls_creds *cr);
/* the certificate these credentials present, and why it was chosen */
const struct tls_cert_facts *tls_creds_local(const struct tls_creds *cr, const char **why);

/* Start TLS on c once its output has flushed (the 220 to STARTTLS): every
 * input byte buffered until then is discarded by conn.c. */
int tls_conn_server(struct conn *c, struct tls_creds *cr, bool request_client_cert,
    struct dsmtp_err *err);
/* sni: the next hop's name (NULL for an address); cache_key: the next hop,
 * for resumption (NULL: none) */
int tls_conn_client(struct conn *c, struct tls_creds *cr, const char *sni, const char *cache_key,
    struct dsmtp_err *err);
/* the facts of c's finished handshake, the peer chain verified against the
 * credentials' trust; out->peer.leaf must be freed (tls_cert_facts_free) */
int tls_conn_facts(struct conn *c, struct tls_session_facts *out);
/* Postfix's words for a session: Anonymous, Untrusted, Trusted, Verified */
const char *tls_trust_word(const struct tls_session_facts *f, bool names_ok);

#endif
