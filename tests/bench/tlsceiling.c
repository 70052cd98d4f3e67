/* tlsceiling.c: the benchmark's lower bound on server work (tests/bench).
 * A minimal SMTP server with STARTTLS on GnuTLS, one connection at a time,
 * blocking I/O, no spool, no logs, no policy: greeting, EHLO, STARTTLS and
 * the handshake, EHLO, MAIL/RCPT/DATA answered 250 with the data read and
 * dropped, QUIT. Driven by loadgen with --server-pid, it gives the TLS
 * handshakes (and messages) one core can serve per CPU second with the
 * same certificate and the same GnuTLS as dsmtpd: the ceiling that dsmtpd's
 * scenario-1 throughput is compared with.
 *
 *	tlsceiling --port PORT --cert FILE --key FILE [--no-tickets] [--priority STR]
 *
 * The default priority string is dsmtpd's default tls_priority, so the
 * key exchange and cipher negotiated are the ones dsmtpd negotiates;
 * --priority tries another (e.g. X25519 first) to price a change.
 * Listens on 127.0.0.1 until SIGTERM. Not installed; not a mail server.
 * The TLS setup, replies and end-of-data scan are benchsrv.c's (shared with
 * tlssink.c, the libev sink of the relay scenarios). */
#include "autoconfig.h"

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <gnutls/gnutls.h>

#include "tests/bench/benchsrv.h"

#define TC_BUF		16384
#define TC_LINE_MAX	BS_LINE_MAX

/* one connection: the socket, TLS once started, and the read buffer */
struct tc_conn {
	int			 fd;
	gnutls_session_t	 tls;
	char			 buf[TC_BUF];
	size_t			 len;
};

static volatile sig_atomic_t tc_stop;

static void
on_term(int sig)
{
	(void)sig;
	tc_stop = 1;
}

static int
tc_write(struct tc_conn *c, const char *s)
{
	size_t len = strlen(s), off = 0;

	while (off < len) {
		ssize_t n;

		if (c->tls) {
			n = gnutls_record_send(c->tls, s + off, len - off);
			if (n == GNUTLS_E_INTERRUPTED && !tc_stop)
				continue;	/* E_AGAIN: SO_SNDTIMEO expired */
		} else {
			n = send(c->fd, s + off, len - off, MSG_NOSIGNAL);
			if (n < 0 && errno == EINTR)
				continue;
		}
		if (n <= 0)
			return -1;
		off += (size_t)n;
	}
	return 0;
}

/* more bytes into c->buf; 0 at end of stream, -1 on error */
static ssize_t
tc_fill(struct tc_conn *c)
{
	ssize_t n;

	if (c->len == sizeof(c->buf))
		return -1;
	for (;;) {
		if (c->tls) {
			n = gnutls_record_recv(c->tls, c->buf + c->len, sizeof(c->buf) - c->len);
			if (n == GNUTLS_E_INTERRUPTED && !tc_stop)
				continue;
			if (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED)
				return -1;	/* SO_RCVTIMEO expired, or SIGTERM */
			if (n < 0 && !gnutls_error_is_fatal((int)n))
				continue;
			if (n == GNUTLS_E_PREMATURE_TERMINATION)
				return 0;
		} else {
			n = read(c->fd, c->buf + c->len, sizeof(c->buf) - c->len);
			if (n < 0 && errno == EINTR && !tc_stop)
				continue;
		}
		break;
	}
	if (n > 0)
		c->len += (size_t)n;
	return n < 0 ? -1 : n;
}

/* one command line, CRLF stripped, into line; 0 at end of stream */
static int
tc_line(struct tc_conn *c, char *line, size_t size)
{
	for (;;) {
		char *nl = memchr(c->buf, '\n', c->len);

		if (nl) {
			size_t ll = (size_t)(nl - c->buf) + 1, copy = ll - 1;

			if (copy && c->buf[copy - 1] == '\r')
				copy--;
			if (copy >= size)
				return -1;
			memcpy(line, c->buf, copy);
			line[copy] = '\0';
			c->len -= ll;
			memmove(c->buf, c->buf + ll, c->len);
			return 1;
		}
		if (c->len > TC_LINE_MAX)
			return -1;
		switch (tc_fill(c)) {
		case 0: return 0;
		case -1: return -1;
		default: break;
		}
	}
}

