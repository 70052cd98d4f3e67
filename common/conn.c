/* conn.c: the event-driven connection: reads into c->in, writes c->out,
 * drives a transport's handshake, and reports events to its owner. Owns
 * the socket and the watchers, the timer (an idle timeout or a deadline)
 * and back-pressure (no reading while too much output is unsent); knows
 * nothing of SMTP. */
#include "autoconfig.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/conn.h"

#define CONN_READ_CHUNK		16384
#define CONN_DEFAULT_IN_MAX	(256 * 1024)
#define CONN_LINGER_SECONDS	2.0	/* after our last reply, wait this long for the peer's close */

static void conn_io_cb(struct ev_loop *loop, ev_io *w, int revents);
static void conn_timer_cb(struct ev_loop *loop, ev_timer *w, int revents);
static void conn_update(struct conn *c);
static void conn_linger(struct conn *c);

static ssize_t
plain_recv(struct conn *c, void *buf, size_t len)
{
	ssize_t n = read(c->fd, buf, len);

	if (n >= 0)
		return n;
	if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
		c->tr_want = EV_READ;
		return CONN_AGAIN;
	}
	snprintf(c->err, sizeof(c->err), "read: %s", strerror(errno));
	return CONN_FAIL;
}

static ssize_t
plain_send(struct conn *c, const void *buf, size_t len)
{
	ssize_t n = send(c->fd, buf, len, MSG_NOSIGNAL);

	if (n >= 0)
		return n;
	if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
		c->tr_want = EV_WRITE;
		return CONN_AGAIN;
	}
	snprintf(c->err, sizeof(c->err), "write: %s", strerror(errno));
	return CONN_FAIL;
}

static const struct conn_transport plain_transport = {
	"plain", plain_recv, plain_send, NULL, NULL, NULL
};

