/* benchsrv.c: the pieces the benchmark's minimal SMTP servers share
 * (tlsceiling.c, tlssink.c): GnuTLS server setup with dsmtpd's default
 * priority, a server session, the loopback listener, the command replies
 * and the end-of-data scan. See benchsrv.h. */
#include "autoconfig.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tests/bench/benchsrv.h"

static gnutls_certificate_credentials_t bs_cred;
static gnutls_priority_t bs_prio;
static gnutls_datum_t bs_ticket_key;
static bool bs_tickets;

int
bs_tls_init(const char *prog, const char *cert, const char *key, const char *prio, bool tickets)
{
	const char *errpos = NULL;
	int rc;

	bs_tickets = tickets;
	if ((rc = gnutls_global_init()) < 0 ||
	    (rc = gnutls_certificate_allocate_credentials(&bs_cred)) < 0 ||
	    (rc = gnutls_certificate_set_x509_key_file(bs_cred, cert, key, GNUTLS_X509_FMT_PEM)) < 0 ||
	    (tickets && (rc = gnutls_session_ticket_key_generate(&bs_ticket_key)) < 0)) {
		fprintf(stderr, "%s: %s: %s\n", prog, cert, gnutls_strerror(rc));
		return -1;
	}
	if ((rc = gnutls_priority_init(&bs_prio, prio ? prio : BS_PRIORITY, &errpos)) < 0) {
		fprintf(stderr, "%s: priority %s: %s at \"%s\"\n", prog, prio, gnutls_strerror(rc),
		    errpos ? errpos : "");
		return -1;
	}
	return 0;
}

void
bs_tls_free(void)
{
	gnutls_free(bs_ticket_key.data);
	bs_ticket_key.data = NULL;
	gnutls_priority_deinit(bs_prio);
	gnutls_certificate_free_credentials(bs_cred);
	gnutls_global_deinit();
}

int
bs_tls_session(gnutls_session_t *s, int fd, unsigned flags)
{
	if (gnutls_init(s, GNUTLS_SERVER | GNUTLS_NO_SIGNAL | flags) < 0) {
		*s = NULL;
		return -1;
	}
	if (gnutls_priority_set(*s, bs_prio) < 0 ||
	    gnutls_credentials_set(*s, GNUTLS_CRD_CERTIFICATE, bs_cred) < 0)
		return -1;
	if (bs_tickets && gnutls_session_ticket_enable_server(*s, &bs_ticket_key) < 0)
		return -1;
	gnutls_transport_set_int(*s, fd);
	return 0;
}

int
bs_listen(const char *prog, long port, int flags)
{
	struct sockaddr_in sin;
	int fd, one = 1;

	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | flags, 0)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0) {
		fprintf(stderr, "%s: socket: %s\n", prog, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0 || listen(fd, 1024) < 0) {
		fprintf(stderr, "%s: 127.0.0.1:%ld: %s\n", prog, port, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

enum bs_action
bs_command(const char *line, bool tls, const char *name, char *reply, size_t size)
{
	const char *r;

	if (strncasecmp(line, "EHLO", 4) == 0) {
		snprintf(reply, size, "250-%s\r\n250-PIPELINING\r\n250-8BITMIME\r\n%s250 SIZE 104857600\r\n",
		    name, tls ? "" : "250-STARTTLS\r\n");
		return BS_REPLY;
	}
	if (strncasecmp(line, "STARTTLS", 8) == 0 && !tls) {
		snprintf(reply, size, "220 2.0.0 go ahead\r\n");
		return BS_STARTTLS;
	}
	if (strncasecmp(line, "DATA", 4) == 0) {
		snprintf(reply, size, "354 go ahead\r\n");
		return BS_DATA;
	}
	if (strncasecmp(line, "QUIT", 4) == 0) {
		snprintf(reply, size, "221 2.0.0 bye\r\n");
		return BS_QUIT;
	}
	if (strncasecmp(line, "MAIL", 4) == 0 || strncasecmp(line, "RCPT", 4) == 0 ||
	    strncasecmp(line, "RSET", 4) == 0 || strncasecmp(line, "NOOP", 4) == 0 ||
	    strncasecmp(line, "HELO", 4) == 0)
		r = "250 2.0.0 ok\r\n";
	else
		r = "500 5.5.1 unknown\r\n";
	snprintf(reply, size, "%s", r);
	return BS_REPLY;
}

void
bs_dot_init(struct bs_dot *d)
{
	d->st = 2;	/* the DATA line's CRLF: a "." first ends an empty message */
}

ssize_t
bs_dot_scan(struct bs_dot *d, const char *buf, size_t len)
{
	size_t i = 0;

	while (i < len) {
		char ch;

		if (d->st == 0) {
			const char *cr = memchr(buf + i, '\r', len - i);

			if (cr == NULL)
				return -1;
			i = (size_t)(cr - buf) + 1;
			d->st = 1;
			continue;
		}
		ch = buf[i++];
		switch (d->st) {
		case 1: d->st = ch == '\n' ? 2 : ch == '\r' ? 1 : 0; break;
		case 2: d->st = ch == '.' ? 3 : ch == '\r' ? 1 : 0; break;
		case 3: d->st = ch == '\r' ? 4 : 0; break;
		default:	/* 4: ".CR" at a line start */
			if (ch == '\n')
				return (ssize_t)i;
			d->st = ch == '\r' ? 1 : 0;
			break;
		}
	}
	return -1;
}
