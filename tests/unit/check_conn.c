/* check_conn.c: unit tests of common/conn.c over socketpairs in one libev
 * loop, no network: input in pieces, the input bound (in_max), partial
 * writes through a small socket buffer, back-pressure (out_high/out_low),
 * EOF and write errors, the idle timeout against the deadline (a trickle
 * re-arms one and not the other), extending a deadline, close after
 * flush with its linger, the transport switch that discards plaintext
 * read before it (STARTTLS), reply-line formatting and addresses. */
#include "autoconfig.h"

#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <ev.h>

#include "common/conn.h"
#include "tests/unit/unit.h"

/* what the owner saw */
struct owner {
	struct buf	 got;		/* every input byte, in order */
	bool		 consume;	/* take c->in on CONN_IN */
	unsigned	 n_in, n_tls, n_closed, n_timeout, n_eof, n_error;
	double		 t_event;	/* ev_now of the last terminal event */
	char		 err[160];
	bool		 freed;		/* conn_free'd on a terminal event */
	bool		 free_on_end;
	/* a producer driven by CONN_DRAINED: total bytes, in 16 KiB writes,
	 * never more than high queued, more when it drains to low */
	size_t		 total, produced, high, low, max_pending;
	unsigned	 n_drained;
};

/* the producer's step: queue up to high, then wait for the drain */
static void
produce(struct conn *c, struct owner *o)
{
	char piece[16384];

	while (o->produced < o->total && conn_out_pending(c) < o->high) {
		size_t n = o->total - o->produced < sizeof(piece) ? o->total - o->produced :
		    sizeof(piece);

		for (size_t i = 0; i < n; i++)
			piece[i] = (char)('a' + (o->produced + i) % 26);
		ck_assert_int_eq(conn_write(c, piece, n), 0);
		o->produced += n;
		if (conn_out_pending(c) > o->max_pending)
			o->max_pending = conn_out_pending(c);
	}
	if (o->produced < o->total)
		conn_want_drain(c, o->low);
}

static int
owner_cb(struct conn *c, enum conn_event ev, void *arg)
{
	struct owner *o = arg;

	switch (ev) {
	case CONN_IN:
		o->n_in++;
		if (o->consume) {
			ck_assert_int_eq(buf_append(&o->got, buf_head(&c->in), buf_avail(&c->in)), 0);
			buf_consume(&c->in, buf_avail(&c->in));
		}
		return 0;
	case CONN_TLS_READY: o->n_tls++; return 0;
	case CONN_CLOSED: o->n_closed++; break;
	case CONN_TIMEOUT: o->n_timeout++; break;
	case CONN_EOF: o->n_eof++; break;
	case CONN_ERROR: o->n_error++; break;
	case CONN_DRAINED:
		o->n_drained++;
		ck_assert_uint_le(conn_out_pending(c), o->low);
		produce(c, o);
		return 0;
	}
	o->t_event = ev_now(c->loop);
	snprintf(o->err, sizeof(o->err), "%s", c->err);
	ev_break(c->loop, EVBREAK_ALL);
	if (o->free_on_end) {
		conn_free(c);
		o->freed = true;
		return -1;
	}
	return 0;
}

static void
nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	ck_assert_int_ge(fl, 0);
	ck_assert_int_eq(fcntl(fd, F_SETFL, fl | O_NONBLOCK), 0);
}

/* a socketpair: sv[0] for the conn, sv[1] the peer (both non-blocking) */
static void
pair(int sv[2])
{
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	nonblock(sv[0]);
	nonblock(sv[1]);
}

static void
guard_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)w;
	(void)revents;
	ev_break(loop, EVBREAK_ALL);
}

/* ev_run until something breaks the loop or secs pass */
static void
run(struct ev_loop *loop, double secs)
{
	ev_timer guard;

	ev_timer_init(&guard, guard_cb, secs, 0.);
	ev_timer_start(loop, &guard);
	ev_run(loop, 0);
	ev_timer_stop(loop, &guard);
}

