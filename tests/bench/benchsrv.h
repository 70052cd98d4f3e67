/* benchsrv.h: what the benchmark's two minimal SMTP servers share
 * (tests/bench: tlsceiling.c, blocking, one connection at a time; tlssink.c,
 * libev, many): the GnuTLS server credentials and priority (dsmtpd's
 * default, so the same key exchange and cipher), a server session on a
 * socket, the loopback listener, the reply to each command, and the scan
 * for the end of message data. Not a mail server: every message is
 * accepted and dropped. */
#ifndef BENCHSRV_H
#define BENCHSRV_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include <gnutls/gnutls.h>

/* dsmtpd's default tls_priority (common/config.h, README.md): NORMAL with
 * X25519 first among the groups */
#define BS_PRIORITY	"NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2:-GROUP-ALL:+GROUP-X25519:" \
	"+GROUP-SECP256R1:+GROUP-SECP384R1:+GROUP-SECP521R1:+GROUP-X448:+GROUP-FFDHE2048:" \
	"+GROUP-FFDHE3072:+GROUP-FFDHE4096:%SERVER_PRECEDENCE"
#define BS_LINE_MAX	1000

/* load the certificate and key, the priority string, a ticket key when
 * tickets are on; prints the reason and returns -1 on failure */
int	bs_tls_init(const char *prog, const char *cert, const char *key, const char *prio,
	    bool tickets);
void	bs_tls_free(void);
/* a server session on fd (flags: GNUTLS_NONBLOCK for the libev server) */
int	bs_tls_session(gnutls_session_t *s, int fd, unsigned flags);

/* a listening socket on 127.0.0.1:port (flags: SOCK_NONBLOCK or 0) */
int	bs_listen(const char *prog, long port, int flags);

/* what a command line (CRLF stripped) asks of the server */
enum bs_action {
	BS_REPLY,	/* send the reply, go on */
	BS_STARTTLS,	/* send the reply, then the handshake */
	BS_DATA,	/* send the 354, then message data */
	BS_QUIT		/* send the reply, close */
};
/* the reply to a command line; name is the server's name in EHLO */
enum bs_action	bs_command(const char *line, bool tls, const char *name, char *reply,
		    size_t size);

/* the end of message data: CRLF "." CRLF, the DATA line's CRLF counting */
struct bs_dot {
	int	st;	/* 0 in a line, 1 CR seen, 2 line start, 3 ".", 4 ".CR" */
};
void	bs_dot_init(struct bs_dot *d);
/* scan buf: the offset just past the final dot's CRLF, or -1 when the
 * whole buffer is data (and the state carries over to the next call) */
ssize_t	bs_dot_scan(struct bs_dot *d, const char *buf, size_t len);

#endif
