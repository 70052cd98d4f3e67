/* tlssink.c: the TLS sink of the benchmark's relay scenarios (tests/bench,
 * scenario 4 of issue #9): one process, one libev loop, any number of
 * concurrent SMTP sessions, STARTTLS (dsmtpd's default priority, session
 * tickets for resumption), PIPELINING, every message accepted with 250
 * and dropped. It counts messages, connections, handshakes (resumed ones
 * apart), and the time of the first and last message, so the same sink
 * measures dsmtpc and Postfix's smtp client and shows by its own CPU
 * that it is not the bottleneck.
 *
 *	tlssink --port PORT --cert FILE --key FILE [--expect N --done-file F]
 *
 * With --expect, the file F is written once N messages have been accepted
 * (what run.sh waits for). SIGUSR1 prints the counters; SIGTERM prints
 * them as the last line, "RESULT key=value ...", and exits 0. Shares the
 * TLS setup, replies and end-of-data scan with tlsceiling.c (benchsrv.c).
 * Not installed; not a mail server. */
#include "autoconfig.h"

#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <ev.h>
#include <gnutls/gnutls.h>

#include "tests/bench/benchsrv.h"

#define TS_IN		16384
#define TS_IDLE_MAX	120.0	/* a silent session is closed after this */

enum ts_state { TS_CMD, TS_DATA, TS_HANDSHAKE, TS_CLOSING };

/* one session; the ev_io is first so the callback recovers it */
struct ts_conn {
	ev_io			 io;
	int			 fd;
	int			 events;
	enum ts_state		 st;
	gnutls_session_t	 tls;		/* NULL before STARTTLS */
	struct bs_dot		 dot;
	ev_tstamp		 last;
	char			*out;		/* replies not yet written: out[outoff..outlen) */
	size_t			 outlen, outoff, outcap;
	size_t			 inlen;
	char			 in[TS_IN];
	struct ts_conn		*next, *prev;
};

static struct {
	struct ev_loop	*loop;
	struct ts_conn	*conns;
	unsigned long	 expect;
	const char	*done_file;
	bool		 done;
	/* counters */
	unsigned long	 msgs, nconns, handshakes, resumed, hs_failed, too_long;
	double		 t_first, t_last;	/* CLOCK_REALTIME, seconds */
} ts;

static void	ts_close(struct ts_conn *c);
static int	ts_flush(struct ts_conn *c);
static void	ts_read(struct ts_conn *c);

static double
real_now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_REALTIME, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void
ts_want(struct ts_conn *c, int events)
{
	if (events == c->events)
		return;
	ev_io_stop(ts.loop, &c->io);
	ev_io_set(&c->io, c->fd, events);
	ev_io_start(ts.loop, &c->io);
	c->events = events;
}

static void
ts_close(struct ts_conn *c)
{
	ev_io_stop(ts.loop, &c->io);
	if (c->tls)
		gnutls_deinit(c->tls);
	close(c->fd);
	if (c->prev)
		c->prev->next = c->next;
	else
		ts.conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	free(c->out);
	free(c);
}

/* queue a reply; -1 (and the session closed) when memory runs out */
static int
ts_reply(struct ts_conn *c, const char *s)
{
	size_t n = strlen(s);

	if (c->outlen + n > c->outcap) {
		size_t cap = (c->outlen + n) * 2;
		char *p = realloc(c->out, cap);

		if (p == NULL) {
			ts_close(c);
			return -1;
		}
		c->out = p;
		c->outcap = cap;
	}
	memcpy(c->out + c->outlen, s, n);
	c->outlen += n;
	return 0;
}

static void
ts_message_done(void)
{
	double now = real_now();

	if (ts.msgs++ == 0)
		ts.t_first = now;
	ts.t_last = now;
	if (ts.expect && ts.msgs >= ts.expect && !ts.done && ts.done_file) {
		FILE *f = fopen(ts.done_file, "w");

		ts.done = true;
		if (f == NULL || fprintf(f, "msgs=%lu t_first=%.6f t_last=%.6f\n", ts.msgs,
		    ts.t_first, ts.t_last) < 0 || fclose(f) != 0)
			fprintf(stderr, "tlssink: %s: %s\n", ts.done_file, strerror(errno));
	}
}

static void
ts_handshake(struct ts_conn *c)
{
	int rc = gnutls_handshake(c->tls);

	if (rc == GNUTLS_E_AGAIN || rc == GNUTLS_E_INTERRUPTED ||
	    (rc < 0 && !gnutls_error_is_fatal(rc))) {
		ts_want(c, gnutls_record_get_direction(c->tls) ? EV_WRITE : EV_READ);
		return;
	}
	if (rc < 0) {
		if (ts.hs_failed++ < 3)
			fprintf(stderr, "tlssink: handshake: %s\n", gnutls_strerror(rc));
		ts_close(c);
		return;
	}
	ts.handshakes++;
	if (gnutls_session_is_resumed(c->tls))
		ts.resumed++;
	c->st = TS_CMD;
	ts_want(c, EV_READ);
	ts_read(c);	/* records may already wait inside GnuTLS */
}