/* run the loop once without blocking, a few times */
static void
spin(struct ev_loop *loop, int times)
{
	for (int i = 0; i < times; i++)
		ev_run(loop, EVRUN_NOWAIT);
}

/* write all of s to fd (the peer side; blocking briefly if full) */
static void
peer_write(int fd, const void *p, size_t n)
{
	const char *s = p;

	while (n > 0) {
		ssize_t w = write(fd, s, n);

		if (w < 0 && (errno == EAGAIN || errno == EINTR)) {
			usleep(1000);
			continue;
		}
		ck_assert_int_gt(w, 0);
		s += w;
		n -= (size_t)w;
	}
}

/* read what the peer has now (non-blocking) into b; -1 at EOF */
static int
peer_read(int fd, struct buf *b)
{
	char tmp[65536];

	for (;;) {
		ssize_t r = read(fd, tmp, sizeof(tmp));

		if (r > 0) {
			ck_assert_int_eq(buf_append(b, tmp, (size_t)r), 0);
			continue;
		}
		if (r == 0)
			return -1;
		ck_assert(errno == EAGAIN || errno == EWOULDBLOCK);
		return 0;
	}
}

START_TEST(test_input_in_pieces)
{
	static const char *const pieces[] = { "EH", "LO a.example\r", "\nMAIL FROM:<", "x@y>\r\n" };
	struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
	struct owner o = { .consume = true, .free_on_end = true };
	struct conn *c;
	int sv[2];

	pair(sv);
	ck_assert_ptr_nonnull(c = conn_new(loop, sv[0], owner_cb, &o));
	for (size_t i = 0; i < 4; i++) {
		peer_write(sv[1], pieces[i], strlen(pieces[i]));
		spin(loop, 3);
	}
	ck_assert_uint_ge(o.n_in, 1);
	ck_assert_uint_eq(o.got.len, 33);
	ck_assert(memcmp(o.got.data, "EHLO a.example\r\nMAIL FROM:<x@y>\r\n", 33) == 0);
	/* the peer closes: EOF, once */
	close(sv[1]);
	run(loop, 5);
	ck_assert_uint_eq(o.n_eof, 1);
	ck_assert(o.freed);
	buf_free(&o.got);
	ev_loop_destroy(loop);
}
END_TEST

START_TEST(test_in_max_bounds_reading)
{
	struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
	struct owner o = { .consume = false };
	static char big[256 * 1024];
	struct conn *c;
	size_t held;
	int sv[2], rcv = 0;

	pair(sv);
	ck_assert_ptr_nonnull(c = conn_new(loop, sv[0], owner_cb, &o));
	c->in_max = 1000;
	memset(big, 'z', sizeof(big));
	/* more than the socket holds: the peer writes what fits */
	(void)write(sv[1], big, sizeof(big));
	spin(loop, 20);
	held = buf_avail(&c->in);
	/* the owner takes nothing: reading stops at the bound (one read
	 * may pass it by less than a read chunk, 16 KiB) */
	ck_assert_uint_ge(held, 1000);
	ck_assert_uint_lt(held, 1000 + 16384);
	ck_assert_int_eq(ioctl(sv[0], FIONREAD, &rcv), 0);
	ck_assert_int_gt(rcv, 0);		/* the rest waits in the kernel */
	spin(loop, 20);
	ck_assert_uint_eq(buf_avail(&c->in), held);	/* and stays there */
	/* once the owner consumes, reading goes on */
	buf_consume(&c->in, held);
	conn_resume(c);
	spin(loop, 5);
	ck_assert_uint_gt(buf_avail(&c->in), 0);
	conn_free(c);
	close(sv[1]);
	ev_loop_destroy(loop);
}
END_TEST

/* the peer's reader: a watcher reading sv[1] a little at a time */
struct slow_reader {
	ev_io		 io;
	struct buf	 got;
	size_t		 per_read;
	bool		 eof;
};