struct conn *
conn_new(struct ev_loop *loop, int fd, conn_cb cb, void *arg)
{
	struct conn *c = calloc(1, sizeof(*c));

	if (c == NULL)
		return NULL;
	c->loop = loop;
	c->fd = fd;
	c->cb = cb;
	c->arg = arg;
	c->tr = &plain_transport;
	c->in_max = CONN_DEFAULT_IN_MAX;
	c->peerlen = sizeof(c->peer);
	c->locallen = sizeof(c->local);
	if (getpeername(fd, (struct sockaddr *)&c->peer, &c->peerlen) < 0)
		c->peerlen = 0;
	if (getsockname(fd, (struct sockaddr *)&c->local, &c->locallen) < 0)
		c->locallen = 0;
	/* no Nagle: every flush hands over all that is pending (replies in
	 * one go, a message in whole TLS records), so what waits behind an
	 * unacknowledged segment is never a fragment the peer's delayed ACK
	 * (40 ms) would hold; a failure only costs latency */
	if (c->locallen > 0 && (c->local.ss_family == AF_INET || c->local.ss_family == AF_INET6)) {
		int one = 1;

		(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	}
	ev_io_init(&c->io, conn_io_cb, fd, EV_READ);
	c->io.data = c;
	ev_init(&c->timer, conn_timer_cb);
	c->timer.data = c;
	ev_io_start(loop, &c->io);
	return c;
}

void
conn_free(struct conn *c)
{
	if (c == NULL)
		return;
	ev_io_stop(c->loop, &c->io);
	ev_timer_stop(c->loop, &c->timer);
	if (c->tr->close)
		c->tr->close(c);
	if (c->next_tr && c->next_tr->close) {
		c->tr_ctx = c->next_ctx;
		c->next_tr->close(c);
	}
	close(c->fd);
	buf_free(&c->in);
	buf_free(&c->out);
	free(c);
}

void
conn_set_timeout(struct conn *c, double seconds)
{
	c->flags &= ~CONN_F_DEADLINE;
	c->timer.repeat = seconds;
	ev_timer_again(c->loop, &c->timer);
}

void
conn_set_deadline(struct conn *c, double seconds)
{
	c->flags |= CONN_F_DEADLINE;
	ev_timer_stop(c->loop, &c->timer);
	ev_timer_set(&c->timer, seconds, 0.);
	ev_timer_start(c->loop, &c->timer);
}

void
conn_extend_deadline(struct conn *c, double extra, double cap)
{
	double left;

	if (!(c->flags & CONN_F_DEADLINE) || !ev_is_active(&c->timer))
		return;
	left = ev_timer_remaining(c->loop, &c->timer) + extra;
	conn_set_deadline(c, left < cap ? left : cap);
}

/* progress re-arms an idle timeout, never a deadline */
static void
conn_progress(struct conn *c)
{
	if (!(c->flags & CONN_F_DEADLINE))
		ev_timer_again(c->loop, &c->timer);
}

void
conn_set_out_limits(struct conn *c, size_t high, size_t low)
{
	c->out_high = high;
	c->out_low = low < high ? low : high;
}

bool
conn_out_full(const struct conn *c)
{
	return (c->flags & CONN_F_OUTFULL) != 0;
}

int
conn_write(struct conn *c, const void *p, size_t n)
{
	if (buf_append(&c->out, p, n) < 0)
		return -1;
	if (c->out_high && buf_avail(&c->out) >= c->out_high)
		c->flags |= CONN_F_OUTFULL;
	/* send it in this loop iteration, once the callbacks running now
	 * have queued what they will: a reply goes out without a round
	 * through epoll, and the watcher is left alone (conn_io_cb sets it
	 * after the flush, to EV_WRITE only if the socket did not take it
	 * all). Touching it here would cost an epoll_ctl per reply: libev
	 * re-registers an fd whose watcher was set again, even unchanged. */
	if (!(c->flags & (CONN_F_DEAD | CONN_F_LINGER | CONN_F_HANDSHAKE))) {
		if (!(c->flags & CONN_F_FLUSHSOON)) {
			c->flags |= CONN_F_FLUSHSOON;
			ev_feed_event(c->loop, &c->io, EV_WRITE | EV_CUSTOM);
		}
		return 0;
	}
	conn_update(c);
	return 0;
}

int
conn_vformat_line(char *line, size_t cap, const char *fmt, va_list ap)
{
	int n;

	if (cap < 3 || (n = vsnprintf(line, cap - 2, fmt, ap)) < 0)
		return -1;
	/* too long: cut, keeping room for the CRLF */
	return (size_t)n > cap - 3 ? (int)(cap - 3) : n;
}

int
conn_write_line(struct conn *c, char *line, size_t n)
{
	line[n++] = '\r';
	line[n++] = '\n';
	return conn_write(c, line, n);
}

void
conn_want_drain(struct conn *c, size_t low)
{
	c->flags |= CONN_F_DRAIN;
	c->drain_at = low;
	conn_update(c);
	if (buf_avail(&c->out) <= low)
		ev_feed_event(c->loop, &c->io, EV_WRITE | EV_CUSTOM);
}

size_t
conn_out_pending(const struct conn *c)
{
	return buf_avail(&c->out);
}

void
conn_pause(struct conn *c)
{
	c->flags |= CONN_F_PAUSED;
	conn_update(c);
}

void
conn_resume(struct conn *c)
{
	c->flags &= ~CONN_F_PAUSED;
	conn_update(c);
	/* bytes may already wait in c->in or inside the transport: no ev_io
	 * would fire for them, so deliver them on the next loop iteration */
	if (buf_avail(&c->in) > 0 || (c->tr->pending && c->tr->pending(c) > 0))
		ev_feed_event(c->loop, &c->io, EV_READ | EV_CUSTOM);
}

void
conn_start_transport(struct conn *c, const struct conn_transport *tr, void *ctx)
{
	c->next_tr = tr;
	c->next_ctx = ctx;
	conn_update(c);
}

void
conn_close_after_flush(struct conn *c)
{
	c->flags |= CONN_F_CLOSING;
	conn_update(c);
}

bool
conn_is_tls(const struct conn *c)
{
	return c->tr != &plain_transport;
}

void
conn_format_addr(const struct sockaddr_storage *ss, char *buf, size_t len)
{
	char a[INET6_ADDRSTRLEN] = "?";

	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)ss;
		inet_ntop(AF_INET, &s4->sin_addr, a, sizeof(a));
		snprintf(buf, len, "%s:%u", a, ntohs(s4->sin_port));
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)ss;
		inet_ntop(AF_INET6, &s6->sin6_addr, a, sizeof(a));
		snprintf(buf, len, "[%s]:%u", a, ntohs(s6->sin6_port));
	} else
		snprintf(buf, len, "unknown");
}

