/* conn.h: one network connection on libev: fd, a single ev_io, an idle
 * timer, input and output buffers, and a swappable transport (plain, or
 * TLS from tls/). The protocol above sees only events (OpenSMTPD's io
 * model); it never calls read(2) or TLS itself. */
#ifndef DSMTP_CONN_H
#define DSMTP_CONN_H

#include <ev.h>
#include <stdarg.h>
#include <stdbool.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "common/buf.h"

enum conn_event {
	CONN_IN,		/* new bytes in c->in */
	CONN_TLS_READY,		/* handshake finished */
	CONN_CLOSED,		/* conn_close_after_flush finished (reply sent, peer gone
				 * or linger over): free the session */
	CONN_TIMEOUT,		/* nothing happened for the timeout */
	CONN_EOF,		/* the peer closed */
	CONN_ERROR,		/* I/O or TLS error, reason in c->err */
	CONN_DRAINED,		/* unsent output fell to the mark conn_want_drain set */
};

/* transport return codes besides byte counts */
#define CONN_AGAIN	(-2)	/* would block; c->tr_want says EV_READ or EV_WRITE */
#define CONN_FAIL	(-1)	/* error; reason in c->err */

struct conn;

struct conn_transport {
	const char	*name;
	ssize_t		(*recv)(struct conn *, void *buf, size_t len);	/* >0, 0 = EOF, AGAIN, FAIL */
	ssize_t		(*send)(struct conn *, const void *buf, size_t len);
	int		(*handshake)(struct conn *);	/* 0 done, AGAIN, FAIL */
	size_t		(*pending)(struct conn *);	/* decrypted bytes held inside */
	void		(*close)(struct conn *);	/* best-effort goodbye; frees tr_ctx */
};

/* returns 0, or -1 when it freed the conn (the caller must not touch it) */
typedef int (*conn_cb)(struct conn *, enum conn_event, void *arg);

struct conn {
	struct ev_loop			*loop;
	int				 fd;
	ev_io				 io;
	ev_timer			 timer;
	struct buf			 in, out;
	size_t				 in_max;	/* stop reading beyond this */
	size_t				 out_high;	/* back-pressure: stop reading at this much
							 * unsent output (0 = off) ... */
	size_t				 out_low;	/* ... until it drains to this */
	size_t				 drain_at;	/* CONN_F_DRAIN: CONN_DRAINED at this */
	const struct conn_transport	*tr;
	void				*tr_ctx;
	const struct conn_transport	*next_tr;	/* installed once out is flushed */
	void				*next_ctx;
	int				 tr_want;	/* EV_READ/EV_WRITE the transport waits for */
	unsigned			 flags;
	conn_cb				 cb;
	void				*arg;
	char				 err[160];
	struct sockaddr_storage		 peer, local;
	socklen_t			 peerlen, locallen;
};

#define CONN_F_PAUSED		0x01	/* do not read (backpressure) */
#define CONN_F_HANDSHAKE	0x02
#define CONN_F_CLOSING		0x04	/* flush, then CONN_CLOSED */
#define CONN_F_EOF		0x08
#define CONN_F_DEAD		0x10	/* error seen; only free remains */
#define CONN_F_LINGER		0x20	/* half-closed after the last reply, draining */
#define CONN_F_OUTFULL		0x40	/* unsent output over out_high: not reading */
#define CONN_F_DEADLINE		0x80	/* the timer is a deadline: I/O does not re-arm it */
#define CONN_F_DRAIN		0x100	/* the owner waits for CONN_DRAINED */
#define CONN_F_FLUSHSOON	0x200	/* output queued, a flush fed for this loop iteration */

/* fd must be non-blocking; the conn owns it from now on */
struct conn *conn_new(struct ev_loop *loop, int fd, conn_cb cb, void *arg);
void conn_free(struct conn *c);
/* an idle timeout: every byte read or written re-arms it */
void conn_set_timeout(struct conn *c, double seconds);
/* a deadline seconds from now: no trickle of bytes moves it, only the
 * owner (Postfix's smtpd_per_request_deadline) */
void conn_set_deadline(struct conn *c, double seconds);
/* move the deadline later by extra seconds, to at most cap seconds from
 * now (a minimum data rate: each octet buys 1/rate s); no-op without one */
void conn_extend_deadline(struct conn *c, double extra, double cap);
/* back-pressure: once high bytes of output are unsent, read nothing more
 * (and hand no more input to the owner) until it drains to low; 0 = off */
void conn_set_out_limits(struct conn *c, size_t high, size_t low);
/* is the output over its high-water mark (and not yet drained)? */
bool conn_out_full(const struct conn *c);
int conn_write(struct conn *c, const void *p, size_t n);
/* one CONN_DRAINED event when the unsent output falls to at most low
 * bytes (a writer that produces output as it drains: dsmtpc's body);
 * at once, from the loop, if it already has */
void conn_want_drain(struct conn *c, size_t low);
/* bytes queued and not yet sent */
size_t conn_out_pending(const struct conn *c);
/* a protocol line formatted into line[cap] (cap >= 3): the text is cut to
 * cap - 3 bytes, keeping room for the CRLF; its length, or -1 */
int conn_vformat_line(char *line, size_t cap, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));
/* the n bytes of line and CRLF (line has room for it, as conn_vformat_line
 * leaves) to the output; 0, or -1 when out of memory */
int conn_write_line(struct conn *c, char *line, size_t n);
void conn_pause(struct conn *c);
void conn_resume(struct conn *c);
/* after the output flushes: discard every input byte (CVE-2011-0411: no
 * plaintext may cross STARTTLS), install the transport, run the handshake */
void conn_start_transport(struct conn *c, const struct conn_transport *tr, void *ctx);
void conn_close_after_flush(struct conn *c);
bool conn_is_tls(const struct conn *c);
/* "127.0.0.1:2525", "[::1]:25" */
void conn_format_addr(const struct sockaddr_storage *ss, char *buf, size_t len);

#endif