static void
slow_read_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct slow_reader *r = (struct slow_reader *)w;
	char tmp[4096];
	ssize_t n;

	(void)revents;
	n = read(w->fd, tmp, r->per_read < sizeof(tmp) ? r->per_read : sizeof(tmp));
	if (n > 0)
		ck_assert_int_eq(buf_append(&r->got, tmp, (size_t)n), 0);
	else if (n == 0) {
		r->eof = true;
		ev_io_stop(loop, w);
		ev_break(loop, EVBREAK_ALL);
	}
}

START_TEST(test_partial_writes)
{
	struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
	struct owner o = { .consume = true, .free_on_end = true };
	struct slow_reader r = { .per_read = 3000 };
	static char msg[512 * 1024];
	struct conn *c;
	int sv[2], small = 4096;
	bool partial = false;

	pair(sv);
	ck_assert_int_eq(setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof(small)), 0);
	ck_assert_int_eq(setsockopt(sv[1], SOL_SOCKET, SO_RCVBUF, &small, sizeof(small)), 0);
	ck_assert_ptr_nonnull(c = conn_new(loop, sv[0], owner_cb, &o));
	for (size_t i = 0; i < sizeof(msg); i++)
		msg[i] = (char)('a' + i % 23);
	ev_io_init(&r.io, slow_read_cb, sv[1], EV_READ);
	ev_io_start(loop, &r.io);
	/* in pieces of odd sizes, as replies come */
	for (size_t off = 0; off < sizeof(msg);) {
		size_t n = sizeof(msg) - off < 7777 ? sizeof(msg) - off : 7777;

		ck_assert_int_eq(conn_write(c, msg + off, n), 0);
		off += n;
		spin(loop, 1);
		partial |= buf_avail(&c->out) > 0;
	}
	ck_assert(partial);			/* the socket did take less than asked */
	while (r.got.len < sizeof(msg))
		run(loop, 0.5);
	ck_assert_uint_eq(buf_avail(&c->out), 0);
	ck_assert_uint_eq(r.got.len, sizeof(msg));
	ck_assert(memcmp(r.got.data, msg, sizeof(msg)) == 0);	/* all, in order */
	/* a close after the flush: the peer reads EOF (our half-close) */
	conn_close_after_flush(c);
	run(loop, 5);
	ck_assert(r.eof);
	close(sv[1]);
	run(loop, 5);
	ck_assert_uint_eq(o.n_closed, 1);
	ck_assert(o.freed);
	buf_free(&r.got);
	buf_free(&o.got);
	ev_loop_destroy(loop);
}
END_TEST

START_TEST(test_backpressure)
{
	struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
	struct owner o = { .consume = true };
	static char reply[200 * 1024];
	struct buf drained = { 0 };
	struct conn *c;
	int sv[2], small = 4096;

	pair(sv);
	ck_assert_int_eq(setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof(small)), 0);
	ck_assert_int_eq(setsockopt(sv[1], SOL_SOCKET, SO_RCVBUF, &small, sizeof(small)), 0);
	ck_assert_ptr_nonnull(c = conn_new(loop, sv[0], owner_cb, &o));
	conn_set_out_limits(c, 64 * 1024, 16 * 1024);
	memset(reply, 'r', sizeof(reply));
	ck_assert(!conn_out_full(c));
	ck_assert_int_eq(conn_write(c, reply, sizeof(reply)), 0);
	spin(loop, 5);
	ck_assert(conn_out_full(c));		/* the peer reads nothing */
	/* input now is not read, nor handed over */
	peer_write(sv[1], "NOOP\r\n", 6);
	spin(loop, 10);
	ck_assert_uint_eq(o.n_in, 0);
	ck_assert_uint_eq(o.got.len, 0);
	/* the peer drains: below out_low, reading resumes and the NOOP comes */
	while (buf_avail(&c->out) > 0) {
		ck_assert_int_eq(peer_read(sv[1], &drained), 0);
		spin(loop, 2);
	}
	ck_assert_int_eq(peer_read(sv[1], &drained), 0);
	ck_assert(!conn_out_full(c));
	spin(loop, 5);
	ck_assert_uint_eq(drained.len, sizeof(reply));
	ck_assert_uint_eq(o.got.len, 6);
	ck_assert(memcmp(o.got.data, "NOOP\r\n", 6) == 0);
	conn_free(c);
	close(sv[1]);
	buf_free(&drained);
	buf_free(&o.got);
	ev_loop_destroy(loop);
}
END_TEST