/* act on what is in c->in; 1 to read on, 0 when c is gone or waits */
static int
ts_process(struct ts_conn *c)
{
	for (;;) {
		char line[BS_LINE_MAX + 1], reply[256];
		size_t ll, copy;
		char *nl;

		if (c->st == TS_DATA) {
			ssize_t end = bs_dot_scan(&c->dot, c->in, c->inlen);

			if (end < 0) {
				c->inlen = 0;
				return 1;
			}
			c->inlen -= (size_t)end;
			memmove(c->in, c->in + end, c->inlen);
			ts_message_done();
			c->st = TS_CMD;
			if (ts_reply(c, "250 2.0.0 dropped\r\n") < 0)
				return 0;
			continue;
		}
		if (c->st != TS_CMD)
			return 0;
		if ((nl = memchr(c->in, '\n', c->inlen)) == NULL) {
			if (c->inlen > BS_LINE_MAX) {
				ts.too_long++;
				ts_close(c);
				return 0;
			}
			return 1;
		}
		ll = (size_t)(nl - c->in) + 1;
		copy = ll - 1;
		if (copy && c->in[copy - 1] == '\r')
			copy--;
		if (copy > BS_LINE_MAX) {
			ts.too_long++;
			ts_close(c);
			return 0;
		}
		memcpy(line, c->in, copy);
		line[copy] = '\0';
		c->inlen -= ll;
		memmove(c->in, c->in + ll, c->inlen);
		switch (bs_command(line, c->tls != NULL, "tlssink", reply, sizeof(reply))) {
		case BS_REPLY:
			if (ts_reply(c, reply) < 0)
				return 0;
			break;
		case BS_DATA:
			if (ts_reply(c, reply) < 0)
				return 0;
			bs_dot_init(&c->dot);
			c->st = TS_DATA;
			break;
		case BS_QUIT:
			if (ts_reply(c, reply) < 0)
				return 0;
			c->st = TS_CLOSING;
			(void)ts_flush(c);
			return 0;
		case BS_STARTTLS:
			if (ts_reply(c, reply) < 0)
				return 0;
			c->inlen = 0;	/* CVE-2011-0411: no plaintext across STARTTLS */
			if (ts_flush(c) < 0)	/* plaintext: c->tls is still NULL */
				return 0;
			if (c->outoff < c->outlen) {
				ts_close(c);	/* 20 bytes did not fit: give up */
				return 0;
			}
			if (bs_tls_session(&c->tls, c->fd, GNUTLS_NONBLOCK) < 0) {
				ts.hs_failed++;
				ts_close(c);
				return 0;
			}
			c->st = TS_HANDSHAKE;
			ts_handshake(c);
			return 0;
		}
	}
}

/* write the queued replies; GnuTLS wants the same data again after E_AGAIN;
 * -1 when the session was closed */
static int
ts_flush(struct ts_conn *c)
{
	while (c->outoff < c->outlen) {
		ssize_t n;

		if (c->tls) {
			n = gnutls_record_send(c->tls, c->out + c->outoff, c->outlen - c->outoff);
			if (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED) {
				ts_want(c, EV_READ | EV_WRITE);
				return 0;
			}
		} else {
			n = send(c->fd, c->out + c->outoff, c->outlen - c->outoff, MSG_NOSIGNAL);
			if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
				ts_want(c, EV_READ | EV_WRITE);
				return 0;
			}
		}
		if (n < 0) {
			ts_close(c);
			return -1;
		}
		c->outoff += (size_t)n;
	}
	c->outoff = c->outlen = 0;
	if (c->st == TS_CLOSING) {
		ts_close(c);
		return -1;
	}
	ts_want(c, EV_READ);
	return 0;
}

/* read until the socket is dry, acting on each piece, then write replies */
static void
ts_read(struct ts_conn *c)
{
	for (;;) {
		ssize_t n;

		if (c->tls) {
			n = gnutls_record_recv(c->tls, c->in + c->inlen, sizeof(c->in) - c->inlen);
			if (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED)
				break;
			if (n < 0 && !gnutls_error_is_fatal((int)n))
				continue;
		} else {
			n = read(c->fd, c->in + c->inlen, sizeof(c->in) - c->inlen);
			if (n < 0 && (errno == EAGAIN || errno == EINTR))
				break;
		}
		if (n <= 0) {
			ts_close(c);	/* end of stream or an error */
			return;
		}
		c->inlen += (size_t)n;
		c->last = ev_now(ts.loop);
		if (!ts_process(c))
			return;		/* closed, or the handshake took over */
	}
	(void)ts_flush(c);
}

static void
on_io(struct ev_loop *loop, ev_io *w, int revents)
{
	struct ts_conn *c = (struct ts_conn *)w;

	(void)loop;
	c->last = ev_now(ts.loop);
	if (c->st == TS_HANDSHAKE) {
		ts_handshake(c);
		return;
	}
	if ((revents & EV_WRITE) && c->outoff < c->outlen) {
		(void)ts_flush(c);
		return;
	}
	if (revents & EV_READ)
		ts_read(c);
}