/* the events the watcher must wait for, given what is pending */
static void
conn_update(struct conn *c)
{
	int want = 0;

	if (c->flags & CONN_F_DEAD)
		want = 0;
	else if (c->flags & CONN_F_LINGER)
		want = EV_READ;
	else if (c->flags & CONN_F_HANDSHAKE)
		want = c->tr_want ? c->tr_want : EV_READ;
	else {
		/* a flush already fed for this iteration needs no EV_WRITE */
		if ((buf_avail(&c->out) > 0 && !(c->flags & CONN_F_FLUSHSOON)) || c->next_tr ||
		    (c->flags & CONN_F_CLOSING))
			want |= EV_WRITE;
		if (!(c->flags & (CONN_F_PAUSED | CONN_F_EOF | CONN_F_CLOSING | CONN_F_OUTFULL)) &&
		    buf_avail(&c->in) < c->in_max)
			want |= EV_READ;
	}
	if (want == (c->io.events & (EV_READ | EV_WRITE)) && ev_is_active(&c->io))
		return;
	/* ev.pod: never modify an active watcher; stop, change, start */
	ev_io_stop(c->loop, &c->io);
	if (want) {
		ev_io_set(&c->io, c->fd, want);
		ev_io_start(c->loop, &c->io);
	}
	/* stopping it dropped the fed flush: feed it again */
	if ((c->flags & CONN_F_FLUSHSOON) && !(c->flags & CONN_F_DEAD))
		ev_feed_event(c->loop, &c->io, EV_WRITE | EV_CUSTOM);
}

static int
conn_fail(struct conn *c, enum conn_event ev)
{
	c->flags |= CONN_F_DEAD;
	conn_update(c);
	return c->cb(c, ev, c->arg);
}

/* the owner asked to hear when the output fell this low: tell it once
 * (it may queue more output, or free the conn: -1) */
static int
drained(struct conn *c)
{
	if (!(c->flags & CONN_F_DRAIN) || buf_avail(&c->out) > c->drain_at ||
	    (c->flags & CONN_F_DEAD))
		return 0;
	c->flags &= ~CONN_F_DRAIN;
	return c->cb(c, CONN_DRAINED, c->arg) < 0 ? -1 : 0;
}

/* write what we can; 0 ok (maybe more later), -1 freed */
static int
conn_flush(struct conn *c)
{
	while (buf_avail(&c->out) > 0) {
		ssize_t n = c->tr->send(c, buf_head(&c->out), buf_avail(&c->out));

		if (n == CONN_AGAIN)
			return 0;
		if (n < 0)
			return conn_fail(c, CONN_ERROR) < 0 ? -1 : 1;
		buf_consume(&c->out, (size_t)n);
		conn_progress(c);
		if ((c->flags & CONN_F_OUTFULL) && buf_avail(&c->out) <= c->out_low) {
			/* drained: read again, and hand over what waits unread
			 * (no ev_io fires for bytes already in c->in) */
			c->flags &= ~CONN_F_OUTFULL;
			if (buf_avail(&c->in) > 0 || (c->tr->pending && c->tr->pending(c) > 0))
				ev_feed_event(c->loop, &c->io, EV_READ | EV_CUSTOM);
		}
		if (drained(c) < 0)
			return -1;
	}
	/* a drain asked for with nothing left to send (fed by conn_want_drain) */
	return drained(c);
}

/* run the transport's handshake; -1 when the owner freed the conn */
static int
conn_handshake(struct conn *c)
{
	int rc = c->tr->handshake(c);

	if (rc == CONN_AGAIN) {
		conn_update(c);
		return 0;
	}
	c->flags &= ~CONN_F_HANDSHAKE;
	c->tr_want = 0;
	if (rc < 0)
		return conn_fail(c, CONN_ERROR) < 0 ? -1 : 1;
	conn_progress(c);
	conn_update(c);
	return c->cb(c, CONN_TLS_READY, c->arg);
}