START_TEST(test_write_error)
{
	struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
	struct owner o = { .consume = true, .free_on_end = true };
	struct conn *c;
	int sv[2];

	pair(sv);
	ck_assert_ptr_nonnull(c = conn_new(loop, sv[0], owner_cb, &o));
	close(sv[1]);
	/* no SIGPIPE (MSG_NOSIGNAL): an error event with the reason, or the
	 * EOF if the read side notices first */
	ck_assert_int_eq(conn_write(c, "250 ok\r\n", 8), 0);
	run(loop, 5);
	ck_assert_uint_eq(o.n_error + o.n_eof, 1);
	if (o.n_error)
		ck_assert_msg(strstr(o.err, "write: ") == o.err, "%s", o.err);
	ck_assert(o.freed);
	ev_loop_destroy(loop);
}
END_TEST

/* the peer sends a byte every interval, count times */
struct trickle {
	ev_timer	 t;
	int		 fd;
	unsigned	 left;
};

static void
trickle_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct trickle *tr = (struct trickle *)w;

	(void)revents;
	/* the conn may be gone already, closed by the deadline in this very
	 * loop iteration (a slow build runs both timers together): then the
	 * trickle ends, without a SIGPIPE */
	if (send(tr->fd, "x", 1, MSG_NOSIGNAL) < 0) {
		ck_assert(errno == EPIPE || errno == ECONNRESET || errno == EAGAIN);
		if (errno != EAGAIN) {
			ev_timer_stop(loop, w);
			return;
		}
	}
	if (--tr->left == 0)
		ev_timer_stop(loop, w);
}

START_TEST(test_idle_timeout_rearms)
{
	struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
	struct owner o = { .consume = true, .free_on_end = true };
	struct trickle tr;
	struct conn *c;
	double t0;
	int sv[2];

	pair(sv);
	ck_assert_ptr_nonnull(c = conn_new(loop, sv[0], owner_cb, &o));
	conn_set_timeout(c, 1.5);
	tr.fd = sv[1];
	tr.left = 20;			/* a byte every 0.1 s for 2 s */
	ev_timer_init(&tr.t, trickle_cb, 0.1, 0.1);
	ev_timer_start(loop, &tr.t);
	ev_now_update(loop);
	t0 = ev_now(loop);
	run(loop, 30);
	/* every byte re-armed the idle timer: it fired only 1.5 s after
	 * the last one (2 s in), never during the trickle */
	ck_assert_uint_eq(o.n_timeout, 1);
	ck_assert_uint_eq(o.got.len, 20);
	ck_assert_msg(o.t_event - t0 >= 3.4, "timed out %.2f s in", o.t_event - t0);
	ck_assert_str_eq(o.err, "timeout");
	ev_timer_stop(loop, &tr.t);
	close(sv[1]);
	buf_free(&o.got);
	ev_loop_destroy(loop);
}
END_TEST

START_TEST(test_deadline_ignores_trickle)
{
	struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
	struct owner o = { .consume = true, .free_on_end = true };
	struct trickle tr;
	struct conn *c;
	double t0;
	int sv[2];

	pair(sv);
	ck_assert_ptr_nonnull(c = conn_new(loop, sv[0], owner_cb, &o));
	ev_now_update(loop);
	t0 = ev_now(loop);
	conn_set_deadline(c, 0.5);
	tr.fd = sv[1];
	tr.left = 100;			/* a byte every 0.05 s for 5 s */
	ev_timer_init(&tr.t, trickle_cb, 0.05, 0.05);
	ev_timer_start(loop, &tr.t);
	run(loop, 30);
	/* a deadline: the trickle bought nothing */
	ck_assert_uint_eq(o.n_timeout, 1);
	ck_assert_msg(o.t_event - t0 >= 0.45 && o.t_event - t0 < 2.5, "deadline after %.2f s",
	    o.t_event - t0);
	ck_assert_uint_lt(tr.left, 100);	/* bytes did come meanwhile */
	ev_timer_stop(loop, &tr.t);
	close(sv[1]);
	buf_free(&o.got);
	ev_loop_destroy(loop);
}
END_TEST