static void
on_accept(struct ev_loop *loop, ev_io *w, int revents)
{
	(void)loop;
	(void)revents;
	for (;;) {
		struct ts_conn *c;
		int one = 1, fd = accept4(w->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0) {
			if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
				fprintf(stderr, "tlssink: accept: %s\n", strerror(errno));
			return;
		}
		if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0 ||
		    (c = calloc(1, sizeof(*c))) == NULL) {
			fprintf(stderr, "tlssink: connection setup: %s\n", strerror(errno));
			close(fd);
			continue;
		}
		c->fd = fd;
		c->st = TS_CMD;
		c->last = ev_now(ts.loop);
		c->next = ts.conns;
		if (ts.conns)
			ts.conns->prev = c;
		ts.conns = c;
		ts.nconns++;
		ev_io_init(&c->io, on_io, fd, EV_READ);
		c->events = EV_READ;
		ev_io_start(ts.loop, &c->io);
		if (ts_reply(c, "220 tlssink ESMTP\r\n") < 0)
			continue;
		(void)ts_flush(c);
	}
}

/* every few seconds: close sessions silent for too long */
static void
on_sweep(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct ts_conn *c, *next;

	(void)w;
	(void)revents;
	for (c = ts.conns; c; c = next) {
		next = c->next;
		if (ev_now(loop) - c->last > TS_IDLE_MAX)
			ts_close(c);
	}
}

static void
report(const char *tag)
{
	struct rusage ru;
	double cpu = 0;

	if (getrusage(RUSAGE_SELF, &ru) == 0)
		cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
		    (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
	printf("%s msgs=%lu conns=%lu handshakes=%lu resumed=%lu hs_failed=%lu too_long=%lu "
	    "cpu=%.3f t_first=%.6f t_last=%.6f\n", tag, ts.msgs, ts.nconns, ts.handshakes,
	    ts.resumed, ts.hs_failed, ts.too_long, cpu, ts.t_first, ts.t_last);
	fflush(stdout);
}

static void
on_signal(struct ev_loop *loop, ev_signal *w, int revents)
{
	(void)revents;
	if (w->signum == SIGUSR1) {
		report("STATUS");
		return;
	}
	ev_break(loop, EVBREAK_ALL);
}

static void __attribute__((noreturn))
usage(int rc)
{
	fprintf(rc ? stderr : stdout,
	    "Usage: tlssink --port PORT --cert FILE --key FILE [--expect N --done-file F]\n");
	exit(rc);
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "port", required_argument, NULL, 'p' },
		{ "cert", required_argument, NULL, 'c' },
		{ "key", required_argument, NULL, 'k' },
		{ "expect", required_argument, NULL, 'n' },
		{ "done-file", required_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	const char *cert = NULL, *key = NULL;
	ev_signal sterm, sint, susr1;
	ev_timer sweep;
	ev_io lio;
	long port = 0;
	int ch, lfd;

	while ((ch = getopt_long(argc, argv, "p:c:k:n:f:h", opts, NULL)) != -1) {
		switch (ch) {
		case 'p': port = strtol(optarg, NULL, 10); break;
		case 'c': cert = optarg; break;
		case 'k': key = optarg; break;
		case 'n': ts.expect = strtoul(optarg, NULL, 10); break;
		case 'f': ts.done_file = optarg; break;
		case 'h': usage(0);
		default: usage(2);
		}
	}
	if (optind != argc || port < 1 || port > 65535 || !cert || !key ||
	    (ts.expect > 0) != (ts.done_file != NULL))
		usage(2);
	if (signal(SIGPIPE, SIG_IGN) == SIG_ERR) {
		perror("tlssink: signal");
		return 1;
	}
	if (bs_tls_init("tlssink", cert, key, NULL, true) < 0 ||
	    (lfd = bs_listen("tlssink", port, SOCK_NONBLOCK)) < 0)
		return 1;
	if ((ts.loop = ev_default_loop(EVFLAG_AUTO)) == NULL) {
		fprintf(stderr, "tlssink: no libev loop\n");
		return 1;
	}
	ev_io_init(&lio, on_accept, lfd, EV_READ);
	ev_io_start(ts.loop, &lio);
	ev_signal_init(&sterm, on_signal, SIGTERM);
	ev_signal_init(&sint, on_signal, SIGINT);
	ev_signal_init(&susr1, on_signal, SIGUSR1);
	ev_signal_start(ts.loop, &sterm);
	ev_signal_start(ts.loop, &sint);
	ev_signal_start(ts.loop, &susr1);
	ev_timer_init(&sweep, on_sweep, 5.0, 5.0);
	ev_timer_start(ts.loop, &sweep);
	ev_run(ts.loop, 0);

	report("RESULT");
	while (ts.conns)
		ts_close(ts.conns);
	close(lfd);
	bs_tls_free();
	ev_loop_destroy(ts.loop);
	return 0;
}
