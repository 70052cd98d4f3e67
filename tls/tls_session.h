/* tls_session.h: credentials and TLS sessions over non-blocking sockets
 * driven by libev (server and client roles). Part of tls/'s public
 * interface; included by tls.h. */
#ifndef DSMTP_TLS_SESSION_H
#define DSMTP_TLS_SESSION_H

#endif