START_TEST(test_deadline_extend)
{
	struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
	struct owner o = { .consume = true, .free_on_end = true };
	struct conn *c;
	double t0;
	int sv[2];

	pair(sv);
	ck_assert_ptr_nonnull(c = conn_new(loop, sv[0], owner_cb, &o));
	/* without a deadline, extending is a no-op (an idle timeout stays) */
	conn_set_timeout(c, 100.0);
	conn_extend_deadline(c, 5.0, 1.0);
	ck_assert(!(c->flags & CONN_F_DEADLINE));
	ck_assert(ev_timer_remaining(loop, &c->timer) > 50.0);
	ev_now_update(loop);
	t0 = ev_now(loop);
	conn_set_deadline(c, 0.3);
	ck_assert(c->flags & CONN_F_DEADLINE);
	/* later by 10 s, but capped at 1 s from now */
	conn_extend_deadline(c, 10.0, 1.0);
	ck_assert(ev_timer_remaining(loop, &c->timer) <= 1.0);
	ck_assert(ev_timer_remaining(loop, &c->timer) > 0.5);
	run(loop, 30);
	ck_assert_uint_eq(o.n_timeout, 1);
	ck_assert_msg(o.t_event - t0 >= 0.9, "fired after %.2f s", o.t_event - t0);
	close(sv[1]);
	ev_loop_destroy(loop);
}
END_TEST

START_TEST(test_linger_gives_up)
{
	struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
	struct owner o = { .consume = true, .free_on_end = true };
	struct buf got = { 0 };
	struct conn *c;
	double t0;
	int sv[2];

	pair(sv);
	ck_assert_ptr_nonnull(c = conn_new(loop, sv[0], owner_cb, &o));
	ck_assert_int_eq(conn_write(c, "221 bye\r\n", 9), 0);
	conn_close_after_flush(c);
	ev_now_update(loop);
	t0 = ev_now(loop);
	/* the peer reads the reply and its EOF but never closes: after the
	 * linger (2 s) we stop waiting */
	run(loop, 30);
	ck_assert_uint_eq(o.n_closed, 1);
	ck_assert_msg(o.t_event - t0 >= 1.9, "closed after %.2f s", o.t_event - t0);
	ck_assert_int_eq(peer_read(sv[1], &got), -1);
	ck_assert_uint_eq(got.len, 9);
	ck_assert(memcmp(got.data, "221 bye\r\n", 9) == 0);
	close(sv[1]);
	buf_free(&got);
	ev_loop_destroy(loop);
}
END_TEST

/* a fake transport: plain bytes, but marked as not plain, its handshake
 * done at once, its reads counted */
static unsigned fake_handshakes, fake_reads, fake_closes;

static ssize_t
fake_recv(struct conn *c, void *buf, size_t len)
{
	ssize_t n = read(c->fd, buf, len);

	fake_reads++;
	if (n >= 0)
		return n;
	if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
		c->tr_want = EV_READ;
		return CONN_AGAIN;
	}
	return CONN_FAIL;
}

static ssize_t
fake_send(struct conn *c, const void *buf, size_t len)
{
	ssize_t n = send(c->fd, buf, len, MSG_NOSIGNAL);

	if (n >= 0)
		return n;
	if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
		c->tr_want = EV_WRITE;
		return CONN_AGAIN;
	}
	return CONN_FAIL;
}

static int
fake_handshake(struct conn *c)
{
	(void)c;
	fake_handshakes++;
	return 0;
}