/* read and drop message data up to CRLF.CRLF */
static int
tc_data(struct tc_conn *c)
{
	struct bs_dot d;

	bs_dot_init(&d);
	for (;;) {
		ssize_t end = bs_dot_scan(&d, c->buf, c->len);

		if (end >= 0) {
			c->len -= (size_t)end;
			memmove(c->buf, c->buf + end, c->len);
			return 1;
		}
		c->len = 0;
		if (tc_fill(c) <= 0)
			return -1;
	}
}

static int
tc_handshake(struct tc_conn *c)
{
	int rc;

	if (bs_tls_session(&c->tls, c->fd, 0) < 0)
		return -1;
	do {
		rc = gnutls_handshake(c->tls);
	} while (rc < 0 && rc != GNUTLS_E_AGAIN && !gnutls_error_is_fatal(rc) && !tc_stop);
	return rc < 0 ? -1 : 0;
}

/* one SMTP session, start to end */
static void
tc_serve(struct tc_conn *c)
{
	char line[TC_LINE_MAX + 1];

	if (tc_write(c, "220 tlsceiling ESMTP\r\n") < 0)
		return;
	while (tc_line(c, line, sizeof(line)) == 1) {
		char reply[256];

		switch (bs_command(line, c->tls != NULL, "tlsceiling", reply, sizeof(reply))) {
		case BS_STARTTLS:
			if (tc_write(c, reply) < 0)
				return;
			c->len = 0;	/* CVE-2011-0411: no plaintext across STARTTLS */
			if (tc_handshake(c) < 0)
				return;
			continue;
		case BS_DATA:
			if (tc_write(c, reply) < 0 || tc_data(c) < 0)
				return;
			snprintf(reply, sizeof(reply), "250 2.0.0 dropped\r\n");
			break;
		case BS_QUIT:
			(void)tc_write(c, reply);
			return;
		case BS_REPLY:
			break;
		}
		if (tc_write(c, reply) < 0)
			return;
	}
}

static void __attribute__((noreturn))
usage(int rc)
{
	fprintf(rc ? stderr : stdout,
	    "Usage: tlsceiling --port PORT --cert FILE --key FILE [--no-tickets] [--priority STR]\n");
	exit(rc);
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "port", required_argument, NULL, 'p' },
		{ "cert", required_argument, NULL, 'c' },
		{ "key", required_argument, NULL, 'k' },
		{ "no-tickets", no_argument, NULL, 'T' },
		{ "priority", required_argument, NULL, 'P' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	const char *cert = NULL, *key = NULL, *prio = BS_PRIORITY;
	bool tickets = true;
	struct sigaction sa;
	long port = 0;
	int ch, lfd, one = 1;

	while ((ch = getopt_long(argc, argv, "p:c:k:TP:h", opts, NULL)) != -1) {
		switch (ch) {
		case 'p': port = strtol(optarg, NULL, 10); break;
		case 'c': cert = optarg; break;
		case 'k': key = optarg; break;
		case 'T': tickets = false; break;
		case 'P': prio = optarg; break;
		case 'h': usage(0);
		default: usage(2);
		}
	}
	if (optind != argc || port < 1 || port > 65535 || !cert || !key)
		usage(2);

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_term;	/* no SA_RESTART: accept() returns EINTR */
	if (sigaction(SIGTERM, &sa, NULL) < 0 || sigaction(SIGINT, &sa, NULL) < 0 ||
	    signal(SIGPIPE, SIG_IGN) == SIG_ERR) {
		perror("tlsceiling: signals");
		return 1;
	}
	if (bs_tls_init("tlsceiling", cert, key, prio, tickets) < 0 ||
	    (lfd = bs_listen("tlsceiling", port, 0)) < 0)
		return 1;
	while (!tc_stop) {
		struct timeval tv = { 10, 0 };	/* a stuck client cannot hold it */
		struct tc_conn *c;
		int fd = accept(lfd, NULL, NULL);

		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			perror("tlsceiling: accept");
			break;
		}
		if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0 ||
		    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0 ||
		    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0 ||
		    (c = calloc(1, sizeof(*c))) == NULL) {
			perror("tlsceiling: connection setup");
			close(fd);
			continue;
		}
		c->fd = fd;
		tc_serve(c);
		if (c->tls)
			gnutls_deinit(c->tls);
		close(fd);
		free(c);
	}
	close(lfd);
	bs_tls_free();
	return 0;
}