static int
conn_read(struct conn *c)
{
	bool got = false;

	while (!(c->flags & (CONN_F_PAUSED | CONN_F_EOF | CONN_F_OUTFULL)) &&
	    buf_avail(&c->in) < c->in_max) {
		ssize_t n;

		if (buf_reserve(&c->in, CONN_READ_CHUNK) < 0) {
			snprintf(c->err, sizeof(c->err), "out of memory");
			return conn_fail(c, CONN_ERROR) < 0 ? -1 : 1;
		}
		n = c->tr->recv(c, buf_tail(&c->in), CONN_READ_CHUNK);
		if (n == CONN_AGAIN)
			break;
		if (n < 0)
			return conn_fail(c, CONN_ERROR) < 0 ? -1 : 1;
		if (n == 0) {
			c->flags |= CONN_F_EOF;
			break;
		}
		buf_commit(&c->in, (size_t)n);
		got = true;
		conn_progress(c);
		if ((size_t)n < CONN_READ_CHUNK && !(c->tr->pending && c->tr->pending(c) > 0))
			break;
	}
	if (got || buf_avail(&c->in) > 0) {
		if (c->cb(c, CONN_IN, c->arg) < 0)
			return -1;
	}
	if ((c->flags & CONN_F_EOF) && !(c->flags & CONN_F_DEAD)) {
		c->flags |= CONN_F_DEAD;
		conn_update(c);
		return c->cb(c, CONN_EOF, c->arg) < 0 ? -1 : 1;
	}
	conn_update(c);
	return 0;
}

/* The last reply is out: say goodbye (TLS close_notify), half-close, and
 * read whatever the peer still sends until it closes too. Closing with
 * unread input makes the kernel send RST, which can destroy our last reply
 * in the peer's buffer (a client's own close_notify after QUIT does it). */
static void
conn_linger(struct conn *c)
{
	if (c->tr->close)
		c->tr->close(c);
	c->tr = &plain_transport;
	c->tr_ctx = NULL;
	c->flags = (c->flags & ~CONN_F_CLOSING) | CONN_F_LINGER;
	(void)shutdown(c->fd, SHUT_WR);
	ev_timer_stop(c->loop, &c->timer);
	c->timer.repeat = CONN_LINGER_SECONDS;
	ev_timer_again(c->loop, &c->timer);
	ev_io_stop(c->loop, &c->io);
	ev_io_set(&c->io, c->fd, EV_READ);
	ev_io_start(c->loop, &c->io);
}

/* discard until EOF; then the owner frees the conn */
static void
conn_linger_read(struct conn *c)
{
	char sink[4096];

	for (;;) {
		ssize_t n = read(c->fd, sink, sizeof(sink));

		if (n > 0)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
			return;
		break;	/* EOF or error: done */
	}
	c->flags |= CONN_F_DEAD;
	ev_io_stop(c->loop, &c->io);
	(void)c->cb(c, CONN_CLOSED, c->arg);
}

static void
conn_io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct conn *c = w->data;
	int rc;

	(void)loop;
	c->flags &= ~CONN_F_FLUSHSOON;
	if (c->flags & CONN_F_DEAD)
		return;
	if (c->flags & CONN_F_LINGER) {
		conn_linger_read(c);
		return;
	}
	if (c->flags & CONN_F_HANDSHAKE) {
		(void)conn_handshake(c);
		return;
	}
	if ((revents & EV_WRITE) || buf_avail(&c->out) > 0) {
		if ((rc = conn_flush(c)) != 0)
			return;
		if (buf_avail(&c->out) == 0 && c->next_tr) {
			/* the 220 is out: nothing typed before it may count */
			buf_reset(&c->in);
			c->tr = c->next_tr;
			c->tr_ctx = c->next_ctx;
			c->next_tr = NULL;
			c->next_ctx = NULL;
			c->flags |= CONN_F_HANDSHAKE;
			c->tr_want = 0;
			(void)conn_handshake(c);
			return;
		}
		if (buf_avail(&c->out) == 0 && (c->flags & CONN_F_CLOSING)) {
			conn_linger(c);
			return;
		}
	}
	if ((revents & EV_READ) && !(c->flags & CONN_F_CLOSING)) {
		if (conn_read(c) != 0)
			return;
	}
	conn_update(c);
}

static void
conn_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct conn *c = w->data;

	(void)loop;
	(void)revents;
	ev_timer_stop(c->loop, &c->timer);
	if (c->flags & CONN_F_LINGER) {
		/* the peer never closed: we are done waiting */
		c->flags |= CONN_F_DEAD;
		ev_io_stop(c->loop, &c->io);
		(void)c->cb(c, CONN_CLOSED, c->arg);
		return;
	}
	snprintf(c->err, sizeof(c->err), "timeout");
	(void)c->cb(c, CONN_TIMEOUT, c->arg);
}