static void
fake_close(struct conn *c)
{
	(void)c;
	fake_closes++;
}

static const struct conn_transport fake_tr = {
	"fake", fake_recv, fake_send, fake_handshake, NULL, fake_close
};

START_TEST(test_transport_switch_discards_plaintext)
{
	struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
	struct owner o = { .consume = false, .free_on_end = true };
	struct buf got = { 0 };
	struct conn *c;
	int sv[2];

	pair(sv);
	ck_assert_ptr_nonnull(c = conn_new(loop, sv[0], owner_cb, &o));
	ck_assert(!conn_is_tls(c));
	/* STARTTLS with a command pipelined behind it (CVE-2011-0411) */
	peer_write(sv[1], "STARTTLS\r\nRSET\r\n", 16);
	spin(loop, 3);
	ck_assert_uint_eq(buf_avail(&c->in), 16);
	buf_consume(&c->in, 10);		/* the owner took STARTTLS only */
	ck_assert_int_eq(conn_write(c, "220 go ahead\r\n", 14), 0);
	conn_start_transport(c, &fake_tr, NULL);
	ck_assert(!conn_is_tls(c));		/* not before the 220 is out */
	spin(loop, 5);
	ck_assert_uint_eq(fake_handshakes, 1);
	ck_assert_uint_eq(o.n_tls, 1);
	ck_assert(conn_is_tls(c));
	ck_assert_uint_eq(buf_avail(&c->in), 0);	/* the RSET is gone */
	ck_assert_int_eq(peer_read(sv[1], &got), 0);
	ck_assert_uint_eq(got.len, 14);
	/* from now on input comes through the new transport */
	peer_write(sv[1], "EHLO b\r\n", 8);
	spin(loop, 3);
	ck_assert_uint_gt(fake_reads, 0);
	ck_assert_uint_eq(buf_avail(&c->in), 8);
	ck_assert(memcmp(buf_head(&c->in), "EHLO b\r\n", 8) == 0);
	conn_free(c);
	ck_assert_uint_eq(fake_closes, 1);
	close(sv[1]);
	buf_free(&got);
	ev_loop_destroy(loop);
}
END_TEST

static int
fmt(char *line, size_t cap, const char *f, ...)
{
	va_list ap;
	int n;

	va_start(ap, f);
	n = conn_vformat_line(line, cap, f, ap);
	va_end(ap);
	return n;
}

/* CONN_DRAINED: a writer that produces as the peer reads holds at most
 * its high-water mark, and everything arrives, in order */
START_TEST(test_drain_paces_a_writer)
{
	struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
	struct owner o = { .consume = true, .total = 4u << 20, .high = 128 * 1024,
	    .low = 32 * 1024 };
	struct buf got = { 0 };
	struct conn *c;
	int sv[2];

	pair(sv);
	ck_assert_ptr_nonnull(c = conn_new(loop, sv[0], owner_cb, &o));
	produce(c, &o);
	ck_assert_uint_lt(o.produced, o.total);	/* it waits for the drain */
	for (int i = 0; i < 100000 && got.len < o.total; i++) {
		spin(loop, 1);
		ck_assert_int_eq(peer_read(sv[1], &got), 0);
	}
	ck_assert_uint_eq(got.len, o.total);
	for (size_t i = 0; i < got.len; i++)
		if (got.data[i] != (char)('a' + i % 26))
			ck_abort_msg("byte %zu out of order", i);
	ck_assert_uint_le(o.max_pending, o.high + 16384);
	ck_assert_uint_ge(o.n_drained, (unsigned)(o.total / o.high) - 1);
	/* asked for when already drained: one event, from the loop */
	o.n_drained = 0;
	conn_want_drain(c, o.low);
	ck_assert_uint_eq(o.n_drained, 0);
	spin(loop, 2);
	ck_assert_uint_eq(o.n_drained, 1);
	spin(loop, 2);
	ck_assert_uint_eq(o.n_drained, 1);
	conn_free(c);
	close(sv[1]);
	buf_free(&got);
	buf_free(&o.got);
	ev_loop_destroy(loop);
}
END_TEST

START_TEST(test_format_line)
{
	struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
	struct owner o = { 0 };
	struct buf got = { 0 };
	char line[16];
	struct conn *c;
	int sv[2], n;

	ck_assert_int_eq(fmt(line, sizeof(line), "250 %s", "ok"), 6);
	ck_assert_str_eq(line, "250 ok");
	/* too long: cut to cap - 3, room left for the CRLF */
	ck_assert_int_eq(n = fmt(line, sizeof(line), "250 %s", "a very long reply"), 13);
	ck_assert(memcmp(line, "250 a very lo", 13) == 0);
	ck_assert_int_eq(fmt(line, 2, "x"), -1);
	ck_assert_int_eq(fmt(line, 3, "xyz"), 0);
	/* the cut line goes out with its CRLF */
	ck_assert_int_eq(n = fmt(line, sizeof(line), "250 %s", "a very long reply"), 13);
	pair(sv);
	ck_assert_ptr_nonnull(c = conn_new(loop, sv[0], owner_cb, &o));
	ck_assert_int_eq(conn_write_line(c, line, (size_t)n), 0);
	spin(loop, 3);
	ck_assert_int_eq(peer_read(sv[1], &got), 0);
	ck_assert_uint_eq(got.len, 15);
	ck_assert(memcmp(got.data, "250 a very lo\r\n", 15) == 0);
	conn_free(c);
	close(sv[1]);
	buf_free(&got);
	ev_loop_destroy(loop);
}
END_TEST

START_TEST(test_format_addr)
{
	struct sockaddr_storage ss;
	struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
	char out[80];

	memset(&ss, 0, sizeof(ss));
	s4->sin_family = AF_INET;
	s4->sin_port = htons(2525);
	ck_assert_int_eq(inet_pton(AF_INET, "192.0.2.7", &s4->sin_addr), 1);
	conn_format_addr(&ss, out, sizeof(out));
	ck_assert_str_eq(out, "192.0.2.7:2525");
	memset(&ss, 0, sizeof(ss));
	s6->sin6_family = AF_INET6;
	s6->sin6_port = htons(25);
	ck_assert_int_eq(inet_pton(AF_INET6, "2001:db8::1", &s6->sin6_addr), 1);
	conn_format_addr(&ss, out, sizeof(out));
	ck_assert_str_eq(out, "[2001:db8::1]:25");
	ss.ss_family = AF_UNIX;
	conn_format_addr(&ss, out, sizeof(out));
	ck_assert_str_eq(out, "unknown");
	/* a short buffer is cut, never overrun */
	s4->sin_family = AF_INET;
	s4->sin_port = htons(2525);
	ck_assert_int_eq(inet_pton(AF_INET, "192.0.2.7", &s4->sin_addr), 1);
	conn_format_addr(&ss, out, 8);
	ck_assert_str_eq(out, "192.0.2");
}
END_TEST

static Suite *
conn_suite(void)
{
	Suite *s = suite_create("conn");
	TCase *tc = tcase_create("conn");

	tcase_add_test(tc, test_input_in_pieces);
	tcase_add_test(tc, test_in_max_bounds_reading);
	tcase_add_test(tc, test_partial_writes);
	tcase_add_test(tc, test_backpressure);
	tcase_add_test(tc, test_write_error);
	tcase_add_test(tc, test_idle_timeout_rearms);
	tcase_add_test(tc, test_deadline_ignores_trickle);
	tcase_add_test(tc, test_deadline_extend);
	tcase_add_test(tc, test_linger_gives_up);
	tcase_add_test(tc, test_transport_switch_discards_plaintext);
	tcase_add_test(tc, test_drain_paces_a_writer);
	tcase_add_test(tc, test_format_line);
	tcase_add_test(tc, test_format_addr);
	tcase_set_timeout(tc, UNIT_TIMEOUT);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return unit_run(conn_suite());
}
